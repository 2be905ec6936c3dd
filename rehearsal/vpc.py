"""The camp's own network as the rehearsal plays it (infra/network.py).

The VPC, its subnet, internet gateway, route table, route and association are recorded with the
ids and outputs AWS gives them; what carries the traffic is the stack's private Docker network
(rehearsal/docker_networks.py), which plays the subnet: its range is the subnet's, so every
instance's private address is in the subnet the program declares. The range is this
rehearsal's own /24 of the program's VPC range (layout.VPC_CIDR), one no other network on the
engine has, so two rehearsals never meet; the deploying process gives it to the program as
layout.SUBNET_CIDR (rehearsal/deploy.py, rehearsal/substitutions.py). A declared subnet of
another range fails.

The look-ups that find where this stack's camp runs (infra/network_move.py) are answered from
the records: an instance's subnet, and the camp's own subnet with its tags. Any other subnet
(camphub:subnetId) is a default VPC's, spanning the rehearsal's range.
"""

import secrets
from typing import Any

from rehearsal.environment import ZONE, Environment, Handler
from rehearsal.moto_server import ACCOUNT_ID, REGION

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INSTANCE = "aws:ec2/instance:Instance"

GET_SUBNETS = "aws:ec2/getSubnets:getSubnets"
GET_SUBNET = "aws:ec2/getSubnet:getSubnet"
GET_INSTANCE = "aws:ec2/getInstance:getInstance"
# The subnet any camphub:subnetId names: a default VPC's, as a camp deployed before camphub made
# its own network has it.
DEFAULT_VPC = "vpc-0de1a017000000001"
DEFAULT_SUBNET = "subnet-0de1a017000000001"


def _made(prefix: str, kind: str, extra=lambda env, args, resource_id: {}):
    """A handler that gives the resource an id of AWS's form (the prefix and 17 hex digits,
    kept on update) and its ARN."""

    def create(env: Environment, args, previous):
        resource_id = previous.id if previous else f"{prefix}-{secrets.token_hex(9)[:17]}"
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:{kind}/{resource_id}"
        outputs = {"arn": arn, "ownerId": ACCOUNT_ID, **extra(env, args, resource_id)}
        return resource_id, outputs, {}

    return Handler(create)


def _vpc(env: Environment, args, resource_id: str) -> dict[str, Any]:
    table = f"rtb-{resource_id.removeprefix('vpc-')}"
    return {
        "mainRouteTableId": table,
        "defaultRouteTableId": table,
        "defaultSecurityGroupId": f"sg-{resource_id.removeprefix('vpc-')}",
        "instanceTenancy": "default",
    }


def _subnet(env: Environment, args, resource_id: str) -> dict[str, Any]:
    declared = args.inputs.get("cidrBlock")
    if declared != env.vpc_cidr:
        raise ValueError(
            f"subnet {args.name}: declared {declared}, but the rehearsal's private network, "
            f"which plays it, is {env.vpc_cidr} (rehearsal/vpc.py)"
        )
    return {"availabilityZoneId": "use1-az1", "mapPublicIpOnLaunch": True}


def _route(env: Environment, args, previous):
    # The provider's id of a route: its table and a hash of its destination.
    resource_id = previous.id if previous else f"r-{args.inputs['routeTableId']}1080289494"
    return resource_id, {"origin": "CreateRoute", "state": "active"}, {}


HANDLERS = {
    VPC: _made("vpc", "vpc", _vpc),
    SUBNET: _made("subnet", "subnet", _subnet),
    GATEWAY: _made("igw", "internet-gateway"),
    ROUTE_TABLE: _made("rtb", "route-table"),
    ROUTE: Handler(_route),
    ASSOCIATION: _made("rtbassoc", "route-table-association"),
}


def look_up(env: Environment, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """EC2's answer to a subnet or instance look-up (None: not one of them)."""
    if token == GET_INSTANCE:
        records = env.state.records()
        found = [r for r in records if r.type == INSTANCE and r.id == args["instanceId"]]
        if not found:
            raise LookupError("Your query returned no results")  # as the provider says it
        return {"id": found[0].id, "subnetId": found[0].inputs.get("subnetId")}
    if token == GET_SUBNETS:
        return {"id": REGION, "ids": [DEFAULT_SUBNET]}
    if token == GET_SUBNET:
        own = [r for r in env.state.records() if r.type == SUBNET and r.id == args.get("id")]
        if own:
            return {**own[0].inputs, **own[0].outputs, "id": own[0].id}
        return {
            "id": args.get("id") or DEFAULT_SUBNET,
            "availabilityZone": ZONE,
            "cidrBlock": env.vpc_cidr,
            "vpcId": DEFAULT_VPC,
            "mapPublicIpOnLaunch": True,
            "defaultForAz": True,
            "tags": {},
        }
    return None
