"""moto's server as the rehearsal runs it (rehearsal/moto_server.py), its Route 53 what the hub's
certbot needs for a DNS-01 challenge: the internet's DNS for TXT records, and signed requests
taken as AWS takes them.

A change of TXT records that moto takes is made in challtestsrv too (rehearsal/acme_dns.py), the
DNS Pebble asks, before the API call returns. That is how a DNS-01 challenge reaches Pebble as one
reaches Let's Encrypt: certbot's Route 53 plugin, with the instance role's key
(rehearsal/ec2_instance_roles.py), finds the zone, upserts `_acme-challenge.<domain>` and asks
for the validation at once (moto reports every change INSYNC), then deletes it. challtestsrv is
looked up at each change, in the file the ACME stand-in writes (its management URL,
rehearsal/acme_stand_in.py), named by `--challenge-dns`: the stand-in may be made after moto
starts, and a stack without a domain has none, when moto alone records the change. One that does
not answer fails the call, moto having taken the change: the caller (certbot) reports it. Other
records stay moto's: the program's A record is the engine's (rehearsal/route53.py).

moto (5.2.5) checks a signed request's signature over its body, or, when it has none, over its
parameters or its headers, so it refuses every signed GET of Route 53 (ListHostedZones,
GetChange): here a Route 53 request's signature is checked over its body as sent, empty or not.

    python -m rehearsal.moto_route53 [--challenge-dns FILE] <moto.server's arguments>
"""

import argparse
import copy
import functools
import sys
from pathlib import Path

import moto.server
from botocore.awsrequest import AWSRequest
from moto.core.exceptions import ServiceException
from moto.iam.access_control import IAMRequest
from moto.route53.models import Route53Backend
from moto.route53.responses import Route53

from rehearsal.acme_dns import set_txt
from rehearsal.docker_cli import CloudError


class ChallengeDnsError(ServiceException):
    """The change is moto's but not challtestsrv's (an HTTP 400, which the SDK does not retry)."""

    code = "RehearsalChallengeDnsError"


class SignedAsSent(IAMRequest):
    """moto's check of a request, its signature computed over the body as sent."""

    def _create_aws_request(self) -> AWSRequest:
        request = super()._create_aws_request()
        request.data = self._body
        return request


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--challenge-dns", type=Path, help="the file of challtestsrv's URL")
    ours, moto_arguments = parser.parse_known_args(argv)
    Route53._authenticate_and_authorize_normal_action = _checked_as_sent
    if ours.challenge_dns is not None:
        change = Route53Backend.change_resource_record_sets
        Route53Backend.change_resource_record_sets = _also_in(ours.challenge_dns, change)
    moto.server.main(moto_arguments)


def _checked_as_sent(response: Route53, resource: str = "*") -> None:
    response._authenticate_and_authorize_action(SignedAsSent, resource)


def _also_in(management_url_file: Path, change):
    """Route 53's change of record sets, its TXT records then set in challtestsrv too."""

    @functools.wraps(change)
    def change_record_sets(backend, zone_id: str, change_list: list[dict]) -> None:
        requested = copy.deepcopy(change_list)  # moto rewrites the records it keeps
        change(backend, zone_id, change_list)
        for item in requested:
            if item["ResourceRecordSet"]["Type"] == "TXT":
                _set_in_challenge_dns(management_url_file, item)

    return change_record_sets


def _set_in_challenge_dns(management_url_file: Path, change: dict) -> None:
    try:
        management_url = management_url_file.read_text().strip()
    except FileNotFoundError:
        return  # no ACME stand-in: the change is moto's only
    record_set = change["ResourceRecordSet"]
    records = [] if change["Action"] == "DELETE" else record_set.get("ResourceRecords", [])
    try:
        set_txt(management_url, record_set["Name"], [_unquoted(r["Value"]) for r in records])
    except CloudError as error:
        message = f"Route 53 took the change, the local cloud's DNS did not: {error}"
        raise ChallengeDnsError(message) from error


def _unquoted(value: str) -> str:
    """A TXT value as the DNS answers it: Route 53 takes it quoted, challtestsrv as it is."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


if __name__ == "__main__":
    main(sys.argv[1:])
