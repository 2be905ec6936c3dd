"""scripts/nfs-homes: its pure parts (the homes list, the snapshots' names and keeping), and, as
root on a plain directory, making the homes and copying the materials into them as the student,
never over or through anything a student made."""

import datetime
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from script_modules import load_script

from infra import layout

nfs_homes = load_script("nfs-homes")
NFS_HOMES = layout.PROJECT_DIR / "scripts" / "nfs-homes"
UID, GID = layout.STUDENT_UID, layout.STUDENT_GID
STUDENT = "alice-40example-2eorg"
GIB = 1024**3

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="nfs-homes runs as root on the server")


def homes_json(*entries: dict) -> str:
    return json.dumps({"homes": list(entries)})


class TestParseHomes:
    def test_reads_each_home_with_its_limit(self):
        text = homes_json(
            {"user": "alice@example.org", "dir": STUDENT, "limit_bytes": 10 * GIB},
            {"user": "t@example.org", "dir": "t-40example-2eorg", "limit_bytes": None},
            {"dir": "bob-40example-2eorg"},
        )
        assert nfs_homes.parse_homes(text) == [
            nfs_homes.Home("alice@example.org", STUDENT, 10 * GIB),
            nfs_homes.Home("t@example.org", "t-40example-2eorg", None),
            nfs_homes.Home("bob-40example-2eorg", "bob-40example-2eorg", None),
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("not json", "not JSON"),
            ("[]", "must be"),
            ('{"users": []}', "must be"),
            (homes_json({"dir": "Alice"}), "entry 1: 'dir' must be"),
            (homes_json({"dir": layout.SNAPSHOTS_DIRNAME}), "entry 1: 'dir' must be"),
            (homes_json({"dir": "../etc"}), "entry 1: 'dir' must be"),
            (homes_json({"dir": ""}), "entry 1: 'dir' must be"),
            (homes_json("alice"), "entry 1: 'dir' must be"),
            (homes_json({"dir": "a"}, {"dir": "a"}), "entry 2: 'dir' must be a new name"),
            (homes_json({"dir": "a", "limit_bytes": 0}), "entry 1: 'limit_bytes' must be"),
            (homes_json({"dir": "a", "limit_bytes": -1}), "entry 1: 'limit_bytes' must be"),
            (homes_json({"dir": "a", "limit_bytes": "10"}), "entry 1: 'limit_bytes' must be"),
            (homes_json({"dir": "a", "limit_bytes": 1.5}), "entry 1: 'limit_bytes' must be"),
            (homes_json({"dir": "a", "limit_bytes": True}), "entry 1: 'limit_bytes' must be"),
        ],
    )
    def test_refuses_a_malformed_list(self, text, message):
        with pytest.raises(nfs_homes.HomesError, match=message):
            nfs_homes.parse_homes(text)


def hourly_names(days: int) -> list[str]:
    """One snapshot name an hour for `days` days from 1 Dec 2026 00:00 UTC, oldest first."""
    start = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    return [
        (start + datetime.timedelta(hours=hour)).strftime(nfs_homes.SNAPSHOT_NAME_FORMAT)
        for hour in range(days * 24)
    ]


class TestSnapshotNames:
    def test_a_name_is_its_utc_minute(self):
        assert nfs_homes.snapshot_time("2026-12-03_13-05") == datetime.datetime(
            2026, 12, 3, 13, 5, tzinfo=datetime.UTC
        )

    @pytest.mark.parametrize(
        "name", ["latest", "2026-12-03", "2026-12-03_13-05.tmp", ".2026-12-03_13-05", "x" * 16]
    )
    def test_other_names_are_no_snapshots(self, name):
        assert nfs_homes.snapshot_time(name) is None

    def test_ten_days_of_hourly_snapshots_keep_the_newest_24_and_one_a_day_for_7_days(self):
        names = hourly_names(10)
        kept = nfs_homes.to_keep(names, keep_hourly=24, keep_daily=7)
        newest_day = {f"2026-12-10_{hour:02d}-00" for hour in range(24)}
        # Days 10 to 4: day 10's newest is among the 24 already.
        one_a_day = {f"2026-12-{day:02d}_23-00" for day in range(4, 11)}
        assert kept == newest_day | one_a_day
        assert len(kept) == 30

    def test_fewer_snapshots_than_the_limits_are_all_kept(self):
        names = hourly_names(1)[:5]
        assert nfs_homes.to_keep(names, keep_hourly=24, keep_daily=7) == set(names)

    def test_daily_keeping_counts_days_not_snapshots(self):
        names = hourly_names(3)
        kept = nfs_homes.to_keep(names, keep_hourly=2, keep_daily=2)
        assert kept == {"2026-12-03_22-00", "2026-12-03_23-00", "2026-12-02_23-00"}

    def test_keeping_nothing_keeps_nothing(self):
        assert nfs_homes.to_keep(hourly_names(2), keep_hourly=0, keep_daily=0) == set()


