"""Images the local cloud builds on this machine, on the local Debian base image: the instance
image (what an EC2 machine boots) and the stand-ins' own (the package cache, Pebble), each tagged
by the content it is built from, so an unchanged one is never built again.
"""

import hashlib
from pathlib import Path

from rehearsal.docker_cli import PREFIX, docker, exists

INSTANCE_IMAGE_DIR = Path(__file__).resolve().parent / "instance"
BASE_IMAGE = "debian:trixie-slim"


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


def build_image(context: Path, tag: str, *build_args: str) -> str:
    """Builds `context` on the local base image as `tag`, unless that tag exists already;
    `build_args` are more NAME=VALUE build arguments."""
    if not exists("image", tag):
        arguments = [f"BASE_IMAGE={BASE_IMAGE}", *build_args]
        docker(
            "build", "--quiet", *(f"--build-arg={a}" for a in arguments), "-t", tag, str(context)
        )
    return tag
