"""The spawner's reading of the swarm (images/hub/camphub_spawner.py), inside the real hub image,
over task lists a real swarm returned (swarm/tasks.json: Docker 26's /tasks answers for services
that start, run, were moved, restart after crashes, cannot be placed, ended or are being removed;
recorded on a one-node swarm in a container).
"""

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

TASKS_FILE = Path(__file__).with_name("swarm") / "tasks.json"

# Runs in the hub image with the recorded tasks on stdin; prints one JSON object.
PROBE = """
import json, sys
import camphub_spawner as spawner
from jupyterhub.utils import format_exception

shapes = json.load(sys.stdin)
network = shapes["network"]

def reading(tasks):
    start, reason = spawner.start_progress(tasks, 3)
    patient_start, _ = spawner.start_progress(tasks, 100)
    return {
        "stopped": spawner.server_stopped(tasks),
        "start": start.value,
        "reason": reason,
        "start_with_retries_left": patient_start.value,
        "address": spawner.running_address(tasks, network),
    }

no_room = spawner.NoRoomOnWorkers("alice@example.org", "no suitable node (insufficient resources)")
shown, _ = format_exception(no_room)
shown_when_back, _ = format_exception(no_room, only_jupyterhub=True)
print(json.dumps({
    "services": {name: reading(tasks) for name, tasks in shapes["services"].items()},
    "no_tasks_yet": reading([]),
    "routes": spawner.running_addresses(shapes["every_task_to_run"], network),
    "shown": shown,
    "shown_when_back": shown_when_back,
    "logged": str(no_room),
    "status": no_room.status_code,
}))
"""


@pytest.fixture(scope="module")
def readings(camphub_images) -> dict:
    result = subprocess.run(
        ["docker", "run", "--rm", "-i", "--entrypoint", "python3", camphub_images.hub, "-c", PROBE],
        input=TASKS_FILE.read_text(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def services(readings, key) -> dict:
    return {name: reading[key] for name, reading in readings["services"].items()}


def test_a_server_the_swarm_runs_or_restarts_is_never_called_stopped(readings):
    stopped = services(readings, "stopped")
    assert stopped == {
        "assigned": False,
        "starting": False,
        "running": False,
        "moved_by_the_swarm": False,
        # A crashed task's replacement, waiting out the restart delay (desired ready) and then
        # started: the states the hub took for a stop after the stall.
        "restarting_assigned": False,
        "restarting_prepared": False,
        "restarting_ready": False,
        "restarting_starting": False,
        "running_after_failures": False,
        # Pending: the swarm places it when a worker has room again.
        "no_room": False,
        "no_worker": False,
        # No task the swarm will run again.
        "exited": True,
        "being_removed": True,
    }
    # A service given no task yet is one the swarm is about to start.
    assert readings["no_tasks_yet"]["stopped"] is False


def test_a_start_fails_fast_only_when_the_swarm_cannot_place_it_or_it_keeps_failing(readings):
    assert services(readings, "start") == {
        "assigned": "waiting",
        "starting": "waiting",
        "running": "running",
        "moved_by_the_swarm": "running",
        # Four or five failed tasks: the server crashes at start.
        "restarting_assigned": "failed",
        "restarting_prepared": "failed",
        "restarting_ready": "failed",
        "restarting_starting": "failed",
        "running_after_failures": "running",
        "no_room": "unplaceable",
        "no_worker": "unplaceable",
        "exited": "waiting",
        "being_removed": "waiting",
    }
    patient = services(readings, "start_with_retries_left")
    restarting = ("restarting_assigned", "restarting_prepared", "restarting_ready")
    assert {name: patient[name] for name in restarting} == dict.fromkeys(restarting, "waiting")


def test_the_swarm_says_why_a_server_cannot_be_placed(readings):
    reasons = services(readings, "reason")
    assert reasons["no_room"] == "no suitable node (insufficient resources on 1 node)"
    no_worker = "no suitable node (scheduling constraints not satisfied on 1 node)"
    assert reasons["no_worker"] == no_worker
    assert reasons["restarting_prepared"] == "failed: task: non-zero exit (3)"


def test_a_server_is_routed_to_its_newest_running_task_only(readings):
    addresses = services(readings, "address")
    # Moved: the old task (10.0.1.2) is shut down; pending tasks have an address but no server.
    assert addresses["moved_by_the_swarm"] == "10.0.1.17"
    assert addresses["running"] is not None
    not_running = {"assigned", "starting", "restarting_prepared", "no_room", "being_removed"}
    assert {name: addresses[name] for name in not_running} == dict.fromkeys(not_running)


def test_one_listing_of_every_task_to_run_routes_each_running_server(readings):
    # Three services: one running, two pending (each with an overlay address already).
    assert readings["routes"] == {"y9lmhemr7p52uxd3sbkmp1h9o": "10.0.1.17"}


def test_a_student_with_no_room_reads_why_and_the_log_says_unplaceable(readings):
    assert readings["shown"].startswith("There is no room for your server")
    assert readings["shown_when_back"] == readings["shown"]
    assert "unplaceable" in readings["logged"]
    assert "alice@example.org" in readings["logged"]
    assert "insufficient resources" in readings["logged"]
    assert readings["status"] == 503
