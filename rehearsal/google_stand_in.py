"""Google sign-in on the local cloud: the maintained oidc-provider-mock, in Google's shape.

GoogleOAuthenticator reads Google's v1 userinfo: `email`, `verified_email` (must be true) and
`hd` (hosted domain). oidc-provider-mock returns every non-standard claim a user was given, so
registering each person with those three claims is all it takes for the real authenticator to
run unchanged against it. It keeps its users in memory: whoever starts it registers them again.

It runs as its own process so the setting that lets authlib speak plain HTTP (the rehearsal's
private network and loopback only) never leaks into the caller. Two ways to run it:
- `start`: for a test session, which stops it at the end;
- `ensure_running`: the rehearsal's, detached so that it outlives `rehearse up`, its pid, port
  and log in the rehearsal's work directory; the port stays the same for the rehearsal's life
  (the hub's settings name it, and a changed setting restarts the hub).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

READY_TIMEOUT_SECONDS = 30
# Generous: on a busy machine a live provider can take seconds to answer, and one taken for dead
# is restarted, forgetting the sign-ins in flight.
PROBE_TIMEOUT_SECONDS = 10
STOP_TIMEOUT_SECONDS = 15
POLL_INTERVAL_SECONDS = 0.2
RECORD_FILE = "google-stand-in.json"  # {"host", "port", "pid"} of the rehearsal's stand-in
LOG_FILE = "google-stand-in.log"


@dataclass(frozen=True)
class GoogleStandIn:
    """A provider at `base_url`, reachable from this machine and from the containers."""

    base_url: str
    pid: int
    log_path: Path

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def userdata_url(self) -> str:
        return f"{self.base_url}/userinfo"

    def add_user(self, email: str, *, verified: bool = True) -> None:
        """Register `email` so that signing in as it yields Google's userinfo fields."""
        claims = {"email": email, "verified_email": verified, "hd": email.split("@", 1)[1]}
        response = requests.put(f"{self.base_url}/users/{email}", json=claims, timeout=10)
        response.raise_for_status()

    def answers(self) -> bool:
        """Whether its process runs and it serves its discovery document."""
        if not _is_provider_process(self.pid):
            return False
        try:
            return requests.get(self.discovery_url, timeout=PROBE_TIMEOUT_SECONDS).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    def stop(self) -> None:
        """Terminate it, killing it if it ignores that; a recorded pid that now belongs to
        another program is left alone."""
        for sign in (signal.SIGTERM, signal.SIGKILL):
            if not _is_provider_process(self.pid):
                return
            os.kill(self.pid, sign)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while _is_provider_process(self.pid) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL_SECONDS)

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"


def start(host: str, port: int, log_path: Path) -> GoogleStandIn:
    """Start the provider on host:port and return once it answers its discovery document."""
    env = {**os.environ, "AUTHLIB_INSECURE_TRANSPORT": "1"}
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", host, "--port", str(port)]
    with log_path.open("ab") as log:
        # Its own session: a Ctrl-C that ends `rehearse up` does not end the provider.
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    provider = GoogleStandIn(f"http://{host}:{port}", process.pid, log_path)
    try:
        _wait_until_ready(provider)
    except BaseException:
        provider.stop()
        raise
    return provider


def ensure_running(work_dir: Path, host: str) -> GoogleStandIn:
    """The rehearsal's provider on `host`: the one already running, or a new one on the port
    recorded before (a free one the first time)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    record = _read_record(work_dir)
    if record.get("host") != host:
        # The rehearsal's network was made anew: a provider on its old address serves nobody.
        stop_recorded(work_dir)
        record = {"host": host, "port": _free_port(host), "pid": 0}
    running = GoogleStandIn(f"http://{host}:{record['port']}", record["pid"], work_dir / LOG_FILE)
    if running.answers():
        return running
    running.stop()  # a provider that stopped answering holds the port
    provider = start(host, record["port"], work_dir / LOG_FILE)
    _write_record(work_dir, {**record, "pid": provider.pid})
    return provider


def recorded(work_dir: Path) -> GoogleStandIn | None:
    """The rehearsal's provider as last started, running or not; None if never started."""
    record = _read_record(work_dir)
    if not record:
        return None
    return GoogleStandIn(f"http://{record['host']}:{record['port']}", record["pid"],
                         work_dir / LOG_FILE)  # fmt: skip


def stop_recorded(work_dir: Path) -> None:
    """Stops the rehearsal's provider, if one runs; its port stays recorded for the next."""
    provider = recorded(work_dir)
    if provider is not None:
        provider.stop()


def _read_record(work_dir: Path) -> dict:
    path = work_dir / RECORD_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_record(work_dir: Path, record: dict) -> None:
    (work_dir / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")


def _free_port(host: str) -> int:
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


def _is_provider_process(pid: int) -> bool:
    """Whether `pid` is an oidc-provider-mock (a recorded pid may since belong to another)."""
    if not _is_alive(pid):
        return False
    try:
        return b"oidc_provider_mock" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_until_ready(provider: GoogleStandIn) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not provider.answers():
        if not _is_alive(provider.pid):
            raise RuntimeError(f"oidc-provider-mock exited; see {provider.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"oidc-provider-mock did not answer {provider.discovery_url} within "
                f"{READY_TIMEOUT_SECONDS}s; see {provider.log_path}"
            )
        time.sleep(POLL_INTERVAL_SECONDS)
