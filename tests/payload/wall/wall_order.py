"""Whether each student's container running on this machine got its overlay wall before it
started. Run as root on a worker (or the payload tests' machine); prints a JSON object with an
entry per running container whose environment names a student (JUPYTERHUB_USER), by student:

    {"alice": {"container": "<id>", "started": ns, "walls": [ns, ...], "walled_first": true}}

"started" is Docker's State.StartedAt; "walls" are the times in camphub-overlay-wall's journal
lines ("walled container <id> at <time>") for that container, after --since if given; all in
nanoseconds since the epoch. "walled_first": one of those loads came at or before the start and
none after it, so the container's first process ran behind the wall.

    python3 wall_order.py [--since NANOSECONDS]
"""

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

STUDENT_VARIABLE = "JUPYTERHUB_USER="
WALLED = re.compile(r"walled container ([0-9a-f]{64}) at (\S+)")


def nanoseconds(timestamp: str) -> int:
    """An RFC 3339 time in UTC with up to nine decimals (Docker's, the hook's), exactly."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9])


def output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def wall_loads(since: int) -> dict[str, list[int]]:
    journal = output("journalctl", "--no-pager", "-o", "cat", "-t", "camphub-overlay-wall")
    loads: dict[str, list[int]] = {}
    for container, at in WALLED.findall(journal):
        if nanoseconds(at) > since:
            loads.setdefault(container, []).append(nanoseconds(at))
    return loads


def wall_order(since: int = 0) -> dict[str, dict]:
    containers = output("docker", "ps", "-q", "--no-trunc").split()
    inspected = json.loads(output("docker", "inspect", *containers)) if containers else []
    loads = wall_loads(since)
    order = {}
    for container in inspected:
        students = [v for v in container["Config"]["Env"] or [] if v.startswith(STUDENT_VARIABLE)]
        if not students:
            continue
        started = nanoseconds(container["State"]["StartedAt"])
        walls = sorted(loads.get(container["Id"], []))
        order[students[0].removeprefix(STUDENT_VARIABLE)] = {
            "container": container["Id"],
            "started": started,
            "walls": walls,
            "walled_first": bool(walls) and walls[-1] <= started,
        }
    return order


if __name__ == "__main__":
    since = int(sys.argv[2]) if sys.argv[1:2] == ["--since"] else 0
    print(json.dumps(wall_order(since)))
