"""The detached servers of the rehearsal (rehearsal/detached.py), with a real short-lived one:
Python's own HTTP server on a free port of the loopback."""

import os
import socket
import subprocess

import pytest

from rehearsal import detached

LOOPBACK = "127.0.0.1"
MODULE = "http.server"
READY_TIMEOUT_SECONDS = 30


def answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture
def server(tmp_path):
    """An HTTP server started detached, and its port; stopped at the end whatever happened."""
    port = detached.free_port(LOOPBACK)
    process = detached.start(MODULE, ["--bind", LOOPBACK, str(port)], tmp_path / "server.log")
    yield process, port
    process.stop()


def test_a_started_server_answers_and_is_stopped_by_its_recorded_pid(server, tmp_path):
    started, port = server
    started.wait_until(lambda: answers(port), READY_TIMEOUT_SECONDS)

    recorded = detached.DetachedProcess(started.pid, MODULE, tmp_path / "server.log")
    assert recorded.is_ours()
    recorded.stop()

    assert not recorded.is_ours()
    assert not answers(port)


def test_a_server_runs_in_a_session_of_its_own(server):
    started, _ = server
    assert os.getsid(started.pid) == started.pid != os.getsid(0)


def test_a_server_that_exits_before_it_answers_fails_the_wait_at_once(tmp_path):
    log = tmp_path / "server.log"
    process = detached.start(MODULE, ["not-a-port"], log)
    with pytest.raises(detached.DetachedError, match="exited"):
        process.wait_until(lambda: False, READY_TIMEOUT_SECONDS)
    assert "invalid int value" in log.read_text()


def test_a_recorded_pid_that_another_program_has_now_is_left_alone(tmp_path):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        stale = detached.DetachedProcess(bystander.pid, MODULE, tmp_path / "server.log")
        assert not stale.is_ours()
        stale.stop()
        assert bystander.poll() is None, "stop() ended a program it did not start"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_server_is_known_as_ours_as_soon_as_it_is_started(tmp_path):
    """The kernel shows a new command line a moment after the exec begins: a server checked at
    once must not be taken for dead. A race, so started a number of times."""
    for _ in range(20):
        started = detached.start(MODULE, ["--bind", LOOPBACK, "0"], tmp_path / "server.log")
        try:
            assert started.is_ours()
        finally:
            started.stop()
