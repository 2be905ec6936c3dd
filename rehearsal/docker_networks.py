"""The VPC and the internet on the local cloud: a stack's two Docker networks, the private one
(the camp's subnet, a range of the program's VPC of the rehearsal's own: rehearsal/vpc.py;
where every instance gets an address no instance of the stack had before) and the
public one (reachable from this machine, as the internet would be), where an Elastic IP is a
fixed address given to the instance it is associated with.

A part of rehearsal.cloud.LocalCloud, which gives it the stack's name and work directory (where
the books of handed-out addresses are kept) and its instances' container names.
"""

import ipaddress
import json
import threading
from pathlib import Path

from infra import layout
from rehearsal.docker_cli import PREFIX, CloudError, docker, exists


class Networks:
    """One rehearsal stack's private and public networks and the addresses on them."""

    stack: str
    name: str
    work_dir: Path

    @property
    def public_network(self) -> str:
        """Where Elastic IPs live: reachable from this machine, as the internet would be."""
        return f"{self.name}-public"

    def ensure_network(self) -> str:
        """Creates the stack's private and public networks; returns the private subnet (the
        camp's subnet, which the program declares with it: rehearsal/vpc.py)."""
        if not exists("network", self.name):
            self._create_private_network()
        if not exists("network", self.public_network):
            self._create_network(self.public_network)
        return str(self._subnet(self.name))

    def _create_private_network(self) -> None:
        """The first range of the camp's subnet's size in the program's VPC range that no other
        network on the engine has (Docker refuses an overlapping one): two rehearsals never
        share one."""
        size = ipaddress.ip_network(layout.SUBNET_CIDR).prefixlen
        for subnet in ipaddress.ip_network(layout.VPC_CIDR).subnets(new_prefix=size):
            label = f"--label={PREFIX}.stack={self.stack}"
            ranges = (f"--subnet={subnet}", f"--gateway={next(subnet.hosts())}")
            docker("network", "create", label, *ranges, self.name, check=False)
            if exists("network", self.name):
                return
        raise CloudError(f"no range of {layout.VPC_CIDR} is free for {self.name}")

    def _create_network(self, network: str) -> None:
        # Fixed addresses (Elastic IPs, an instance's own) need a subnet given explicitly: take
        # the one, and the gateway, Docker picks as free.
        label = f"--label={PREFIX}.stack={self.stack}"
        docker("network", "create", label, network)
        picked = _ipam(network)
        docker("network", "rm", network)
        docker(
            "network", "create", label, f"--subnet={picked['Subnet']}",
            f"--gateway={picked['Gateway']}", network,
        )  # fmt: skip

    def public_subnet(self) -> str:
        return str(self._subnet(self.public_network))

    def gateway(self) -> str:
        """This machine's address on the private network, as the instances reach it."""
        return _ipam(self.name)["Gateway"]

    @staticmethod
    def _subnet(network: str) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(_ipam(network)["Subnet"])

    def new_private_address(self) -> str:
        """An address on the private network that no instance of this stack had before: a new
        EC2 instance gets a new private address, so a replaced machine's peers must follow it."""
        with _ADDRESS_BOOK_LOCK:  # the engine boots machines from several threads at once
            return self._book_private_address()

    def _book_private_address(self) -> str:
        book_file = self.work_dir / "private-addresses.json"
        handed_out = set(json.loads(book_file.read_text())) if book_file.exists() else set()
        taken = handed_out | _addresses_in_use(self.name) | {self.gateway()}
        address = next(str(ip) for ip in self._subnet(self.name).hosts() if str(ip) not in taken)
        book_file.write_text(json.dumps(sorted(handed_out | {address}), indent=1))
        return address

    # Elastic IPs: an address on the public network, given to the instance it is associated with.

    def allocate_address(self, allocation_id: str) -> str:
        """A fixed public address for the allocation (kept in the work directory)."""
        book_file = self.work_dir / "public-addresses.json"
        book = json.loads(book_file.read_text()) if book_file.exists() else {}
        if allocation_id not in book:
            taken = set(book.values())
            # Docker hands out the low addresses of a network; Elastic IPs come from the top.
            hosts = reversed(list(self._subnet(self.public_network).hosts()))
            book[allocation_id] = next(str(ip) for ip in hosts if str(ip) not in taken)
            book_file.write_text(json.dumps(book, indent=1))
        return book[allocation_id]

    def associate_address(self, resource_name: str, address: str) -> None:
        container = self.container_name(resource_name)
        template = f'{{{{(index .NetworkSettings.Networks "{self.public_network}").IPAddress}}}}'
        current = docker("container", "inspect", "--format", template, container, check=False)
        if current == address:
            return
        if current and current != "<no value>":
            docker("network", "disconnect", self.public_network, container)
        docker("network", "connect", "--ip", address, self.public_network, container)

    def disassociate_address(self, resource_name: str) -> None:
        container = self.container_name(resource_name)
        docker("network", "disconnect", "--force", self.public_network, container, check=False)


def _ipam(network: str) -> dict[str, str]:
    """The network's first IPAM configuration: its subnet and gateway."""
    config = json.loads(docker("network", "inspect", "--format", "{{json .IPAM.Config}}", network))
    return config[0]


_ADDRESS_BOOK_LOCK = threading.Lock()


def _addresses_in_use(network: str) -> set[str]:
    containers = json.loads(
        docker("network", "inspect", "--format", "{{json .Containers}}", network)
    )
    return {c["IPv4Address"].split("/")[0] for c in (containers or {}).values()}
