"""Let's Encrypt on the local cloud: Pebble, its ACME test server, and pebble-challtestsrv as the
internet's DNS, on the rehearsal's public network (where Elastic IPs live: the internet's side).

A rehearsed camp with a domain gets its certificate from Pebble as a camp on AWS gets one from
Let's Encrypt: the program's Route 53 record becomes an A record in challtestsrv's DNS
(rehearsal/route53.py), Pebble resolves the domain there only (`-dnsserver`, never Docker's
aliases) and validates the HTTP-01 challenge on the hub's Elastic IP, port 80. Every instance
trusts Pebble's HTTPS endpoint and has certbot pointed at it (`trust_on`, run at launch by
rehearsal/ec2.py): the program and the hub's scripts are the same as on AWS.

Pebble's HTTPS endpoint has a certificate from a CA made once per rehearsal (kept in its work
directory, so a repeated `up` changes nothing on the machines); Pebble itself makes a new root
for what it issues at every start (and keeps its accounts and orders in memory), so a restarted
Pebble issues under another root. Its two containers carry the rehearsal's label, so `down`
removes them with the rest; Docker restarts them after a crash or a reboot, but not one stopped
on purpose (`stop`: the CA unreachable, as a test plays it), which `up` leaves stopped.

Both Let's Encrypt CAs are played by the one Pebble, reached under two names: certbot's
--test-cert insists on Let's Encrypt's own staging URL, so the staging name is what the
certbot wrapper (rehearsal/acme/certbot-wrapper) hands certbot instead; the URL keeps "acme-staging"
in it, which is how configure-nginx tells a staging certificate from a production one.
"""

import json
import shutil
import subprocess
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import requests

from infra import layout
from rehearsal import cloud, substitutions

FILES = Path(__file__).resolve().parent / "acme"
CONTEXT = FILES / "pebble"
IMAGE_NAME = f"{cloud.PREFIX}/pebble"
ACME_PORT = 14000  # Pebble's ACME API (HTTPS)
MANAGEMENT_PORT = 15000  # Pebble's management API (HTTPS): /roots/0 is what it issues under
DNS_PORT = 8053  # challtestsrv's DNS (UDP)
DNS_MANAGEMENT_PORT = 8055  # challtestsrv's management API (HTTP): /add-a, /clear-a
DIRECTORY_PATH = "/dir"  # Pebble's directory (it serves no /directory, on purpose)
CONFIG_DIR = "/etc/pebble"  # in Pebble's container: its configuration and TLS files
# The names Pebble is reached by (Docker's aliases on the public network, and in its TLS
# certificate): one per Let's Encrypt CA, in Let's Encrypt's own pattern.
PRODUCTION_HOST = "acme-v02.rehearsal.test"
STAGING_HOST = "acme-staging-v02.rehearsal.test"
TLS_DAYS = 365  # the HTTPS endpoint's CA and certificate: a rehearsal lives days, not years
# What Pebble logs for each certificate it issues (ca/ca.go).
ISSUED_LINE = "Issued certificate serial"
REQUEST_TIMEOUT_SECONDS = 10
# The stand-in's entry in the local cloud's book of public addresses (rehearsal/cloud.py).
ADDRESS_ALLOCATION = "acme-stand-in"
# On the instances (rehearsal/acme/trust-acme-stand-in installs them): the CA in the system's trust
# store, and certbot's user configuration. Not /etc/letsencrypt/cli.ini: on the hub that
# directory is a link onto the hub's own volume (scripts/mount-hub-state --link), whose files
# win over the machine's. certbot reads $XDG_CONFIG_HOME/letsencrypt/cli.ini as well, by default
# /root/.config/..., which sudo and systemd both give root (sudo resets HOME and XDG_*).
TRUSTED_CA = "/usr/local/share/ca-certificates/rehearsal-acme-stand-in.crt"
CERTBOT_SETTINGS = "/root/.config/letsencrypt/cli.ini"
TRUST_SCRIPT = FILES / "trust-acme-stand-in"
CERTBOT_WRAPPER = FILES / "certbot-wrapper"


