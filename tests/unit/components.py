"""Builds single components under the mocks, with only the pieces they need beside them."""

from program import deploy

from infra.config import load_config
from infra.hub import Hub, HubArgs
from infra.network import Network, NetworkArgs
from infra.nfs import NfsServer, NfsServerArgs

AMI = "ami-0123456789abcdef0"


def network_of(config):
    return Network("camphub", NetworkArgs(config.ssh_allowed_cidrs, config.admin_ssh_key))


def hub_of(config, network):
    return Hub("hub", HubArgs(config=config, network=network, ami_id=AMI))


def nfs_of(config, network, hub):
    return NfsServer(
        "nfs",
        NfsServerArgs(
            config=config,
            network=network,
            ami_id=AMI,
            jump_host=hub.public_ip,
            jump_host_ready=hub.machine.ready,
        ),
    )


def deploy_component(stack_config: dict, build) -> "Deployment":  # noqa: F821
    """Deploys what `build(config)` declares from the validated `stack_config`."""
    return deploy(stack_config, body=lambda: build(load_config()))
