"""Network: where the machines live and who may reach them.

Three security groups that reference each other rather than address ranges:
- `hub`: the hub alone. The world reaches 80/443 only; SSH only from the organizer's CIDRs.
- `cluster`: the hub and the workers. Docker swarm's ports among members only; SSH from the hub,
  the jump host for every other machine.
- `nfs`: the NFS server. NFS from cluster members only; SSH from the hub.
Every machine may reach out (packages, Let's Encrypt, Google). No Docker TCP API is opened.
The administrator's SSH key is infra/admin_key.py's (declared under the network in the stack's
resource tree, where it has always been).
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout

WORLD_IPV4 = "0.0.0.0/0"
WORLD_IPV6 = "::/0"


@dataclass(frozen=True)
class NetworkArgs:
    ssh_allowed_cidrs: tuple[str, ...]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    subnet_cidr: pulumi.Output[str]
    availability_zone: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("camphub:index:Network", name, None, opts)
        self._prefix = name
        self._locate_subnet()
        self.groups = {
            "hub": self._security_group("hub", "camphub hub: web from anywhere, SSH from admins"),
            "cluster": self._security_group("cluster", "camphub swarm members: hub and workers"),
            "nfs": self._security_group("nfs", "camphub NFS server"),
        }
        self._allow_web_to_hub()
        self._allow_ssh_to_hub(args.ssh_allowed_cidrs)
        self._allow_swarm_among_members()
        self._allow("cluster", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub")
        self._allow("nfs", "ssh-from-hub", "tcp", layout.SSH_PORT, source="hub")
        self._allow("nfs", "nfs-from-cluster", "tcp", layout.NFS_PORT, source="cluster")
        for role in self.groups:
            self._allow_egress(role)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "subnetId": self.subnet_id,
                **{f"{role}SecurityGroupId": sg.id for role, sg in self.groups.items()},
            }
        )

    def _locate_subnet(self) -> None:
        """The default VPC's first default subnet: one AZ keeps the homes volume beside the NFS
        server and swarm traffic off inter-AZ links."""
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        vpc = aws.ec2.get_vpc_output(default=True, opts=invoke_opts)
        subnets = aws.ec2.get_subnets_output(
            filters=[
                aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc.id]),
                aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
            ],
            opts=invoke_opts,
        )
        subnet = aws.ec2.get_subnet_output(id=subnets.ids.apply(lambda ids: sorted(ids)[0]))
        self.vpc_id = vpc.id
        self.subnet_id = subnet.id
        self.subnet_cidr = subnet.cidr_block
        self.availability_zone = subnet.availability_zone

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

    def _allow_ssh_to_hub(self, cidrs: tuple[str, ...]) -> None:
        for index, cidr in enumerate(cidrs):
            family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}
            self._allow("hub", f"ssh-admin-{index}", "tcp", layout.SSH_PORT, **family)

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
            security_group_id=self.groups[role].id,
            ip_protocol=protocol,
            from_port=port,
            to_port=port,
            referenced_security_group_id=self.groups[source].id if source else None,
            **cidr,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _allow_egress(self, role: str) -> None:
        for family, world in (("cidr_ipv4", WORLD_IPV4), ("cidr_ipv6", WORLD_IPV6)):
            aws.vpc.SecurityGroupEgressRule(
                f"{self._prefix}-{role}-egress-{family[-4:]}",
                security_group_id=self.groups[role].id,
                ip_protocol="-1",
                **{family: world},
                opts=pulumi.ResourceOptions(parent=self),
            )