def ensure_image() -> str:
    """The Pebble image, built on the local base unless one of the same content exists."""
    return cloud.ensure_local_image(CONTEXT, IMAGE_NAME)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True)


def write_tls_files(directory: Path, address: str) -> None:
    """Pebble's TLS files in `directory`: a CA (ca.pem; made once, kept) and, signed by it,
    Pebble's certificate (cert.pem, key.pem) for its names and `address`; and its config."""
    ca_key, ca_cert = directory / "ca-key.pem", directory / "ca.pem"
    key, request, cert = directory / "key.pem", directory / "request.pem", directory / "cert.pem"
    if not ca_cert.exists():
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", str(TLS_DAYS), "-subj", "/CN=camphub test ACME CA", "-keyout", str(ca_key),
            "-out", str(ca_cert),
        )  # fmt: skip
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={PRODUCTION_HOST}", "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    names = [f"DNS:{PRODUCTION_HOST}", f"DNS:{STAGING_HOST}", f"IP:{address}"]
    extensions = directory / "extensions.cnf"
    extensions.write_text(f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", str(TLS_DAYS), "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    key.chmod(0o644)  # read by Pebble in its container; test material only
    (directory / "pebble-config.json").write_text(json.dumps(pebble_config(), indent=2))


def pebble_config() -> dict:
    return {
        "pebble": {
            "listenAddress": f"0.0.0.0:{ACME_PORT}",
            "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
            "certificate": f"{CONFIG_DIR}/cert.pem",
            "privateKey": f"{CONFIG_DIR}/key.pem",
            "httpPort": layout.HTTP_PORT,  # where Let's Encrypt validates: the hub's HTTP port
            "tlsPort": layout.HTTPS_PORT,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }


def directory_url(host: str = PRODUCTION_HOST) -> str:
    return f"https://{host}:{ACME_PORT}{DIRECTORY_PATH}"


def trust_files(ca_certificate: str) -> dict[str, str]:
    """What trust-acme-stand-in installs from the directory it is given, by name: the CA of
    Pebble's HTTPS endpoint (PEM), certbot's settings naming Pebble's directory, and certbot's
    wrapper."""
    settings = (
        "# The local cloud's ACME stand-in plays Let's Encrypt (rehearsal/acme_stand_in.py).\n"
        f"server = {directory_url()}\n"
    )
    return {
        "ca.crt": ca_certificate,
        "cli.ini": settings,
        CERTBOT_WRAPPER.name: CERTBOT_WRAPPER.read_text(),
    }


def trust_command(shared: str) -> list[str]:
    """The command (its script on stdin: TRUST_SCRIPT) that installs trust_files from `shared`."""
    staging_server = directory_url(STAGING_HOST)
    return ["bash", "-s", "--", shared, TRUSTED_CA, CERTBOT_SETTINGS, staging_server]


class AcmeStandIn:
    """The rehearsal's Pebble and challtestsrv, their files in <work dir>/acme."""

    def __init__(self, local: cloud.LocalCloud):
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
        if not cloud.exists("container", self.dns_container):
            self._run_dns(image)
            # Pebble lives in the DNS server's network namespace: a new one needs a new Pebble.
            cloud.docker("rm", "--force", self.pebble_container, check=False)
        elif not self._running(self.dns_container):
            cloud.docker("start", self.dns_container)
        if not cloud.exists("container", self.pebble_container):
            write_tls_files(self.directory, self.address)
            self._run_pebble(image)
        self._share_trust()
        return self

    def _labels(self) -> tuple[str, ...]:
        return ("--label", f"{cloud.PREFIX}.stack={self.local.stack}")

    def _run_dns(self, image: str) -> None:
        # At a fixed address, booked as an Elastic IP is: Pebble's certificate names it, and a
        # container Docker restarts could otherwise come back at another one.
        # Only DNS and its management API: no challenge servers, and no answer for a name
        # nobody added (its default would answer every name with 127.0.0.1).
        cloud.docker(
            "run", "--detach", "--name", self.dns_container, *self._labels(),
            "--restart=unless-stopped", "--network", self.local.public_network,
            "--ip", self.local.allocate_address(ADDRESS_ALLOCATION),
            "--network-alias", PRODUCTION_HOST, "--network-alias", STAGING_HOST,
            "--entrypoint", "/usr/bin/pebble-challtestsrv", image,
            "-defaultIPv4", "", "-defaultIPv6", "", "-http01", "", "-https01", "",
            "-tlsalpn01", "", "-doh", "", "-dns01", f":{DNS_PORT}",
            "-management", f":{DNS_MANAGEMENT_PORT}",
        )  # fmt: skip

    def _run_pebble(self, image: str) -> None:
        cloud.docker(
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
        cloud.docker("rm", "--force", self.pebble_container, self.dns_container, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    # The instances.

    def trust_on(self, container: str) -> None:
        """Has the instance trust Pebble's HTTPS endpoint as it trusts Let's Encrypt's and point
        certbot at it; changes nothing when it does already."""
        shared = f"{substitutions.SHARED_DIR_IN_INSTANCE}/{substitutions.ACME_SUBDIR}"
        command = trust_command(shared)
        cloud.docker("exec", "-i", container, *command, stdin=TRUST_SCRIPT.read_bytes())

    # Playing the internet: Pebble reachable or not, DNS records.

    @property
    def address(self) -> str:
        """Both containers' address on the public network (Pebble shares the DNS server's)."""
        network = self.local.public_network
        template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return cloud.docker("container", "inspect", "--format", template, self.dns_container)

    def start(self) -> None:
        cloud.docker("start", self.pebble_container)

    def stop(self) -> None:
        """Pebble unreachable, as Let's Encrypt down or blocked; the DNS goes on answering."""
        cloud.docker("stop", self.pebble_container)

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

    def set_a(self, host: str, addresses: list[str]) -> None:
        """`host`'s A records are `addresses`, as a Route 53 UPSERT sets them (challtestsrv's
        add-a adds to those it has)."""
        self.clear_a(host)
        self._manage("add-a", {"host": _fqdn(host), "addresses": addresses})

    def clear_a(self, host: str) -> None:
        self._manage("clear-a", {"host": _fqdn(host)})

    def _manage(self, action: str, body: dict) -> None:
        url = f"http://{self.address}:{DNS_MANAGEMENT_PORT}/{action}"
        try:
            requests.post(url, json=body, timeout=REQUEST_TIMEOUT_SECONDS).raise_for_status()
        except requests.RequestException as error:
            message = f"the ACME stand-in's DNS refused {action} {body}: {error}"
            raise cloud.CloudError(message) from error

    def resolve(self, host: str) -> list[str]:
        """The A records the DNS server answers for `host`, asked as Pebble asks it."""
        return query_a(self.address, DNS_PORT, host)

    @staticmethod
    def _running(container: str) -> bool:
        state = cloud.docker(
            "container", "inspect", "--format", "{{.State.Running}}", container, check=False
        )
        return state == "true"


def recorded(local: cloud.LocalCloud) -> AcmeStandIn | None:
    """The rehearsal's stand-in if `up` made one (running or not), else None."""
    stand_in = AcmeStandIn(local)
    return stand_in if cloud.exists("container", stand_in.dns_container) else None


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else f"{host}."


def query_a(server: str, port: int, host: str) -> list[str]:
    """The addresses of a DNS A query for `host` at server:port, over UDP."""
    query = dns.message.make_query(_fqdn(host), dns.rdatatype.A)
    answer = dns.query.udp(query, server, port=port, timeout=REQUEST_TIMEOUT_SECONDS)
    return [
        record.address
        for rrset in answer.answer
        if rrset.rdtype == dns.rdatatype.A
        for record in rrset
    ]
