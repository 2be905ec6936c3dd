"""The files the program delivers to the machines, and the content hashes that version them.

A hash changes exactly when a file in the tree changes, so an unchanged payload is never delivered
or rebuilt twice and a changed one rolls out on the next `pulumi up`.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from infra import layout


@dataclass(frozen=True)
class PayloadTree:
    """A directory of the repository that lands at `<remote_parent>/<name>` on a machine.

    `remote_parent` must already exist (cloud-init creates it): CopyToRemote copies a directory
    into an existing one but makes a missing one the copy itself, so only an existing parent
    gives the same path on the first delivery and on every later one.
    """

    local_dir: Path
    remote_parent: str
    # An image's build context whose first stage is another image the hub builds first.
    builder: "PayloadTree | None" = None

    @property
    def name(self) -> str:
        return self.local_dir.name

    @property
    def remote_dir(self) -> str:
        return f"{self.remote_parent}/{self.name}"

    def content_hash(self) -> str:
        """Of the tree, and of its builder's: a changed builder is a changed image."""
        if self.builder is None:
            return content_hash(self.local_dir)
        return content_hash(self.local_dir, self.builder.local_dir)


IMAGES_DIR = layout.PROJECT_DIR / "images"
SCRIPTS = PayloadTree(layout.PROJECT_DIR / "scripts", layout.PAYLOAD_DIR)
NGINX = PayloadTree(layout.PROJECT_DIR / "nginx", layout.PAYLOAD_DIR)
# The build stage of the hub's and the notebook's Python packages.
VENV_BUILDER = PayloadTree(IMAGES_DIR / "venv-builder", layout.PAYLOAD_DIR)
HUB_IMAGE = PayloadTree(IMAGES_DIR / "hub", layout.PAYLOAD_DIR, builder=VENV_BUILDER)
PROXY_IMAGE = PayloadTree(IMAGES_DIR / "proxy", layout.PAYLOAD_DIR)
NOTEBOOK_IMAGE = PayloadTree(IMAGES_DIR / "notebook", layout.PAYLOAD_DIR, builder=VENV_BUILDER)
PROGRAM_PAYLOAD = (SCRIPTS, NGINX, VENV_BUILDER, HUB_IMAGE, PROXY_IMAGE, NOTEBOOK_IMAGE)


def materials_payload(materials_dir: Path) -> PayloadTree:
    """The course materials (camphub:materialsDir): to the NFS server, which publishes them
    onto the homes volume."""
    return PayloadTree(materials_dir, layout.PAYLOAD_DIR)


def site_payload(site_dir: Path) -> PayloadTree:
    """The organizer's landing pages (camphub:siteDir): to the hub, which publishes them."""
    return PayloadTree(site_dir, layout.PAYLOAD_DIR)


def content_hash(*directories: Path, length: int = 12) -> str:
    """A hash of every file's relative path and bytes, independent of timestamps and order."""
    digest = hashlib.sha256()
    for directory in directories:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:length]


def image_tag(tree: PayloadTree) -> str:
    return f"camphub/{tree.name}:{tree.content_hash()}"


def build_image_arguments(tree: PayloadTree, on_the_hub: bool = True) -> list[str]:
    """scripts/build-image's arguments for the image of `tree`, its builder's included, from the
    contexts where the program delivers them on the hub (else where they are in this checkout)."""

    def context(of: PayloadTree) -> str:
        return of.remote_dir if on_the_hub else str(of.local_dir)

    arguments = ["--context", context(tree), "--tag", image_tag(tree)]
    if tree.builder is not None:
        builder = tree.builder
        arguments += ["--builder-context", context(builder), "--builder-tag", image_tag(builder)]
    return arguments
