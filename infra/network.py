"""Network: where the machines live and who may reach them.

Three security groups that reference each other rather than address ranges:
- `hub`: the hub alone. The world reaches 80/443 only; SSH only from the organizer's CIDRs.
- `cluster`: the hub and the workers. Docker swarm's ports among members only; SSH from the hub,
  the jump host for every other machine. The hub's image archives (its `hub` group) from members
  only.
- `nfs`: the NFS server. NFS from cluster members only; SSH from the hub.
Every machine may reach out (packages, Let's Encrypt, Google). No Docker TCP API is opened.
The machines live in one subnet of the default VPC, in a zone that offers their instance types
(infra/zones.py).
The administrator's SSH key is infra/admin_key.py's (declared under the network in the stack's
resource tree, where it has always been).
What the machines use of it is its `placement`, not the component itself.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout
from infra.config import ADOPT_KEY, ADOPT_RUNBOOK, CampConfig
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

    @classmethod
    def of(cls, config: CampConfig, homes_zone: str | None = None) -> "NetworkArgs":
        return cls(
            config.ssh_allowed_cidrs, config.instance_types, config.availability_zone, homes_zone
        )


@dataclass(frozen=True)
class Placement:
    """Where a machine of the camp goes and which walls it stands behind, as the machines see the
    network."""

    subnet_id: pulumi.Output[str]
    subnet_cidr: pulumi.Output[str]  # every machine's address is in it
    availability_zone: pulumi.Output[str]  # the subnet's, so the volumes' too
    security_group_ids: Mapping[str, pulumi.Output[str]]  # by role: hub, cluster, nfs
    # What lets this computer's SSH through to each machine (every other one via the hub).
    # Machines wait for these rules, so a changed sshAllowedCidrs holds before a step dials.
    ssh_rules: Sequence[pulumi.Resource]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    placement: Placement  # for every machine

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        subnet = _camp_subnet(args)  # may refuse the camp: before anything is declared
        super().__init__("camphub:index:Network", name, None, opts)
        self._prefix = name
        self.vpc_id = pulumi.Output.from_input(subnet.vpc_id)
        self._groups = {
            "hub": self._security_group("hub", "camphub hub: web from anywhere, SSH from admins"),
            "cluster": self._security_group("cluster", "camphub swarm members: hub and workers"),
            "nfs": self._security_group("nfs", "camphub NFS server"),
        }
        self._allow_web_to_hub()
        self._allow_swarm_among_members()
        ssh_rules = [
            *self._allow_ssh_to_hub(args.ssh_allowed_cidrs),
            self._allow("cluster", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub"),
            self._allow("nfs", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub"),
        ]
        self._allow("nfs", "nfs-from-cluster", "tcp", layout.NFS_PORT, source="cluster")
        # On the hub's own group, which holds the hub alone: no worker opens the port.
        self._allow("hub", "images-from-cluster", "tcp", layout.IMAGES_PORT, source="cluster")
        for role in self._groups:
            self._allow_egress(role)
        self.placement = Placement(
            subnet_id=pulumi.Output.from_input(subnet.id),
            subnet_cidr=pulumi.Output.from_input(subnet.cidr_block),
            availability_zone=pulumi.Output.from_input(subnet.availability_zone),
            security_group_ids={role: sg.id for role, sg in self._groups.items()},
            ssh_rules=ssh_rules,
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


def _camp_subnet(args: NetworkArgs) -> aws.ec2.GetSubnetResult:
    """The default VPC's default subnet in the camp's zone (infra/zones.py).

    Zones are preferred in the order of their subnets' ids: before zones were chosen the camp
    took the subnet whose id sorts first, so a camp made then keeps its zone (another zone would
    replace every machine and the homes volume)."""
    vpc = aws.ec2.get_vpc(default=True)
    ids = aws.ec2.get_subnets(
        filters=[
            aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc.id]),
            aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
        ]
    ).ids
    by_zone: dict[str, aws.ec2.GetSubnetResult] = {}
    for subnet_id in sorted(ids):
        subnet = aws.ec2.get_subnet(id=subnet_id)
        by_zone.setdefault(subnet.availability_zone, subnet)
    zones = list(by_zone)
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
    return by_zone[zone]


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
