"""Course materials on one machine: publish-materials mirrors them onto a homes volume, the hub
mounts them read-only into every container, and fetch-materials-repo checks out a course
repository. Copying them into each home is nfs-homes' work (test_nfs_homes.py)."""

import importlib.util
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from camphub_settings import CourseFiles

from infra import layout

PUBLISH = layout.PROJECT_DIR / "scripts" / "publish-materials"
HUB_CONFIG = layout.PROJECT_DIR / "images" / "hub" / "jupyterhub_config.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="they run as root on the machines")


def load_hub_config():
    spec = importlib.util.spec_from_file_location("camphub_hub_config", HUB_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publish(source: Path, homes: Path, *extra: str, mount=True) -> subprocess.CompletedProcess:
    command = ["bash", str(PUBLISH), "--source", str(source), "--homes-dir", str(homes)]
    command += ["--materials-name", layout.MATERIALS_DIRNAME, *extra]
    if mount:
        # In a private mount namespace, the homes directory is a mount point as on the server.
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" "$0" && exec "$@"', str(homes), *command]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def source(tmp_path) -> Path:
    source = tmp_path / "materials"
    (source / "day1").mkdir(parents=True)
    (source / "README.ipynb").write_text('{"cells": []}\n')
    (source / "day1" / "intro.ipynb").write_text('{"cells": [1]}\n')
    return source


@pytest.fixture
def homes(tmp_path) -> Path:
    homes = tmp_path / "homes"
    homes.mkdir()
    return homes


class TestPublishMaterials:
    def test_publishes_a_world_readable_root_owned_copy(self, source, homes):
        result = publish(source, homes)
        assert result.returncode == 0, result.stderr
        published = homes / layout.MATERIALS_DIRNAME
        assert tree(published) == tree(source)
        for path in [published, *published.rglob("*")]:
            mode = path.stat().st_mode & 0o777
            assert mode == (0o755 if path.is_dir() else 0o644), path
            assert (path.stat().st_uid, path.stat().st_gid) == (0, 0), path

    def test_a_second_run_changes_nothing(self, source, homes):
        assert publish(source, homes).returncode == 0
        before = {p: p.stat().st_mtime_ns for p in (homes / layout.MATERIALS_DIRNAME).rglob("*")}
        result = publish(source, homes)
        assert result.stdout.strip() == "publish-materials: nothing changed"
        after = {p: p.stat().st_mtime_ns for p in (homes / layout.MATERIALS_DIRNAME).rglob("*")}
        assert after == before

    def test_an_update_mirrors_changes_removals_and_additions_in_place(self, source, homes):
        assert publish(source, homes).returncode == 0
        published = homes / layout.MATERIALS_DIRNAME
        inode = published.stat().st_ino
        (source / "README.ipynb").write_text('{"cells": ["updated"]}\n')
        (source / "day1" / "intro.ipynb").unlink()
        (source / "day2").mkdir()
        (source / "day2" / "models.ipynb").write_text("{}\n")
        result = publish(source, homes)
        assert result.returncode == 0, result.stderr
        assert tree(published) == tree(source)
        # Running containers hold a bind mount of this very directory.
        assert published.stat().st_ino == inode

    def test_creates_the_shared_data_directory_for_its_owner_and_keeps_its_content(
        self, source, homes
    ):
        shared = ["--shared-data-name", layout.SHARED_DATA_DIRNAME, "--shared-data-owner", "nobody"]
        assert publish(source, homes, *shared).returncode == 0
        data = homes / layout.SHARED_DATA_DIRNAME
        assert data.stat().st_uid == int(subprocess.check_output(["id", "-u", "nobody"]))
        (data / "vectors.bin").write_bytes(b"\0" * 1024)
        result = publish(source, homes, *shared)
        assert result.stdout.strip() == "publish-materials: nothing changed"
        assert (data / "vectors.bin").read_bytes() == b"\0" * 1024

    def test_refuses_to_publish_onto_an_unmounted_directory(self, source, homes):
        result = publish(source, homes, mount=False)
        assert result.returncode != 0
        assert "is not a mount point" in result.stderr
        assert not (homes / layout.MATERIALS_DIRNAME).exists()


def course_files_mounts(materials: CourseFiles | None, shared_data: CourseFiles | None) -> dict:
    """The read-only mounts the hub gives every container for these settings sections (the only
    two it reads there)."""
    sections = SimpleNamespace(materials=materials, shared_data=shared_data)
    return load_hub_config().course_files_mounts(sections)


class TestHubMounts:
    def test_materials_and_shared_data_are_read_only_in_every_container(self):
        materials = CourseFiles(
            host_dir=f"/srv/homes/{layout.MATERIALS_DIRNAME}",
            container_dir=layout.MATERIALS_CONTAINER_DIR,
        )
        shared_data = CourseFiles(host_dir="/srv/data-on-host", container_dir="/srv/camp/data")
        assert course_files_mounts(materials, shared_data) == {
            f"/srv/homes/{layout.MATERIALS_DIRNAME}": layout.MATERIALS_CONTAINER_DIR,
            "/srv/data-on-host": "/srv/camp/data",
        }

    def test_without_their_settings_nothing_is_mounted(self):
        assert course_files_mounts(None, None) == {}


FETCH = layout.PROJECT_DIR / "scripts" / "fetch-materials-repo"


@pytest.fixture
def upstream(tmp_path) -> Path:
    """A course repository with tags v1 (a.txt, d/b.txt) and v2 (a.txt, c.txt)."""
    repo = tmp_path / "upstream"
    repo.mkdir()

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    (repo / "a.txt").write_text("one\n")
    (repo / "d").mkdir()
    (repo / "d" / "b.txt").write_text("two\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "v1")
    git("tag", "v1")
    git("rm", "-q", "d/b.txt")
    (repo / "c.txt").write_text("three\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "v2")
    git("tag", "v2")
    return repo


class TestFetchMaterialsRepo:
    def fetch(self, upstream: Path, ref: str) -> subprocess.CompletedProcess:
        work = upstream.parent
        command = ["bash", str(FETCH), "--url", f"file://{upstream}", "--ref", ref]
        command += ["--git-dir", str(work / "repo.git"), "--work-tree", str(work / "checkout")]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    def test_checks_out_the_ref_without_git_metadata(self, upstream):
        result = self.fetch(upstream, "v1")
        assert result.returncode == 0, result.stderr
        assert tree(upstream.parent / "checkout") == {
            "a.txt": b"one\n",
            "d": None,
            "d/b.txt": b"two\n",
        }
        assert self.fetch(upstream, "v1").stdout.strip() == "fetch-materials-repo: nothing changed"

    def test_a_new_ref_leaves_exactly_its_files(self, upstream):
        assert self.fetch(upstream, "v1").returncode == 0
        (upstream.parent / "checkout" / "stray.txt").write_text("left over\n")
        result = self.fetch(upstream, "v2")
        assert "checked out" in result.stdout
        assert tree(upstream.parent / "checkout") == {"a.txt": b"one\n", "c.txt": b"three\n"}

    def test_an_unknown_ref_fails_and_keeps_the_checkout(self, upstream):
        assert self.fetch(upstream, "v1").returncode == 0
        result = self.fetch(upstream, "v9")
        assert result.returncode != 0
        assert "could not fetch v9" in result.stderr
        assert (upstream.parent / "checkout" / "d" / "b.txt").exists()
