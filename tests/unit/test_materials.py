"""Course materials and shared data, in the whole program: delivered to the NFS server, published
on the homes volume after the export, and known to the hub before it starts."""

import json
import re

import pytest
from program import deploy

from infra import layout
from infra.errors import ConfigError
from infra.payload import materials_payload

COPY = "command:remote:CopyToRemote"
# The repository's materials/ folder, unless camphub:materialsDir names another.
MATERIALS = materials_payload(layout.PROJECT_DIR / "materials")


def settings_of(deployment) -> dict:
    return json.loads(deployment.named("hub-start-hub").inputs["stdin"])


def test_the_materials_folder_is_delivered_to_the_nfs_server_only(deployment):
    copies = [c for c in deployment.of_type(COPY) if c.name.endswith("-payload-materials")]
    assert [c.name for c in copies] == ["nfs-payload-materials"]
    (copy,) = copies
    assert copy.inputs["source"].path == str(MATERIALS.local_dir)
    assert copy.inputs["remotePath"] == layout.PAYLOAD_DIR
    # A changed folder is delivered again on the next `pulumi up`.
    assert deployment.own_triggers(copy) == [MATERIALS.content_hash()]


def test_the_materials_are_published_after_delivery_and_export(deployment):
    publish = deployment.named("nfs-publish-materials")
    assert deployment.depends_on(publish, deployment.named("nfs-payload-materials"))
    assert deployment.depends_on(publish, deployment.named("nfs-export-homes"))
    create = publish.inputs["create"]
    assert f"scripts/publish-materials --source {MATERIALS.remote_dir} " in create
    assert f"--homes-dir {layout.NFS_EXPORT_DIR}" in create
    assert f"--materials-name {layout.MATERIALS_DIRNAME}" in create
    assert "--shared-data-name" not in create
    # The command line does not change with the files: their hash reruns the step.
    assert deployment.own_triggers(publish) == [MATERIALS.content_hash()]
    assert not publish.inputs.get("delete")


def test_the_hub_starts_only_once_the_materials_are_published(deployment):
    start = deployment.named("hub-start-hub")
    assert deployment.depends_on(start, deployment.named("nfs-publish-materials"))


def test_the_hub_mounts_the_materials_from_the_homes_mount(deployment):
    settings = settings_of(deployment)
    assert settings["materials"] == {
        "host_dir": f"{layout.HOMES_MOUNT_DIR}/{layout.MATERIALS_DIRNAME}",
        "container_dir": layout.MATERIALS_CONTAINER_DIR,
    }
    assert settings["shared_data"] is None


def test_shared_data_is_created_by_the_nfs_server_and_mounted_by_the_hub(base_config):
    deployment = deploy({**base_config, "sharedData": True})
    create = deployment.named("nfs-publish-materials").inputs["create"]
    assert f"--shared-data-name {layout.SHARED_DATA_DIRNAME}" in create
    assert f"--shared-data-owner {layout.LOGIN_USER}" in create
    assert settings_of(deployment)["shared_data"] == {
        "host_dir": f"{layout.HOMES_MOUNT_DIR}/{layout.SHARED_DATA_DIRNAME}",
        "container_dir": layout.SHARED_DATA_CONTAINER_DIR,
    }


def test_a_materials_folder_elsewhere_is_delivered_and_published(base_config, tmp_path):
    folder = tmp_path / "materials"
    (folder / "day1").mkdir(parents=True)
    (folder / "day1" / "intro.ipynb").write_text("{}")
    deployment = deploy({**base_config, "materialsDir": str(folder)})
    copy = deployment.named("nfs-payload-materials")
    assert copy.inputs["source"].path == str(folder)
    version = materials_payload(folder).content_hash()
    assert version != MATERIALS.content_hash()
    assert deployment.own_triggers(copy) == [version]
    assert deployment.own_triggers(deployment.named("nfs-publish-materials")) == [version]


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("no-such-folder", "camphub:materialsDir: 'no-such-folder' is not a folder"),
        ("scripts", "camphub:materialsDir: the folder's name 'scripts' is taken"),
    ],
)
def test_a_materials_folder_must_exist_and_not_shadow_the_programs_files(
    base_config, folder, message
):
    with pytest.raises(ConfigError, match=message):
        deploy({**base_config, "materialsDir": folder})


def test_course_file_names_cannot_be_a_students_home():
    # Homes are escaped usernames: a-z, 0-9 and '-'.
    for name in (layout.MATERIALS_DIRNAME, layout.SHARED_DATA_DIRNAME):
        assert name.startswith(".")


@pytest.mark.parametrize(("given", "expected"), [(True, True), ("false", False), ("true", True)])
def test_shared_data_takes_true_or_false(base_config, given, expected):
    from infra.config import load_config

    captured = {}
    deploy(
        {**base_config, "sharedData": given},
        body=lambda: captured.setdefault("config", load_config()),
    )
    assert captured["config"].shared_data is expected


def test_shared_data_refuses_anything_else(base_config):
    with pytest.raises(ConfigError, match="camphub:sharedData: 'yes' is not true or false"):
        deploy({**base_config, "sharedData": "yes"})


REPO = {"url": "https://github.com/camp-org/course.git", "ref": "v1.2"}


def test_a_materials_repo_is_checked_out_on_the_nfs_server_and_published(base_config):
    deployment = deploy({**base_config, "materialsRepo": REPO})
    fetch = deployment.named("nfs-fetch-materials-repo")
    create = fetch.inputs["create"]
    assert f"--url {REPO['url']} --ref v1.2" in create
    assert f"--git-dir {layout.MATERIALS_REPO_GIT_DIR}" in create
    assert f"--work-tree {layout.MATERIALS_REPO_WORK_TREE}" in create
    assert deployment.depends_on(fetch, deployment.named("nfs-export-homes"))
    publish = deployment.named("nfs-publish-materials")
    assert deployment.depends_on(publish, fetch)
    assert f"--source {layout.MATERIALS_REPO_WORK_TREE} " in publish.inputs["create"]
    # A new ref publishes again; the command line alone would not change.
    assert deployment.own_triggers(publish) == [f"{REPO['url']}@v1.2"]


def test_without_a_repo_nothing_is_fetched(deployment):
    assert not [r for r in deployment.resources if r.name.endswith("fetch-materials-repo")]


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ({"url": "http://github.com/o/c.git", "ref": "v1"}, "is not an https:// URL"),
        ({"url": "https://github.com/o/c.git", "ref": "-x"}, "materialsRepo.ref: '-x' is not"),
        ({"url": "https://github.com/o/c.git"}, "camphub:materialsRepo: expected url and ref"),
    ],
)
def test_a_materials_repo_needs_an_https_url_and_a_ref(base_config, repo, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        deploy({**base_config, "materialsRepo": repo})


def test_credentials_in_the_repo_url_are_refused_without_repeating_them(base_config):
    repo = {"url": "https://camp:ghp_secrettoken@github.com/o/c.git", "ref": "main"}
    with pytest.raises(
        ConfigError, match=re.escape("materialsRepo.url: holds credentials")
    ) as error:
        deploy({**base_config, "materialsRepo": repo})
    assert "ghp_secrettoken" not in str(error.value)
