"""The hub and the swarm agree about every student's server, end to end on the local cloud: a
student the pool has no room for is told within a minute; the proxy routes a server the swarm
moves to its new address within seconds of its new task running; after every machine of the camp
stalled for minutes, each student's server is either running and routed or stopped with no
service left, and none calls the hub with a revoked token. Shares the session's rehearsed camp
(conftest.py).
"""

import json
import subprocess
import time

import pytest
from e2e_support import escaped, in_kernel
from jupyter_api import user_path
from waiting import wait_for

from infra import layout

pytestmark = pytest.mark.live

# The hub refuses a start the swarm cannot place after 10 s of "no suitable node" (the
# spawner's unplaceable_grace_seconds) and looks every second: well within the minute promised.
TOLD_WITHIN_SECONDS = 60
# The hub's watcher looks for moved servers every 2 s (route_poll_seconds).
REROUTED_WITHIN_SECONDS = 10
# Longer than the swarm's node heartbeat timeout, so the manager declares the workers down and
# reschedules their tasks, as a partition or a hypervisor stall does.
STALL_SECONDS = 180
SETTLE_SECONDS = 300
STUDENTS = ("ada@camp.example.org", "grace@camp.example.org")
NEWCOMER = "linus@camp.example.org"
BALLAST = "camphub-test-ballast"
NO_ROOM = "There is no room for your server"
CPU = 10**9  # Docker's NanoCPUs


def hub_log_since(camp, since: str) -> str:
    return camp.run(f"sudo docker logs --since {since} {layout.HUB_CONTAINER} 2>&1")


def free_nano_cpus(camp, node: str) -> int:
    """What `node` has left to reserve: its CPUs less the reservations of its tasks that run."""
    template = "{{.Description.Resources.NanoCPUs}}"
    total = int(camp.run(f"sudo docker node inspect --format '{template}' {node}"))
    task_ids = camp.run(f"sudo docker node ps -q --filter desired-state=running {node}").split()
    tasks = json.loads(camp.run(f"sudo docker inspect {' '.join(task_ids)}")) if task_ids else []
    return total - sum(reserved_nano_cpus(task["Spec"]) for task in tasks)


def reserved_nano_cpus(task_spec: dict) -> int:
    return task_spec.get("Resources", {}).get("Reservations", {}).get("NanoCPUs", 0)


def fill_the_pool(camp, server_spec: dict) -> None:
    """Reserves what every worker has left but less than one more server's CPU guarantee, with
    services of the notebook image (the one image every worker has)."""
    guarantee = reserved_nano_cpus(server_spec)
    image = server_spec["ContainerSpec"]["Image"]
    for position, worker in enumerate(sorted(camp.worker_names())):
        reserve = free_nano_cpus(camp, worker) - guarantee // 2
        camp.run(
            f"sudo docker service create --detach --quiet --name {BALLAST}-{position}"
            f" --constraint node.hostname=={worker} --reserve-cpu {reserve / CPU:.3f}"
            f" --no-resolve-image {image} sleep infinity"
        )


def remove_ballast(camp) -> None:
    camp.run(f"sudo docker service ls -q --filter name={BALLAST} | xargs -r sudo docker service rm")


def spawn_outcome(client, user: str) -> dict:
    """The last event of `user`'s spawn progress, as the spawn-pending page reads it."""
    response = client.hub_api("GET", f"/users/{user_path(user)}/server/progress", stream=True)
    last = {}
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data:"):
            last = json.loads(line.removeprefix("data:"))
    return last


def test_the_student_the_pool_has_no_room_for_is_told_within_a_minute(camp, ca_file):
    camp.add_to_class_list(NEWCOMER)
    camp.up(workers=2)
    since = camp.run("date -u +%Y-%m-%dT%H:%M:%S").strip()
    camp.start_server(STUDENTS[0])
    service = json.loads(camp.run(f"sudo docker service inspect jupyter-{escaped(STUDENTS[0])}"))
    fill_the_pool(camp, service[0]["Spec"]["TaskTemplate"])
    try:
        # The class is now one student larger than the pool.
        with camp.as_student(NEWCOMER, ca_file) as newcomer:
            asked = time.monotonic()
            newcomer.hub_api("POST", f"/users/{user_path(NEWCOMER)}/server")
            outcome = spawn_outcome(newcomer, NEWCOMER)
            told_after = time.monotonic() - asked
    finally:
        remove_ballast(camp)
    assert outcome.get("failed") is True, outcome
    assert NO_ROOM in outcome["message"]
    assert told_after < TOLD_WITHIN_SECONDS
    assert not camp.run(f"sudo docker service ls -q --filter name=jupyter-{escaped(NEWCOMER)}")
    log = hub_log_since(camp, since)
    assert f"unplaceable: no room for {NEWCOMER}'s server" in log
    assert "no suitable node" in log


