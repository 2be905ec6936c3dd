"""The camp's availability zone: the first that offers every instance type it uses, or the one the
organizer pins; refused, before anything is declared, when no zone (or not the pinned one) offers
them all. AWS's answers are played by the mocks; the choice is the program's."""

import pytest
from program import (
    GET_SUBNET,
    INVOKES,
    OFFERINGS,
    CampMocks,
    RecordingMonitor,
    answer,
    deploy,
    offerings,
)

from infra.errors import ConfigError

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
SUBNET = "aws:ec2/subnet:Subnet"
# The types of the defaults: hub t3.medium, workers t3.xlarge, NFS t3.small.
EVERY_TYPE = ["t3.medium", "t3.small", "t3.xlarge"]
NO_T3_XLARGE = ["t3.medium", "t3.small"]


class ZoneMocks(CampMocks):
    """A region whose zones are those of `offered` ({zone: the instance types EC2 offers there}),
    in its order, with the account's existing subnets ({subnet id: zone}) for camphub:subnetId:
    the default VPC's."""

    def __init__(self, subnets: dict[str, str], offered: dict[str, list[str]]):
        self.subnets = subnets
        self.offered = offered

    def call(self, args):
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": list(self.offered)}
        if args.token == "aws:ec2/getSubnets:getSubnets":
            (by_id,) = args.args["filters"]
            assert by_id["name"] == "subnet-id"
            return {"ids": [i for i in by_id["values"] if i in self.subnets]}
        if args.token == GET_SUBNET and args.args["id"] in self.subnets:
            subnet_id = args.args["id"]
            return {
                **INVOKES[GET_SUBNET],
                "id": subnet_id,
                "availabilityZone": self.subnets[subnet_id],
            }
        if args.token == OFFERINGS:
            asked = set(answer(args)["instanceTypes"])
            return offerings({z: [t for t in ts if t in asked] for z, ts in self.offered.items()})
        return answer(args)


# The default VPC's subnets, whose ids sort in another order than their zones' names.
SUBNETS = {
    "subnet-0300000000000000a": "us-east-1a",
    "subnet-0100000000000000c": "us-east-1c",
    "subnet-0200000000000000b": "us-east-1b",
}
REGION_ZONES = sorted(SUBNETS.values())


def everywhere(types: list[str]) -> dict[str, list[str]]:
    return {zone: list(types) for zone in REGION_ZONES}


def deployed_in(base_config, offered, **settings) -> str:
    """The zone of every machine and volume, and of the camp's subnet."""
    deployment = deploy({**base_config, **settings}, mocks=ZoneMocks(SUBNETS, offered))
    instances = deployment.of_type(INSTANCE)
    volumes = deployment.of_type(VOLUME)
    assert len({i.inputs["subnetId"] for i in instances}) == 1, "one subnet for every machine"
    (zone,) = {v.inputs["availabilityZone"] for v in volumes}
    subnets = deployment.of_type(SUBNET)
    if subnets:  # the camp's own
        assert [(s.id, s.inputs["availabilityZone"]) for s in subnets] == [
            (instances[0].inputs["subnetId"], zone)
        ]
    else:
        assert SUBNETS[instances[0].inputs["subnetId"]] == zone
    return zone


def refusal(base_config, offered, **settings) -> str:
    """The error the program stops with, and proof that nothing was declared before it."""
    recorded = []

    def monitor(mocks, deployment):
        recorded.append(deployment)
        return RecordingMonitor(mocks, deployment)

    with pytest.raises(ConfigError) as error:
        deploy({**base_config, **settings}, mocks=ZoneMocks(SUBNETS, offered), monitor=monitor)
    assert [r.type for r in recorded[0].resources] == []
    return str(error.value)


def test_the_first_zone_that_offers_every_type_is_taken(base_config, caplog):
    # In the region's order: the camp's own subnet goes there.
    offered = everywhere(EVERY_TYPE)
    assert deployed_in(base_config, offered) == "us-east-1a"
    assert "The camp runs in" not in caplog.text
    offered["us-east-1a"] = NO_T3_XLARGE
    assert deployed_in(base_config, offered) == "us-east-1b"
    # Another zone than before would replace every machine: the organizer is told to pin it.
    assert (
        "The camp runs in us-east-1b: us-east-1a does not offer every instance type it uses. "
        "Pin the zone (`pulumi config set camphub:availabilityZone us-east-1b`)" in caplog.text
    )


