"""A changed cloud-init file and a changed instance type on the running camp: what README's "What
a change does" says happens is what happens, on the local cloud as on AWS
(rehearsal/ec2_instances.py applies a changed instance as EC2 does).

- A changed file under cloud-init/ stops no machine and reaches none: `up` warns once per
  machine of that role with the `pulumi up --replace` that would roll it out; a student's server
  keeps running. The file is changed in the project itself for one `up` and restored after it.
- A changed workers.instanceType stops and starts every worker (same instances, cloud-init not
  run again) and then restarts the hub; every student's server stops with its worker, their
  files are kept, and they run again once the workers are back. The type is set back after.
"""

import re
import subprocess
from contextlib import contextmanager

import pytest

from infra import userdata
from rehearsal.camp import class_list
from rehearsal.ec2_instance_changes import STOP_AND_START

pytestmark = pytest.mark.live

WORKERS = ("workers-0", "workers-1")
OTHER_MACHINES = ("hub", "nfs")
# A file the changed worker user-data would make: a worker that has it ran the change.
MARKER = "/etc/camphub-e2e-changed-user-data"
# infra/machine.py's warning: the machine's name first, the command last.
USER_DATA_WARNING = re.compile(
    r"([\w-]+): its cloud-init files changed since the machine was made.*"
    r"pulumi up --replace (\S+)$",
    re.MULTILINE,
)
STUDENT = class_list("dev")[1][0]


def machines(camp) -> dict[str, dict]:
    """Each machine's instance id, the changes the local cloud applied to it, and when its
    container last started."""
    return {
        record.name: {
            "id": record.id,
            "changes": record.made.get("changes", []),  # none recorded before the local cloud did
            "started": container_started_at(camp, record.name),
        }
        for record in camp.records()
    }


def container_started_at(camp, machine: str) -> str:
    container = camp.rehearsal.cloud.container_name(machine)
    inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}}", container]
    return subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()


def worker_address(camp, worker: str) -> str:
    return camp.outputs["workerPrivateIps"][WORKERS.index(worker)]


@contextmanager
def changed_worker_cloud_init():
    """cloud-init/worker.yaml with a boot command more (a key no camphub file uses), for as
    long as the block runs."""
    path = userdata.CLOUD_INIT_DIR / "worker.yaml"
    original = path.read_text()
    path.write_text(original + f"\nbootcmd:\n  - [touch, {MARKER}]\n")
    try:
        yield
    finally:
        path.write_text(original)


def replace_warnings(text: str) -> dict[str, str]:
    """The machines `up` named in a user-data warning, and the URN it gave for each."""
    return dict(USER_DATA_WARNING.findall(text))


def test_a_changed_cloud_init_file_stops_no_machine_and_names_each_replace_command(camp, capfd):
    camp.start_server(STUDENT)
    server = camp.running_task(STUDENT)
    before = machines(camp)
    capfd.readouterr()

    with changed_worker_cloud_init():
        camp.up(workers=2)
    out, err = capfd.readouterr()

    assert machines(camp) == before  # no machine stopped, restarted, replaced or changed
    assert camp.running_task(STUDENT) == server
    for worker in WORKERS:
        camp.run(f"test ! -e {MARKER}", host=worker_address(camp, worker))
    warned = replace_warnings(out + err)
    assert set(warned) == set(WORKERS)
    for worker, urn in warned.items():
        assert urn.startswith("'urn:pulumi:dev::camphub::")
        assert urn.endswith(f"aws:ec2/instance:Instance::{worker}'")

    camp.up(workers=2)  # the file as it was: nothing to warn of
    out, err = capfd.readouterr()
    assert replace_warnings(out + err) == {}


def test_a_changed_worker_type_stops_and_starts_every_worker_and_stops_their_servers(camp):
    # The workers stay on the new type: this module runs next to last (conftest.LAST).
    camp.start_server(STUDENT)
    camp.in_server(STUDENT, "sh -c 'echo kept > ~/instance-type-change.txt'")
    server = camp.running_task(STUDENT)
    hub_started = camp.hub_container_started_at()
    before = machines(camp)

    camp.up(workers=2, settings={"workers": {"instanceType": "t3.xlarge"}})

    after = machines(camp)
    for worker in WORKERS:
        assert after[worker]["id"] == before[worker]["id"], f"{worker} was replaced"
        assert after[worker]["changes"][-1] == {
            "how": STOP_AND_START,
            "inputs": ["instanceType"],
            "instance": before[worker]["id"],
        }
        assert after[worker]["started"] != before[worker]["started"], f"{worker} went on"
    for machine in OTHER_MACHINES:
        assert after[machine] == before[machine]
    assert camp.hub_container_started_at() != hub_started  # its limits follow the pool
    assert camp.running_task(STUDENT) != server  # the server stopped with its worker

    camp.start_server(STUDENT)  # runs again: by the swarm, or started from the hub's page
    assert camp.in_server(STUDENT, "sh -c 'cat ~/instance-type-change.txt'") == "kept"
