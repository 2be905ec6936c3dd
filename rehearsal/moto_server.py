"""moto's server as a process of the rehearsal: started detached (rehearsal/detached.py) on
the gateway of the stack's private network, pid, endpoint and log under <work dir>/aws; its
first act, while moto still lets anyone in, is to make the rehearsal's administrator (kept
root-only in the work directory), whose key every boto3 client of the rehearsal then signs with:
from that moment on moto checks every request's signature and permissions.

The server is moto's own, run by rehearsal/moto_route53.py for what certbot's DNS-01 challenge
needs of Route 53: signed GETs taken (moto refuses them), and a TXT record set in it set in the
ACME stand-in's DNS too before the call returns, where Pebble finds it as Let's Encrypt finds
the real one. The stand-in writes its DNS's address to a file whenever it is made;
`ensure_running` tells the server that file.

What the mocks play in it is rehearsal/moto_stand_in.py's (S3, EC2's volumes, Route 53's zones)
and rehearsal/moto_roles.py's (the users standing for instance roles).
"""

import json
import os
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

from rehearsal import detached

MODULE = "rehearsal.moto_route53"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # where `python -m` finds MODULE
PORT = 5000  # moto's own default; each rehearsal binds its own network's gateway
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"  # the account the mocks answer getCallerIdentity with
ADMIN_USER = "rehearsal-admin"
START_SECONDS = 30
ALLOW_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


class StandInError(RuntimeError):
    """The AWS stand-in could not be started or reached."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


class MotoServer:
    """One rehearsal's moto server and the rehearsal's administrator key for it."""

    def __init__(self, work_dir: Path):
        self.dir = work_dir
        self._pid_file = work_dir / "moto.pid"
        self._endpoint_file = work_dir / "endpoint"
        self._admin_file = work_dir / "admin.json"
        self.log = work_dir / "moto.log"

    # The process.

    @property
    def endpoint(self) -> str:
        if not self._endpoint_file.exists():
            raise StandInError(f"the AWS stand-in was never started ({self._endpoint_file})")
        return self._endpoint_file.read_text().strip()

    def is_running(self) -> bool:
        """Whether the server runs and accepts connections (at the endpoint it was started
        on: a network made again may have another gateway)."""
        process = self._process()
        return process is not None and process.is_ours() and self._answers(self.endpoint)

    def ensure_running(self, host: str, port: int = PORT, challenge_dns: Path | None = None) -> str:
        """Starts the server on `host` unless it runs there already; returns its endpoint.
        `challenge_dns`: the file the ACME stand-in writes its DNS's address to, whenever it
        is made (rehearsal/moto_route53.py); None: TXT records are moto's only."""
        endpoint = f"http://{host}:{port}"
        if self.is_running() and self.endpoint == endpoint:
            return endpoint
        self.stop()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        told = ["--challenge-dns", str(challenge_dns)] if challenge_dns else []
        process = detached.start(
            MODULE,
            [*told, "--host", host, "--port", str(port)],
            self.log,
            env={"MOTO_ACCOUNT_ID": ACCOUNT_ID, "PYTHONPATH": str(PACKAGE_ROOT)},
        )
        self._pid_file.write_text(str(process.pid))
        self._endpoint_file.write_text(endpoint)
        try:
            process.wait_until(lambda: self._answers(endpoint), START_SECONDS)
        except (detached.DetachedError, TimeoutError) as error:
            self.stop()
            raise StandInError(f"moto's server did not start on {endpoint}: {error}") from error
        try:
            self._create_admin()
        except Exception:
            self.stop()
            raise
        return endpoint

    def stop(self) -> None:
        """Stops the server, if it runs; a pid recorded for it that another program has
        since is left alone."""
        process = self._process()
        if process is not None:
            process.stop()
        self._pid_file.unlink(missing_ok=True)

    def _process(self) -> detached.DetachedProcess | None:
        """The server as last started, running or not; None if none is recorded."""
        try:
            pid = int(self._pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return detached.DetachedProcess(pid, MODULE, self.log)

    @staticmethod
    def _answers(endpoint: str) -> bool:
        """Whether the server accepts connections. Only that: an HTTP request can take seconds
        on a busy machine, and a live server taken for dead would be restarted empty."""
        address = urllib.parse.urlsplit(endpoint)
        try:
            with socket.create_connection((address.hostname, address.port), timeout=10):
                return True
        except OSError:
            return False

    def _create_admin(self) -> None:
        """The rehearsal's administrator, made while moto still lets anyone in; then every
        request must be signed by a key moto knows and allowed by its holder's policies."""
        iam = self._client("iam", Credentials("bootstrap", "bootstrap"))
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(
            UserName=ADMIN_USER,
            PolicyName="everything",
            PolicyDocument=json.dumps(ALLOW_EVERYTHING),
        )
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        fd = os.open(self._admin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"access_key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}, file)
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",  # requests without authorization allowed from now on
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    # Clients.

    def client(self, service: str):
        """A boto3 client for `service` with the administrator's key."""
        admin = json.loads(self._admin_file.read_text())
        return self._client(service, Credentials(admin["access_key_id"], admin["secret"]))

    def _client(self, service: str, credentials: Credentials):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
        )
