"""The hub and notebook images, built once per test session from the real build contexts.

`camphub_images` builds both (Docker's layer cache makes an unchanged rebuild take seconds) and
is what every live payload test uses, the live hub included.
"""

import os
import subprocess
from dataclasses import dataclass

import pytest

from infra.layout import PROJECT_DIR

IMAGES_DIR = PROJECT_DIR / "images"
# Only the images' own tags: the program tags by content hash, tests by this fixed suffix.
TEST_TAG = "test"


@dataclass(frozen=True)
class Images:
    hub: str
    notebook: str


def build_image(name: str) -> str:
    """Build images/<name> as camphub/<name>:test and return the tag; output shown on failure."""
    tag = f"camphub/{name}:{TEST_TAG}"
    # The classic builder: Debian's docker.io ships no buildx, and newer CLIs refuse BuildKit
    # without it. The Dockerfiles need nothing BuildKit-only.
    environment = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(
        ["docker", "build", "--tag", tag, str(IMAGES_DIR / name)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"docker build of images/{name} failed:\n{result.stdout}\n{result.stderr}")
    return tag


@pytest.fixture(scope="session")
def camphub_images() -> Images:
    return Images(hub=build_image("hub"), notebook=build_image("notebook"))


@pytest.fixture(scope="session")
def notebook_image() -> str:
    """The notebook image alone, for the tests of a student's server by itself."""
    return build_image("notebook")
