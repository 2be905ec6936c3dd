"""camphub: a JupyterHub for a one-week data-science camp. `pulumi up --stack camp`."""

import pulumi
import pulumi_aws as aws

from infra.capacity import capacity_warning
from infra.config import load_config
from infra.cost import weekly_cost
from infra.hub import Hub, HubArgs
from infra.hub_settings import OAUTH_CALLBACK_PATH
from infra.jupyterhub import JupyterHubService, JupyterHubServiceArgs
from infra.machine import debian_ami_id
from infra.network import Network, NetworkArgs
from infra.nfs import NfsServer, NfsServerArgs
from infra.workers import SwarmWorkerPool, SwarmWorkerPoolArgs

config = load_config()
if warning := capacity_warning(config):
    pulumi.log.warn(warning)
ami_id = debian_ami_id(config.ami)

network = Network("camphub", NetworkArgs(ssh_allowed_cidrs=config.ssh_allowed_cidrs))
hub = Hub("hub", HubArgs(config=config, network=network, ami_id=ami_id))
nfs = NfsServer(
    "nfs",
    NfsServerArgs(
        config=config,
        network=network,
        ami_id=ami_id,
        jump_host=hub.public_ip,
        jump_host_ready=hub.machine.ready,
        root_client_ip=hub.private_ip,
    ),
)
workers = SwarmWorkerPool(
    "workers",
    SwarmWorkerPoolArgs(config=config, network=network, ami_id=ami_id, hub=hub, homes=nfs.share),
)
jupyterhub = JupyterHubService(
    "jupyterhub",
    JupyterHubServiceArgs(
        config=config,
        hub=hub,
        homes=nfs.share,
        notebook_image=workers.notebook_image,
        workers_ready=workers.ready,
    ),
)

pulumi.export("hubUrl", hub.url)
pulumi.export("oauthCallbackUrl", pulumi.Output.format("{0}{1}", hub.url, OAUTH_CALLBACK_PATH))
pulumi.export("hubPublicIp", hub.public_ip)
pulumi.export("workerPrivateIps", workers.private_ips)
pulumi.export("nfsPrivateIp", nfs.private_ip)
pulumi.export("homesVolumeId", nfs.homes_volume.id)
pulumi.export(
    "sshCommand",
    pulumi.Output.format(
        "pulumi stack output --show-secrets adminSshKey > camphub.key && chmod 600 camphub.key"
        " && ssh -i camphub.key admin@{0}",
        hub.public_ip,
    ),
)
pulumi.export("adminSshKey", network.admin_private_key)

region = aws.get_region_output().apply(lambda r: r.region or r.name)
pulumi.export(
    "weeklyCostEstimate", region.apply(lambda name: weekly_cost(config, name).as_output())
)
