"""Whether the workers hold the whole class at once, and the warning when they do not."""

import dataclasses

from infra.capacity import capacity_warning, servers_per_worker
from infra.config import NotebookSpec, WorkerPoolSpec
from infra.userlist import ClassList, Member


def with_class_of(config, size: int):
    members = tuple(Member(f"s{i}@camp.example.org", admin=i == 0) for i in range(size))
    return dataclasses.replace(config, class_list=ClassList(members))


def test_a_class_the_pool_holds_gets_no_warning(camp_config):
    assert capacity_warning(with_class_of(camp_config, 30)) is None


def test_a_class_too_big_for_the_pool_is_told_how_many_workers_would_do(camp_config):
    warning = capacity_warning(with_class_of(camp_config, 100))
    assert "hold 30 servers" in warning
    assert "has 100 people" in warning
    assert "workers.count 7" in warning  # 15 per t3.xlarge


def test_cpu_guarantees_limit_placement_too(camp_config):
    cpu_bound = dataclasses.replace(
        camp_config,
        notebook=NotebookSpec("1G", "256M", 1.0, 1.0, 60),
        workers=WorkerPoolSpec(count=1, instance_type="t3.xlarge"),
    )
    assert servers_per_worker(cpu_bound) == 4
