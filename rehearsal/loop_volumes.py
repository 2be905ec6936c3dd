"""EBS volumes on the local cloud: a sparse file behind a loop device, attached by creating its
node in the instance (rehearsal-attached-volumes, from the device numbers the shared directory
gives it), and kept, with its data, until the volume itself is deleted.

A part of rehearsal.cloud.LocalCloud, which gives it the stack's volumes and shared directories.
"""

import subprocess
from pathlib import Path

from rehearsal import substitutions
from rehearsal.docker_cli import CloudError, docker
from rehearsal.instance_containers import Instance


class LoopVolumes:
    """One rehearsal stack's volumes: their backing files, loop devices and attachments."""

    volumes_dir: Path
    shared_dir: Path

    def create_volume(self, volume_id: str, size_gb: int) -> Path:
        self.volumes_dir.mkdir(parents=True, exist_ok=True)
        backing = self.volumes_dir / f"{volume_id}.img"
        if not backing.exists():
            with backing.open("wb") as file:
                file.truncate(size_gb * 1024**3)
        return backing

    def attach_volume(
        self, volume_id: str, instance: Instance, device_name: str, server_address: str
    ) -> str:
        """Attaches the volume under `device_name`; returns the loop device standing in for it."""
        backing = self.volumes_dir / f"{volume_id}.img"
        loop = self._loop_device(backing) or _run("losetup", "--find", "--show", str(backing))
        number = Path(f"/sys/block/{Path(loop).name}/dev").read_text().strip()
        major, minor = number.split(":")
        name = device_name.removeprefix("/dev/")
        devices = self.shared_dir / substitutions.DEVICES_SUBDIR / instance.instance_id
        devices.write_text(f"{name} {major} {minor} {volume_id}\n")
        (self.shared_dir / substitutions.NFS_SUBDIR / server_address).write_text(number + "\n")
        docker("exec", instance.container, "/usr/local/sbin/rehearsal-attached-volumes")
        return loop

    def detach_volume(self, volume_id: str, instance_id: str, server_address: str) -> None:
        (self.shared_dir / substitutions.DEVICES_SUBDIR / instance_id).unlink(missing_ok=True)
        (self.shared_dir / substitutions.NFS_SUBDIR / server_address).unlink(missing_ok=True)
        del volume_id  # the loop device stays until the volume itself goes (the data is there)

    def delete_volume(self, volume_id: str) -> None:
        backing = self.volumes_dir / f"{volume_id}.img"
        loop = self._loop_device(backing)
        if loop:
            _run("losetup", "--detach", loop)
        backing.unlink(missing_ok=True)

    @staticmethod
    def _loop_device(backing: Path) -> str:
        listing = _run("losetup", "--noheadings", "--output", "NAME", "--associated", str(backing))
        return listing.splitlines()[0].strip() if listing else ""


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CloudError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout.strip()
