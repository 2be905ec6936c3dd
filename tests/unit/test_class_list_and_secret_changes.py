"""What a changed class list or secret touches: no instance's user-data (it is static per role),
and of the steps only those that make homes and sync the hub's users."""

from program import deploy

INSTANCE = "aws:ec2/instance:Instance"


def user_data(deployment) -> dict[str, str]:
    return {i.name: i.inputs["userDataBase64"] for i in deployment.of_type(INSTANCE)}


def test_a_changed_class_list_leaves_every_user_data_byte_identical(base_config, class_list_file):
    before = user_data(deploy(base_config))
    class_list_file.write_text(
        class_list_file.read_text() + "newcomer@camp.example.org\nhelper@camp.example.org admin\n"
    )
    after = user_data(deploy(base_config))
    assert before == after


def test_a_changed_secret_leaves_every_user_data_byte_identical(base_config):
    before = user_data(deploy(base_config))
    after = user_data(deploy({**base_config, "oauthClientSecret": "rotated-secret"}))
    assert before == after


def test_roles_share_one_user_data_each(deployment):
    data = user_data(deployment)
    assert data["workers-0"] == data["workers-1"]
    assert len({data["hub"], data["nfs"], data["workers-0"]}) == 3


def test_making_homes_and_the_class_list_sync_are_the_only_steps_that_change_with_the_class_list(
    base_config, class_list_file
):
    def commands(deployment):
        return {
            c.name: (c.inputs.get("create"), c.inputs.get("stdin"))
            for c in deployment.of_type("command:remote:Command")
        }

    before = commands(deploy(base_config))
    class_list_file.write_text(class_list_file.read_text() + "newcomer@camp.example.org\n")
    after = commands(deploy(base_config))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"nfs-make-homes", "hub-sync-userlist"}
    for step in changed:
        assert "newcomer@camp.example.org" in after[step][1]
