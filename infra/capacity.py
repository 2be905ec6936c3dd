"""How many students' servers the worker pool holds, by the guarantees swarm reserves for each;
and whether the homes' limits add up to more than the homes volume."""

import math

from infra.config import CampConfig, bytes_of
from infra.instance_types import shape_of


def servers_per_worker(config: CampConfig) -> int | None:
    """Servers one worker places at their memory and CPU guarantees (None: unknown type)."""
    shape = shape_of(config.workers.instance_type)
    if shape is None:
        return None
    notebook = config.notebook
    by_memory = int(shape.usable_memory_gib * 1024**3 // bytes_of(notebook.mem_guarantee))
    by_cpu = int(shape.vcpus // notebook.cpu_guarantee)
    return min(by_memory, by_cpu)


def pool_capacity(config: CampConfig) -> int:
    """Servers the whole pool places (0: unknown, so no limit is derived from it)."""
    per_worker = servers_per_worker(config)
    return config.workers.count * per_worker if per_worker else 0


def capacity_warning(config: CampConfig) -> str | None:
    """A warning when the class cannot all run at once, with the worker count that would do."""
    per_worker = servers_per_worker(config)
    students = len(config.class_list.members)
    if per_worker is None or config.workers.count * per_worker >= students:
        return None
    needed = math.ceil(students / per_worker) if per_worker else "more"
    return (
        f"{config.workers.count} x {config.workers.instance_type} workers hold "
        f"{config.workers.count * per_worker} servers at their guarantees "
        f"({config.notebook.mem_guarantee}, {config.notebook.cpu_guarantee:g} CPU), but the class "
        f"list has {students} people. `pulumi config set --path camphub:workers.count {needed}` "
        "would hold everyone at once."
    )


def homes_overcommit_warning(config: CampConfig) -> str | None:
    """A warning when the homes' limits add up past the homes volume (allowed: most use less)."""
    default = config.nfs.home_quota_gb
    limits = [member.home_limit_gb(default) for member in config.class_list.members]
    volume = config.nfs.volume_size_gb
    if sum(limits) <= volume:
        return None
    return (
        f"The class list's {len(limits)} homes may hold up to {sum(limits)} GiB together "
        f"({default} GiB each unless a line says quota=), more than the {volume} GiB homes volume "
        "(camphub:nfs.volumeSizeGb). That is normal while most students use less than their "
        "limit; should the volume fill up, everyone's writes fail until space is freed."
    )
