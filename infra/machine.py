"""An EC2 instance of one of camphub's roles, brought to the point where bootstrap steps can run.

Shared by the hub, the workers and the NFS server: Debian 13, IMDSv2 only (with a hop limit that
containers cannot use), an encrypted root volume, the role's static user-data; then wait for
cloud-init and deliver the payload the role needs.

A machine keeps the user-data it was made with. EC2 applies a changed user-data by stopping and
starting the instance, every machine of the role at once and mid-class, and cloud-init does not
run it on that boot (it runs per instance): a stop for nothing. So the program ignores the change
and warns, naming the command that gives one machine a new instance with it.
"""

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from infra.admin_key import AdminKey
from infra.config import CampConfig
from infra.host_key import MachineIdentity, declare_identity, hand_over_host_key
from infra.network import Placement
from infra.payload import SCRIPTS, PayloadTree
from infra.remote import FIRST_CONTACT, KnownHost, StepTarget, ssh_connection
from infra.userdata import compressed_user_data, render_user_data, uncompressed_user_data

# Which machine of the camp an instance is (hub, worker, nfs); infra/adoption.py asks for it.
ROLE_TAG = "camphub:role"

DEBIAN_OWNER = "136693071363"
DEBIAN_13_AMI_NAME = "debian-13-amd64-*"
# Per role: the root volume's size, and the placement's security groups the machine is in.
ROOT_VOLUME_GB = {"hub": 30, "worker": 40, "nfs": 10}
SECURITY_GROUPS = {"hub": ("hub", "cluster"), "worker": ("cluster",), "nfs": ("nfs",)}

# `cloud-init status --wait` exits 2 when cloud-init finished with only recoverable warnings.
WAIT_FOR_CLOUD_INIT = 'sudo cloud-init status --wait >/dev/null || [ "$?" -eq 2 ]'


def debian_ami_id(pinned: str | None) -> pulumi.Input[str]:
    """The pinned AMI, or the newest Debian 13 one (instances ignore later AMIs, see below)."""
    if pinned:
        return pinned
    return aws.ec2.get_ami_output(
        owners=[DEBIAN_OWNER],
        most_recent=True,
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[DEBIAN_13_AMI_NAME]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
        ],
    ).id


@dataclass(frozen=True)
class MachineBasics:
    """What every machine of the camp is built with."""

    config: CampConfig
    placement: Placement
    admin_key: AdminKey
    ami_id: pulumi.Input[str]


@dataclass(frozen=True)
class JumpHost:
    """How a machine without a public address is reached: through the hub (at its public
    address, showing its host key), once its sshd answers."""

    host: KnownHost
    ready: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class Machine:
    """An instance, its identity (infra/host_key.py), and what must exist before it can show its
    host key."""

    instance: aws.ec2.Instance
    identity: MachineIdentity
    host_key_handed_over: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class MachineToBringUp:
    """A machine to bring up: the prefix of its steps' names, the machine, how it is dialled
    (at `host`, through `jump_host` if given, once `after` exist) and the payload it needs."""

    name: str
    machine: Machine
    host: pulumi.Input[str]  # its public address, or its private one behind `jump_host`
    private_key: pulumi.Input[str]
    after: Sequence[pulumi.Resource] = ()
    jump_host: JumpHost | None = None
    payload: Sequence[PayloadTree] = (SCRIPTS,)

    def known_host(self) -> KnownHost:
        return KnownHost(self.host, self.machine.identity.public_host_key)


def instance_type_of(role: str, config: CampConfig) -> str:
    """The instance type the stack sets for the machines of `role`."""
    return {"hub": config.hub, "worker": config.workers, "nfs": config.nfs}[role].instance_type


def declare_machine(
    name: str, role: str, basics: MachineBasics, parent: pulumi.Resource
) -> Machine:
    """Instance `name` of `role` (hub, worker, nfs: its user-data, root volume, security groups
    and instance type), with its own AWS role and host key, the key handed over to it."""
    identity = declare_identity(name, parent)
    instance = declare_instance(name, role, basics, identity, parent)
    handed_over = hand_over_host_key(name, identity, instance.id, parent)
    return Machine(instance, identity, handed_over)


def declare_instance(
    name: str,
    role: str,
    basics: MachineBasics,
    identity: MachineIdentity,
    parent: pulumi.Resource,
) -> aws.ec2.Instance:
    user_data = render_user_data(role)
    placement = basics.placement
    instance = aws.ec2.Instance(
        name,
        ami=basics.ami_id,
        instance_type=instance_type_of(role, basics.config),
        subnet_id=placement.subnet_id,
        vpc_security_group_ids=[placement.security_group_ids[g] for g in SECURITY_GROUPS[role]],
        key_name=basics.admin_key.key_name,
        iam_instance_profile=identity.instance_profile.id,  # an instance profile's id is its name
        user_data_base64=compressed_user_data(user_data),
        # A changed user-data is ignored (below); `pulumi up --replace` of the machine makes it
        # anew with the current one.
        user_data_replace_on_change=False,
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            # One hop: the instance itself, not a container behind Docker's NAT.
            http_put_response_hop_limit=1,
        ),
        root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
            encrypted=True,
            volume_type="gp3",
            volume_size=ROOT_VOLUME_GB[role],
            delete_on_termination=True,
        ),
        tags={"Name": name, ROLE_TAG: role},
        opts=pulumi.ResourceOptions(
            parent=parent,
            # Every step reaches the machine after it: a changed sshAllowedCidrs holds first.
            depends_on=placement.reachable_after,
            # A newer upstream AMI must never replace a running camp's machines, and a changed
            # user-data must not stop them (see the module's docstring).
            # (user_data: the form the program gave before it gzipped the document.)
            ignore_changes=["ami", "user_data", "user_data_base64"],
        ),
    )
    warn_of_changed_user_data(name, instance, user_data)
    return instance


