"""Docker networks with a subnet of their own, for the fixed addresses start-hub gives the hub and
the proxy (`docker run --ip` works only on a network whose subnet was chosen at creation).

Test runs share the engine, so each takes a /24 nobody holds yet: Docker refuses a subnet that
overlaps another network's, and the next candidate is tried. Containers other than the hub and
the proxy get addresses from the upper half only, as on the camp's overlay.
"""

import ipaddress
import random
import subprocess
from dataclasses import dataclass

CANDIDATES = ipaddress.ip_network("10.215.0.0/16")


@dataclass(frozen=True)
class AddressedNetwork:
    name: str
    subnet: ipaddress.IPv4Network

    @property
    def hub_address(self) -> str:
        return str(self.subnet[2])

    @property
    def proxy_address(self) -> str:
        return str(self.subnet[3])

    @property
    def automatic_range(self) -> str:
        return f"{self.subnet[128]}/25"

    def swarm_section(self) -> dict:
        """The hub settings' swarm fields for a hub and proxy at their addresses here, as
        changes to sample_settings; no placement constraint (the workers' would leave a
        one-node swarm nowhere to run)."""
        return {
            "network": self.name,
            "placement_constraints": (),
            "hub_address": self.hub_address,
            "proxy_address": self.proxy_address,
        }


def create(name: str, *driver_options: str) -> AddressedNetwork:
    """Creates network `name` (a bridge unless `driver_options` say otherwise) on a free /24."""
    subnets = list(CANDIDATES.subnets(new_prefix=24))
    for subnet in random.sample(subnets, 32):
        network = AddressedNetwork(name, subnet)
        result = subprocess.run(
            ["docker", "network", "create", *driver_options, "--subnet", str(subnet),
             "--ip-range", network.automatic_range, name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return network
        if "overlap" not in result.stderr:
            raise RuntimeError(f"docker network create {name} failed: {result.stderr.strip()}")
    raise RuntimeError(f"no free /24 in {CANDIDATES} for network {name}")
