"""What lets a whole class start at once (bench/RESULTS.md), inside the real hub image: camphub's
spawner (images/hub/camphub_spawner.py) and the sign-in's HTTP client (jupyterhub_config.py)."""

import subprocess

import pytest

pytestmark = pytest.mark.live

# Runs in the hub image; prints one line per check.
PROBE = """
import asyncio, socket, time
from types import SimpleNamespace
from camphub_spawner import CamphubSwarmSpawner

spawner = CamphubSwarmSpawner(user=SimpleNamespace(name="alice@example.org"))
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


@pytest.fixture(scope="module")
def probe(camphub_images) -> dict[str, str]:
    result = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python3", camphub_images.hub, "-c", PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


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
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "python3",
            camphub_images.hub,
            "-c",
            SIGN_IN_PROBE,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    default, configured = map(int, result.stdout.split())
    assert default == 10  # tornado's own, which failed 28 of 100 sign-ins
    assert configured >= 100
