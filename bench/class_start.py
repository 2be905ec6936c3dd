"""The class-start benchmark: N students sign in at the same moment and each runs a first cell.

    bin/bench --students 25          # or 100; --down tears the benchmark's camp down afterwards

On the local cloud (the real program, rehearsed as "h4bench" with a generated class list of N
students and a pool that holds them all; see bench/bench_camp.py), in this order:
1. no server runs (any left from an earlier run are stopped);
2. one lone student signs in, starts their server and runs a cell, alone: the CPU seconds of
   their server's container and of the hub meanwhile give the floor;
3. their server stops; N students, each on their own thread with the hub's login page open,
   press "Sign in with Google" together and go on to a first cell (bench/student.py), while the
   hub machine samples the hub's and the proxy's CPU and memory (bench/hub_sampler.py);
4. the figures (bench/figures.py) are printed and written to bench/results/; every server stops.
"""

import argparse
import json
import os
import resource
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from e2e_support import escaped
from waiting import wait_for

from bench.bench_camp import LONE_STUDENT, NAME, BenchCamp, student_emails
from bench.figures import Latencies, LoneStart, floor_seconds, hub_lags, part_usage
from bench.pool_size import host_memory_bytes
from bench.records import save
from bench.student import Student
from infra import layout
from rehearsal import docker_cli, ssh
from rehearsal.run import phase

SAMPLER = Path(__file__).resolve().parent / "hub_sampler.py"
SAMPLER_ON_HUB = "/tmp/camphub-bench-hub-sampler.py"
SAMPLE_INTERVAL_SECONDS = 0.5
STOP_SECONDS = 300
CONTAINER_CPU = (
    "grep usage_usec /sys/fs/cgroup/cpu.stat 2>/dev/null"
    " || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
)
# Each student's service and its server's "is running at" log line, one per line.
LISTENING_LINES = (
    'sudo sh -c \'for name in $(docker service ls --filter name=jupyter- --format "{{.Name}}"); '
    'do echo "$name $(docker service logs --raw "$name" 2>&1 | grep -m1 "is running at")"; done\''
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=25)
    parser.add_argument(
        "--room",
        type=int,
        help="size the worker pool for this many students (default: --students), so that runs "
        "of different class sizes share one pool",
    )
    parser.add_argument("--down", action="store_true", help="tear the camp down afterwards")
    parser.add_argument("--note", default="", help="what this run changes, kept in the results")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    load_before = os.getloadavg()
    camp = BenchCamp.for_students(args.students)
    with phase(f"camp for {args.students} students", camp.rehearsal.timings):
        outputs, pool = camp.up_for(max(args.students, args.room or 0) + 1)
    hub_url = outputs["hubUrl"]
    ca_file = pin_certificate(hub_url, camp.rehearsal.work_dir / "hub-certificate.pem")
    with phase("no server running", camp.rehearsal.timings):
        stop_every_server(camp)
    with phase("lone student", camp.rehearsal.timings):
        lone, _ = measure_lone_start(camp, hub_url, ca_file)
        stop_every_server(camp)
    began = datetime.now(UTC)
    with phase(f"{args.students} students together", camp.rehearsal.timings):
        timelines, samples, wall = run_class(camp, hub_url, ca_file, args.students)
    with phase("the hub's lag, from the logs", camp.rehearsal.timings):
        lags = hub_lags_since(camp, began, student_emails(args.students))
    report = figures_of(args, pool, lone, timelines, samples, wall, lags)
    report["machine"]["load_average_before"] = load_before
    print(json.dumps(report["summary"], indent=1))
    print(f"results: {save(report, f'class-start-{args.students}')}")
    with phase("every server stopped", camp.rehearsal.timings):
        stop_every_server(camp)
    if args.down:
        camp.down()
    return 0 if not report["summary"]["failures"] else 1


def pin_certificate(hub_url: str, path: Path) -> Path:
    """The hub's self-signed certificate, trusted from here on, as a student accepts it once."""
    address = urlsplit(hub_url)
    path.write_text(ssl.get_server_certificate((address.hostname, address.port or 443)))
    return path


def stop_every_server(camp: BenchCamp) -> None:
    def running() -> list[str]:
        return [user["name"] for user in camp.hub_api("/users") if user["servers"]]

    for name in running():
        camp.hub_api(f"/users/{name}/server", method="DELETE")
    wait_for(lambda: not running(), timeout=STOP_SECONDS, what="every server stopped", interval=2)


class CpuClock:
    """CPU seconds used on this machine (every process) and by this process, since start."""

    def __init__(self):
        self.machine, self.client = _machine_cpu(), _own_cpu()

    def elapsed(self) -> tuple[float, float]:
        return _machine_cpu() - self.machine, _own_cpu() - self.client


