"""The internet's DNS on the local cloud: pebble-challtestsrv, the only DNS the ACME stand-in's
Pebble asks (rehearsal/acme_stand_in.py). Its container holds the network namespace Pebble
shares, at a fixed address on the public network booked as an Elastic IP is. A Route 53 record
becomes a record there: an A record the program makes (rehearsal/route53.py), a TXT record set
in moto's Route 53, as certbot sets a DNS-01 challenge's (rehearsal/moto_route53.py).

A part of rehearsal.acme_stand_in.AcmeStandIn, which gives it the local cloud and its container's
name; the labels here are both containers' (the stand-in's, as the local cloud's).
"""

import dns.message
import dns.query
import dns.rdatatype
import requests

from rehearsal.acme_pebble_files import PRODUCTION_HOST, STAGING_HOST
from rehearsal.cloud import LocalCloud
from rehearsal.docker_cli import PREFIX, CloudError, docker

DNS_PORT = 8053  # challtestsrv's DNS (UDP)
DNS_MANAGEMENT_PORT = 8055  # challtestsrv's management API (HTTP): /add-a, /set-txt and others
REQUEST_TIMEOUT_SECONDS = 10
# The stand-in's entry in the local cloud's book of public addresses (rehearsal/docker_networks.py).
ADDRESS_ALLOCATION = "acme-stand-in"


class ChallengeDns:
    """challtestsrv's container and the A records it answers with."""

    local: LocalCloud
    dns_container: str

    def _run_dns(self, image: str) -> None:
        # At a fixed address, booked as an Elastic IP is: Pebble's certificate names it, and a
        # container Docker restarts could otherwise come back at another one.
        # Only DNS and its management API: no challenge servers, and no answer for a name
        # nobody added (its default would answer every name with 127.0.0.1).
        docker(
            "run", "--detach", "--name", self.dns_container, *self._labels(),
            "--restart=unless-stopped", "--network", self.local.public_network,
            "--ip", self.local.allocate_address(ADDRESS_ALLOCATION),
            "--network-alias", PRODUCTION_HOST, "--network-alias", STAGING_HOST,
            "--entrypoint", "/usr/bin/pebble-challtestsrv", image,
            "-defaultIPv4", "", "-defaultIPv6", "", "-http01", "", "-https01", "",
            "-tlsalpn01", "", "-doh", "", "-dns01", f":{DNS_PORT}",
            "-management", f":{DNS_MANAGEMENT_PORT}",
        )  # fmt: skip

    def _labels(self) -> tuple[str, ...]:
        return ("--label", f"{PREFIX}.stack={self.local.stack}")

    @property
    def address(self) -> str:
        """Both containers' address on the public network (Pebble shares the DNS server's)."""
        network = self.local.public_network
        template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return docker("container", "inspect", "--format", template, self.dns_container)

    def set_a(self, host: str, addresses: list[str]) -> None:
        """`host`'s A records are `addresses`, as a Route 53 UPSERT sets them (challtestsrv's
        add-a adds to those it has)."""
        self.clear_a(host)
        manage(self.management_url, "add-a", {"host": _fqdn(host), "addresses": addresses})

    def clear_a(self, host: str) -> None:
        manage(self.management_url, "clear-a", {"host": _fqdn(host)})

    @property
    def management_url(self) -> str:
        return f"http://{self.address}:{DNS_MANAGEMENT_PORT}"

    def resolve(self, host: str) -> list[str]:
        """The A records the DNS server answers for `host`, asked as Pebble asks it."""
        return query_a(self.address, DNS_PORT, host)


def set_txt(management_url: str, host: str, values: list[str]) -> None:
    """`host`'s TXT records are `values` (none: it has none), as a Route 53 change leaves them
    (challtestsrv's set-txt adds to those it has)."""
    manage(management_url, "clear-txt", {"host": _fqdn(host)})
    for value in values:
        manage(management_url, "set-txt", {"host": _fqdn(host), "value": value})


def manage(management_url: str, action: str, body: dict) -> None:
    """One call of challtestsrv's management API at `management_url`."""
    try:
        response = requests.post(
            f"{management_url}/{action}", json=body, timeout=REQUEST_TIMEOUT_SECONDS
        )
        response.raise_for_status()
    except requests.RequestException as error:
        message = f"the ACME stand-in's DNS refused {action} {body}: {error}"
        raise CloudError(message) from error


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


def query_txt(server: str, port: int, host: str) -> list[str]:
    """The values of a DNS TXT query for `host` at server:port, over UDP (each record's strings
    joined, as a DNS-01 validation reads them)."""
    query = dns.message.make_query(_fqdn(host), dns.rdatatype.TXT)
    answer = dns.query.udp(query, server, port=port, timeout=REQUEST_TIMEOUT_SECONDS)
    return [
        b"".join(record.strings).decode()
        for rrset in answer.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for record in rrset
    ]
