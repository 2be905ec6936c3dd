"""What lets a whole class start at once (bench/RESULTS.md), inside the real hub image: camphub's
spawner (images/hub/camphub_spawner.py) and the sign-in's HTTP client (jupyterhub_config.py)."""

import json
import subprocess

import pytest

pytestmark = pytest.mark.live

# Two 60-character emails alike in their first 43; escaped, "jupyter-" and either is 84 long.
LONG_EMAIL = "margaret.heafield.hamilton.of.apollo.a1b2c3@camp.example.org"
NAMED = {
    "long": LONG_EMAIL,
    "long_again": LONG_EMAIL,
    "long_other": LONG_EMAIL.replace("c3@", "c4@"),
}
SERVICE_NAME_LIMIT = 63  # Docker's

# Runs in the hub image; prints one line per check.
PROBE = """
import asyncio, json, os, socket, time
from types import SimpleNamespace
from camphub_spawner import CamphubSwarmSpawner

spawner = CamphubSwarmSpawner(user=SimpleNamespace(name="alice@example.org"))
print("name_short", spawner.object_name)
for label, email in json.loads(os.environ["NAMED"]).items():
    print("name_" + label, CamphubSwarmSpawner(user=SimpleNamespace(name=email)).object_name)
print("threads", spawner.executor._max_workers)
print("pool", spawner.client_kwargs["max_pool_size"])

async def until_listening_after_a_late_listen():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    listener = None

    async def listen_later():
        nonlocal listener
        await asyncio.sleep(1.0)
        listener = socket.create_server(("127.0.0.1", port))
        return time.monotonic()

    later = asyncio.ensure_future(listen_later())
    await spawner.until_listening("127.0.0.1", port)
    returned = time.monotonic()
    listening_since = await later
    listener.close()
    return returned - listening_since

waited = asyncio.run(until_listening_after_a_late_listen())
print("after_listen", f"{waited:.2f}")
"""


def in_hub_image(image: str, code: str, *env: str) -> str:
    """What `code` prints, run by the hub image's Python with environment `env` (NAME=value)."""
    environment = [option for variable in env for option in ("--env", variable)]
    result = subprocess.run(
        ["docker", "run", "--rm", *environment, "--entrypoint", "python3", image, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def probe(camphub_images) -> dict[str, str]:
    printed = in_hub_image(camphub_images.hub, PROBE, f"NAMED={json.dumps(NAMED)}")
    return dict(line.split(" ", 1) for line in printed.splitlines())


def test_a_servers_service_is_jupyter_and_the_escaped_email(probe):
    assert probe["name_short"] == "jupyter-alice-40example-2eorg"


def test_an_email_too_long_for_a_service_name_gets_a_stable_short_name_of_its_own(probe):
    long_name = probe["name_long"]
    assert len(LONG_EMAIL) == 60
    assert len(long_name) <= SERVICE_NAME_LIMIT
    assert long_name.startswith("jupyter-margaret-2eheafield-2ehamilton-2eof--")
    assert probe["name_long_again"] == long_name
    assert probe["name_long_other"] != long_name


def test_docker_calls_of_a_whole_class_run_side_by_side(probe):
    assert int(probe["threads"]) == 16
    assert int(probe["pool"]) == 16


def test_start_returns_as_soon_as_the_server_accepts_connections(probe):
    # Not before it listens (the wait would be negative), and within one poll after.
    assert 0 <= float(probe["after_listen"]) <= 0.5 + 0.25


SIGN_IN_PROBE = """
import asyncio
import jupyterhub_config
from tornado.httpclient import AsyncHTTPClient

async def max_clients():
    return AsyncHTTPClient(force_instance=True).max_clients

print(asyncio.run(max_clients()))
jupyterhub_config.allow_a_class_of_sign_ins_at_once()
print(asyncio.run(max_clients()))
"""


def test_a_class_of_100_signs_in_without_queueing_behind_10_requests(camphub_images):
    printed = in_hub_image(camphub_images.hub, SIGN_IN_PROBE)
    default, configured = map(int, printed.split())
    assert default == 10  # tornado's own, which failed 28 of 100 sign-ins
    assert configured >= 100
