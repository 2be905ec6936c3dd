"""Network: where the machines live and who may reach them.

Three security groups that reference each other rather than address ranges:
- `hub`: the hub alone. The world reaches 80/443 only; SSH only from the organizer's CIDRs.
- `cluster`: the hub and the workers. Docker swarm's ports among members only; SSH from the hub,
  the jump host for every other machine. The hub's image archives (its `hub` group) from members
  only.
- `nfs`: the NFS server. NFS from cluster members only; SSH from the hub.
Every machine may reach out (packages, Let's Encrypt, Google). No Docker TCP API is opened.

The camp has a network of its own: a VPC (layout.VPC_CIDR) with one subnet (layout.SUBNET_CIDR)
in a zone that offers every instance type (infra/zones.py), an internet gateway and the default
IPv4 route through it. Nothing else shares it, and an account without a default VPC deploys.
IPv4 only (IPv6 would serve nothing here: the students' containers and the rehearsal have none,
and every machine has its public IPv4 address): the hub's web rules and the egress rules for
IPv6 stay declared, inert in that VPC, for a kept subnet that has IPv6; an IPv6 sshAllowedCidrs
gets a warning. With `camphub:subnetId` the camp goes into that existing subnet (looked up, its
zone checked like a pinned one) and no network is declared: that is how a camp deployed before
the camp had its own network (in the default VPC) stays where it runs, since a move would
replace every machine (infra/network_move.py refuses one). The homes volume is zonal, in no VPC:
a move keeps it, in the same zone.
The administrator's SSH key is infra/admin_key.py's (declared under the network in the stack's
resource tree, where it has always been).
What the machines use of it is its `placement`, not the component itself.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout
from infra.config import ADOPT_KEY, ADOPT_RUNBOOK, STACK_TAG, SUBNET_KEY, CampConfig
from infra.errors import ConfigError
from infra.zones import ZONE_KEY, choose_zone, offered_types

WORLD_IPV4 = "0.0.0.0/0"
WORLD_IPV6 = "::/0"


@dataclass(frozen=True)
class NetworkArgs:
    ssh_allowed_cidrs: tuple[str, ...]
    instance_types: Mapping[str, str]  # {setting: type}: the camp's zone offers every one
    availability_zone: str | None = None  # pinned by the organizer; None: chosen
    # An adopted homes volume's zone (infra/adoption.py): a volume attaches only in its own zone,
    # so the camp goes there.
    homes_zone: str | None = None
    subnet_id: str | None = None  # camphub:subnetId: an existing subnet; None: a VPC of its own
    stack: str = ""  # tagged on the camp's own subnet, by which infra/network_move.py knows it

    @classmethod
    def of(cls, config: CampConfig, homes_zone: str | None = None) -> "NetworkArgs":
        return cls(
            config.ssh_allowed_cidrs,
            config.instance_types,
            config.availability_zone,
            homes_zone,
            config.subnet_id,
            config.stack,
        )


@dataclass(frozen=True)
class Placement:
    """Where a machine of the camp goes and which walls it stands behind, as the machines see the
    network."""

    vpc_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    subnet_cidr: pulumi.Output[str]  # every machine's address is in it
    availability_zone: pulumi.Output[str]  # the subnet's, so the volumes' too
    security_group_ids: Mapping[str, pulumi.Output[str]]  # by role: hub, cluster, nfs
    # What lets this computer's SSH through to each machine (every other one via the hub), and
    # in the camp's own network the route to the internet that any of it (and every machine's
    # packages) takes. Machines wait for these, so a changed sshAllowedCidrs holds before a step
    # dials.
    reachable_after: Sequence[pulumi.Resource]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    placement: Placement  # for every machine

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        # Either may refuse the camp: before anything is declared.
        kept = _kept_subnet(args) if args.subnet_id else None
        zone = kept.availability_zone if kept else _own_zone(args)
        super().__init__("camphub:index:Network", name, None, opts)
        self._prefix = name
        if kept:
            subnet, routes = _Subnet(kept.vpc_id, kept.id, kept.cidr_block, zone), []
        else:
            subnet, routes = self._own_network(zone, args.stack)
            _warn_of_ipv6_admins(args.ssh_allowed_cidrs)
        self.vpc_id = pulumi.Output.from_input(subnet.vpc_id)
        self._groups = {
            "hub": self._security_group("hub", "camphub hub: web from anywhere, SSH from admins"),
            "cluster": self._security_group("cluster", "camphub swarm members: hub and workers"),
            "nfs": self._security_group("nfs", "camphub NFS server"),
        }
        self._allow_web_to_hub()
        self._allow_swarm_among_members()
        reachable_after = [
            *self._allow_ssh_to_hub(args.ssh_allowed_cidrs),
            self._allow("cluster", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub"),
            self._allow("nfs", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub"),
            *routes,
        ]
        self._allow("nfs", "nfs-from-cluster", "tcp", layout.NFS_PORT, source="cluster")
        # On the hub's own group, which holds the hub alone: no worker opens the port.
        self._allow("hub", "images-from-cluster", "tcp", layout.IMAGES_PORT, source="cluster")
        for role in self._groups:
            self._allow_egress(role)
        self.placement = Placement(
            vpc_id=self.vpc_id,
            subnet_id=pulumi.Output.from_input(subnet.id),
            subnet_cidr=pulumi.Output.from_input(subnet.cidr_block),
            availability_zone=pulumi.Output.from_input(subnet.availability_zone),
            security_group_ids={role: sg.id for role, sg in self._groups.items()},
            reachable_after=reachable_after,
        )
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "subnetId": self.placement.subnet_id,
                "subnetCidr": self.placement.subnet_cidr,
                "availabilityZone": self.placement.availability_zone,
                **{
                    f"{role}SecurityGroupId": group_id
                    for role, group_id in self.placement.security_group_ids.items()
                },
            }
        )

    def _own_network(self, zone: str, stack: str) -> tuple["_Subnet", list[pulumi.Resource]]:
        """The camp's VPC, its subnet in `zone` and its way to the internet; and what a machine
        waits for to be reachable (the route and the subnet's association with it)."""

        def declare(kind, what: str, tagged: bool = True, **args):
            """`camphub-<what>` under the network, tagged with its name and the stack."""
            tags = {"tags": {"Name": f"camphub-{what}", STACK_TAG: stack}} if tagged else {}
            return kind(
                f"{self._prefix}-{what}", **args, **tags, opts=pulumi.ResourceOptions(parent=self)
            )

        vpc = declare(
            aws.ec2.Vpc,
            "vpc",
            cidr_block=layout.VPC_CIDR,
            enable_dns_support=True,
            enable_dns_hostnames=True,
        )
        # Every machine gets a public address, as in a default subnet: the workers and the NFS
        # server reach the internet (packages, images) through the gateway with it. A NAT
        # gateway instead would cost more than the camp's machines; no port of theirs is open to
        # the world (the security groups).
        subnet = declare(
            aws.ec2.Subnet,
            "subnet",
            vpc_id=vpc.id,
            cidr_block=layout.SUBNET_CIDR,
            availability_zone=zone,
            map_public_ip_on_launch=True,
        )
        gateway = declare(aws.ec2.InternetGateway, "gateway", vpc_id=vpc.id)
        table = declare(aws.ec2.RouteTable, "routes", vpc_id=vpc.id)
        route = declare(
            aws.ec2.Route,
            "internet",
            tagged=False,
            route_table_id=table.id,
            destination_cidr_block=WORLD_IPV4,
            gateway_id=gateway.id,
        )
        association = declare(
            aws.ec2.RouteTableAssociation,
            "subnet-routes",
            tagged=False,
            subnet_id=subnet.id,
            route_table_id=table.id,
        )
        own = _Subnet(vpc.id, subnet.id, subnet.cidr_block, subnet.availability_zone)
        return own, [route, association]

    def _security_group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._prefix}-{role}",
            vpc_id=self.vpc_id,
            description=description,
            tags={"Name": f"camphub-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _allow_web_to_hub(self) -> None:
        for port in (layout.HTTP_PORT, layout.HTTPS_PORT):
            self._allow("hub", f"web-{port}-ipv4", "tcp", port, cidr_ipv4=WORLD_IPV4)
            self._allow("hub", f"web-{port}-ipv6", "tcp", port, cidr_ipv6=WORLD_IPV6)

    def _allow_ssh_to_hub(self, cidrs: tuple[str, ...]) -> list[aws.vpc.SecurityGroupIngressRule]:
        rules = []
        for index, cidr in enumerate(cidrs):
            family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}
            rules.append(self._allow("hub", f"ssh-admin-{index}", "tcp", layout.SSH_PORT, **family))
        return rules

    def _allow_swarm_among_members(self) -> None:
        for protocol, port in (
            ("tcp", layout.SWARM_MANAGER_PORT),
            ("tcp", layout.SWARM_GOSSIP_PORT),
            ("udp", layout.SWARM_GOSSIP_PORT),
            ("udp", layout.SWARM_VXLAN_PORT),
        ):
            name = f"swarm-{port}-{protocol}"
            self._allow("cluster", name, protocol, port, source="cluster")

    def _allow(
        self,
        role: str,
        name: str,
        protocol: str,
        port: int,
        source: str | None = None,
        **cidr: str,
    ) -> aws.vpc.SecurityGroupIngressRule:
        """Lets `source` (a group of this network) or a CIDR reach `port` on `role`'s group."""
        return aws.vpc.SecurityGroupIngressRule(
            f"{self._prefix}-{role}-{name}",
            security_group_id=self._groups[role].id,
            ip_protocol=protocol,
            from_port=port,
            to_port=port,
            referenced_security_group_id=self._groups[source].id if source else None,
            **cidr,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _allow_egress(self, role: str) -> None:
        for family, world in (("cidr_ipv4", WORLD_IPV4), ("cidr_ipv6", WORLD_IPV6)):
            aws.vpc.SecurityGroupEgressRule(
                f"{self._prefix}-{role}-egress-{family[-4:]}",
                security_group_id=self._groups[role].id,
                ip_protocol="-1",
                **{family: world},
                opts=pulumi.ResourceOptions(parent=self),
            )


@dataclass(frozen=True)
class _Subnet:
    """The camp's subnet, declared or kept."""

    vpc_id: pulumi.Input[str]
    id: pulumi.Input[str]
    cidr_block: pulumi.Input[str]
    availability_zone: pulumi.Input[str]


def _own_zone(args: NetworkArgs) -> str:
    """The zone of the camp's own subnet (infra/zones.py): pinned, or the region's first that
    offers every instance type (local and wavelength zones, which need opting in, are not
    considered)."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[
            aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
        ],
    ).names
    pinned, pinned_by = _pinned_zone(args)
    zone = choose_zone(
        zones, offered_types(args.instance_types.values()), args.instance_types, pinned, pinned_by
    )
    if pinned is None and zone != zones[0]:
        pulumi.log.warn(
            f"The camp runs in {zone}: {zones[0]} does not offer every instance type it uses. "
            f"Pin the zone (`pulumi config set camphub:availabilityZone {zone}`) so that a later "
            "change of instance type can never move the camp, which would replace every machine."
        )
    return zone


def _warn_of_ipv6_admins(cidrs: Sequence[str]) -> None:
    """The camp's own network is IPv4 only: an IPv6 range's SSH never arrives."""
    ipv6 = [cidr for cidr in cidrs if ":" in cidr]
    if ipv6:
        pulumi.log.warn(
            f"camphub:sshAllowedCidrs: {', '.join(ipv6)} is IPv6, and the camp's own network is "
            "IPv4 only: SSH from there never arrives. Give the IPv4 address you run `pulumi up` "
            "from (`curl -4 https://checkip.amazonaws.com`)."
        )


def _kept_subnet(args: NetworkArgs) -> aws.ec2.GetSubnetResult:
    """The subnet camphub:subnetId names, looked up; refused if it does not exist, or its zone
    is not the one the camp is pinned to, or lacks an instance type."""
    subnet_id = args.subnet_id
    by_id = [aws.ec2.GetSubnetsFilterArgs(name="subnet-id", values=[subnet_id])]
    if not aws.ec2.get_subnets(filters=by_id).ids:
        raise ConfigError(
            f"{SUBNET_KEY}: there is no subnet {subnet_id} in this account and region. Give "
            "the subnet the camp runs in (without the setting `pulumi preview` names it) or one "
            "of `aws ec2 describe-subnets --query 'Subnets[].[SubnetId,AvailabilityZone]'`, or "
            f"`pulumi config rm {SUBNET_KEY}` for a network of the camp's own."
        )
    subnet = aws.ec2.get_subnet(id=subnet_id)
    if (subnet.tags or {}).get(STACK_TAG) == args.stack:
        # Kept, it would no longer be declared: the engine would delete the camp's network.
        raise ConfigError(
            f"{SUBNET_KEY}: {subnet_id} is this camp's own subnet, which the program makes "
            f"with its VPC; `pulumi config rm {SUBNET_KEY}`."
        )
    zone = subnet.availability_zone
    pinned, pinned_by = _pinned_zone(args)
    if pinned not in (None, zone):
        raise ConfigError(
            f"{SUBNET_KEY}: {subnet_id} is in {zone}, but {pinned_by} puts the camp in "
            f"{pinned}. Give a subnet in {pinned}"
            + (f", or `pulumi config rm {ZONE_KEY}`." if pinned_by == ZONE_KEY else ".")
        )
    offered = offered_types(args.instance_types.values())
    zones = [zone, *sorted(set(offered) - {zone})]
    choose_zone(zones, offered, args.instance_types, zone, f"{SUBNET_KEY} ({subnet_id})")
    if not subnet.map_public_ip_on_launch:
        pulumi.log.warn(
            f"{SUBNET_KEY}: {subnet_id} gives its machines no public address: the workers and the "
            "NFS server reach the internet for their packages only if its route table has a NAT."
        )
    return subnet


def _pinned_zone(args: NetworkArgs) -> tuple[str | None, str]:
    """The zone the camp must be in, if any, and the setting that says so."""
    if args.homes_zone is None:
        return args.availability_zone, ZONE_KEY
    if args.availability_zone not in (None, args.homes_zone):
        raise ConfigError(
            f"{ADOPT_KEY}: the volume is in {args.homes_zone}, but {ZONE_KEY} pins the camp to "
            f"{args.availability_zone}, where it cannot be attached. Pin its zone "
            f"(`pulumi config set {ZONE_KEY} {args.homes_zone}`), or adopt a volume made from "
            f"its snapshot in {args.availability_zone} ({ADOPT_RUNBOOK})."
        )
    return args.homes_zone, f"{ADOPT_KEY} (the volume's zone)"
