"""camphub's spawner against a real one-node swarm: run with the hub image's Python and code on a
machine whose Docker engine is a swarm manager with an attachable overlay named NETWORK.

Each scenario makes its student's service the way a start does (one replica on the overlay,
dnsrr), drives the spawner's own methods and prints what it saw; the test
(tests/payload/test_spawner_on_a_swarm.py) judges. Prints one JSON object.
"""

import asyncio
import json
import logging
import subprocess
import sys
import time
from datetime import datetime
from types import SimpleNamespace

from camphub_spawner import (
    CamphubSwarmSpawner,
    NoRoomOnWorkers,
    can_still_run,
    is_running,
    newest,
    running_address,
    task_address,
)
from jupyterhub import orm

NETWORK = "camp"
IMAGE = "debian:trixie-slim"
TIMEOUT_SECONDS = 60
# Short, so the scenario is quick; the hub's default is 10 s.
GRACE_SECONDS = 2
LOOK_SECONDS = 0.1


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def create_service(spawner, *args: str) -> None:
    service = [
        "service", "create", "--detach", "--quiet", "--no-resolve-image",
        "--name", spawner.service_name, "--network", NETWORK, "--endpoint-mode", "dnsrr",
    ]  # fmt: skip
    spawner.object_id = docker(*service, *args).strip()


def wall_clock(timestamp: str) -> float:
    """Seconds since the epoch of the swarm's "2026-12-03T15:49:20.879764991Z"."""
    seconds, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{seconds}+00:00").timestamp() + float(f"0.{fraction or 0}")


def service_exists(spawner) -> bool:
    listed = docker("service", "ls", "--quiet", "--filter", f"name={spawner.service_name}")
    return bool(listed.split())


class RecordingProxy:
    """The hub's proxy as the spawner sees it: add_user routes a user's server."""

    def __init__(self):
        self.routes = []

    async def add_user(self, user, server_name):
        self.routes.append((time.time(), user.spawner.server.ip))


class LogLines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def spawner_for(username: str, db, **config) -> CamphubSwarmSpawner:
    """A spawner of a server the hub records as running at 10.255.255.1 (not yet routed)."""
    orm_user = orm.User(name=username)
    db.add(orm_user)
    orm_spawner = orm.Spawner(name="", user=orm_user)
    orm_spawner.server = orm.Server(ip="10.255.255.1", port=8888, base_url=f"/user/{username}/")
    db.add(orm_spawner)
    db.commit()
    user = SimpleNamespace(name=username, settings={"proxy": RecordingProxy()})
    spawner = CamphubSwarmSpawner(
        user=user, orm_spawner=orm_spawner, network_name=NETWORK, **config
    )
    user.spawner = spawner
    return spawner


async def until(condition, what: str):
    """Awaits `condition()` (a coroutine function) until it returns something true."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(LOOK_SECONDS)
    raise TimeoutError(f"{what} within {TIMEOUT_SECONDS} s")


async def no_room(db, log):
    """A server no worker has the reserved memory for."""
    spawner = spawner_for(
        "nina@example.org", db, task_poll_seconds=0.5, unplaceable_grace_seconds=GRACE_SECONDS
    )
    create_service(spawner, "--reserve-memory", "900G", IMAGE, "sleep", "infinity")
    started = time.monotonic()
    try:
        await spawner.start_object()
        refusal = None
    except NoRoomOnWorkers as error:
        refusal = error
    return {
        "refused_after_seconds": time.monotonic() - started,
        "shown": refusal and refusal.jupyterhub_message,
        "service_left": service_exists(spawner),
        "logged": [line for line in log.lines if line.startswith("unplaceable")],
    }


async def room(db, log):
    """A server that fits starts; start_object returns once its task runs."""
    spawner = spawner_for("rita@example.org", db, task_poll_seconds=0.5)
    create_service(spawner, "--reserve-memory", "16M", IMAGE, "sleep", "infinity")
    await spawner.start_object()
    address = await spawner.running_task_address()
    await spawner.remove_object()
    return {"address": address}


async def restarting(db, log):
    """A server whose task ends and is started again by the swarm, polled throughout."""
    spawner = spawner_for("ravi@example.org", db)
    create_service(
        spawner, "--restart-delay", "2s", IMAGE, "sh", "-c", "sleep 2; exit 3"
    )  # fmt: skip
    seen = []

    async def restarted_twice_or_removed():
        tasks = await spawner.service_tasks() or []
        status = await spawner.poll()
        # The swarm's own words: every task it has not told to shut down.
        live = [
            f"{t['DesiredState']}/{t['Status']['State']}"
            for t in tasks
            if t["DesiredState"] != "shutdown"
        ]
        seen.append({"live": live, "poll": status})
        # A poll that calls the server stopped removes the service: nothing more to see.
        return status is not None or sum(t["Status"]["State"] == "failed" for t in tasks) >= 2

    await until(restarted_twice_or_removed, "two restarts")
    result = {"seen": seen, "service_left": service_exists(spawner)}
    spawner.unwatch_route()
    await spawner.remove_object()
    return result


async def ended(db, log):
    """A server whose task ended and that the swarm will not start again."""
    spawner = spawner_for("emma@example.org", db)
    create_service(spawner, "--restart-condition", "none", IMAGE, "true")

    async def task_ended():
        tasks = await spawner.service_tasks()
        return tasks and not any(can_still_run(task) for task in tasks)

    await until(task_ended, "the task's end")
    return {"poll": await spawner.poll(), "service_left": service_exists(spawner)}


async def moved(db, log):
    """A ready server whose task the swarm replaces: the watcher routes it to the new task."""
    spawner = spawner_for("mo@example.org", db, route_poll_seconds=0.5)
    create_service(spawner, "--stop-grace-period", "1s", IMAGE, "sleep", "infinity")
    first = await until(spawner.running_task_address, "the first task running")
    spawner.server.ip = first
    spawner.watch_route()
    docker("service", "update", "--detach", "--quiet", "--force", spawner.service_name)

    async def new_task_running():
        tasks = await spawner.service_tasks()
        running = [task for task in tasks if is_running(task)]
        return newest(running) if running and running_address(tasks, NETWORK) != first else None

    second = await until(new_task_running, "the new task running")
    proxy = spawner.user.settings["proxy"]

    async def routed():
        return proxy.routes

    routes = await until(routed, "the route to the new task")
    in_database = db.query(orm.Server).filter_by(id=spawner.orm_spawner.server.id).one().ip
    spawner.unwatch_route()
    await spawner.remove_object()
    return {
        "first": first,
        "second": task_address(second, NETWORK),
        "routed_to": [ip for _, ip in routes],
        "routed_after_seconds": routes[0][0] - wall_clock(second["Status"]["Timestamp"]),
        "ip_in_database": in_database,
    }


SCENARIOS = {
    "no_room": no_room,
    "room": room,
    "restarting": restarting,
    "ended": ended,
    "moved": moved,
}


async def main(names):
    db = orm.new_session_factory("sqlite://")()
    log = LogLines()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.INFO)
    return {name: await SCENARIOS[name](db, log) for name in names}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:] or list(SCENARIOS)))))
