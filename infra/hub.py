"""Hub: the machine students reach, the swarm's manager, and the jump host to every other machine.

Its Elastic IP is the camp's address: it survives a replaced instance, so the URL and the OAuth
callback registered with Google stay valid all week. So does its own small volume: what a new hub
instance cannot rebuild from the program's truth, or should not (JupyterHub's database, so
students stay signed in and the admin's changes stay; the TLS certificates and Let's Encrypt's
account, so a new hub asks for no certificate and students' browsers see the same one).
"""

import dataclasses
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout
from infra.config import CampConfig
from infra.hub_dns import declare_zone_records
from infra.landing_page import organizer_pages
from infra.machine import (
    JumpHost,
    MachineBasics,
    MachineToBringUp,
    bring_up_jump_host,
    declare_machine,
)
from infra.payload import PROGRAM_PAYLOAD
from infra.remote import Step, StepTarget, run_step, script_line

HUB_VOLUME_GB = 1
# Where the hub's volume is attached; Nitro instances show it as an NVMe device named by the
# volume id, which mount-hub-state finds by that id.
HUB_VOLUME_DEVICE = "/dev/xvdf"


@dataclass(frozen=True)
class HubArgs:
    basics: MachineBasics


@dataclass(frozen=True)
class SwarmManager:
    """The swarm as a joining worker sees it: the manager's address and join token, the swarm
    to join once it exists, and a step runner on the manager (where a member is confirmed, and
    drained and removed before it goes)."""

    machine: StepTarget
    address: pulumi.Output[str]  # private
    join_token: pulumi.Output[str]  # secret
    initialised: pulumi.Resource  # the swarm and its overlay network


@dataclass(frozen=True)
class HubSite:
    """The site JupyterHub serves on the hub: a step runner on the hub machine (its steps run
    once the hub's volume is mounted), the public URL and host name students reach it by, the
    swarm its students' servers run in, once it exists, and the hub's own volume."""

    machine: StepTarget
    url: pulumi.Output[str]  # https://host_name
    host_name: pulumi.Output[str]  # the camp's domain, else the Elastic IP
    swarm: pulumi.Resource  # the initialised swarm and its overlay network
    state_volume_id: pulumi.Output[str]  # where JupyterHub's state and the certificates are


def dns_record(domain: str, address: pulumi.Input[str]) -> pulumi.Output[str]:
    """The A record the organizer creates where their domain's DNS is hosted."""
    return pulumi.Output.format("{0} A {1}", domain, address)


def missing_record_warning(record: str) -> str:
    return (
        f"camphub:hostedZone is not set, so create this DNS record yourself: {record} (output "
        "dnsRecordToCreate). Until it resolves, the hub serves a self-signed certificate and asks "
        "Let's Encrypt again on a timer (README: 'The certificate never comes')."
    )


def _warn_of_missing_record(record: str) -> None:
    pulumi.log.warn(missing_record_warning(record))


