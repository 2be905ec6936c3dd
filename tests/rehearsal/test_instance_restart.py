"""The local cloud applies a changed instance as EC2 does, on real instance containers (small
machines, a few seconds a boot): a changed instance type and user-data stop and start the
machine, and its cloud-init, which runs again on that boot, does not apply the new user-data; a
change that forces replacement boots a new machine that does; a changed tag touches nothing.
Each change is recorded in the instance's state."""

import itertools
import subprocess

import pulumi
import pytest

from rehearsal import cloud, engine, local_images
from rehearsal.ec2_instance_changes import IN_PLACE, REPLACE, STOP_AND_START
from rehearsal.ec2_instances import INSTANCE
from rehearsal.environment import Environment
from rehearsal.state import State

pytestmark = pytest.mark.live

LOCAL_CLOUD = "test-instance-changes"  # the name of its local cloud (conftest.py)
MARKER = "/etc/camphub-test-marker"
# Written at every boot by cloud-init itself: a new one shows that cloud-init ran on this boot.
BOOT_FINISHED = "/var/lib/cloud/instance/boot-finished"


def user_data(version: str) -> str:
    return f"#cloud-config\nwrite_files:\n  - path: {MARKER}\n    content: {version}\n"


MADE = {
    "instanceType": "t3.small",
    "subnetId": "subnet-a",
    "tags": {},
    "userData": user_data("first"),
}
_names = itertools.count()


class Machine:
    """One instance resource, declared run after run as the engine sees it; a machine of its
    own for each test."""

    def __init__(self, local: cloud.LocalCloud):
        self.local = local
        self.name = f"machine-{next(_names)}"
        self.id = ""  # the instance id it was made with

    def declare(self, inputs: dict):
        """The instance declared with `inputs` in a new run; returns its record."""
        state = State(self.local.work_dir / f"{self.name}.json")
        image = local_images.ensure_instance_image()
        env = Environment(self.local, state, image, "", self.local.work_dir / "logs")
        args = pulumi.runtime.MockResourceArgs(INSTANCE, self.name, inputs, None, None, True)
        engine.RehearsalMocks(env).new_resource(args)
        (record,) = state.records()
        return record

    def booted(self) -> dict[str, str]:
        """Waits for cloud-init to finish this boot; returns what the tests compare."""
        self.run("cloud-init", "status", "--wait")
        container = self.local.container_name(self.name)
        inspect = ["docker", "inspect", "--format", "{{.Id}} {{.State.StartedAt}}", container]
        container_id, started = _run(inspect).split()
        return {
            "container": container_id,
            "started": started,
            "boot finished": self.run("cat", BOOT_FINISHED),
            "marker": self.run("cat", MARKER),
            "address": self.local.address(self.name),
        }

    def run(self, *command: str) -> str:
        return _run(["docker", "exec", self.local.container_name(self.name), *command])


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def machine(local_cloud):
    """A machine made from MADE, booted."""
    made = Machine(local_cloud)
    record = made.declare(MADE)
    assert record.made["changes"] == []
    assert made.booted()["marker"] == "first"
    made.id = record.id
    return made


def test_a_changed_tag_applies_to_the_running_machine(machine):
    before = machine.booted()
    record = machine.declare({**MADE, "tags": {"Name": "a machine"}})
    assert record.id == machine.id
    assert record.made["changes"] == [{"how": IN_PLACE, "inputs": ["tags"], "instance": machine.id}]
    assert machine.booted() == before


def test_a_changed_type_and_user_data_restart_the_machine_without_applying_the_user_data(
    machine,
):
    before = machine.booted()
    record = machine.declare({**MADE, "instanceType": "t3.large", "userData": user_data("second")})
    assert record.id == machine.id
    assert record.made["changes"] == [
        {"how": STOP_AND_START, "inputs": ["instanceType", "userData"], "instance": machine.id}
    ]
    after = machine.booted()
    assert after["container"] == before["container"]
    assert after["address"] == before["address"]
    assert after["started"] != before["started"]
    assert after["boot finished"] != before["boot finished"]  # cloud-init ran on this boot...
    assert after["marker"] == "first"  # ...and did not apply the new user-data


def test_a_change_that_forces_replacement_boots_a_new_machine_with_the_current_user_data(
    machine,
):
    before = machine.booted()
    record = machine.declare({**MADE, "subnetId": "subnet-b", "userData": user_data("second")})
    assert record.id != machine.id
    assert record.made["changes"] == [
        {"how": REPLACE, "inputs": ["subnetId", "userData"], "instance": machine.id}
    ]
    after = machine.booted()
    assert after["container"] != before["container"]
    assert after["marker"] == "second"
    assert after["address"] != before["address"]  # a new instance, a new private address