def test_a_pinned_zone_is_honoured(base_config):
    offered = everywhere(EVERY_TYPE)
    assert deployed_in(base_config, offered, availabilityZone="us-east-1b") == "us-east-1b"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"availabilityZone": "us-east-1b"}, "camphub:availabilityZone"),
        ({"subnetId": "subnet-0200000000000000b"}, "camphub:subnetId (subnet-0200000000000000b)"),
    ],
    ids=["pinned", "kept subnet"],
)
def test_a_zone_without_a_type_is_refused_naming_the_setting_and_where_it_is(
    base_config, setting, named
):
    offered = {"us-east-1a": EVERY_TYPE, "us-east-1b": NO_T3_XLARGE, "us-east-1c": EVERY_TYPE}
    message = refusal(base_config, offered, **setting)
    assert message.startswith(
        f"{named}: us-east-1b does not offer t3.xlarge "
        "(camphub:workers.instanceType), offered in us-east-1a, us-east-1c; "
        "zones offering every type: us-east-1a, us-east-1c."
    )


def test_a_pinned_zone_outside_the_region_is_refused(base_config):
    offered = everywhere(EVERY_TYPE)
    message = refusal(base_config, offered, availabilityZone="us-east-1f")
    assert "us-east-1f is not a zone of the camp's network in this region" in message
    assert message.endswith("these are: us-east-1a, us-east-1b, us-east-1c.")


def test_a_kept_subnets_zone_is_the_camps(base_config):
    offered = everywhere(EVERY_TYPE)
    assert deployed_in(base_config, offered, subnetId="subnet-0200000000000000b") == "us-east-1b"


def test_a_kept_subnet_in_another_zone_than_the_pinned_one_is_refused(base_config):
    offered = everywhere(EVERY_TYPE)
    message = refusal(
        base_config, offered, subnetId="subnet-0200000000000000b", availabilityZone="us-east-1a"
    )
    assert message == (
        "camphub:subnetId: subnet-0200000000000000b is in us-east-1b, but "
        "camphub:availabilityZone puts the camp in us-east-1a. Give a subnet in us-east-1a, or "
        "`pulumi config rm camphub:availabilityZone`."
    )


def test_no_zone_with_every_type_is_refused_naming_each_type_and_its_zones(base_config):
    offered = {"us-east-1a": NO_T3_XLARGE, "us-east-1b": ["t3.xlarge"], "us-east-1c": []}
    message = refusal(base_config, offered)
    assert message.startswith("no availability zone offers all of t3.medium, t3.small, t3.xlarge")
    for named in (
        "t3.medium (camphub:hub.instanceType), offered in us-east-1a",
        "t3.small (camphub:nfs.instanceType), offered in us-east-1a",
        "t3.xlarge (camphub:workers.instanceType), offered in us-east-1b",
    ):
        assert named in message


def test_a_type_offered_nowhere_says_so(base_config):
    offered = everywhere(NO_T3_XLARGE)
    message = refusal(base_config, offered)
    assert "t3.xlarge (camphub:workers.instanceType), offered in no zone here" in message


def test_the_zone_is_asked_for_exactly_the_configured_types(base_config):
    asked = []

    class Recording(ZoneMocks):
        def call(self, args):
            if args.token == OFFERINGS:
                asked.append(args.args)
            return super().call(args)

    offered = everywhere([*EVERY_TYPE, "t3.large"])
    deploy(
        {**base_config, "workers": {"instanceType": "t3.large"}}, mocks=Recording(SUBNETS, offered)
    )
    (args,) = asked
    assert args["locationType"] == "availability-zone"
    assert args["filters"] == [
        {"name": "instance-type", "values": ["t3.large", "t3.medium", "t3.small"]}
    ]
