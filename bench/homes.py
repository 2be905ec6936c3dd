"""The homes benchmark: limits and snapshots on a btrfs volume, on this machine.

    sudo .venv/bin/python -m bench.homes [--homes 200] [--mb-per-home 50]

Runs the real scripts/nfs-homes, as a subprocess as the bootstrap step and the timers do, on
btrfs filesystems in sparse loop files in a temporary directory (made as scripts/nfs-export
makes the homes volume: mkfs.btrfs defaults, mounted noatime, quota groups on), and measures:
1. the class-list sync (`nfs-homes make`, stdin {"homes": [...]} with each home's limit): from
   scratch, then again with nothing to do;
2. a snapshot round (`nfs-homes snapshot`) of every home holding --mb-per-home MiB of random
   data in 10 files; then one file of ten in every home rewritten with new random data, a second
   round, and the space the snapshots then hold on their own: the quota groups' exclusive bytes
   of every snapshot subvolume, summed, after `btrfs filesystem sync` and again after
   `btrfs quota rescan -w`; also the time of one `nfs-homes usage` (run every minute);
3. write throughput: --write-gib GiB written and fsynced into a home with a limit (a subvolume
   made by nfs-homes with a qgroup limit, on a fresh quota-enabled btrfs) against a plain
   directory on a fresh btrfs without quotas, both in loop files on a tmpfs (--memory-dir), so
   that what is compared is the filesystem's own work, not a shared disk's spread; --runs each,
   interleaved, medians. For reference, on disk: a home of the populated volume of 1 and 2
   (every home and its snapshots in quota groups) against a plain directory on a fresh btrfs
   without quotas.
Prints a table; writes every figure to bench/results/homes-<UTC time>.json. Needs root, losetup,
mkfs.btrfs and a kernel with btrfs. Mounts and loop devices are removed whatever happens.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.records import save
from infra import layout
from infra.config import DEFAULTS
from infra.userlist import ClassList, Member

ROOT = Path(__file__).resolve().parent.parent
NFS_HOMES = ROOT / "scripts" / "nfs-homes"
# As the timers run it (scripts/units/camphub-home-*.service).
PYTHON = "/usr/bin/python3"
MIB, GIB = 1024**2, 1024**3
FILES_PER_HOME = 10
# The stack defaults (nfs.homeQuotaGb, nfs.snapshotKeepHourly, nfs.snapshotKeepDaily).
# The stack's default limit per home (camphub:nfs.homeQuotaGb).
HOME_LIMIT_GB = DEFAULTS["nfs"]["homeQuotaGb"]
KEEP_HOURLY, KEEP_DAILY = 24, 7
FS_LABEL = "camphub-homes"
WRITE_CHUNK = 4 * MIB
TARGET_RATIO = 1.1


def homes_json(count: int, limit_gb: int) -> dict:
    """What the make-homes step sends for a class of students studentNNN@bench.camp, each with
    the stack's default limit: the program's own ClassList.as_homes_json."""
    members = tuple(Member(f"student{n:03d}@bench.camp", admin=False) for n in range(1, count + 1))
    return ClassList(members).as_homes_json(limit_gb)


def exclusive_bytes_under(listing: str, prefix: str) -> tuple[int, int]:
    """(how many subvolumes, their exclusive bytes summed) of the subvolumes whose path starts
    with `prefix`, from `btrfs qgroup show -re --raw`."""
    count = total = 0
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0].startswith("0/") and fields[5].startswith(prefix):
            count += 1
            total += int(fields[2])
    return count, total


def referenced_bytes_of(listing: str, names: set[str]) -> int:
    """The referenced bytes of the named subvolumes summed, from `btrfs qgroup show -re --raw`."""
    total = 0
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0].startswith("0/") and fields[5] in names:
            total += int(fields[1])
    return total


def run(*command: str, stdin: str | None = None) -> str:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def timed(*command: str, stdin: str | None = None) -> tuple[float, str]:
    began = time.perf_counter()
    output = run(*command, stdin=stdin)
    return time.perf_counter() - began, output.strip()


def nfs_homes(command: str, volume: Path, *args: str, stdin: str | None = None):
    return timed(
        PYTHON,
        str(NFS_HOMES),
        command,
        "--homes-dir",
        str(volume),
        "--snapshots-name",
        layout.SNAPSHOTS_DIRNAME,
        "--usage-name",
        layout.USAGE_DIRNAME,
        *args,
        stdin=stdin,
    )


def work_dir(parent: str | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix="camphub-bench-homes-", dir=parent))
    # nfs-homes makes each home's `snapshots` link as the student, who must reach the home.
    path.chmod(0o755)
    return path


def btrfs_volume(stack: ExitStack, work: Path, name: str, size: int, quotas: bool) -> Path:
    """A fresh btrfs in a sparse file of `size` bytes, loop-mounted at work/name until `stack`
    closes."""
    image, mount = work / f"{name}.img", work / name
    with open(image, "wb") as sparse:
        sparse.truncate(size)
    run("mkfs.btrfs", "-q", "-L", FS_LABEL, str(image))
    device = run("losetup", "--find", "--show", str(image)).strip()
    stack.callback(run, "losetup", "--detach", device)
    mount.mkdir()
    run("mount", "-o", "noatime", device, str(mount))
    stack.callback(run, "umount", str(mount))
    if quotas:
        run("btrfs", "quota", "enable", str(mount))
    return mount


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def qgroups(volume: Path) -> str:
    return run("btrfs", "qgroup", "show", "-re", "--raw", str(volume))


def fs_sync(volume: Path) -> None:
    run("btrfs", "filesystem", "sync", str(volume))


def write_file(path: Path, size: int, data: bytes) -> None:
    with open(path, "wb") as out:
        for start in range(0, size, len(data)):
            out.write(data[: min(len(data), size - start)])


def fill_homes(volume: Path, homes: list[str], file_bytes: int) -> float:
    began = time.perf_counter()
    for home in homes:
        for n in range(FILES_PER_HOME):
            write_file(volume / home / f"data{n}.bin", file_bytes, os.urandom(file_bytes))
    fs_sync(volume)
    return time.perf_counter() - began


def rewrite_one_file_each(volume: Path, homes: list[str], file_bytes: int) -> float:
    """One file of ten in every home replaced by new random data, as a student saving it."""
    began = time.perf_counter()
    for home in homes:
        write_file(volume / home / "data0.bin", file_bytes, os.urandom(file_bytes))
    fs_sync(volume)
    return time.perf_counter() - began


def snapshot_name(report_line: str) -> str:
    # "nfs-homes: snapshot 2026-12-03_13-00 of 200 homes; ..."
    return report_line.split()[2]


def wait_for_next_minute(after_name: str) -> float:
    """Snapshots are named by the UTC minute and a round skips a name already taken: waits until
    the minute has changed since `after_name`; returns how long it waited."""
    began = time.perf_counter()
    while datetime.now(UTC).strftime("%Y-%m-%d_%H-%M") == after_name:
        time.sleep(0.5)
    return time.perf_counter() - began


def snapshot_space(volume: Path, homes: list[str]) -> dict:
    listing = qgroups(volume)
    count, exclusive = exclusive_bytes_under(listing, f"{layout.SNAPSHOTS_DIRNAME}/")
    homes_data = referenced_bytes_of(listing, set(homes))
    return {
        "snapshots": count,
        "snapshot_exclusive_bytes": exclusive,
        "homes_referenced_bytes": homes_data,
        "fraction_of_homes_data": round(exclusive / homes_data, 4),
    }


def write_seconds(directory: Path, size: int, data: bytes) -> float:
    """Seconds to write `size` bytes into a new file and fsync it; the file is then removed."""
    path = directory / "throughput.bin"
    began = time.perf_counter()
    with open(path, "wb") as out:
        for start in range(0, size, len(data)):
            out.write(data[: min(len(data), size - start)])
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - began
    path.unlink()
    fs_sync(directory)
    return seconds


def throughput(targets: dict[str, Path], size: int, runs: int) -> dict:
    data = os.urandom(WRITE_CHUNK)
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for run_number in range(runs):
        # Each run starts with the next target, so that none always follows the same one.
        for name in names[run_number % len(names) :] + names[: run_number % len(names)]:
            directory = targets[name]
            seconds[name].append(round(write_seconds(directory, size, data), 3))
    figures = {}
    for name, times in seconds.items():
        median = round(statistics.median(times), 3)
        figures[name] = {
            "seconds": times,
            "median_seconds": median,
            "median_mib_per_second": round(size / MIB / median, 1),
        }
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.homes", description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--mb-per-home", type=int, default=50, help="MiB of data in each home")
    parser.add_argument("--write-gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--memory-dir",
        default="/dev/shm",
        help="a tmpfs for the loop files of the two fresh volumes the write target compares",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must run as root (it makes loop devices and mounts)")
    load_before = load_average()
    data_bytes = args.homes * args.mb_per_home * MIB
    # Room for the data, the rewritten tenth, the metadata (DUP) and the --min-free-percent 10.
    homes_volume_bytes = max(24 * GIB, 2 * data_bytes)
    write_bytes = int(args.write_gib * GIB)
    work = work_dir(None)
    try:
        with ExitStack() as stack:
            report = measure(args, stack, work, homes_volume_bytes, write_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["machine"] = {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "kernel": os.uname().release,
        "btrfs_progs": run("btrfs", "--version").strip(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    print_table(report)
    print(f"results: {save(report, 'homes')}")
    return 0


def measure(
    args: argparse.Namespace, stack: ExitStack, work: Path, homes_volume_bytes: int, size: int
) -> dict:
    volume = btrfs_volume(stack, work, "homes", homes_volume_bytes, True)
    listed = homes_json(args.homes, HOME_LIMIT_GB)
    homes = [home["dir"] for home in listed["homes"]]
    make_args = (
        *("--uid", str(layout.STUDENT_UID), "--gid", str(layout.STUDENT_GID)),
        *("--snapshots-link", layout.SNAPSHOTS_CONTAINER_DIR),
    )
    stdin = json.dumps(listed)
    make_first, make_first_out = nfs_homes("make", volume, *make_args, stdin=stdin)
    make_again, make_again_out = nfs_homes("make", volume, *make_args, stdin=stdin)
    file_bytes = args.mb_per_home * MIB // FILES_PER_HOME
    fill = fill_homes(volume, homes, file_bytes)
    keep = ("--keep-hourly", str(KEEP_HOURLY), "--keep-daily", str(KEEP_DAILY))
    first_round, first_out = nfs_homes("snapshot", volume, *keep)
    fs_sync(volume)
    after_first = snapshot_space(volume, homes)
    rewrite = rewrite_one_file_each(volume, homes, file_bytes)
    waited = wait_for_next_minute(snapshot_name(first_out))
    second_round, second_out = nfs_homes("snapshot", volume, *keep)
    fs_sync(volume)
    after_sync = snapshot_space(volume, homes)
    rescan_began = time.perf_counter()
    run("btrfs", "quota", "rescan", "-w", str(volume))
    rescan = time.perf_counter() - rescan_began
    after_rescan = snapshot_space(volume, homes)
    usage_seconds, usage_out = nfs_homes("usage", volume)

    # The pair compared against the target lives in memory: on disk, the disk's own spread
    # (neighbours' I/O) swamps what quota groups cost.
    memory = work_dir(args.memory_dir)
    stack.callback(shutil.rmtree, memory, ignore_errors=True)
    quota_volume = btrfs_volume(stack, memory, "quota", 4 * size + GIB, True)
    plain_volume = btrfs_volume(stack, memory, "plain", 4 * size + GIB, False)
    plain_disk_volume = btrfs_volume(stack, work, "plain", 4 * size + GIB, False)
    limited = {"user": "writer@bench.camp", "dir": "writer-40bench-2ecamp"}
    limit = 4 * size
    nfs_homes(
        "make",
        quota_volume,
        *make_args,
        stdin=json.dumps({"homes": [{**limited, "limit_bytes": limit}]}),
    )
    for plain in (plain_volume, plain_disk_volume):
        (plain / limited["dir"]).mkdir()
    writes = throughput(
        {
            "limited": quota_volume / limited["dir"],
            "plain": plain_volume / limited["dir"],
            "limited_populated_disk": volume / homes[0],
            "plain_disk": plain_disk_volume / limited["dir"],
        },
        size,
        args.runs,
    )
    ratio = writes["limited"]["median_seconds"] / writes["plain"]["median_seconds"]
    populated_ratio = (
        writes["limited_populated_disk"]["median_seconds"] / writes["plain_disk"]["median_seconds"]
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "homes": args.homes,
            "mib_per_home": args.mb_per_home,
            "files_per_home": FILES_PER_HOME,
            "home_limit_bytes": HOME_LIMIT_GB * GIB,
            "homes_volume_bytes": homes_volume_bytes,
            "write_bytes": size,
            "write_limit_bytes": limit,
            "runs": args.runs,
            "memory_dir": args.memory_dir,
        },
        "sync": {
            "from_scratch_seconds": round(make_first, 2),
            "nothing_to_do_seconds": round(make_again, 2),
            "from_scratch_report": make_first_out[:300],
            "nothing_to_do_report": make_again_out[:300],
        },
        "snapshots": {
            "fill_seconds": round(fill, 1),
            "first_round_seconds": round(first_round, 2),
            "first_round_report": first_out,
            "after_first_round": after_first,
            "rewrite_seconds": round(rewrite, 1),
            "waited_for_next_minute_seconds": round(waited, 1),
            "second_round_seconds": round(second_round, 2),
            "second_round_report": second_out,
            "after_second_round_synced": after_sync,
            "after_second_round_rescanned": after_rescan,
            "rescan_seconds": round(rescan, 2),
            "usage_seconds": round(usage_seconds, 2),
            "usage_report": usage_out,
        },
        "write": {
            **writes,
            "limited_over_plain": round(ratio, 3),
            "limited_populated_over_plain_disk": round(populated_ratio, 3),
            "target": TARGET_RATIO,
            "met": ratio <= TARGET_RATIO,
        },
    }


def print_table(report: dict) -> None:
    p, sync, snaps, write = (
        report["parameters"],
        report["sync"],
        report["snapshots"],
        report["write"],
    )
    space = snaps["after_second_round_rescanned"]
    synced = snaps["after_second_round_synced"]
    rows = [
        (f"make {p['homes']} homes with limits, from scratch", f"{sync['from_scratch_seconds']} s"),
        ("make again, nothing to do", f"{sync['nothing_to_do_seconds']} s"),
        (
            f"snapshot round 1 ({p['homes']} x {p['mib_per_home']} MiB)",
            f"{snaps['first_round_seconds']} s",
        ),
        ("snapshot round 2 (after 10 % rewritten)", f"{snaps['second_round_seconds']} s"),
        (
            f"snapshots' exclusive space ({space['snapshots']} snapshots, after rescan)",
            f"{space['snapshot_exclusive_bytes']} B = {space['fraction_of_homes_data']:.1%} of "
            f"{space['homes_referenced_bytes']} B",
        ),
        (
            "  the same after filesystem sync only",
            f"{synced['snapshot_exclusive_bytes']} B = {synced['fraction_of_homes_data']:.1%}",
        ),
        ("nfs-homes usage (every minute)", f"{snaps['usage_seconds']} s"),
    ]
    for name in ("limited", "plain", "limited_populated_disk", "plain_disk"):
        figures = write[name]
        rows.append(
            (
                f"write {p['write_bytes'] / GIB:g} GiB + fsync: {name}",
                f"median {figures['median_seconds']} s ({figures['median_mib_per_second']} MiB/s)"
                f", runs {figures['seconds']}",
            )
        )
    rows.append(
        (
            "limited / plain in memory (target <= 1.1)",
            f"{write['limited_over_plain']} ({'met' if write['met'] else 'NOT met'}); on disk, "
            f"populated / plain {write['limited_populated_over_plain_disk']}",
        )
    )
    machine = report["machine"]
    rows.append(
        (
            "load average before / after",
            f"{machine['load_average_before']} / {machine['load_average_after']}",
        )
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
