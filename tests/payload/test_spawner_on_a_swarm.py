"""camphub's spawner, the hub image's own code and Python, against a real swarm: a one-node swarm
in a checker machine (never this machine's shared engine). What a server that cannot be placed,
one the swarm restarts, one that ended and one the swarm moved look like to the hub; the scenarios
are swarm/spawner_on_a_swarm.py.
"""

import json
import subprocess

import payload_checker
import pytest

pytestmark = pytest.mark.live

PROBE = f"{payload_checker.PROJECT_MOUNT}/tests/payload/swarm/spawner_on_a_swarm.py"
# What the hub image holds of the hub: its Python packages and camphub's code.
HUB_DIRS = {"/opt/venv": "/opt/", "/srv/jupyterhub": "/srv/"}
BASE_IMAGE = "debian:trixie-slim"


def shell(command: str) -> None:
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr}"


def copy_the_hub(hub_image: str, machine: payload_checker.Machine) -> None:
    """The hub image's venv and code onto the machine (both Debian 13, one Python)."""
    container = payload_checker.docker("create", hub_image).stdout.strip()
    try:
        for source, target in HUB_DIRS.items():
            shell(f"docker cp {container}:{source} - | docker cp - {machine.name}:{target}")
    finally:
        payload_checker.docker("rm", container, check=False)


@pytest.fixture(scope="module")
def seen(camphub_images) -> dict:
    payload_checker.build_image()
    with payload_checker.machine("swarm", ("-v", "/var/lib/docker")) as machine:
        machine.run("systemctl", "start", "docker.service")
        machine.run("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        machine.run("docker", "network", "create", "-d", "overlay", "--attachable", "camp")
        shell(f"docker save {BASE_IMAGE} | docker exec -i {machine.name} docker load -q")
        copy_the_hub(camphub_images.hub, machine)
        result = machine.run(
            "env", "PYTHONPATH=/srv/jupyterhub", "/opt/venv/bin/python3", PROBE, check=False
        )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_server_with_no_room_is_refused_within_seconds_with_no_service_left(seen):
    no_room = seen["no_room"]
    # The scenario's grace is 2 s, polled every 0.5 s: the hub's defaults (10 s, 1 s) say it
    # within 12 s of the scheduler's verdict, which comes within a second.
    assert 2 <= no_room["refused_after_seconds"] <= 2 + 1.5
    assert no_room["shown"].startswith("There is no room for your server")
    assert no_room["service_left"] is False
    (line,) = no_room["logged"]
    assert "nina@example.org" in line
    assert "no suitable node (insufficient resources on 1 node)" in line


def test_a_server_with_room_starts_and_is_reached_at_its_task(seen):
    assert seen["room"]["address"].startswith("10.0.")


def test_a_server_the_swarm_restarts_is_running_to_the_hub_at_every_step(seen):
    restarting = seen["restarting"]
    assert {look["poll"] for look in restarting["seen"]} == {None}
    live_states = {state for look in restarting["seen"] for state in look["live"]}
    # The crash-looping task went through the states the hub took for a stop after the stall.
    assert {"ready/ready", "running/running"} <= live_states
    assert restarting["service_left"] is True


def test_a_server_whose_task_ended_is_stopped_and_its_service_removed(seen):
    assert seen["ended"] == {"poll": "complete", "service_left": False}


def test_a_moved_server_is_routed_to_its_new_task_within_one_look(seen):
    moved = seen["moved"]
    assert moved["second"] != moved["first"]
    assert moved["routed_to"] == [moved["second"]]
    assert moved["ip_in_database"] == moved["second"]
    # route_poll_seconds is 0.5 in the scenario (2 s in the hub).
    assert moved["routed_after_seconds"] <= 0.5 + 0.5
