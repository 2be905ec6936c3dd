"""How big the benchmark's worker pool is, so that a whole class starts at once.

On the local cloud every rehearsal worker shares this machine's cores, and swarm sees each of
them with the whole machine's memory and cores. The stack's workers become t3.2xlarge (the
program then counts 31 servers per worker at 1 GiB each, infra/capacity.py, which also sets the
hub's active_server_limit) and the CPU guarantee drops to what lets swarm place as many servers
on a node as its memory count allows; workers are added until both counts hold the class. More
worker containers would add no CPU, only their own Docker daemons.
"""

import math
import os
from dataclasses import dataclass
from types import SimpleNamespace

from infra.capacity import servers_per_worker
from infra.config import WorkerPoolSpec, bytes_of

WORKER_TYPE = "t3.2xlarge"


@dataclass(frozen=True)
class PoolSize:
    workers: int
    cpu_guarantee: float
    per_worker: int  # servers one worker takes: the fewer of the hub's count and swarm's


def pool_for(servers: int, mem_guarantee: str, host_cores: int, host_memory: int) -> PoolSize:
    """Workers and CPU guarantee so that `servers` start at once on this machine."""
    per_worker_by_swarm_memory = host_memory // bytes_of(mem_guarantee)
    # Rounded down, so that swarm's own count by CPU is never the smaller one.
    cpu_guarantee = math.floor(1000 * host_cores / per_worker_by_swarm_memory) / 1000
    by_program = servers_per_worker(
        SimpleNamespace(
            workers=WorkerPoolSpec(1, WORKER_TYPE),
            notebook=SimpleNamespace(mem_guarantee=mem_guarantee, cpu_guarantee=cpu_guarantee),
        )
    )
    per_worker = min(per_worker_by_swarm_memory, by_program)
    return PoolSize(math.ceil(servers / per_worker), cpu_guarantee, per_worker)


def host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
