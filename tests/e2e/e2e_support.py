"""Helpers shared by the end-to-end tests on the local cloud."""

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, timeout: float, pause: float = 1.0):
    """Polls `condition` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(pause)