class Hub(pulumi.ComponentResource):
    machine: StepTarget
    public_ip: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    host_key: pulumi.Output[str]  # what its sshd shows (infra/host_key.py)
    url: pulumi.Output[str]
    swarm: pulumi.Resource  # the initialised swarm and its overlay network
    jump_host: JumpHost  # for the NFS server and the workers
    swarm_manager: SwarmManager  # for the workers
    site: HubSite  # for JupyterHub
    # "<domain> A <address>" when the organizer makes the record (a domain, no hosted zone).
    dns_record_to_create: pulumi.Output[str] | None

    def __init__(self, name: str, args: HubArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("camphub:index:Hub", name, None, opts)
        basics = args.basics
        machine = declare_machine(name, "hub", basics, parent=self)
        self.instance = machine.instance
        self.host_key = machine.identity.public_host_key
        self.address = aws.ec2.Eip(
            f"{name}-address",
            domain="vpc",
            tags={"Name": "camphub-hub"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        association = aws.ec2.EipAssociation(
            f"{name}-address",
            allocation_id=self.address.allocation_id,
            instance_id=self.instance.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.public_ip = self.address.public_ip
        self.private_ip = self.instance.private_ip
        self.host_name = self._host_name(name, basics.config, machine.identity.role)
        self.dns_record_to_create = self._record_for_organizer(basics.config)
        self.url = pulumi.Output.format("https://{0}", self.host_name)
        self.machine, self.jump_host = bring_up_jump_host(
            MachineToBringUp(
                name,
                machine,
                host=self.public_ip,
                private_key=basics.admin_key.private_key,
                after=[association],
                payload=(*PROGRAM_PAYLOAD, *organizer_pages(basics.config)),
            ),
            parent=self,
        )
        self.swarm = run_step(
            self.machine,
            Step(
                "swarm-init",
                script_line(
                    "swarm-init",
                    "--advertise-addr",
                    self.private_ip,
                    "--network",
                    layout.OVERLAY_NETWORK,
                    "--subnet",
                    layout.OVERLAY_SUBNET,
                    "--ip-range",
                    layout.OVERLAY_AUTOMATIC_RANGE,
                ),
            ),
            parent=self,
        )
        join_token = run_step(
            self.machine,
            Step(
                "swarm-join-token",
                script_line("swarm-join-token"),
                depends_on=[self.swarm],
                secret_output=True,
            ),
            parent=self,
        )
        state_volume, kept = self._keep_state(
            name, basics.config, basics.placement.availability_zone
        )
        self.swarm_manager = SwarmManager(
            machine=self.machine,
            address=self.private_ip,
            join_token=pulumi.Output.secret(join_token.stdout),
            initialised=self.swarm,
        )
        self.site = HubSite(
            machine=dataclasses.replace(self.machine, ready=[*self.machine.ready, kept]),
            url=self.url,
            host_name=self.host_name,
            swarm=self.swarm,
            state_volume_id=state_volume.id,
        )
        self.register_outputs(
            {
                "publicIp": self.public_ip,
                "privateIp": self.private_ip,
                "url": self.url,
                "instanceId": self.instance.id,
                "hostKey": self.host_key,
            }
        )

    def _keep_state(
        self, name: str, config: CampConfig, availability_zone: pulumi.Output[str]
    ) -> tuple[aws.ebs.Volume, pulumi.Resource]:
        """The hub's own volume, and the step that mounts it on the hub's current instance."""
        volume = aws.ebs.Volume(
            f"{name}-state",
            availability_zone=availability_zone,
            size=HUB_VOLUME_GB,
            type="gp3",
            encrypted=True,
            tags={"Name": "camphub-hub-state", "camphub:stack": config.stack},
            # A moved subnet must not swap it for an empty one (a new certificate, signed out).
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["availabilityZone"]),
        )
        attachment = aws.ec2.VolumeAttachment(
            f"{name}-state",
            device_name=HUB_VOLUME_DEVICE,
            volume_id=volume.id,
            instance_id=self.instance.id,
            # The database and certbot's files are on the volume before it is detached.
            stop_instance_before_detaching=True,
            # A volume is attached to one instance at a time: a new instance gets it only
            # once the old one has let it go.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        mounted = run_step(
            self.machine,
            Step(
                "mount-state",
                script_line(
                    "mount-hub-state",
                    "--volume-id",
                    volume.id,
                    "--mount-point",
                    layout.HUB_VOLUME_DIR,
                    "--link",
                    layout.LETSENCRYPT_DIR,
                ),
                depends_on=[attachment],
            ),
            parent=self,
        )
        return volume, mounted

    def _record_for_organizer(self, config: CampConfig) -> pulumi.Output[str] | None:
        """With a domain outside Route 53 the organizer makes its record: say which, loudly."""
        domain = config.domain
        if domain is None or domain.hosted_zone:
            return None
        record = dns_record(domain.name, self.public_ip)
        record.apply(_warn_of_missing_record)
        return record

    def _host_name(self, name: str, config: CampConfig, role: aws.iam.Role) -> pulumi.Output[str]:
        """The camp's domain (with its DNS records when the zone is ours), else the Elastic IP.

        With our zone the name is known only once its records and the hub's challenge
        permission exist: whatever uses it (nginx's certificate, whose challenge comes by that
        name) waits for them."""
        domain = config.domain
        if domain is None:
            return self.public_ip
        if not domain.hosted_zone:
            return pulumi.Output.from_input(domain.name)
        return declare_zone_records(name, domain, self.public_ip, role, parent=self)
