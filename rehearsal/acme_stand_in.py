"""Let's Encrypt on the local cloud: Pebble, its ACME test server, and pebble-challtestsrv as the
internet's DNS, on the rehearsal's public network (where Elastic IPs live: the internet's side).

A rehearsed camp with a domain gets its certificate from Pebble as a camp on AWS gets one from
Let's Encrypt: the program's Route 53 record becomes an A record in challtestsrv's DNS
(rehearsal/route53.py), Pebble resolves the domain there only (`-dnsserver`, never Docker's
aliases) and validates the HTTP-01 challenge on the hub's Elastic IP, port 80. A DNS-01
challenge (a wildcard certificate) is a TXT record certbot's Route 53 plugin sets in moto's
Route 53 with the hub's role key, which moto sets in challtestsrv too before it answers
(rehearsal/moto_route53.py): moto finds challtestsrv's management URL in the file `ensure`
writes (`management_url_file`), and finds none when the stand-in is gone. Every instance
trusts Pebble's HTTPS endpoint and has certbot pointed at it (`trust_on`, run at launch by
rehearsal/ec2_instances.py): the program and the hub's scripts are the same as on AWS.

Pebble's HTTPS endpoint has a certificate from a CA made once per rehearsal (kept in its work
directory, so a repeated `up` changes nothing on the machines); Pebble itself makes a new root
for what it issues at every start (and keeps its accounts and orders in memory), so a restarted
Pebble issues under another root. Its two containers carry the rehearsal's label, so `down`
removes them with the rest; Docker restarts them after a crash or a reboot, but not one stopped
on purpose (`stop`: the CA unreachable, as a test plays it), which `up` leaves stopped.

Its parts: Pebble's files (rehearsal/acme_pebble_files.py), the DNS server
(rehearsal/acme_dns.py), what the machines install (rehearsal/acme_trust.py).

Both Let's Encrypt CAs are played by the one Pebble, reached under two names: certbot's
--test-cert insists on Let's Encrypt's own staging URL, so the staging name is what the
certbot wrapper (rehearsal/acme/certbot-wrapper) hands certbot instead; the URL keeps "acme-staging"
in it, which is how configure-nginx tells a staging certificate from a production one.
"""

import shutil
import subprocess
from pathlib import Path

import requests

from rehearsal import substitutions
from rehearsal.acme_dns import DNS_PORT, REQUEST_TIMEOUT_SECONDS, ChallengeDns
from rehearsal.acme_pebble_files import (
    ACME_PORT,
    CONFIG_DIR,
    DIRECTORY_PATH,
    MANAGEMENT_PORT,
    write_tls_files,
)
from rehearsal.acme_trust import FILES, TRUST_SCRIPT, trust_command, trust_files
from rehearsal.cloud import LocalCloud
from rehearsal.docker_cli import PREFIX, docker, exists
from rehearsal.local_images import ensure_local_image

CONTEXT = FILES / "pebble"
IMAGE_NAME = f"{PREFIX}/pebble"
# What Pebble logs for each certificate it issues (ca/ca.go).
ISSUED_LINE = "Issued certificate serial"


def ensure_image() -> str:
    """The Pebble image, built on the local base unless one of the same content exists."""
    return ensure_local_image(CONTEXT, IMAGE_NAME)


