"""EC2 instances on the local cloud: systemd containers, one per instance, named after its
resource. Cloud-init reads the user-data and the key pair's public keys from a NoCloud seed, as
from EC2's metadata service; a stopped and started machine keeps its disks, addresses and id; an
instance that builds images finds the shared image archives loaded, as a registry would serve
them.

A part of rehearsal.cloud.LocalCloud, which gives it the stack's names, work and shared
directories, and the private addresses (rehearsal.docker_networks).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from rehearsal import substitutions
from rehearsal.docker_cli import PREFIX, CloudError, docker, exists

BUILDS_IMAGES_LABEL = f"{PREFIX}.builds-images=true"
LOAD_IMAGES_IF_DOCKER_RUNS = (
    "! systemctl is-active --quiet docker.service || /usr/local/sbin/rehearsal-load-images"
)
# How long a stopping instance may take to shut down cleanly before it is killed, as EC2 forces
# a stop that hangs.
STOP_TIMEOUT_SECONDS = 120

# What systemd needs to run as PID 1 in a container without --privileged (DESIGN.md), plus the
# device rule that lets an instance use the loop devices standing in for EBS volumes.
SYSTEMD_CONTAINER_FLAGS = (
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
    "--env=container=docker",
    f"--device-cgroup-rule={substitutions.LOOP_DEVICE_CGROUP_RULE}",
)


@dataclass(frozen=True)
class Instance:
    container: str
    instance_id: str
    address: str


class InstanceContainers:
    """One rehearsal stack's instances: their containers and NoCloud seeds."""

    stack: str
    name: str
    work_dir: Path
    shared_dir: Path

    def container_name(self, resource_name: str) -> str:
        return f"{self.name}-{resource_name}"

    def boot(
        self,
        resource_name: str,
        instance_id: str,
        user_data: bytes,
        public_keys: list[str],
        image: str,
        builds_images: bool = False,
    ) -> Instance:
        """Starts a fresh instance whose cloud-init reads `user_data` and the key pair's
        `public_keys` from the NoCloud seed, as from EC2's metadata service. An instance that
        `builds_images` finds the shared image archives loaded (what a registry would serve it);
        any other gets its images as on AWS, from the hub."""
        container = self.container_name(resource_name)
        seed_dir = self._seed_dir(resource_name)
        seed_dir.mkdir(parents=True, exist_ok=True)
        (seed_dir / "user-data").write_bytes(user_data)
        meta_data = {
            "instance-id": instance_id,
            "local-hostname": resource_name,
            "public-keys": public_keys,
        }
        (seed_dir / "meta-data").write_text(yaml.safe_dump(meta_data))
        address = self.new_private_address()  # while the old machine still holds its own
        self.remove(resource_name)
        docker(
            "run", "--detach", "--name", container, "--hostname", resource_name,
            "--network", self.name, "--ip", address,
            "--label", f"{PREFIX}.stack={self.stack}",
            *SYSTEMD_CONTAINER_FLAGS,
            "--volume", f"{container}-docker:/var/lib/docker",
            "--volume", f"{seed_dir}:/var/lib/cloud/seed/nocloud:ro",
            "--volume", f"{self.shared_dir}:{substitutions.SHARED_DIR_IN_INSTANCE}:ro",
            *self._image_archives(builds_images),
            image,
        )  # fmt: skip
        return Instance(container, instance_id, self.address(resource_name))

    def _image_archives(self, builds_images: bool) -> tuple[str, ...]:
        if not builds_images:
            return ()
        archives = self.shared_dir / substitutions.IMAGES_SUBDIR
        return (
            "--label", BUILDS_IMAGES_LABEL,
            "--volume", f"{archives}:{substitutions.IMAGE_ARCHIVES_IN_INSTANCE}:ro",
        )  # fmt: skip

    def load_shared_images(self) -> None:
        """Loads the shared archives into the running instances that build images now, not only
        when their Docker starts: images built here for this run are there before the program's
        build steps look for them, as if the hub had built them. An instance whose Docker is not
        up yet loads them as it starts."""
        running = docker(
            "ps",
            "--filter", f"label={PREFIX}.stack={self.stack}",
            "--filter", f"label={BUILDS_IMAGES_LABEL}",
            "--format", "{{.Names}}",
        )  # fmt: skip
        for container in running.split():
            docker("exec", container, "sh", "-c", LOAD_IMAGES_IF_DOCKER_RUNS)

    def stop_and_start(self, resource_name: str, user_data: bytes, address: str) -> None:
        """What EC2 does to apply a changed instance type or user-data: the machine (at private
        `address`) shuts down and boots again, with its disks, addresses and instance id. Its
        seed serves the new user-data, as the metadata service would; cloud-init does not run
        it (it runs per instance id, and the id is the same)."""
        (self._seed_dir(resource_name) / "user-data").write_bytes(user_data)
        container = self.container_name(resource_name)
        docker("stop", f"--time={STOP_TIMEOUT_SECONDS}", container)
        docker("start", container)
        if self.address(resource_name) != address:
            raise CloudError(f"{container} came back at another address, which EC2 never does")

    def _seed_dir(self, resource_name: str) -> Path:
        return self.work_dir / "seeds" / resource_name

    def address(self, resource_name: str) -> str:
        container = self.container_name(resource_name)
        template = f'{{{{(index .NetworkSettings.Networks "{self.name}").IPAddress}}}}'
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            address = docker("container", "inspect", "--format", template, container)
            if address:
                return address
            time.sleep(0.2)
        raise CloudError(f"{container} got no address on {self.name}")

    def exists(self, resource_name: str) -> bool:
        return exists("container", self.container_name(resource_name))

    def is_running(self, resource_name: str) -> bool:
        state = docker(
            "container",
            "inspect",
            "--format",
            "{{.State.Running}}",
            self.container_name(resource_name),
            check=False,
        )
        return state == "true"

    def start(self, resource_name: str) -> None:
        docker("start", self.container_name(resource_name))

    def put_private_files(self, resource_name: str, directory: str, files: dict[str, str]) -> None:
        """Writes `files` ({name: text}) into `directory` of the instance, readable by root
        only; the text goes on stdin, never on a command line."""
        container = self.container_name(resource_name)
        for name, text in files.items():
            script = 'umask 077 && mkdir -p "$0" && cat > "$0/$1"'
            docker("exec", "-i", container, "sh", "-c", script, directory, name,
                   stdin=text.encode())  # fmt: skip

    def remove(self, resource_name: str) -> None:
        container = self.container_name(resource_name)
        docker("rm", "--force", "--volumes", container, check=False)
        docker("volume", "rm", "--force", f"{container}-docker", check=False)

    def containers(self) -> list[str]:
        """Every container of the stack: its instances and its stand-ins."""
        names = docker(
            "ps",
            "--all",
            "--filter",
            f"label={PREFIX}.stack={self.stack}",
            "--format",
            "{{.Names}}",
        )
        return sorted(names.split()) if names else []
