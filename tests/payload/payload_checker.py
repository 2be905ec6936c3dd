"""The payload checker: a Debian 13 machine in a container, for the payload tests.

The image (tests/payload/checker/Dockerfile) has Debian 13's cloud-init, nginx, the NFS server
tools and docker, and boots systemd, so the bootstrap scripts run as they do on a real hub, worker
or NFS machine. The project is mounted read-only at /payload. Every container and volume made
here is named with NAME_PREFIX and removed afterwards.
"""

import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from waiting import wait_for

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHECKER_CONTEXT = Path(__file__).with_name("checker")
IMAGE = "h3-payload-checker:latest"
NAME_PREFIX = "h3-payload-"
PROJECT_MOUNT = "/payload"
SCRIPTS_DIR = f"{PROJECT_MOUNT}/scripts"
BOOT_TIMEOUT_SECONDS = 90
# A machine's own Docker engine needs /var/lib/docker on a volume (not the overlay root).
DOCKER_FLAGS = ("-v", "/var/lib/docker")

# systemd as PID 1 without --privileged (refused on these machines); see DESIGN.md.
SYSTEMD_FLAGS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-e", "container=docker",
)  # fmt: skip


def docker(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=check
    )


def build_image() -> str:
    """Builds the checker image (cached layers make a rebuild take seconds); returns its tag."""
    result = docker("build", "-q", "-t", IMAGE, str(CHECKER_CONTEXT), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building {IMAGE} failed:\n{result.stderr[-3000:]}")
    return IMAGE


def run_script(
    name: str, *args: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess:
    """Runs scripts/<name> on this host (as root, like the bootstrap commands on a machine)."""
    result = subprocess.run(
        [str(PROJECT_DIR / "scripts" / name), *args],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"{name} exited {result.returncode}:\n{result.stderr}")
    return result


def unique_name(role: str) -> str:
    return f"{NAME_PREFIX}{role}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Machine:
    """A booted checker container."""

    name: str

    def run(
        self, *command: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        result = docker("exec", "-i", self.name, *command, stdin=stdin, check=False)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode} in {self.name}:\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def script(
        self, name: str, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Runs scripts/<name> as root, as the bootstrap commands do."""
        return self.run(f"{SCRIPTS_DIR}/{name}", *args, stdin=stdin, check=check)

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def write(self, path: str, content: str) -> None:
        self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "-", path, stdin=content)

    def wait_until_booted(self) -> None:
        def booted() -> bool:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            return state in ("running", "degraded")

        wait_for(booted, timeout=BOOT_TIMEOUT_SECONDS, what=f"systemd in {self.name} booted")


def address_of(machine: Machine) -> str:
    """The machine's address on Docker's default bridge, where the checkers reach each other."""
    return docker(
        "inspect", "--format", "{{.NetworkSettings.IPAddress}}", machine.name
    ).stdout.strip()


def load_base_image(machine: Machine) -> None:
    """The Debian base image, from this engine into the machine's (no registry is reachable)."""
    saved = subprocess.run(
        f"docker save debian:trixie-slim | docker exec -i {machine.name} docker load -q",
        shell=True, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr


@contextmanager
def machine(role: str, extra_flags: Sequence[str] = ()) -> Iterator[Machine]:
    """A checker container booted with systemd; removed (with its volumes) on exit."""
    booted = Machine(unique_name(role))
    docker(
        "run", "-d", "--name", booted.name, "--hostname", role, *SYSTEMD_FLAGS, *extra_flags,
        "-v", f"{PROJECT_DIR}:{PROJECT_MOUNT}:ro", IMAGE,
    )  # fmt: skip
    try:
        booted.wait_until_booted()
        yield booted
    finally:
        docker("rm", "-f", "-v", booted.name, check=False)


@contextmanager
def machines_with_docker(*roles: str) -> Iterator[tuple[Machine, ...]]:
    """A checker machine per role, each running its own Docker engine (on a volume of its own)."""
    build_image()
    with ExitStack() as stack:
        booted = tuple(stack.enter_context(machine(role, DOCKER_FLAGS)) for role in roles)
        for each in booted:
            each.run("systemctl", "start", "docker.service")
        yield booted
