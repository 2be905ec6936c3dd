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

    @property
    def name(self) -> str:
        return self.local_dir.name

    @property
    def remote_dir(self) -> str:
        return f"{self.remote_parent}/{self.name}"

    def content_hash(self) -> str:
        return content_hash(self.local_dir)


SCRIPTS = PayloadTree(layout.PROJECT_DIR / "scripts", layout.PAYLOAD_DIR)
NGINX = PayloadTree(layout.PROJECT_DIR / "nginx", layout.PAYLOAD_DIR)
HUB_IMAGE = PayloadTree(layout.PROJECT_DIR / "images" / "hub", layout.PAYLOAD_DIR)
PROXY_IMAGE = PayloadTree(layout.PROJECT_DIR / "images" / "proxy", layout.PAYLOAD_DIR)
NOTEBOOK_IMAGE = PayloadTree(layout.PROJECT_DIR / "images" / "notebook", layout.PAYLOAD_DIR)
PROGRAM_PAYLOAD = (SCRIPTS, NGINX, HUB_IMAGE, PROXY_IMAGE, NOTEBOOK_IMAGE)


def materials_payload(materials_dir: Path) -> PayloadTree:
    """The course materials (camphub:materialsDir): to the NFS server, which publishes them
    onto the homes volume."""
    return PayloadTree(materials_dir, layout.PAYLOAD_DIR)


def content_hash(directory: Path, length: int = 12) -> str:
    """A hash of every file's relative path and bytes, independent of timestamps and order."""
    digest = hashlib.sha256()
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
