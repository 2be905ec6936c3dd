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
from dataclasses import dataclass
from pathlib import Path

import requests

from rehearsal import detached

MODULE = "oidc_provider_mock"
READY_TIMEOUT_SECONDS = 30
# Generous: on a busy machine a live provider can take seconds to answer, and one taken for dead
# is restarted, forgetting the sign-ins in flight.
PROBE_TIMEOUT_SECONDS = 10
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
        if not self._process.is_ours():
            return False
        try:
            return requests.get(self.discovery_url, timeout=PROBE_TIMEOUT_SECONDS).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    def stop(self) -> None:
        """Terminate it, killing it if it ignores that; a recorded pid that now belongs to
        another program is left alone."""
        self._process.stop()

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def _process(self) -> detached.DetachedProcess:
        return detached.DetachedProcess(self.pid, MODULE, self.log_path)


def start(host: str, port: int, log_path: Path) -> GoogleStandIn:
    """Start the provider on host:port and return once it answers its discovery document."""
    process = detached.start(
        MODULE,
        ["--host", host, "--port", str(port)],
        log_path,
        env={"AUTHLIB_INSECURE_TRANSPORT": "1"},
    )
    provider = GoogleStandIn(f"http://{host}:{port}", process.pid, log_path)
    try:
        process.wait_until(provider.answers, READY_TIMEOUT_SECONDS)
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
        record = {"host": host, "port": detached.free_port(host), "pid": 0}
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
