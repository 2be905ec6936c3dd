"""camphub: a JupyterHub for a one-week data-science camp. `pulumi up --stack camp`."""

import pulumi

from infra.admin_key import declare_admin_key
from infra.adoption import adopted_homes_volume
from infra.archive import HomesArchive, HomesArchiveArgs
from infra.capacity import capacity_warning, homes_overcommit_warning
from infra.config import load_config
from infra.hub import Hub, HubArgs
from infra.jupyterhub import JupyterHubService, JupyterHubServiceArgs
from infra.landing_page import LandingPage, LandingPageArgs
from infra.machine import MachineBasics, debian_ami_id
from infra.network import Network, NetworkArgs
from infra.network_move import refuse_to_move_a_running_camp
from infra.nfs import NfsServer, NfsServerArgs
from infra.notebook_image import NotebookImage, NotebookImageArgs
from infra.outputs import export_outputs
from infra.workers import SwarmWorkerPool, SwarmWorkerPoolArgs

config = load_config()
for warning in (capacity_warning(config), homes_overcommit_warning(config)):
    if warning:
        pulumi.log.warn(warning)
ami_id = debian_ami_id(config.ami)
# A destroyed camp's kept homes volume, checked before anything is declared; the camp goes to
# its zone.
adopted = adopted_homes_volume(config)
# A camp that runs in a network the program did not make stays there (camphub:subnetId).
refuse_to_move_a_running_camp(config)

network = Network("camphub", NetworkArgs.of(config, homes_zone=adopted and adopted.zone))
admin_key = declare_admin_key("camphub", config.admin_ssh_key, parent=network)
placement = network.placement  # where every machine goes
basics = MachineBasics(config=config, placement=placement, admin_key=admin_key, ami_id=ami_id)
hub = Hub("hub", HubArgs(basics))
nfs = NfsServer("nfs", NfsServerArgs(basics, jump_host=hub.jump_host, adopted=adopted))
notebook_image = NotebookImage(
    "notebook",
    NotebookImageArgs(
        builder=hub.machine, builder_address=hub.private_ip, cluster_cidr=placement.subnet_cidr
    ),
)
workers = SwarmWorkerPool(
    "workers",
    SwarmWorkerPoolArgs(
        basics,
        jump_host=hub.jump_host,
        manager=hub.swarm_manager,
        homes=nfs.share,
        notebook_image=notebook_image.shipped,
    ),
)
jupyterhub = JupyterHubService(
    "jupyterhub",
    JupyterHubServiceArgs(
        config=config, hub=hub.site, homes=nfs.class_homes, workers=workers.servers
    ),
)
landing_page = LandingPage(
    "landing-page", LandingPageArgs(config=config, hub=hub.site.machine, hub_url=hub.url)
)
archive = HomesArchive(
    "archive",
    HomesArchiveArgs(
        config=config,
        homes=nfs.server,
        before_these_go=[jupyterhub.started, *workers.servers.ready],
    ),
)
export_outputs(config, placement, admin_key, hub, workers, nfs, archive, landing_page)
