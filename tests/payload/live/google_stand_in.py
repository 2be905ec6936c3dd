"""Google sign-in stand-in: the maintained oidc-provider-mock, answering in Google's shape.

GoogleOAuthenticator reads Google's v1 userinfo: `email`, `verified_email` (must be true) and
`hd` (hosted domain). oidc-provider-mock returns every non-standard claim a user was given, so
registering each test user with those three claims is all it takes for the real authenticator
to run unchanged against it.

The provider runs as its own process so the setting that lets authlib speak plain HTTP
(loopback and the Docker bridge only) never leaks into the test process.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from waiting import stop_process

READY_TIMEOUT_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.2


@dataclass(frozen=True)
class GoogleStandIn:
    """A running provider; `base_url` is reachable from this machine and from containers."""

    base_url: str
    process: subprocess.Popen
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

    def stop(self) -> None:
        stop_process(self.process)


def start(host: str, port: int, log_path: Path) -> GoogleStandIn:
    """Start the provider on host:port and return once it answers its discovery document."""
    env = {**os.environ, "AUTHLIB_INSECURE_TRANSPORT": "1"}
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", host, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    provider = GoogleStandIn(f"http://{host}:{port}", process, log_path)
    try:
        _wait_until_ready(provider)
    except BaseException:
        provider.stop()
        raise
    return provider


def _wait_until_ready(provider: GoogleStandIn) -> None:
    discovery_url = f"{provider.base_url}/.well-known/openid-configuration"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise RuntimeError(
                f"oidc-provider-mock exited with {provider.process.returncode}; "
                f"see {provider.log_path}"
            )
        try:
            if requests.get(discovery_url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(POLL_INTERVAL_SECONDS)
    raise TimeoutError(
        f"oidc-provider-mock did not answer {discovery_url} within "
        f"{READY_TIMEOUT_SECONDS}s; see {provider.log_path}"
    )
