"""A worker added to a running camp: seconds from its instance's boot to its first student's
server answering.

    PYTHONPATH=.:tests/clients:tests/e2e .venv/bin/python -m bench.worker_join [--down]

On the local cloud (the real program, rehearsed as "h4join": the dev stack, its sample class
list, one worker), in this order:
1. the camp is brought up with one worker (not measured) and every server is stopped;
2. `up` with two workers, as an organizer whose class grew: the new worker boots, mounts the
   homes, loads the notebook image from the hub (fetch-image) and joins the swarm;
3. the first worker is paused, so the next server must go to the new one, and a student's server
   is started through the hub's API until the hub calls it ready (it answered the hub);
4. the seconds from the new instance's boot (its container's start) to each milestone are
   printed and written to bench/results/; the camp goes back to one worker.
"""

import argparse
import sys
import time
from datetime import UTC, datetime

from e2e_support import Camp

from bench.records import save
from rehearsal import docker_cli
from rehearsal.camp import class_list
from rehearsal.run import PROJECT_DIR, Rehearsal

NAME = "h4join"
FIRST_WORKER, NEW_WORKER = "workers-0", "workers-1"


def join_camp() -> Camp:
    work_dir = PROJECT_DIR / ".work" / "rehearsal" / NAME
    work_dir.mkdir(parents=True, exist_ok=True)
    rehearsal = Rehearsal(PROJECT_DIR, "dev", work_dir=work_dir / "state", name=NAME)
    userlist, _, _ = class_list("dev")
    return Camp(rehearsal, userlist, PROJECT_DIR / "materials")


def booted_at(camp: Camp, resource: str) -> float:
    """When the instance's container started, as a Unix time."""
    started = docker_cli.docker(
        "inspect", "--format", "{{.State.StartedAt}}", camp.rehearsal.cloud.container_name(resource)
    )
    return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()


def stop_every_server(camp: Camp) -> None:
    for user in camp.hub_api("/users"):
        if user["servers"]:
            camp.hub_api(f"/users/{user['name']}/server", method="DELETE")


def measure(camp: Camp, student: str) -> dict[str, float]:
    camp.up(workers=2)
    joined = time.time()
    boot = booted_at(camp, NEW_WORKER)
    loaded = camp.step_log(f"{NEW_WORKER}-notebook-image").stat().st_mtime
    pause = f"sudo docker node update --availability {{}} {FIRST_WORKER} >/dev/null"
    camp.run(pause.format("pause"))
    try:
        node = camp.start_server(student)
    finally:
        camp.run(pause.format("active"))
    if node != NEW_WORKER:
        raise RuntimeError(f"{student}'s server went to {node}, not to the new {NEW_WORKER}")
    answering = time.time()
    return {
        "image_loaded_s": round(loaded - boot, 1),
        "joined_s": round(joined - boot, 1),
        "first_server_answering_s": round(answering - boot, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="worker_join", description=__doc__.split("\n")[0])
    parser.add_argument("--down", action="store_true", help="tear the camp down afterwards")
    args = parser.parse_args(argv)
    camp = join_camp()
    _, students, _ = class_list("dev")
    student = students[0]
    camp.up(workers=1)
    stop_every_server(camp)
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    figures = measure(camp, student)
    path = save({"date": date, "worker": NEW_WORKER, "student": student, **figures}, "worker-join")
    for name, seconds in figures.items():
        print(f"{name:>26}: {seconds:6.1f} s after the new worker's boot")
    print(f"written to {path}")
    stop_every_server(camp)
    camp.up(workers=1)
    if args.down:
        camp.rehearsal.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
