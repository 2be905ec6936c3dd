"""The local cloud's side of bringing a destroyed camp back: `destroy` leaves what the program
declared retain_on_delete (the homes volume's data) as `pulumi destroy` leaves it in an AWS
account, and the look-ups the program makes of a kept volume are answered as EC2 answers them,
from moto's volumes and the attachments the local cloud made. Without Docker: moto's server and
the volumes' backing files only."""

import pulumi
import pytest
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await
from test_engine import SECURITY_GROUP, environment

from rehearsal import engine
from rehearsal.detached import free_port
from rehearsal.ec2_instances import INSTANCE
from rehearsal.ec2_volumes import (
    EBS_VOLUMES,
    GET_INSTANCES,
    GET_VOLUME,
    VOLUME,
    VOLUME_ATTACHMENT,
    look_up,
)
from rehearsal.environment import ZONE, Environment
from rehearsal.run import PROJECT_DIR, Rehearsal
from rehearsal.state import Record, State

HOMES_TAGS = {"Name": "camphub-homes", "camphub:stack": "dev"}


@pytest.fixture
def env(tmp_path):
    local = environment(tmp_path)
    local.aws.ensure_running("127.0.0.1", free_port("127.0.0.1"))
    yield local
    local.aws.stop()


def by_id(volume_id: str, **more: list[str]) -> dict:
    filters = {"volume-id": [volume_id], **more}
    return {"filters": [{"name": k, "values": v} for k, v in filters.items()]}


def attach(env: Environment, volume_id: str, tags: dict) -> str:
    """Records an instance with `tags` and the volume's attachment to it, as a run would."""
    instance_id = "i-0123456789abcdef0"
    env.state.put(Record(INSTANCE, "nfs", instance_id, "", {"tags": tags}, {}, {}))
    made = {"volume": volume_id, "instance": instance_id}
    env.state.put(Record(VOLUME_ATTACHMENT, "nfs-homes", "vai-1", "", {}, {}, made))
    return instance_id


def test_a_volume_is_looked_up_with_its_zone_size_and_tags(env):
    volume_id = env.aws.create_volume(ZONE, 3, True, HOMES_TAGS)
    assert look_up(env, EBS_VOLUMES, by_id(volume_id))["ids"] == [volume_id]
    found = look_up(env, GET_VOLUME, by_id(volume_id))
    assert (found["id"], found["availabilityZone"], found["size"]) == (volume_id, ZONE, 3)
    assert found["encrypted"] is True and found["tags"] == HOMES_TAGS
    assert look_up(env, EBS_VOLUMES, by_id("vol-0000000000000000f"))["ids"] == []
    with pytest.raises(LookupError):
        look_up(env, GET_VOLUME, by_id("vol-0000000000000000f"))


def test_an_attached_volume_is_in_use_and_names_its_machine(env):
    volume_id = env.aws.create_volume(ZONE, 1, True, HOMES_TAGS)
    available = by_id(volume_id, status=["available"])
    assert look_up(env, EBS_VOLUMES, available)["ids"] == [volume_id]
    instance_id = attach(env, volume_id, {"Name": "nfs", "camphub:role": "nfs"})
    assert look_up(env, EBS_VOLUMES, available)["ids"] == []
    in_use = by_id(volume_id, status=["in-use"])
    assert look_up(env, EBS_VOLUMES, in_use)["ids"] == [volume_id]
    of_the_stack = {
        "filters": [
            {"name": "tag:Name", "values": ["camphub-homes"]},
            {"name": "tag:camphub:stack", "values": ["dev"]},
            {"name": "status", "values": ["in-use"]},
        ]
    }
    assert look_up(env, EBS_VOLUMES, of_the_stack)["ids"] == [volume_id]
    of_the_stack["filters"][1]["values"] = ["camp"]
    assert look_up(env, EBS_VOLUMES, of_the_stack)["ids"] == []
    holding = {
        "filters": [{"name": "block-device-mapping.volume-id", "values": [volume_id]}],
        "instanceTags": {"camphub:role": "nfs"},
    }
    assert look_up(env, GET_INSTANCES, holding)["ids"] == [instance_id]
    holding["instanceTags"] = {"camphub:role": "worker"}
    assert look_up(env, GET_INSTANCES, holding)["ids"] == []


def test_the_engine_records_which_resources_are_retained(tmp_path):
    env = environment(tmp_path)
    mocks = engine.RehearsalMocks(env)
    pulumi.runtime.set_mocks(
        mocks, project="t", stack="t", preview=False, monitor=engine.RehearsalMonitor(mocks)
    )

    def program():
        kept = pulumi.ResourceOptions(retain_on_delete=True)
        pulumi.CustomResource(SECURITY_GROUP, "kept", {"description": "kept"}, opts=kept)
        pulumi.CustomResource(SECURITY_GROUP, "gone", {"description": "gone"})

    pulumi.runtime.settings.ROOT.set(None)
    _sync_await(run_in_stack(program))
    retained = {r.name: r.retained for r in State(tmp_path / "state.json").records()}
    assert retained == {"kept": True, "gone": False}


def test_destroy_leaves_a_retained_volume_and_deletes_the_rest(tmp_path):
    rehearsal = Rehearsal(PROJECT_DIR, "dev", work_dir=tmp_path, name="test-destroy")
    state = State(tmp_path / "state.json")
    for name, volume_id, retained in (("homes", "vol-0aaa", True), ("scratch", "vol-0bbb", False)):
        rehearsal.cloud.create_volume(volume_id, 1)
        record = Record(VOLUME, name, volume_id, "", {}, {}, {"volume": volume_id})
        record.retained = retained
        state.put(record)
    rehearsal.destroy()
    assert (rehearsal.cloud.volumes_dir / "vol-0aaa.img").exists(), "the homes' data is kept"
    assert not (rehearsal.cloud.volumes_dir / "vol-0bbb.img").exists()
    assert State(tmp_path / "state.json").records() == [], "the stack holds nothing after it"
