"""Pebble, Let's Encrypt's ACME test server, in a container on a Docker network of its own.

Pebble validates HTTP-01 challenges on port 80 of the name asked for, which it resolves with the
container's resolver: Docker's embedded DNS, so a machine on the same network whose alias is the
domain receives the challenge as a hub receives Let's Encrypt's. Its ACME endpoint speaks HTTPS
with a certificate made here, whose CA a client must trust (`ca_certificate`). The container is
made stopped: `start` lets a test first see what happens while the CA cannot be reached.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import payload_checker

CONTEXT = Path(__file__).with_name("pebble")
IMAGE = "h3-payload-pebble:latest"
HOST_NAME = "pebble"  # the network alias clients reach it by, named in its TLS certificate
ACME_PORT = 14000
MANAGEMENT_PORT = 15000
CONFIG_DIR = "/etc/pebble"
DIRECTORY_URL = f"https://{HOST_NAME}:{ACME_PORT}/dir"
# The root that signs what Pebble issues (it makes a new one each start).
ROOT_URL = f"https://{HOST_NAME}:{MANAGEMENT_PORT}/roots/0"


def build_image() -> str:
    result = payload_checker.docker("build", "-q", "-t", IMAGE, str(CONTEXT), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building {IMAGE} failed:\n{result.stderr[-3000:]}")
    return IMAGE


def _config() -> dict:
    return {
        "pebble": {
            "listenAddress": f"0.0.0.0:{ACME_PORT}",
            "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
            "certificate": f"{CONFIG_DIR}/cert.pem",
            "privateKey": f"{CONFIG_DIR}/key.pem",
            "httpPort": 80,  # where Let's Encrypt validates: the hub's HTTP port
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True)


def write_tls_files(directory: Path) -> None:
    """A CA (ca.pem) and, signed by it, Pebble's certificate for HOST_NAME, and its config."""
    ca_key, ca_cert = directory / "ca-key.pem", directory / "ca.pem"
    key, request, cert = directory / "key.pem", directory / "request.pem", directory / "cert.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "2", "-subj", "/CN=camphub test ACME CA", "-keyout", str(ca_key),
        "-out", str(ca_cert),
    )  # fmt: skip
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={HOST_NAME}", "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    extensions = directory / "extensions.cnf"
    extensions.write_text(f"subjectAltName=DNS:{HOST_NAME}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    for path in (key, ca_key):
        path.chmod(0o644)  # read by Pebble in its container; test material only
    (directory / "pebble-config.json").write_text(json.dumps(_config(), indent=2))


@dataclass(frozen=True)
class AcmeTestServer:
    container: str
    ca_certificate: str  # PEM: the CA of Pebble's own HTTPS endpoint

    def start(self) -> None:
        payload_checker.docker("start", self.container)

    def stop(self) -> None:
        payload_checker.docker("stop", self.container)

    def logs(self) -> str:
        result = payload_checker.docker("logs", self.container, check=False)
        return result.stdout + result.stderr


def create(network: str, directory: Path) -> AcmeTestServer:
    """Pebble made (not started) on `network`, with its files in `directory`."""
    write_tls_files(directory)
    name = payload_checker.unique_name("pebble")
    payload_checker.docker(
        "create", "--name", name, "--network", network, "--network-alias", HOST_NAME,
        "-v", f"{directory}:{CONFIG_DIR}:ro", IMAGE,
    )  # fmt: skip
    return AcmeTestServer(container=name, ca_certificate=(directory / "ca.pem").read_text())