def warn_of_changed_user_data(name: str, instance: aws.ec2.Instance, wanted: str) -> None:
    """Warns when the machine runs other user-data than its role's files now render. Under
    ignore_changes the instance's user-data outputs are what it was made with (the engine keeps
    the recorded inputs), so the two differ exactly when a change waits to be rolled out."""
    pulumi.Output.all(
        compressed=instance.user_data_base64, text=instance.user_data, urn=instance.urn
    ).apply(
        lambda now: _warn(
            user_data_warning(name, made_with(now["compressed"], now["text"]), wanted, now["urn"])
        )
    )


def made_with(compressed: str | None, text: str | None) -> str | None:
    """The document an instance was made with: given gzipped, or as text (or its SHA-1) by a
    program before it gzipped it; None while unknown."""
    return uncompressed_user_data(compressed) if compressed else text


def user_data_warning(name: str, made_with: str | None, wanted: str, urn: str) -> str | None:
    """The warning for machine `name` (resource `urn`) made with user-data `made_with`, or None
    when it is the `wanted` one. The AWS provider before 7.0 kept only its SHA-1 in the state."""
    if made_with is None or made_with in (wanted, hashlib.sha1(wanted.encode()).hexdigest()):
        return None
    return (
        f"{name}: its cloud-init files changed since the machine was made, and it keeps running "
        "without the change (EC2 would stop it to apply new user-data, and cloud-init would not "
        "run it then). A new machine gets it; when no class is on, one machine at a time: "
        f"pulumi up --replace {shlex.quote(urn)}"
    )


def _warn(warning: str | None) -> None:
    if warning:
        pulumi.log.warn(warning)


def _first_contact(
    step_name: str,
    machine: Machine,
    connection: command.remote.ConnectionArgs,
    create: str,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> command.remote.Command:
    """A wait for a new machine, dialling for as long as a boot takes (its sshd starts once it
    has fetched its host key); again for a new instance."""
    instance = machine.instance
    return command.remote.Command(
        step_name,
        connection=connection,
        create=create,
        triggers=[instance.id],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[instance, *machine.host_key_handed_over, *after]
        ),
    )


def bring_up(machine: MachineToBringUp, parent: pulumi.Resource) -> StepTarget:
    """Waits for cloud-init on the machine, then delivers its payload; returns where its bootstrap
    steps run. A new instance is waited for and given the payload again, as every step on it
    reruns (infra/remote.py)."""
    instance = machine.machine.instance
    through = machine.jump_host.host if machine.jump_host else None
    connection = ssh_connection(machine.known_host(), machine.private_key, through)
    booted = _first_contact(
        f"{machine.name}-cloud-init",
        machine.machine,
        ssh_connection(machine.known_host(), machine.private_key, through, dial=FIRST_CONTACT),
        WAIT_FOR_CLOUD_INIT,
        machine.after,
        parent,
    )
    deliveries = [
        command.remote.CopyToRemote(
            f"{machine.name}-payload-{tree.name}",
            connection=connection,
            source=pulumi.FileArchive(str(tree.local_dir)),
            remote_path=tree.remote_parent,
            triggers=[instance.id, tree.content_hash()],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[booted]),
        )
        for tree in machine.payload
    ]
    return StepTarget(
        name=machine.name,
        connection=connection,
        ready=[booted, *deliveries],
        instance_id=instance.id,
    )


def bring_up_behind(
    name: str,
    machine: Machine,
    jump_host: JumpHost,
    admin_key: AdminKey,
    parent: pulumi.Resource,
    payload: Sequence[PayloadTree] = (SCRIPTS,),
) -> StepTarget:
    """`bring_up` for a machine without a public address: reached at its private address
    through `jump_host`, once the jump host lets the login user in."""
    to_bring_up = MachineToBringUp(
        name,
        machine,
        host=machine.instance.private_ip,
        private_key=admin_key.private_key,
        after=jump_host.ready,
        jump_host=jump_host,
        payload=payload,
    )
    return bring_up(to_bring_up, parent)


def bring_up_jump_host(
    machine: MachineToBringUp, parent: pulumi.Resource
) -> tuple[StepTarget, JumpHost]:
    """`bring_up` for the machine the others are reached through, at its public address (its
    `host`); the machines behind it wait only for its sshd to answer (`<name>-sshd`), not for its
    cloud-init."""
    sshd = _first_contact(
        f"{machine.name}-sshd",
        machine.machine,
        ssh_connection(machine.known_host(), machine.private_key, dial=FIRST_CONTACT),
        "true",
        machine.after,
        parent,
    )
    return bring_up(machine, parent), JumpHost(host=machine.known_host(), ready=[sshd])
