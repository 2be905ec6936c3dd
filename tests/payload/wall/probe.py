"""Tries a TCP connection to every HOST:PORT given, all at once, and prints a JSON object
mapping each to "open" (connected) or the reason it failed. Run inside a student's container,
as the student: as a command, or loaded in a kernel as a module and called as `outcomes()`.

    python3 probe.py 10.0.0.5:2049 169.254.169.254:80 pypi.org:443
"""

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT_SECONDS = 3


def outcome(target: str) -> str:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_SECONDS):
            return "open"
    except OSError as error:
        return type(error).__name__


def outcomes(targets: list[str]) -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=len(targets) or 1) as pool:
        return dict(zip(targets, pool.map(outcome, targets), strict=True))


if __name__ == "__main__":
    print(json.dumps(outcomes(sys.argv[1:])))
