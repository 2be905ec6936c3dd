"""Which availability zone the camp runs in: one that offers every instance type it uses.

Every machine and the homes volume live in one zone (the volume attaches only there; swarm and NFS
traffic stay off inter-zone links). Not every zone offers every type (us-east-1's use1-az3 offers
no t3 at all), so the zone is chosen from what EC2 offers, or the organizer pins one. Chosen before
anything is declared: a camp with no zone to go to is refused with nothing made.

`choose_zone` knows nothing of VPCs or subnets: it serves the camp's own network (the region's
zones, in their order) and checks a kept subnet's zone (camphub:subnetId) like a pinned one.
"""

from collections.abc import Collection, Mapping, Sequence

import pulumi_aws as aws

from infra.config import NAMESPACE
from infra.errors import ConfigError

ZONE_KEY = f"{NAMESPACE}:availabilityZone"


def choose_zone(
    zones: Sequence[str],
    offered: Mapping[str, Collection[str]],
    wanted: Mapping[str, str],
    pinned: str | None = None,
    pinned_by: str = ZONE_KEY,
) -> str:
    """The pinned zone (`pinned_by` names the setting that pinned it), or the first of `zones`
    where every type in `wanted` ({setting: type})
    is `offered` ({zone: types}); raises ConfigError naming each type and the zones that have it.

    The order of `zones` is the caller's preference (infra/network.py)."""
    types = sorted(set(wanted.values()))
    fitting = [zone for zone in zones if set(types) <= set(offered.get(zone, ()))]
    if pinned is not None:
        if pinned in fitting:
            return pinned
        raise ConfigError(_pinned_problem(pinned, pinned_by, zones, offered, wanted, fitting))
    if fitting:
        return fitting[0]
    raise ConfigError(
        f"no availability zone offers all of {', '.join(types)}: "
        f"{_where_offered(zones, offered, wanted)}. Choose instance types that one zone offers "
        "together, or another region."
    )


def _pinned_problem(
    pinned: str,
    pinned_by: str,
    zones: Sequence[str],
    offered: Mapping[str, Collection[str]],
    wanted: Mapping[str, str],
    fitting: Sequence[str],
) -> str:
    if pinned not in zones:
        return (
            f"{pinned_by}: {pinned} is not a zone of the camp's network in this region; "
            f"these are: {', '.join(zones)}."
        )
    missing = {s: t for s, t in wanted.items() if t not in offered.get(pinned, ())}
    others = f"zones offering every type: {', '.join(fitting)}" if fitting else "no zone offers all"
    return (
        f"{pinned_by}: {pinned} does not offer {_where_offered(zones, offered, missing)}; "
        f"{others}. Pin one of them, remove the setting, or choose another type."
    )


def _where_offered(
    zones: Sequence[str], offered: Mapping[str, Collection[str]], wanted: Mapping[str, str]
) -> str:
    """'t3.xlarge (camphub:workers.instanceType), offered in us-east-1a, us-east-1b; ...'"""
    parts = []
    for setting, instance_type in sorted(wanted.items()):
        having = [zone for zone in zones if instance_type in offered.get(zone, ())]
        where = f"offered in {', '.join(having)}" if having else "offered in no zone here"
        parts.append(f"{instance_type} ({NAMESPACE}:{setting}), {where}")
    return "; ".join(parts)


def offered_types(instance_types: Collection[str]) -> dict[str, set[str]]:
    """{zone: the given types EC2 offers there} in the stack's region."""
    offerings = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone",
        filters=[
            aws.ec2.GetInstanceTypeOfferingsFilterArgs(
                name="instance-type", values=sorted(set(instance_types))
            )
        ],
    )
    offered: dict[str, set[str]] = {}
    for zone, instance_type in zip(offerings.locations, offerings.instance_types, strict=True):
        offered.setdefault(zone, set()).add(instance_type)
    return offered
