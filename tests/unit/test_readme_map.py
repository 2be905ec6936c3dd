"""README's map of the project ("How it is built") names every folder and every module of the
program and of the local cloud, and every path it names exists: the map a newcomer reads matches
the tree."""

import re
import subprocess

import pytest

from infra.layout import PROJECT_DIR

MAP_HEADING = "## How it is built"
# Files at the top that are not the program's own parts.
NOT_IN_THE_MAP = {
    ".ci",
    ".gitignore",
    "pyproject.toml",
    "requirements.txt",
    "requirements-dev.txt",
    "README.md",
}


def map_paths() -> set[str]:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split(MAP_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {path for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])}


def tracked_top_level() -> set[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    return {line.split("/", 1)[0] for line in listing.splitlines()}


def test_every_folder_and_top_level_file_of_the_project_is_on_the_map():
    named = {path.rstrip("/").split("/", 1)[0] for path in map_paths()}
    missing = tracked_top_level() - NOT_IN_THE_MAP - named
    assert not missing, f"README's map does not name: {sorted(missing)}"


@pytest.mark.parametrize("folder", ["infra", "rehearsal"])
def test_every_module_of_the_program_and_of_the_local_cloud_is_on_the_map(folder):
    """The program's modules, and rehearsal/'s at a glance: what plays each part of AWS."""
    named = map_paths()
    modules = {
        f"{folder}/{path.name}"
        for path in (PROJECT_DIR / folder).glob("*.py")
        if path.name != "__init__.py"
    }
    assert not modules - named, f"README's map does not name: {sorted(modules - named)}"


def test_every_path_on_the_map_exists():
    missing = [path for path in map_paths() if not (PROJECT_DIR / path).exists()]
    assert not missing, f"README's map names paths that do not exist: {missing}"
