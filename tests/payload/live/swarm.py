"""The local Docker engine as a one-node swarm, driven through the docker CLI.

The engine is shared with other test runs, so everything here is scoped: a network this run
created, the services attached to it, and a swarm left only when this run started it and
nothing else lives in it any more.
"""

import json
import subprocess

# Loopback keeps the swarm's control plane (2377) and gossip off every real interface.
ADVERTISE_ADDRESS = "127.0.0.1"
GATEWAY_BRIDGE = "docker_gwbridge"


def docker(*args: str, check: bool = True) -> str:
    """Run a docker CLI command and return its stdout; raise with its stderr on failure."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def ensure_swarm() -> bool:
    """Make the engine a swarm manager; return True if this call created the swarm."""
    if swarm_state() == "active":
        return False
    result = subprocess.run(
        [
            "docker",
            "swarm",
            "init",
            "--advertise-addr",
            ADVERTISE_ADDRESS,
            "--listen-addr",
            f"{ADVERTISE_ADDRESS}:2377",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return True
    # Another test run may have initialised it between our check and our init.
    if swarm_state() == "active":
        return False
    raise RuntimeError(f"docker swarm init failed: {result.stderr.strip()}")


def leave_swarm_if_unused() -> bool:
    """Leave the swarm when no service and no user-made swarm network is left in it."""
    if docker("service", "ls", "--quiet").strip():
        return False
    swarm_networks = docker(
        "network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}}"
    ).split()
    if set(swarm_networks) - {"ingress"}:
        return False
    docker("swarm", "leave", "--force")
    return True


def remove_network(name: str) -> None:
    docker("network", "rm", name, check=False)


def gateway_address() -> str:
    """The host's address on the bridge that swarm containers use to leave their overlay.

    Both this machine and the hub container reach it, so a service listening there is shared
    by the browser and the hub without leaving the machine.
    """
    inspected = json.loads(docker("network", "inspect", GATEWAY_BRIDGE))
    return inspected[0]["IPAM"]["Config"][0]["Gateway"]


def services_on_network(network: str) -> list[dict]:
    """The inspected swarm services attached to the given network (by name or id)."""
    wanted = {network, network_id(network)}
    service_ids = docker("service", "ls", "--quiet").split()
    if not service_ids:
        return []
    services = json.loads(docker("service", "inspect", *service_ids, check=False) or "[]")
    return [
        service
        for service in services
        if any(
            attachment.get("Target") in wanted
            for attachment in service["Spec"].get("TaskTemplate", {}).get("Networks", [])
        )
    ]


def service_user(service: dict) -> str | None:
    """The JupyterHub user a spawned service belongs to (the spawner puts it in the env)."""
    for variable in service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env", []):
        name, _, value = variable.partition("=")
        if name == "JUPYTERHUB_USER":
            return value
    return None


def user_services(network: str, username: str) -> list[dict]:
    return [s for s in services_on_network(network) if service_user(s) == username]


def remove_services_on_network(network: str) -> None:
    for service in services_on_network(network):
        docker("service", "rm", service["ID"], check=False)


def network_id(name: str) -> str:
    return docker("network", "inspect", "--format", "{{.Id}}", name).strip()


def remove_container(name: str) -> None:
    docker("rm", "--force", "--volumes", name, check=False)
