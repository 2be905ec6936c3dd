"""What `pulumi up` tells the organizer: where the camp is, what to register with Google, how to
reach the machines, and what the week costs."""

import pulumi

from infra import layout
from infra.admin_key import AdminKey
from infra.archive import HomesArchive
from infra.config import CampConfig
from infra.cost import weekly_cost
from infra.hub import Hub
from infra.hub_settings import OAUTH_CALLBACK_PATH
from infra.nfs import NfsServer
from infra.region import current_region
from infra.workers import SwarmWorkerPool

KEY_FILE = "camphub.key"


def ssh_config(hub_ip: str, worker_ips: list[str], nfs_ip: str) -> str:
    """An ssh_config: the hub directly, every other machine through the hub."""
    hosts = [("camphub-hub", hub_ip, None)]
    hosts += [(f"camphub-worker-{i}", ip, "camphub-hub") for i, ip in enumerate(worker_ips)]
    hosts.append(("camphub-nfs", nfs_ip, "camphub-hub"))
    blocks = []
    for alias, address, jump in hosts:
        lines = [f"Host {alias}", f"  HostName {address}", f"  User {layout.LOGIN_USER}"]
        lines.append(f"  IdentityFile {KEY_FILE}")
        if jump:
            lines.append(f"  ProxyJump {jump}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def export_outputs(
    config: CampConfig,
    admin_key: AdminKey,
    hub: Hub,
    workers: SwarmWorkerPool,
    nfs: NfsServer,
    archive: HomesArchive,
) -> None:
    pulumi.export("hubUrl", hub.url)
    pulumi.export("oauthCallbackUrl", pulumi.Output.format("{0}{1}", hub.url, OAUTH_CALLBACK_PATH))
    pulumi.export("hubPublicIp", hub.public_ip)
    pulumi.export("hubPrivateIp", hub.private_ip)
    pulumi.export("workerPrivateIps", workers.private_ips)
    pulumi.export("nfsPrivateIp", nfs.private_ip)
    pulumi.export("homesVolumeId", nfs.homes_volume_id)
    # Filled by `pulumi destroy`; the bucket stays after it.
    pulumi.export("homesArchive", archive.location)
    pulumi.export("homesArchiveLinksCommand", archive.links_command)
    pulumi.export("adminSshKey", admin_key.private_key)
    pulumi.export(
        "sshConfig",
        pulumi.Output.all(hub.public_ip, workers.private_ips, nfs.private_ip).apply(
            lambda v: ssh_config(*v)
        ),
    )
    pulumi.export(
        "sshCommand",
        pulumi.Output.format(
            "pulumi stack output --show-secrets adminSshKey > {0} && chmod 600 {0}"
            " && pulumi stack output sshConfig > camphub.ssh_config"
            " && ssh -F camphub.ssh_config camphub-hub   # or camphub-worker-0, camphub-nfs",
            KEY_FILE,
        ),
    )
    pulumi.export(
        "weeklyCostEstimate",
        current_region().apply(lambda name: weekly_cost(config, name).as_output()),
    )
