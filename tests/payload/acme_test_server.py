"""Pebble, Let's Encrypt's ACME test server, in a container on a Docker network of its own.

Pebble validates HTTP-01 challenges on port 80 of the name asked for, which it resolves with the
container's resolver: Docker's embedded DNS, so a machine on the same network whose alias is the
domain receives the challenge as a hub receives Let's Encrypt's. Its ACME endpoint speaks HTTPS
with a certificate made here, whose CA a client must trust (`ca_certificate`). The container is
made stopped: `start` lets a test first see what happens while the CA cannot be reached.
"""

from dataclasses import dataclass
from pathlib import Path

import payload_checker

from rehearsal import acme_stand_in

HOST_NAME = "pebble"  # the network alias clients reach it by, named in its TLS certificate
STAGING_HOST_NAME = "acme-staging.pebble"  # the same Pebble, playing Let's Encrypt's staging CA
DIRECTORY_URL = acme_stand_in.directory_url(HOST_NAME)
STAGING_DIRECTORY_URL = acme_stand_in.directory_url(STAGING_HOST_NAME)
# The root that signs what Pebble issues (it makes a new one each start).
ROOT_URL = f"https://{HOST_NAME}:{acme_stand_in.MANAGEMENT_PORT}/roots/0"


def build_image() -> str:
    """The local cloud's Pebble image (rehearsal/acme/pebble), the one Pebble of both."""
    return acme_stand_in.ensure_image()


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
    acme_stand_in.write_tls_files(directory, (HOST_NAME, STAGING_HOST_NAME))
    name = payload_checker.unique_name("pebble")
    payload_checker.docker(
        "create", "--name", name, "--network", network, "--network-alias", HOST_NAME,
        "--network-alias", STAGING_HOST_NAME,
        "-v", f"{directory}:{acme_stand_in.CONFIG_DIR}:ro", build_image(),
    )  # fmt: skip
    return AcmeTestServer(container=name, ca_certificate=(directory / "ca.pem").read_text())
