"""A replaced machine is rebuilt by `pulumi up` alone: the program deployed twice under the mocks,
once as it stands and once after `pulumi up --replace` of one instance, and compared as Pulumi
compares them. A step whose inputs differ runs again (replaced when its triggers differ, else
updated in place); one whose inputs are equal does not run at all."""

import hashlib
import json

import pytest
from program import CampMocks, deploy

INSTANCE = "aws:ec2/instance:Instance"
COMMAND = "command:remote:Command"
STEP_TYPES = (COMMAND, "command:remote:CopyToRemote")


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


class ReplacedMocks(CampMocks):
    """The cloud after the instances named `replaced` were replaced: each has a new id and a new
    private address, as EC2 gives a new instance. A swarm's join token is the swarm's, so it
    follows the hub instance its step ran on; a joining engine's node id follows the swarm and
    the worker it joined from (both read from the step's inputs)."""

    def __init__(self, replaced: frozenset[str] = frozenset()):
        self.replaced = replaced

    def new_resource(self, args):
        resource_id, outputs = super().new_resource(args)
        if args.typ == INSTANCE and args.name in self.replaced:
            resource_id = f"{args.name}-new-id"
            outputs["privateIp"] = outputs["privateIp"].replace("10.192.0.", "10.192.1.")
        if args.typ == COMMAND and args.name.endswith("swarm-join-token"):
            outputs["stdout"] = f"SWMTKN-1-{digest(args.inputs.get('triggers'))}\n"
        if args.typ == COMMAND and args.name.endswith("-swarm-join"):
            joined_from = [args.inputs.get("triggers"), args.inputs.get("stdin")]
            outputs["stdout"] = f"node-{digest(joined_from)}\n"
        return resource_id, outputs


@pytest.fixture
def before(base_config):
    return deploy(base_config, mocks=ReplacedMocks())


def after_replacing(base_config, machine: str):
    return deploy(base_config, mocks=ReplacedMocks(frozenset({machine})))


def machines(deployment) -> list[str]:
    return sorted(instance.name for instance in deployment.of_type(INSTANCE))


def steps_by_name(deployment) -> dict:
    return {r.name: r for t in STEP_TYPES for r in deployment.of_type(t)}


def machine_of(step: str, names: list[str]) -> str:
    """The machine a step runs on: its name is `<machine>-<step>`."""
    return max((m for m in names if step.startswith(f"{m}-")), key=len)


def comparable(inputs: dict) -> str:
    """The inputs as Pulumi compares them: an archive by its path (its content is hashed into
    the copy's triggers)."""
    return json.dumps(inputs, sort_keys=True, default=lambda archive: archive.path)


def rerun(before, after) -> set[str]:
    """The steps that run again: every one whose inputs differ."""
    old, new = steps_by_name(before), steps_by_name(after)
    assert old.keys() == new.keys()
    return {n for n in old if comparable(old[n].inputs) != comparable(new[n].inputs)}


def replaced(before, after) -> set[str]:
    """The steps replaced rather than updated: their triggers differ."""
    old, new = steps_by_name(before), steps_by_name(after)
    return {n for n in old if old[n].inputs.get("triggers") != new[n].inputs.get("triggers")}


def test_every_step_on_a_replaced_machine_runs_again_for_every_machine_of_the_program(
    base_config, before
):
    names = machines(before)
    assert {"hub", "nfs", "workers-0", "workers-1"} <= set(names)
    for machine in names:
        after = after_replacing(base_config, machine)
        on_it = {s for s in steps_by_name(before) if machine_of(s, names) == machine}
        assert len(on_it) >= 3, machine
        assert on_it - rerun(before, after) == set(), f"not run again on a new {machine}"


def test_only_steps_without_a_delete_action_are_replaced_for_a_new_instance(base_config, before):
    # Replacing a step runs the old one's delete action: the archive must not run because the
    # NFS server was replaced; its step is updated in place and archives from the new server.
    for machine in machines(before):
        after = after_replacing(base_config, machine)
        new = steps_by_name(after)
        for name in replaced(before, after):
            if name.endswith("-membership"):
                continue  # a new node: the old one's removal is what its delete is for
            assert not new[name].inputs.get("delete"), (machine, name)
    after = after_replacing(base_config, "nfs")
    assert "nfs-archive-homes" in rerun(before, after) - replaced(before, after)
    archive = steps_by_name(after)["nfs-archive-homes"]
    assert archive.inputs["connection"]["host"] == after.outputs["nfsPrivateIp"]


def test_a_new_hub_makes_every_worker_join_its_new_swarm_and_drops_the_old_nodes(
    base_config, before
):
    after = after_replacing(base_config, "hub")
    joins = {s for s in steps_by_name(before) if s.endswith("-swarm-join")}
    memberships = {s for s in steps_by_name(before) if s.endswith("-membership")}
    assert len(joins) == len(memberships) == 2
    assert joins <= rerun(before, after)
    # Each membership is replaced: the old step's delete names the old swarm's node.
    assert memberships <= replaced(before, after)
    for name in memberships:
        old_delete = steps_by_name(before)[name].inputs["delete"]
        assert old_delete != steps_by_name(after)[name].inputs["delete"]


def test_a_new_worker_replaces_its_membership_alone_so_only_its_old_node_is_removed(
    base_config, before
):
    after = after_replacing(base_config, "workers-0")
    old_node = before.named("hub-workers-0-membership").inputs["delete"]
    assert "hub-workers-0-membership" in replaced(before, after)
    assert after.named("hub-workers-0-membership").inputs["delete"] != old_node
    # Nothing else of the camp runs again: the hub, the NFS server and the other worker go on.
    names = machines(before)
    elsewhere = {s for s in rerun(before, after) if machine_of(s, names) != "workers-0"}
    assert elsewhere == {"hub-workers-0-membership"}


def test_a_new_nfs_server_makes_every_client_mount_the_homes_from_it(base_config, before):
    after = after_replacing(base_config, "nfs")
    mounts = {s for s in steps_by_name(before) if s.endswith("-mount-homes")}
    assert len(mounts) == 3  # the hub and both workers
    assert mounts <= rerun(before, after)
    new_server = after.outputs["nfsPrivateIp"]
    for name in mounts:
        assert f"--server {new_server} " in steps_by_name(after)[name].inputs["create"]
    # mount-homes stopped the hub's container, bound to the old server's mount: started again.
    assert "hub-start-hub" in rerun(before, after)
