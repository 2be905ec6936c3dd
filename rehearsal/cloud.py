"""The local cloud's machinery: instances as systemd containers, volumes as loop devices.

Everything it makes is named after the rehearsal (`camphub-rehearsal-<stack>...`) so it can be
listed and removed without touching anything else on the shared Docker engine.
"""

import hashlib
import ipaddress
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra import layout
from rehearsal import substitutions

PREFIX = "camphub-rehearsal"
INSTANCE_IMAGE_DIR = Path(__file__).resolve().parent / "instance"
BASE_IMAGE = "debian:trixie-slim"
APT_CACHE_PORT = 3142
APT_CACHE_VOLUME = f"{PREFIX}-apt-cache"
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


class CloudError(RuntimeError):
    """A Docker or loop-device operation of the local cloud failed."""


def docker(*args: str, check: bool = True, stdin: bytes | None = None) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=False)
    if check and result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise CloudError(f"docker {args[0]} {args[1] if len(args) > 1 else ''} failed: {detail}")
    return result.stdout.decode(errors="replace").strip()


def exists(kind: str, name: str) -> bool:
    """Whether the Docker object (image, network, container, volume) exists."""
    result = subprocess.run(["docker", kind, "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def tree_hash(directory: Path, extra: str = "") -> str:
    """A hash of every file's relative path, mode and bytes under `directory`."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        if path.is_symlink():
            digest.update(str(path.readlink()).encode() + b"\0")
            continue
        digest.update(f"{path.stat().st_mode & 0o777:o}".encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def ensure_instance_image() -> str:
    """Builds the instance image unless one of the same content exists; returns its tag."""
    return ensure_local_image(INSTANCE_IMAGE_DIR, f"{PREFIX}/instance")


def ensure_local_image(context: Path, name: str) -> str:
    """Builds `context` on the local base image as `name`, tagged by the content of both,
    unless that tag exists already; returns the tag."""
    base_id = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE)
    return build_image(context, f"{name}:{tree_hash(context, base_id)}")


def build_image(context: Path, tag: str) -> str:
    """Builds `context` on the local base image as `tag`, unless that tag exists already."""
    if not exists("image", tag):
        docker(
            "build", "--quiet", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag, str(context)
        )
    return tag


@dataclass(frozen=True)
class Instance:
    container: str
    instance_id: str
    address: str


class LocalCloud:
    """One rehearsal stack's network, instances, volumes and shared directory."""

    def __init__(self, stack: str, work_dir: Path):
        self.stack = stack
        self.name = f"{PREFIX}-{stack}"
        self.work_dir = work_dir
        self.shared_dir = work_dir / "shared"
        self.volumes_dir = work_dir / "volumes"

    # The network and what every instance shares.

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

    def ensure_shared_dir(self, images: tuple[str, ...] = (BASE_IMAGE,)) -> None:
        """The directory shared read-only into every instance, with the base image archives."""
        for subdir in (
            substitutions.IMAGES_SUBDIR,
            substitutions.NFS_SUBDIR,
            substitutions.DEVICES_SUBDIR,
        ):
            (self.shared_dir / subdir).mkdir(parents=True, exist_ok=True)
        for image in images:
            self._ensure_image_archive(image)

    def _ensure_image_archive(self, image: str) -> None:
        image_id = docker("image", "inspect", "--format", "{{.Id}}", image).split(":")[-1][:12]
        safe_name = image.replace("/", "_").replace(":", "_")
        archive = self.shared_dir / substitutions.IMAGES_SUBDIR / f"{safe_name}-{image_id}.tar"
        if archive.exists():
            return
        for stale in archive.parent.glob(f"{safe_name}-*.tar"):
            stale.unlink()
        partial = archive.with_suffix(".partial")
        docker("image", "save", "--output", str(partial), image)
        partial.rename(archive)

    def ensure_apt_cache(self, instance_image: str) -> None:
        """A Debian package cache on the stack's network, kept between rehearsals.

        Instances use it when it answers (rehearsal-apt-proxy), so a warm `rehearse up` does
        not download again the packages that user-data installs.
        """
        container = f"{self.name}-apt-cache"
        state = docker(
            "container", "inspect", "--format", "{{.State.Running}}", container, check=False
        )
        if state == "true":
            return
        if state:
            docker("rm", "--force", container)
        image = self._ensure_apt_cache_image(instance_image)
        docker(
            "run",
            "--detach",
            "--name",
            container,
            "--network",
            self.name,
            "--network-alias",
            f"{PREFIX}-apt-cache",
            "--label",
            f"{PREFIX}.stack={self.stack}",
            "--volume",
            f"{APT_CACHE_VOLUME}:/var/cache/apt-cacher-ng",
            image,
        )

    def _ensure_apt_cache_image(self, instance_image: str) -> str:
        del instance_image
        return ensure_local_image(INSTANCE_IMAGE_DIR.parent / "apt-cache", f"{PREFIX}/apt-cache")

    # Instances.

    def container_name(self, resource_name: str) -> str:
        return f"{self.name}-{resource_name}"

    def boot(
        self,
        resource_name: str,
        instance_id: str,
        user_data: str,
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
        (seed_dir / "user-data").write_text(user_data)
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

    def stop_and_start(self, resource_name: str, user_data: str, address: str) -> None:
        """What EC2 does to apply a changed instance type or user-data: the machine (at private
        `address`) shuts down and boots again, with its disks, addresses and instance id. Its
        seed serves the new user-data, as the metadata service would; cloud-init does not run
        it (it runs per instance id, and the id is the same)."""
        (self._seed_dir(resource_name) / "user-data").write_text(user_data)
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

    # Volumes: a sparse file behind a loop device, attached by creating its node in the instance.

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

    # Everything at once.

    def containers(self) -> list[str]:
        names = docker(
            "ps",
            "--all",
            "--filter",
            f"label={PREFIX}.stack={self.stack}",
            "--format",
            "{{.Names}}",
        )
        return sorted(names.split()) if names else []

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


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CloudError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout.strip()
