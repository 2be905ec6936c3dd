"""Polling with a deadline: the one way the tests and the benchmark wait for anything."""

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> T:
    """Call `check` until it returns something truthy and return that; fail after `timeout`.

    `check` may raise OSError-style connection errors while a service is still coming up; the
    last one is reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, ConnectionError) as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"{what}: not reached within {timeout:.0f}s{detail}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, grace_seconds: float = 15) -> None:
    """Terminate a child process, killing it if it ignores that for `grace_seconds`."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_seconds)
