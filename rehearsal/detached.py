"""A server the rehearsal runs on this machine beside the local cloud (the Google and AWS
stand-ins): a Python module started in a session of its own, so it outlives `rehearse up` and a
Ctrl-C that ends it; waited for until it answers; stopped by the pid its caller recorded.

A recorded pid outlives its process and may later belong to another program: every step first
checks that the pid still runs the module it was started with, and leaves anything else alone.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLL_INTERVAL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 15  # for each of SIGTERM and then SIGKILL
EXEC_TIMEOUT_SECONDS = 5
EXEC_POLL_INTERVAL_SECONDS = 0.01


class DetachedError(RuntimeError):
    """A detached server exited before it answered."""


@dataclass(frozen=True)
class DetachedProcess:
    """The process `pid`, started as `python -m <module>`, writing to `log_path`."""

    pid: int
    module: str
    log_path: Path

    def is_ours(self) -> bool:
        """Whether `pid` runs and runs `module` (not another program that got the pid since)."""
        if not _is_alive(self.pid):
            return False
        try:
            arguments = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return self.module.encode() in arguments

    def wait_until(self, answers: Callable[[], bool], timeout: float) -> None:
        """Return once `answers()`; fail at once if the process exits, or after `timeout`."""
        deadline = time.monotonic() + timeout
        while not answers():
            if not self.is_ours():
                raise DetachedError(f"{self.module} exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.module} did not answer within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)

    def stop(self) -> None:
        """Terminate its session (the server and anything it started), killing it if it
        ignores that, and return once it is gone; a pid now another program's is left alone."""
        if not self.is_ours():
            return
        for sign in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sign)  # the pid leads its session: see `start`
            except ProcessLookupError:
                return
            # Gone, not merely no longer ours: an exiting process shows an empty command line
            # while it still holds its listening socket.
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while _is_alive(self.pid):
                if time.monotonic() >= deadline:
                    break
                time.sleep(POLL_INTERVAL_SECONDS)
            else:
                return


def start(
    module: str, arguments: list[str], log_path: Path, env: dict[str, str] | None = None
) -> DetachedProcess:
    """Start `python -m <module> <arguments>` in its own session, its output appended to
    `log_path`, with `env` added to this process's environment."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = DetachedProcess(process.pid, module, log_path)
    # Popen returns once the exec has begun, a moment before the kernel shows the new command
    # line that `is_ours` reads (measured: an empty one, and a started server taken for dead).
    deadline = time.monotonic() + EXEC_TIMEOUT_SECONDS
    while not started.is_ours() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(EXEC_POLL_INTERVAL_SECONDS)
    return started


def free_port(host: str) -> int:
    """A port nothing listens on at `host` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _is_alive(pid: int) -> bool:
    """Whether `pid` runs; a child of this process that exited is reaped here."""
    if pid <= 0:
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        return reaped == 0
    except ChildProcessError:  # not this process's child
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