@pytest.fixture
def volume() -> Iterator[Path]:
    """A homes volume the student can reach as on the server: its parents open to all."""
    with tempfile.TemporaryDirectory(prefix="nfs-homes-") as root:
        Path(root).chmod(0o755)
        homes = Path(root) / "homes"
        homes.mkdir(mode=0o755)
        yield homes


@pytest.fixture
def materials(volume) -> Path:
    """The published materials beside the homes, root's and world-readable."""
    published = volume / layout.MATERIALS_DIRNAME
    (published / "day1").mkdir(parents=True)
    (published / "README.ipynb").write_text('{"cells": []}\n')
    (published / "day1" / "intro.ipynb").write_text('{"cells": [1]}\n')
    return published


def make_homes(volume: Path, *dirs: str) -> list[str]:
    """HomeMaker without quotas (a plain directory, as on an ext4 volume); returns its changes."""
    homes_layout = nfs_homes.Layout(volume, layout.SNAPSHOTS_DIRNAME, layout.USAGE_DIRNAME)
    maker = nfs_homes.HomeMaker(homes_layout, UID, GID, layout.SNAPSHOTS_CONTAINER_DIR, False)
    for name in dirs:
        maker.make(nfs_homes.Home(f"{name}@example.org", name, None))
    return maker.changes


