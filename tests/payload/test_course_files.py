"""Course materials end to end on one machine: publish-materials mirrors them onto a homes
volume, and the hub's pre-spawn hook copies what a student lacks into their home, never
overwriting or following anything the student made."""

import importlib.util
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra import layout

PUBLISH = layout.PROJECT_DIR / "scripts" / "publish-materials"
HUB_CONFIG = layout.PROJECT_DIR / "images" / "hub" / "jupyterhub_config.py"
UID, GID = layout.STUDENT_UID, layout.STUDENT_GID
STUDENT = "alice-40example-2eorg"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="both run as root on the machines")


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


@pytest.fixture
def hub_homes(tmp_path, source) -> Path:
    """The homes as the hub sees them, with the materials published beside them."""
    homes = tmp_path / "hub-homes"
    homes.mkdir()
    published = homes / layout.MATERIALS_DIRNAME
    subprocess.run(["cp", "-R", str(source), str(published)], check=True)
    return homes


def hub_with_materials(hub_homes: Path):
    """The hub's spawner config, from the settings sections the program writes."""
    config = load_hub_config()
    settings = config.Settings(
        {
            "homes": {"host_dir": str(hub_homes), "uid": UID, "gid": GID},
            "materials": {
                "host_dir": str(hub_homes / layout.MATERIALS_DIRNAME),
                "container_dir": layout.MATERIALS_CONTAINER_DIR,
                "home_subdir": layout.MATERIALS_HOME_SUBDIR,
            },
            "shared_data": {"host_dir": "/srv/data-on-host", "container_dir": "/srv/camp/data"},
        },
        "test settings",
    )
    c = SimpleNamespace(
        SwarmSpawner=SimpleNamespace(pre_spawn_hook=config.home_creator(str(hub_homes), UID, GID))
    )
    config.configure_course_files(c, settings)
    return c.SwarmSpawner


def spawn(spawner_config, name=STUDENT):
    spawner_config.pre_spawn_hook(SimpleNamespace(escaped_name=name))


class TestCopyIfMissing:
    def test_materials_are_read_only_in_every_container(self, hub_homes):
        spawner = hub_with_materials(hub_homes)
        assert spawner.read_only_volumes == {
            str(hub_homes / layout.MATERIALS_DIRNAME): layout.MATERIALS_CONTAINER_DIR,
            "/srv/data-on-host": "/srv/camp/data",
        }

    def test_first_start_copies_the_materials_owned_by_the_student(self, hub_homes, source):
        spawn(hub_with_materials(hub_homes))
        copy = hub_homes / STUDENT / layout.MATERIALS_HOME_SUBDIR
        assert tree(copy) == tree(source)
        for path in [copy, *copy.rglob("*")]:
            assert (path.stat().st_uid, path.stat().st_gid) == (UID, GID), path

    def test_a_students_edit_survives_an_update(self, hub_homes, source):
        spawner = hub_with_materials(hub_homes)
        spawn(spawner)
        copy = hub_homes / STUDENT / layout.MATERIALS_HOME_SUBDIR
        (copy / "README.ipynb").write_text("my own notes\n")
        (copy / "day1" / "intro.ipynb").unlink()
        published = hub_homes / layout.MATERIALS_DIRNAME
        (published / "README.ipynb").write_text('{"cells": ["teacher update"]}\n')
        (published / "day2").mkdir()
        (published / "day2" / "new.ipynb").write_text("{}\n")
        spawn(spawner)
        assert (copy / "README.ipynb").read_text() == "my own notes\n"
        assert (copy / "day2" / "new.ipynb").read_text() == "{}\n"
        # Deleted by the student: given back as the teachers have it.
        assert (copy / "day1" / "intro.ipynb").exists()

    def test_a_planted_symlink_is_never_followed(self, hub_homes, tmp_path):
        spawner = hub_with_materials(hub_homes)
        spawn(spawner, "bob-40example-2eorg")
        victim = tmp_path / "outside"
        victim.mkdir()
        home = hub_homes / STUDENT
        home.mkdir(mode=0o700)
        (home / layout.MATERIALS_HOME_SUBDIR).symlink_to(victim)
        spawn(spawner)
        assert list(victim.iterdir()) == []
        other = hub_homes / "carol-40example-2eorg" / layout.MATERIALS_HOME_SUBDIR
        other.mkdir(parents=True)
        (other / "README.ipynb").symlink_to(victim / "planted")
        spawn(spawner, "carol-40example-2eorg")
        assert not (victim / "planted").exists()

    def test_unpublished_materials_stop_the_spawn_with_a_clear_error(self, hub_homes):
        spawner = hub_with_materials(hub_homes)
        subprocess.run(["rm", "-rf", str(hub_homes / layout.MATERIALS_DIRNAME)], check=True)
        with pytest.raises(Exception, match=r"materials directory .* is missing"):
            spawn(spawner)

    def test_without_materials_settings_nothing_is_mounted_or_copied(self, hub_homes):
        config = load_hub_config()
        settings = config.Settings({"homes": {"host_dir": str(hub_homes)}}, "test settings")
        create_home = config.home_creator(str(hub_homes), UID, GID)
        c = SimpleNamespace(SwarmSpawner=SimpleNamespace(pre_spawn_hook=create_home))
        config.configure_course_files(c, settings)
        assert c.SwarmSpawner.read_only_volumes == {}
        assert c.SwarmSpawner.pre_spawn_hook is create_home


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
