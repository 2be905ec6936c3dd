"""What the supported EC2 instance types hold, for the checks that a student's server fits a worker.

Figures from AWS's instance type pages (vCPUs, GiB of memory). A type not listed here is still
accepted; the fit checks are then skipped for it.
"""

from dataclasses import dataclass

# Room a worker keeps for its OS, Docker and the swarm agent.
WORKER_RESERVED_GIB = 0.5


@dataclass(frozen=True)
class InstanceShape:
    vcpus: int
    memory_gib: float

    @property
    def usable_memory_gib(self) -> float:
        """What a worker of this shape has left for students' servers."""
        return self.memory_gib - WORKER_RESERVED_GIB


_FAMILIES_GENERAL = ("t3", "t3a", "m6i", "m6a", "m7i", "m7a")
_SIZES_GENERAL = {
    "micro": (2, 1),
    "small": (2, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
    "4xlarge": (16, 64),
    "8xlarge": (32, 128),
}
_T_ONLY_SIZES = ("micro", "small", "medium")
_MEMORY_PER_VCPU = {"c6i": 2, "c7i": 2, "r6i": 8, "r7i": 8}
_SIZE_VCPUS = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}


def _table() -> dict[str, InstanceShape]:
    table = {}
    for family in _FAMILIES_GENERAL:
        for size, (vcpus, memory) in _SIZES_GENERAL.items():
            if size in _T_ONLY_SIZES and not family.startswith("t"):
                continue
            if family.startswith("t") and size in ("4xlarge", "8xlarge"):
                continue
            table[f"{family}.{size}"] = InstanceShape(vcpus, memory)
    for family, per_vcpu in _MEMORY_PER_VCPU.items():
        for size, vcpus in _SIZE_VCPUS.items():
            table[f"{family}.{size}"] = InstanceShape(vcpus, vcpus * per_vcpu)
    return table


INSTANCE_SHAPES = _table()


def shape_of(instance_type: str) -> InstanceShape | None:
    return INSTANCE_SHAPES.get(instance_type)