def route_target(camp, user: str) -> str:
    """Where the proxy sends `user`'s requests, as the hub's API reports the proxy's table."""
    return camp.hub_api("/proxy").get(f"/user/{user}/", {}).get("target", "")


def task_address(camp, task: str) -> str:
    template = "{{range .NetworksAttachments}}{{index .Addresses 0}} {{end}}"
    addresses = camp.run(f"sudo docker inspect --format '{template}' {task}").split()
    return addresses[0].split("/")[0]


def test_a_moved_server_is_rerouted_within_seconds_of_its_new_task_running(camp, ca_file):
    student = STUDENTS[1]
    camp.start_server(student)
    node, task = camp.running_task(student)
    with camp.as_student(student, ca_file) as client:
        client.start_server_and_wait_until_it_answers(student)
        # Drained, the worker's tasks move to the other one: a new task, a new address.
        camp.run(f"sudo docker node update --availability drain {node} >/dev/null")
        try:
            moved = wait_for(
                lambda: camp.running_task(student)[1] not in ("", task) or None,
                timeout=120,
                what=f"{student}'s server running elsewhere",
                interval=0.5,
            )
            address = task_address(camp, camp.running_task(student)[1])
            running_at = time.monotonic()
            wait_for(
                lambda: f"//{address}:" in route_target(camp, student),
                timeout=REROUTED_WITHIN_SECONDS,
                what=f"the proxy routing {student} to the new task at {address}",
                interval=0.5,
            )
            assert moved
            assert time.monotonic() - running_at < REROUTED_WITHIN_SECONDS
            # The new server answers once it has started (its own start, not the routing).
            wait_for(
                lambda: client.server_answers(student),
                timeout=120,
                what=f"{student}'s moved server answering through the hub",
                interval=1,
            )
        finally:
            camp.run(f"sudo docker node update --availability active {node} >/dev/null")


def pause_every_machine(camp, seconds: float) -> None:
    """Every machine of the camp stopped at once for `seconds`, then resumed: what a network
    partition or a hypervisor stall does to the hub, the swarm and the workers."""
    machines = camp.rehearsal.cloud.containers()
    subprocess.run(["docker", "pause", *machines], check=True, capture_output=True)
    try:
        time.sleep(seconds)  # the stall itself, not a wait for anything
    finally:
        subprocess.run(["docker", "unpause", *machines], check=True, capture_output=True)


def server_settled(camp, user: str) -> str:
    """ "running" (the hub routes to a running task), "stopped" (no server, no service) or ""."""
    server = camp.hub_api(f"/users/{user_path(user)}")["servers"].get("")
    services = camp.run(f"sudo docker service ls -q --filter name=jupyter-{escaped(user)}")
    if server and server.get("ready") and camp.server_node(user):
        return "running"
    if server is None and not services.strip():
        return "stopped"
    return ""


def test_after_every_machine_stalled_each_server_runs_routed_or_is_gone(camp, ca_file):
    for student in STUDENTS:
        camp.start_server(student)
    pause_every_machine(camp, STALL_SECONDS)
    resumed = camp.run("date -u +%Y-%m-%dT%H:%M:%S").strip()
    outcomes = {
        student: wait_for(
            lambda student=student: server_settled(camp, student),
            timeout=SETTLE_SECONDS,
            what=f"{student}'s server running and routed, or stopped with no service",
            interval=3,
        )
        for student in STUDENTS
    }
    for student in STUDENTS:
        with camp.as_student(student, ca_file) as client:
            # Starts the server again when it stopped; then a cell runs through the hub.
            assert in_kernel(client, student, "answer = 6 * 7") == 42, outcomes
    # A server the hub forgot while the swarm kept it calls the hub with a revoked token.
    log = hub_log_since(camp, resumed)
    forbidden = [line for line in log.splitlines() if " 403 " in line and "/hub/api/" in line]
    assert forbidden == [], outcomes
