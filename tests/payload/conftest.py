"""The hub, proxy and notebook images, built once per test session from the real build contexts.

`camphub_images` builds them all (Docker's layer cache makes an unchanged rebuild take seconds) and
is what every live payload test uses, the live hub included.
"""

import os
import subprocess
from dataclasses import dataclass

import pytest

from infra.payload import HUB_IMAGE, NOTEBOOK_IMAGE, PROXY_IMAGE, PayloadTree, image_tag


@dataclass(frozen=True)
class Images:
    hub: str
    proxy: str
    notebook: str


def build_image(tree: PayloadTree) -> str:
    """Build the image under the tag the program gives it (its content hash, so a test run of
    another checkout on the same engine never replaces it) and return the tag; output shown on
    failure."""
    tag = image_tag(tree)
    builder = (
        []
        if tree.builder is None
        else ["--build-arg", f"BUILDER_IMAGE={build_image(tree.builder)}"]
    )
    # The classic builder: Debian's docker.io ships no buildx, and newer CLIs refuse BuildKit
    # without it. The Dockerfiles need nothing BuildKit-only.
    environment = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(
        ["docker", "build", "--tag", tag, *builder, str(tree.local_dir)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"docker build of {tree.name} failed:\n{result.stdout}\n{result.stderr}")
    return tag


@pytest.fixture(scope="session")
def camphub_images() -> Images:
    return Images(
        hub=build_image(HUB_IMAGE),
        proxy=build_image(PROXY_IMAGE),
        notebook=build_image(NOTEBOOK_IMAGE),
    )


@pytest.fixture(scope="session")
def notebook_image() -> str:
    """The notebook image alone, for the tests of a student's server by itself."""
    return build_image(NOTEBOOK_IMAGE)
