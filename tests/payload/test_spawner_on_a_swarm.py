"""camphub's spawner, the hub image's own code and Python, against a real swarm: a one-node swarm
in a checker machine (never this machine's shared engine).

Two views. The spawner's own methods (swarm/spawner_on_a_swarm.py): a server that cannot be
placed, one the swarm restarts, one that ended, one the swarm moved. And the whole hub
(swarm/hub_config.py, driven by swarm/hub_on_a_swarm.py through its REST API) with the notebook
image: the student with no room reads why on the progress page; a server whose container dies is
kept, routed to its new task and reports activity with its token; a stopped one leaves no service.
"""

import json
import shlex
import subprocess

import payload_checker
import pytest

pytestmark = pytest.mark.live

SWARM_DIR = f"{payload_checker.PROJECT_MOUNT}/tests/payload/swarm"
BASE_IMAGE = "debian:trixie-slim"
HUB_CONTAINER = "camphub-test-hub"
PROXY_CONTAINER = "camphub-test-proxy"
PROXY_TOKEN = "swarm-test-proxy-token-0123456789"
PROXY_TOKEN_FILE = "/tmp/proxy-token"
# The hub image's Python packages and camphub's code, copied out of it onto the machine.
COPY_THE_HUB = """
container=$(docker create "$1")
docker cp "$container:/opt/venv" /opt/
docker cp "$container:/srv/jupyterhub" /srv/
docker rm "$container" >/dev/null
"""


def load_image(image: str, machine: payload_checker.Machine) -> None:
    """An image of this engine into the machine's (no registry is reachable)."""
    command = f"docker save {shlex.quote(image)} | docker exec -i {machine.name} docker load -q"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def swarm(camphub_images) -> payload_checker.Machine:
    payload_checker.build_image()
    with payload_checker.machine("swarm", ("-v", "/var/lib/docker")) as machine:
        machine.run("systemctl", "start", "docker.service")
        machine.run("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        machine.run("docker", "network", "create", "-d", "overlay", "--attachable", "camp")
        images = camphub_images
        for image in (BASE_IMAGE, images.hub, images.proxy, images.notebook):
            load_image(image, machine)
        yield machine


@pytest.fixture(scope="module")
def seen(swarm, camphub_images) -> dict:
    swarm.run("sh", "-c", COPY_THE_HUB, "-", camphub_images.hub)
    result = swarm.run(
        "env", "PYTHONPATH=/srv/jupyterhub", "/opt/venv/bin/python3",
        f"{SWARM_DIR}/spawner_on_a_swarm.py", check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def hub_saw(swarm, camphub_images) -> dict:
    swarm.run("sh", "-c", f"printf %s {PROXY_TOKEN} > {PROXY_TOKEN_FILE}")
    swarm.run(
        "docker", "run", "--detach", "--name", PROXY_CONTAINER, "--network", "camp",
        "--env", f"CONFIGPROXY_AUTH_TOKEN_FILE={PROXY_TOKEN_FILE}",
        "-v", f"{PROXY_TOKEN_FILE}:{PROXY_TOKEN_FILE}:ro", camphub_images.proxy,
        "--ip", "0.0.0.0", "--port", "8000", "--api-ip", "0.0.0.0", "--api-port", "8001",
        "--default-target", f"http://{HUB_CONTAINER}:8081",
    )  # fmt: skip
    swarm.run(
        "docker", "run", "--detach", "--name", HUB_CONTAINER, "--hostname", HUB_CONTAINER,
        "--network", "camp", "-v", "/var/run/docker.sock:/var/run/docker.sock",
        "-v", f"{SWARM_DIR}:/srv/test:ro",
        "--env", f"NOTEBOOK_IMAGE={camphub_images.notebook}",
        "--env", f"PROXY_API_URL=http://{PROXY_CONTAINER}:8001",
        "--env", f"CONFIGPROXY_AUTH_TOKEN={PROXY_TOKEN}",
        camphub_images.hub, "jupyterhub", "-f", "/srv/test/hub_config.py",
    )  # fmt: skip
    result = swarm.run(
        "docker", "exec", HUB_CONTAINER, "python3", "/srv/test/hub_on_a_swarm.py", check=False
    )
    hub_log = swarm.run("docker", "logs", HUB_CONTAINER, check=False)
    assert result.returncode == 0, f"{result.stderr}\nthe hub's log:\n{hub_log.stderr[-6000:]}"
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


def test_the_hub_tells_the_student_with_no_room_why_within_seconds(hub_saw):
    no_room = hub_saw["no_room"]
    # The hub's defaults: 10 s of "no suitable node", looked at every second.
    assert no_room["told_after_seconds"] < 10 + 5
    assert no_room["last_event"]["failed"] is True
    assert no_room["last_event"]["message"].startswith("Spawn failed: There is no room")
    assert no_room["server"] is None
    assert no_room["service_left"] is False


def test_the_hub_keeps_a_server_the_swarm_restarts_and_routes_to_it(hub_saw):
    restarted = hub_saw["restarted"]
    # Polled every 3 s through the swarm's 5 s restart delay: never called stopped.
    assert all(look["ready"] for look in restarted["looks"])
    assert len(restarted["looks"]) > 5
    (activity,) = restarted["activity"][:1]
    assert " 200 POST " in activity
    assert restarted["forbidden"] == []


def test_a_server_the_hub_stops_leaves_no_service(hub_saw):
    assert hub_saw["stopped"] == {"service_left": False}
