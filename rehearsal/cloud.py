"""The local cloud's machinery, one stack's whole (`LocalCloud`), of the parts that each play
one thing on this machine's Docker engine (rehearsal/docker_cli.py):
- rehearsal/docker_networks.py: the VPC and the internet, as two Docker networks; private
  addresses and Elastic IPs;
- rehearsal/instance_shares.py: what every instance shares (a directory with the base image
  archives, the package cache);
- rehearsal/instance_containers.py: EC2 instances, as systemd containers;
- rehearsal/loop_volumes.py: EBS volumes, as loop devices.

Everything it makes is named after the rehearsal (`camphub-rehearsal-<stack>...`) so it can be
listed and removed without touching anything else on the shared Docker engine.
"""

import shutil
from pathlib import Path

from rehearsal.docker_cli import PREFIX, docker
from rehearsal.docker_networks import Networks
from rehearsal.instance_containers import InstanceContainers
from rehearsal.instance_shares import InstanceShares
from rehearsal.loop_volumes import LoopVolumes


class LocalCloud(Networks, InstanceShares, InstanceContainers, LoopVolumes):
    """One rehearsal stack's network, instances, volumes and shared directory."""

    def __init__(self, stack: str, work_dir: Path):
        self.stack = stack
        self.name = f"{PREFIX}-{stack}"
        self.work_dir = work_dir
        self.shared_dir = work_dir / "shared"
        self.volumes_dir = work_dir / "volumes"

    def remove_all(self) -> None:
        """Removes every container, volume and loop device of the stack, and its network."""
        for container in self.containers():
            docker("rm", "--force", "--volumes", container, check=False)
            docker("volume", "rm", "--force", f"{container}-docker", check=False)
        if self.volumes_dir.exists():
            for backing in self.volumes_dir.glob("*.img"):
                self.delete_volume(backing.stem)
        docker("network", "rm", self.name, self.public_network, check=False)
        (self.work_dir / "public-addresses.json").unlink(missing_ok=True)
        shutil.rmtree(self.shared_dir, ignore_errors=True)
        shutil.rmtree(self.work_dir / "seeds", ignore_errors=True)