def copy_materials(volume: Path, home: str = STUDENT) -> int:
    """What `make` does for each home: copies as the student."""
    with nfs_homes.as_user(UID, GID):
        return nfs_homes.copy_missing(
            volume / layout.MATERIALS_DIRNAME, volume / home / layout.MATERIALS_HOME_SUBDIR
        )


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def owner(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid


@as_root
class TestHomeMaker:
    def test_makes_a_private_home_owned_by_the_student_with_its_snapshots_link(self, volume):
        assert make_homes(volume, STUDENT) == [f"made {STUDENT}@example.org's home"]
        home = volume / STUDENT
        assert owner(home) == (UID, GID)
        assert home.stat().st_mode & 0o777 == 0o700
        link = home / nfs_homes.LINK_NAME
        assert os.readlink(link) == layout.SNAPSHOTS_CONTAINER_DIR
        assert owner(link) == (UID, GID)
        for kind in (layout.SNAPSHOTS_DIRNAME, layout.USAGE_DIRNAME):
            beside = volume / kind / STUDENT
            assert owner(beside) == (0, 0), kind
            assert beside.stat().st_mode & 0o777 == 0o755, kind

    def test_a_second_run_changes_nothing_and_keeps_the_students_files(self, volume):
        make_homes(volume, STUDENT)
        home = volume / STUDENT
        (home / nfs_homes.LINK_NAME).unlink()
        (home / nfs_homes.LINK_NAME).write_text("my own file called snapshots\n")
        os.chown(home / nfs_homes.LINK_NAME, UID, GID)
        (home / "work.ipynb").write_text("{}")
        assert make_homes(volume, STUDENT) == []
        assert (home / nfs_homes.LINK_NAME).read_text() == "my own file called snapshots\n"
        assert (home / "work.ipynb").read_text() == "{}"

    def test_refuses_a_home_that_is_not_a_real_directory(self, volume, tmp_path):
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (volume / STUDENT).symlink_to(elsewhere)
        with pytest.raises(nfs_homes.HomesError, match="is not a directory; move it away"):
            make_homes(volume, STUDENT)
        assert list(elsewhere.iterdir()) == []


@as_root
class TestCopyMissing:
    def test_the_first_copy_is_all_the_materials_owned_by_the_student(self, volume, materials):
        make_homes(volume, STUDENT)
        assert copy_materials(volume) == 2
        copy = volume / STUDENT / layout.MATERIALS_HOME_SUBDIR
        assert tree(copy) == tree(materials)
        for path in [copy, *copy.rglob("*")]:
            assert owner(path) == (UID, GID), path

    def test_a_students_edit_survives_an_update_and_a_deleted_file_comes_back(
        self, volume, materials
    ):
        make_homes(volume, STUDENT)
        copy_materials(volume)
        copy = volume / STUDENT / layout.MATERIALS_HOME_SUBDIR
        (copy / "README.ipynb").write_text("my own notes\n")
        (copy / "day1" / "intro.ipynb").unlink()
        (materials / "README.ipynb").write_text('{"cells": ["teacher update"]}\n')
        (materials / "day2").mkdir()
        (materials / "day2" / "new.ipynb").write_text("{}\n")
        assert copy_materials(volume) == 2
        assert (copy / "README.ipynb").read_text() == "my own notes\n"
        assert (copy / "day2" / "new.ipynb").read_text() == "{}\n"
        assert (copy / "day1" / "intro.ipynb").read_text() == '{"cells": [1]}\n'
        assert copy_materials(volume) == 0

    def test_a_planted_symlink_is_never_followed(self, volume, materials, tmp_path):
        # Writable by anyone, so only not following the links keeps it empty; and below a
        # directory the student cannot enter, so the copy must not even look through them.
        victim = tmp_path / "outside"
        victim.mkdir(mode=0o777)
        victim.chmod(0o777)
        make_homes(volume, STUDENT, "carol-40example-2eorg")
        (volume / STUDENT / layout.MATERIALS_HOME_SUBDIR).symlink_to(victim)
        assert copy_materials(volume) == 0
        other = volume / "carol-40example-2eorg" / layout.MATERIALS_HOME_SUBDIR
        other.mkdir()
        os.chown(other, UID, GID)
        (other / "README.ipynb").symlink_to(victim / "planted")
        (other / "day1").symlink_to(victim)
        assert copy_materials(volume, "carol-40example-2eorg") == 0
        assert list(victim.iterdir()) == []

    def test_only_real_directories_are_entered(self, volume, materials):
        make_homes(volume, STUDENT)
        copy = volume / STUDENT / layout.MATERIALS_HOME_SUBDIR
        copy.mkdir()
        (copy / "day1").write_text("a file where the teachers have a folder\n")
        for path in (copy, copy / "day1"):
            os.chown(path, UID, GID)
        assert copy_materials(volume) == 1
        assert (copy / "day1").read_text() == "a file where the teachers have a folder\n"
        assert (copy / "README.ipynb").exists()

    def test_links_in_the_materials_are_not_copied(self, volume, materials):
        (materials / "secrets").symlink_to("/etc")
        (materials / "shadow").symlink_to("/etc/shadow")
        make_homes(volume, STUDENT)
        copy_materials(volume)
        copy = volume / STUDENT / layout.MATERIALS_HOME_SUBDIR
        assert sorted(p.name for p in copy.iterdir()) == ["README.ipynb", "day1"]


@as_root
def test_a_home_whose_materials_folder_is_locked_is_skipped_and_the_others_get_theirs(
    volume, materials
):
    make_homes(volume, "locked", "open")
    homes = [nfs_homes.Home(f"{name}@example.org", name, None) for name in ("locked", "open")]
    locked = volume / "locked" / layout.MATERIALS_HOME_SUBDIR
    locked.mkdir()
    os.chown(locked, UID, GID)
    locked.chmod(0o555)
    homes_layout = nfs_homes.Layout(volume, layout.SNAPSHOTS_DIRNAME, layout.USAGE_DIRNAME)
    changes = nfs_homes.copy_materials(
        materials, homes, homes_layout, layout.MATERIALS_HOME_SUBDIR, UID, GID
    )
    assert changes == [
        "WARNING: no new materials for locked@example.org (Permission denied)",
        "2 materials files to open@example.org",
    ]
    assert list(locked.iterdir()) == []


@as_root
@pytest.mark.parametrize(
    "command", [["snapshot", "--keep-hourly", "24", "--keep-daily", "7"], ["usage"]]
)
def test_the_timers_refuse_a_homes_directory_with_no_volume_mounted(volume, command):
    """After a reboot that did not mount the volume, the directory is the root disk's: the timer's
    run fails (systemd shows it) instead of reporting success on the wrong disk."""
    locations = ["--homes-dir", str(volume), "--snapshots-name", layout.SNAPSHOTS_DIRNAME,
                 "--usage-name", layout.USAGE_DIRNAME]  # fmt: skip
    result = subprocess.run(
        [str(NFS_HOMES), command[0], *locations, *command[1:]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is not mounted: run nfs-export first" in result.stderr


@as_root
def test_make_reports_and_copies_as_the_student_on_a_mounted_volume(volume, materials):
    """The whole command, on a volume of its own as on the server (a tmpfs, in a private mount
    namespace, so the test reads back what it needs before the namespace goes)."""
    command = [
        str(NFS_HOMES), "make", "--homes-dir", str(volume), "--uid", str(UID), "--gid", str(GID),
        "--snapshots-name", layout.SNAPSHOTS_DIRNAME, "--usage-name", layout.USAGE_DIRNAME,
        "--snapshots-link", layout.SNAPSHOTS_CONTAINER_DIR,
        "--materials-name", layout.MATERIALS_DIRNAME,
        "--materials-subdir", layout.MATERIALS_HOME_SUBDIR,
    ]  # fmt: skip
    stdin = homes_json({"user": "alice@example.org", "dir": STUDENT, "limit_bytes": GIB})
    unmounted = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    assert unmounted.returncode != 0
    assert "is not mounted: run nfs-export first" in unmounted.stderr
    published = volume.parent / "published"
    materials.rename(published)
    copied = f"{volume}/{STUDENT}/{layout.MATERIALS_HOME_SUBDIR}/day1/intro.ipynb"
    script = (
        'homes=$1 published=$2 copied=$3; shift 3; mount -t tmpfs -o mode=0755 homes "$homes"'
        f' && cp -R "$published" "$homes/{layout.MATERIALS_DIRNAME}"'
        ' && "$@" && stat -c "owner %u:%g" "$copied"'
    )
    in_namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                    "sh", str(volume), str(published), copied, *command]  # fmt: skip
    result = subprocess.run(in_namespace, input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report, ownership = result.stdout.splitlines()
    assert report.startswith(
        "nfs-homes: 1 homes; made alice@example.org's home; 2 materials files to alice@example.org"
    )
    assert "WARNING: the homes volume is not btrfs" in report
    assert ownership == f"owner {UID}:{GID}"
