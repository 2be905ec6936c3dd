"""Builds single components under the mocks, with only the pieces they need beside them."""

from dataclasses import dataclass

from program import deploy

from infra.admin_key import AdminKey, declare_admin_key
from infra.config import load_config
from infra.hub import Hub, HubArgs
from infra.jupyterhub import JupyterHubService, JupyterHubServiceArgs
from infra.machine import MachineBasics
from infra.network import Network, NetworkArgs
from infra.nfs import NfsServer, NfsServerArgs
from infra.workers import ServerPool

AMI = "ami-0123456789abcdef0"


@dataclass(frozen=True)
class Base:
    """What every machine stands on: the network and the admin key, declared as the program does."""

    network: Network
    admin_key: AdminKey


def base_of(config) -> Base:
    network = Network("camphub", NetworkArgs.of(config))
    return Base(network, declare_admin_key("camphub", config.admin_ssh_key, parent=network))


def basics_of(config, base: Base) -> MachineBasics:
    return MachineBasics(
        config=config, placement=base.network.placement, admin_key=base.admin_key, ami_id=AMI
    )


def hub_of(config, base: Base):
    return Hub("hub", HubArgs(basics_of(config, base)))


def nfs_of(config, base: Base, hub):
    return NfsServer("nfs", NfsServerArgs(basics_of(config, base), jump_host=hub.jump_host))


def jupyterhub_of(config, hub, nfs):
    """The service on the hub's site alone: no workers, so none to wait for."""
    return JupyterHubService(
        "jupyterhub",
        JupyterHubServiceArgs(
            config=config,
            hub=hub.site,
            homes=nfs.class_homes,
            workers=ServerPool(notebook_image="camphub-notebook:test", ready=[]),
        ),
    )


def deploy_component(stack_config: dict, build) -> "Deployment":  # noqa: F821
    """Deploys what `build(config)` declares from the validated `stack_config`."""
    return deploy(stack_config, body=lambda: build(load_config()))
