"""What `pulumi up` tells the organizer: where the camp is, what to register with Google, how to
reach the machines, and what the week costs.

The admin key (root on every machine) is saved outside the project, in ~/.ssh, where no `git add`
of the project can pick it up; the ssh_config beside the project holds only addresses (and is
ignored by git as well)."""

import pulumi

from infra import layout
from infra.admin_key import AdminKey
from infra.archive import HomesArchive
from infra.config import ADOPT_KEY, CampConfig
from infra.cost import weekly_cost
from infra.hub import Hub
from infra.hub_settings import OAUTH_CALLBACK_PATH
from infra.network import Placement
from infra.nfs import NfsServer
from infra.region import current_region
from infra.workers import SwarmWorkerPool

SSH_CONFIG_FILE = "camphub.ssh_config"


def key_file(stack: str) -> str:
    """Where the organizer keeps the stack's admin key: one per stack, outside the project."""
    return f"~/.ssh/camphub-{stack}.key"


def ssh_config(hub_ip: str, worker_ips: list[str], nfs_ip: str, identity_file: str) -> str:
    """An ssh_config: the hub directly, every other machine through the hub."""
    hosts = [("camphub-hub", hub_ip, None)]
    hosts += [(f"camphub-worker-{i}", ip, "camphub-hub") for i, ip in enumerate(worker_ips)]
    hosts.append(("camphub-nfs", nfs_ip, "camphub-hub"))
    blocks = []
    for alias, address, jump in hosts:
        lines = [f"Host {alias}", f"  HostName {address}", f"  User {layout.LOGIN_USER}"]
        lines.append(f"  IdentityFile {identity_file}")
        if jump:
            lines.append(f"  ProxyJump {jump}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def adopt_command(volume_id: str) -> str:
    """What brings a destroyed camp back with every home (README.md, "Bring back a destroyed
    camp")."""
    return f"pulumi config set --path {ADOPT_KEY} {volume_id} && pulumi up"


def export_outputs(
    config: CampConfig,
    placement: Placement,
    admin_key: AdminKey,
    hub: Hub,
    workers: SwarmWorkerPool,
    nfs: NfsServer,
    archive: HomesArchive,
) -> None:
    callback_url = pulumi.Output.format("{0}{1}", hub.url, OAUTH_CALLBACK_PATH)
    pulumi.export("hubUrl", hub.url)
    pulumi.export("oauthCallbackUrl", callback_url)
    pulumi.export("googleSignIn", callback_url.apply(lambda url: google_sign_in(config, url)))
    if hub.dns_record_to_create is not None:
        pulumi.export("dnsRecordToCreate", hub.dns_record_to_create)
    # Pinned after the first `pulumi up`, a later change of instance type can never move the camp.
    pulumi.export("availabilityZone", placement.availability_zone)
    # Where the camp lives: its own VPC and subnet, or the kept camphub:subnetId.
    pulumi.export("vpcId", placement.vpc_id)
    pulumi.export("subnetId", placement.subnet_id)
    pulumi.export("hubPublicIp", hub.public_ip)
    pulumi.export("hubPrivateIp", hub.private_ip)
    pulumi.export("workerPrivateIps", workers.private_ips)
    pulumi.export("nfsPrivateIp", nfs.private_ip)
    pulumi.export("homesVolumeId", nfs.homes_volume_id)
    # Kept with the archive's outputs before `pulumi destroy`: what brings the camp back.
    pulumi.export("homesAdoptCommand", nfs.homes_volume_id.apply(adopt_command))
    # Filled by `pulumi destroy`; the bucket stays after it.
    pulumi.export("homesArchive", archive.location)
    pulumi.export("homesArchiveLinksCommand", archive.links_command)
    pulumi.export("adminSshKey", admin_key.private_key)
    identity = key_file(config.stack)
    pulumi.export(
        "sshConfig",
        pulumi.Output.all(hub.public_ip, workers.private_ips, nfs.private_ip).apply(
            lambda v: ssh_config(*v, identity_file=identity)
        ),
    )
    pulumi.export("sshCommand", ssh_command(config.stack))
    pulumi.export(
        "weeklyCostEstimate",
        current_region().apply(lambda name: weekly_cost(config, name).as_output()),
    )


def ssh_command(stack: str) -> str:
    """Saves the key (readable by the organizer alone from its first byte) and the ssh_config,
    then connects to the hub."""
    output = f"pulumi stack output --stack {stack}"
    return (
        f"(umask 077 && mkdir -p ~/.ssh && {output} --show-secrets adminSshKey > {key_file(stack)})"
        f" && {output} sshConfig > {SSH_CONFIG_FILE}"
        f" && ssh -F {SSH_CONFIG_FILE} camphub-hub   # or camphub-worker-0, camphub-nfs"
    )


def google_sign_in(config: CampConfig, callback_url: str) -> str:
    """What Google must know before a student signs in (README.md, "Before the first `pulumi
    up`"): repeated here because a missed step shows only when the class signs in."""
    if config.oauth_endpoints is not None:
        return (
            "Sign-in goes to the stand-in provider of camphub:oauthEndpoints: nothing to register."
        )
    steps = (
        f"Google Cloud console, APIs & Services: (1) the OAuth client {config.oauth_client_id} "
        f"(Web application) lists {callback_url} as an authorized redirect URI; (2) the OAuth "
        "consent screen (External; scopes openid and email only) is PUBLISHED, 'In production': "
        "while it is 'Testing' only its listed test users can sign in and every other student "
        "gets 'Access blocked'."
    )
    if config.domain is None:
        steps += (
            " Google takes no IP address as a redirect URI: for sign-in, give the hub a name "
            "(camphub:domain)."
        )
    return steps
