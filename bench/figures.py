"""The class-start benchmark's figures, from what one run measured.

- time to first cell: per student, seconds from pressing sign-in to the first cell's output;
  p50/p95 by the nearest-rank method (p95 of 25 students is the 24th fastest);
- the floor: what the machine could do at best, N students times the CPU seconds one student's
  start and first cell cost (their server's container plus the hub's share), divided by the
  cores; the headline is p95 / floor;
- the hub's and the proxy's CPU (seconds, and the busiest sampling interval) and memory (peak);
- the hub's lag: per student, from their server's "is running at" log line to the hub's "took
  ... seconds to start" (the moment it calls the server ready), both read from the logs.
"""

import itertools
import math
import re
from dataclasses import dataclass
from datetime import datetime

PARTS = ("hub", "proxy", "services")


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Latencies:
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Latencies":
        return cls(nearest_rank(seconds, 0.5), nearest_rank(seconds, 0.95), max(seconds))


@dataclass(frozen=True)
class LoneStart:
    """One student alone: what their start and first cell cost in CPU seconds."""

    server_cpu: float  # the student's notebook container (cgroup), server start to first cell
    hub_cpu: float  # the hub container's processes meanwhile
    machine_cpu: float  # every process on this machine meanwhile, the benchmark's own included
    client_cpu: float  # the benchmark process itself meanwhile
    seconds: float  # the lone student's own time to first cell

    @property
    def cpu(self) -> float:
        return self.server_cpu + self.hub_cpu


def floor_seconds(students: int, cpu_per_student: float, cores: int) -> float:
    return students * cpu_per_student / cores


def part_usage(samples: list[dict]) -> dict[str, dict[str, float]]:
    """Per part of the hub container: CPU seconds over the samples, the busiest interval's CPU
    share (1.0 = one core), and the peak resident memory in MiB."""
    usage = {}
    for part in PARTS:
        cpu = [s[part][0] for s in samples]
        busiest = max(
            (
                (later[part][0] - earlier[part][0]) / (later["t"] - earlier["t"])
                for earlier, later in itertools.pairwise(samples)
                if later["t"] > earlier["t"]
            ),
            default=0.0,
        )
        usage[part] = {
            "cpu_seconds": round(cpu[-1] - cpu[0], 2),
            "busiest_cores": round(busiest, 2),
            "peak_mib": round(max(s[part][1] for s in samples) / 2**20, 1),
        }
    return usage


# JupyterHub's and Jupyter Server's log prefix: "[I 2026-11-25 20:49:27.869 ServerApp] ...".
LOG_TIME = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ")
HUB_READY = re.compile(r"User (\S+) took [\d.]+ seconds to start")


def log_time(line: str) -> datetime:
    return datetime.strptime(LOG_TIME.match(line).group(1), "%Y-%m-%d %H:%M:%S.%f")


def hub_lags(hub_log: list[str], listening: dict[str, str]) -> dict[str, float]:
    """Seconds from each server's "is running at" line (`listening`, by username) to the hub's
    last "took ... seconds to start" line for that user."""
    ready = {}
    for line in hub_log:
        match = HUB_READY.search(line)
        if match:
            ready[match.group(1)] = log_time(line)
    return {
        user: round((ready[user] - log_time(line)).total_seconds(), 2)
        for user, line in listening.items()
        if user in ready
    }
