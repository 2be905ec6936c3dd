"""Whether the workers hold the whole class at once, and whether the homes volume holds every home
filled to its limit; a warning when either does not."""

import dataclasses

from infra.capacity import capacity_warning, homes_overcommit_warning, servers_per_worker
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


def with_quotas(config, *quotas: int | None):
    members = tuple(
        Member(f"s{i}@camp.example.org", admin=i == 0, home_quota_gb=quota)
        for i, quota in enumerate(quotas)
    )
    return dataclasses.replace(config, class_list=ClassList(members))


def test_homes_that_fit_the_volume_together_get_no_warning(camp_config):
    assert camp_config.nfs.volume_size_gb == 100
    assert homes_overcommit_warning(with_class_of(camp_config, 10)) is None  # 10 x 10 GiB
    assert homes_overcommit_warning(with_quotas(camp_config, 90, None)) is None


def test_limits_past_the_volume_are_a_warning_that_says_it_is_normal(camp_config):
    warning = homes_overcommit_warning(with_class_of(camp_config, 25))
    assert "25 homes may hold up to 250 GiB together (10 GiB each unless" in warning
    assert "more than the 100 GiB homes volume (camphub:nfs.volumeSizeGb)" in warning
    assert "normal while most students use less than their limit" in warning


def test_a_quota_on_the_class_list_counts_instead_of_the_default(camp_config):
    warning = homes_overcommit_warning(with_quotas(camp_config, 95, None))
    assert "2 homes may hold up to 105 GiB together" in warning
