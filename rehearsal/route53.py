"""Route 53 as the rehearsal plays it: a record becomes the internet's DNS in the local cloud.

An A record the program makes (the hub's name on its Elastic IP) is set in the DNS server of the
rehearsal's ACME stand-in (rehearsal/acme_dns.py), which Pebble asks as Let's Encrypt asks
the real DNS: the certificate's HTTP challenge then comes to the hub as on AWS. An Elastic IP
is the very address its instance has on the public network (rehearsal/docker_networks.py
associate_address), so the record's addresses are kept as declared. Without a stand-in (a
stack without a domain) a record is only recorded. The DNS server keeps its records in memory:
an unchanged record is set again at every `up`, in case the server was restarted.

The hosted zone the program looks up is moto's (made there if missing, as the organizer's zone
is there on AWS), so the zone id the hub's policy names is the one the hub's certbot finds: its
DNS-01 challenge is a TXT record the hub sets in moto's Route 53 itself, which moto's server
sets in the same DNS server (rehearsal/moto_route53.py), not a record of the program's.
"""

from typing import Any

from rehearsal import acme_stand_in
from rehearsal.environment import Environment, Handler, plausible_id
from rehearsal.state import Record

RECORD = "aws:route53/record:Record"
GET_ZONE = "aws:route53/getZone:getZone"


def _name(inputs: dict[str, Any]) -> str:
    return str(inputs["name"]).rstrip(".")


def _set(env: Environment, inputs: dict[str, Any]) -> None:
    stand_in = acme_stand_in.recorded(env.cloud)
    if stand_in is not None and inputs.get("type") == "A":
        stand_in.set_a(_name(inputs), list(inputs.get("records") or []))


def _record(env: Environment, args, previous):
    if previous is not None and _name(previous.inputs) != _name(args.inputs):
        _clear(env, previous)  # renamed: Route 53 replaces the record
    _set(env, args.inputs)
    record_id = previous.id if previous else plausible_id(args.typ, args.name)
    name = _name(args.inputs)
    return record_id, {"fqdn": name, "name": name}, {"name": name}


def _set_again(env: Environment, record: Record) -> bool:
    _set(env, record.inputs)
    return True


def _clear(env: Environment, record: Record) -> None:
    stand_in = acme_stand_in.recorded(env.cloud)
    if stand_in is not None:
        stand_in.clear_a(_name(record.inputs))


def look_up(env: Environment, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Route 53's answer to a hosted zone's look-up by name (None: not one): moto's zone."""
    if token != GET_ZONE:
        return None
    name = str(args["name"]).rstrip(".")
    zone_id = env.aws.hosted_zone(name)
    return {"id": zone_id, "zoneId": zone_id, "name": name}


HANDLERS = {RECORD: Handler(_record, still_there=_set_again, delete=_clear)}