def _machine_cpu() -> float:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def hub_sampler(camp: BenchCamp):
    """Samples the hub's and the proxy's containers on the hub machine while the block runs;
    yields the list the samples land in (complete once the block has ended)."""
    connection = camp._connection()
    ssh.copy(connection, SAMPLER, SAMPLER_ON_HUB)
    samples: list[dict] = []
    with ssh.session(connection) as client:
        channel = client.get_transport().open_session()
        channel.exec_command(
            f"sudo python3 {SAMPLER_ON_HUB} {SAMPLE_INTERVAL_SECONDS}"
            f" {layout.HUB_CONTAINER} {layout.PROXY_CONTAINER}"
        )
        reader = threading.Thread(target=_read_samples, args=(channel, samples), daemon=True)
        reader.start()
        try:
            yield samples
        finally:
            channel.shutdown_write()  # the sampler's stdin closes: it takes a last sample
            reader.join(timeout=30)


def _read_samples(channel, samples: list[dict]) -> None:
    for line in channel.makefile("r"):
        samples.append(json.loads(line))


def measure_lone_start(camp: BenchCamp, hub_url: str, ca_file: Path) -> tuple[LoneStart, list]:
    student = Student(hub_url, ca_file, LONE_STUDENT)
    link = student.open_login_page()
    with hub_sampler(camp) as samples:
        clock = CpuClock()
        timeline = student.morning(link)
        machine_cpu, client_cpu = clock.elapsed()
    if timeline.failure:
        raise SystemExit(f"the lone student failed, nothing to measure: {timeline.failure}")
    hub_cpu = sum(part["cpu_seconds"] for part in part_usage(samples).values())
    lone = LoneStart(
        server_cpu=server_cpu_seconds(camp, LONE_STUDENT),
        hub_cpu=hub_cpu,
        machine_cpu=round(machine_cpu, 2),
        client_cpu=round(client_cpu, 2),
        seconds=round(timeline.first_cell, 2),
    )
    return lone, samples


def server_cpu_seconds(camp: BenchCamp, user: str) -> float:
    """CPU seconds the student's notebook container has used since it started, from its own
    cgroup: cgroup v2 (Debian 13 on EC2) counts microseconds, v1 (some local clouds) nanoseconds."""
    reading = camp.in_server(user, f"sh -c '{CONTAINER_CPU}'")
    if reading.startswith("usage_usec"):
        return round(int(reading.split()[1]) / 1e6, 2)
    return round(int(reading) / 1e9, 2)


def run_class(camp: BenchCamp, hub_url: str, ca_file: Path, count: int):
    students = [Student(hub_url, ca_file, email) for email in student_emails(count)]
    links = [student.open_login_page() for student in students]
    together = threading.Barrier(count)

    def press_and_go(student: Student, link: str):
        together.wait()
        return student.morning(link)

    with hub_sampler(camp) as samples, ThreadPoolExecutor(max_workers=count) as pool:
        began = time.monotonic()
        timelines = list(pool.map(press_and_go, students, links))
        wall = time.monotonic() - began
    return dict(zip(student_emails(count), timelines, strict=True)), samples, wall


def hub_lags_since(camp: BenchCamp, began: datetime, emails: list[str]) -> dict[str, float]:
    """Per student, seconds from their server listening to the hub calling it ready."""
    since = began.strftime("%Y-%m-%dT%H:%M:%SZ")
    hub_log = camp.run(f"sudo docker logs --since {since} {layout.HUB_CONTAINER} 2>&1").splitlines()
    by_service = {f"jupyter-{escaped(email)}": email for email in emails}
    listening = {}
    for line in camp.run(LISTENING_LINES).splitlines():
        service, _, log_line = line.partition(" ")
        if service in by_service and log_line:
            listening[by_service[service]] = log_line
    return hub_lags(hub_log, listening)


def figures_of(
    args, pool, lone: LoneStart, timelines: dict, samples: list, wall: float, lags: dict
) -> dict:
    cores = os.cpu_count() or 1
    failures = {email: t.failure for email, t in timelines.items() if t.failure}
    done = [t.first_cell for t in timelines.values() if t.first_cell is not None]
    latencies = Latencies.of(done) if done else None
    floor = floor_seconds(args.students, lone.cpu, cores)
    machine_floor = floor_seconds(args.students, lone.machine_cpu - lone.client_cpu, cores)
    summary = {
        "students": args.students,
        "note": args.note,
        "time_to_first_cell_seconds": asdict(latencies) if latencies else None,
        "failures": len(failures),
        "floor_seconds": round(floor, 1),
        "p95_over_floor": round(latencies.p95 / floor, 2) if latencies else None,
        "machine_floor_seconds": round(machine_floor, 1),
        "p95_over_machine_floor": round(latencies.p95 / machine_floor, 2) if latencies else None,
        "lone_student": asdict(lone),
        "hub_container": part_usage(samples),
        "wall_seconds": round(wall, 1),
        "hub_lag_seconds": asdict(Latencies.of(list(lags.values()))) if lags else None,
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": cores,
            "memory_gib": round(host_memory_bytes() / 2**30, 1),
            "load_average": os.getloadavg(),
            "containers_beside": containers_beside(),
        },
        "pool": asdict(pool),
        "summary": summary,
        "failures": failures,
        "timelines": {email: asdict(t) for email, t in timelines.items()},
        "hub_lags": lags,
        "hub_samples": samples,
    }


def containers_beside() -> list[str]:
    """Running containers that are not this benchmark's camp: what else shared the machine."""
    names = docker_cli.docker("ps", "--format", "{{.Names}}").splitlines()
    return sorted(name for name in names if NAME not in name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