class AcmeStandIn(ChallengeDns):
    """The rehearsal's Pebble and challtestsrv, their files in <work dir>/acme."""

    def __init__(self, local: LocalCloud):
        self.local = local
        self.directory = local.work_dir / "acme"
        self.dns_container = f"{local.name}-acme-dns"  # owns the network namespace both use
        self.pebble_container = f"{local.name}-acme-pebble"

    # Making it.

    def ensure(self) -> "AcmeStandIn":
        """Makes what is missing (the CA, the DNS server, Pebble, started); starts a stopped DNS
        server; leaves an existing Pebble as it is, running or stopped on purpose."""
        image = ensure_image()
        self.directory.mkdir(parents=True, exist_ok=True)
        if not exists("container", self.dns_container):
            self._run_dns(image)
            # Pebble lives in the DNS server's network namespace: a new one needs a new Pebble.
            docker("rm", "--force", self.pebble_container, check=False)
        elif not self._running(self.dns_container):
            docker("start", self.dns_container)
        if not exists("container", self.pebble_container):
            write_tls_files(self.directory, self.address)
            self._run_pebble(image)
        self.management_url_file.write_text(f"{self.management_url}\n")
        self._share_trust()
        return self

    @property
    def management_url_file(self) -> Path:
        """Where moto's Route 53 finds the DNS to set TXT records in (rehearsal/moto_route53.py)."""
        return self.directory / "dns-management-url"

    def _run_pebble(self, image: str) -> None:
        docker(
            "run", "--detach", "--name", self.pebble_container, *self._labels(),
            "--restart=unless-stopped", f"--network=container:{self.dns_container}",
            "--volume", f"{self.directory}:{CONFIG_DIR}:ro", image,
            "-dnsserver", f"127.0.0.1:{DNS_PORT}",
        )  # fmt: skip

    def _share_trust(self) -> None:
        """What every instance installs (trust_on): the CA, certbot's settings and its wrapper,
        in the directory the local cloud shares into the instances."""
        shared = self.local.shared_dir / substitutions.ACME_SUBDIR
        shared.mkdir(parents=True, exist_ok=True)
        for name, text in trust_files(self.ca_certificate).items():
            (shared / name).write_text(text)

    @property
    def ca_certificate(self) -> str:
        """The CA of Pebble's HTTPS endpoint (PEM), which the machines trust."""
        return (self.directory / "ca.pem").read_text()

    def remove(self) -> None:
        docker("rm", "--force", self.pebble_container, self.dns_container, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    # The instances.

    def trust_on(self, container: str) -> None:
        """Has the instance trust Pebble's HTTPS endpoint as it trusts Let's Encrypt's and point
        certbot at it; changes nothing when it does already."""
        shared = f"{substitutions.SHARED_DIR_IN_INSTANCE}/{substitutions.ACME_SUBDIR}"
        command = trust_command(shared)
        docker("exec", "-i", container, *command, stdin=TRUST_SCRIPT.read_bytes())

    # Playing the internet: Pebble reachable or not (its DNS records: rehearsal/acme_dns.py).

    def start(self) -> None:
        docker("start", self.pebble_container)

    def stop(self) -> None:
        """Pebble unreachable, as Let's Encrypt down or blocked; the DNS goes on answering."""
        docker("stop", self.pebble_container)

    def answers(self) -> bool:
        """Whether Pebble serves its directory (checked against its CA, at its address)."""
        try:
            return self._get(ACME_PORT, DIRECTORY_PATH).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    def root_certificate(self) -> str:
        """The root Pebble issues under now (PEM): a new one at every start of Pebble."""
        response = self._get(MANAGEMENT_PORT, "/roots/0")
        response.raise_for_status()
        return response.text

    def issued_count(self) -> int:
        """How many certificates Pebble issued, over all its starts (its log)."""
        result = subprocess.run(
            ["docker", "logs", self.pebble_container], capture_output=True, text=True, check=True
        )
        return (result.stdout + result.stderr).count(ISSUED_LINE)

    def _get(self, port: int, path: str) -> requests.Response:
        url = f"https://{self.address}:{port}{path}"
        return requests.get(url, verify=self.directory / "ca.pem", timeout=REQUEST_TIMEOUT_SECONDS)

    @staticmethod
    def _running(container: str) -> bool:
        state = docker(
            "container", "inspect", "--format", "{{.State.Running}}", container, check=False
        )
        return state == "true"


def recorded(local: LocalCloud) -> AcmeStandIn | None:
    """The rehearsal's stand-in if `up` made one (running or not), else None."""
    stand_in = AcmeStandIn(local)
    return stand_in if exists("container", stand_in.dns_container) else None
