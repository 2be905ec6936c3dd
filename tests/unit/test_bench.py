"""The benchmarks' arithmetic: class-start figures, the bench camp's size, the critical path,
the homes benchmark's reading of quota groups."""

import pytest

from bench.critical_path import Node, longest_chain, schedule, step_key
from bench.figures import Latencies, floor_seconds, hub_lags, nearest_rank, part_usage
from bench.homes import exclusive_bytes_under, homes_json, referenced_bytes_of
from bench.pool_size import pool_for

GIB = 1024**3


def test_percentiles_are_nearest_rank():
    seconds = [float(s) for s in range(20, 0, -1)]
    assert nearest_rank(seconds, 0.95) == 19.0
    assert Latencies.of(seconds) == Latencies(p50=10.0, p95=19.0, max=20.0)
    assert Latencies.of([7.0]) == Latencies(7.0, 7.0, 7.0)


def test_floor_is_every_students_cpu_spread_over_the_cores():
    assert floor_seconds(students=25, cpu_per_student=4.0, cores=2) == 50.0


def test_hub_usage_is_cpu_between_first_and_last_sample_and_peak_memory():
    samples = [
        {"t": 0.0, "hub": [10.0, 100 * 2**20], "proxy": [1.0, 50 * 2**20], "services": [0, 0]},
        {"t": 1.0, "hub": [10.5, 300 * 2**20], "proxy": [1.1, 50 * 2**20], "services": [0, 0]},
        {"t": 3.0, "hub": [12.5, 200 * 2**20], "proxy": [1.2, 60 * 2**20], "services": [0, 0]},
    ]
    usage = part_usage(samples)
    assert usage["hub"] == {"cpu_seconds": 2.5, "busiest_cores": 1.0, "peak_mib": 300.0}
    assert usage["proxy"]["cpu_seconds"] == 0.2
    assert usage["proxy"]["peak_mib"] == 60.0


def test_bench_pool_holds_every_server_by_swarms_memory_count():
    pool = pool_for(101, "1G", host_cores=2, host_memory=24 * GIB)
    assert pool.per_worker == 24
    assert pool.workers == 5
    # swarm's count by CPU (2 cores / guarantee) must not be the smaller one
    assert 2 / pool.cpu_guarantee >= pool.per_worker


def test_bench_pool_never_exceeds_the_programs_own_count_per_worker():
    pool = pool_for(100, "512M", host_cores=2, host_memory=64 * GIB)
    assert pool.per_worker == 63  # a t3.2xlarge's 31.5 usable GiB at 512 MiB each


def _nodes(*nodes: Node) -> dict[str, Node]:
    return {node.name: node for node in nodes}


def test_schedule_runs_each_step_after_the_longest_of_what_it_waits_for():
    nodes = _nodes(
        Node("a", "t", (), 10.0), Node("b", "t", (), 4.0), Node("c", "t", ("a", "b"), 5.0)
    )
    timings = schedule(nodes, lambda name: None)
    assert (timings["c"].start, timings["c"].end, timings["c"].via) == (10.0, 15.0, "a")
    assert longest_chain(timings) == ["a", "c"]


def _booting_machine(boot_seconds: float) -> dict[str, Node]:
    return _nodes(
        Node("jump", "t", (), 50.0),
        Node("vm", "t", (), 16.0),
        Node("vm-cloud-init", "t", ("jump", "vm"), boot_seconds),
    )


def test_a_machine_boots_from_its_instance_while_its_wait_step_waits_for_others():
    boots = {"vm-cloud-init": "vm"}.get
    # booted at 46 s, but reachable only once the jump host is, at 50 s
    assert schedule(_booting_machine(30.0), boots)["vm-cloud-init"].end == 50.0
    slow = schedule(_booting_machine(60.0), boots)
    assert slow["vm-cloud-init"].end == 76.0
    assert longest_chain(slow) == ["vm", "vm-cloud-init"]


def test_steps_are_named_by_what_they_do_on_any_machine():
    assert step_key("workers-12-notebook-image") == "notebook-image"
    assert step_key("workers-3-cloud-init") == "worker-cloud-init"
    assert step_key("hub-swarm-join-token") == "swarm-join-token"
    assert step_key("workers-0-swarm-join") == "swarm-join"
    assert step_key("nfs-payload-materials") == "payload"
    with pytest.raises(KeyError, match="hub-brand-new-step"):
        step_key("hub-brand-new-step")


def test_hub_lag_runs_from_the_server_listening_to_the_hub_calling_it_ready():
    hub_log = [
        "[I 2026-11-25 20:47:34.460 JupyterHub dockerspawner:1318] Created service jupyter-a",
        "[I 2026-11-25 20:47:47.327 JupyterHub base:1] User a@x.org took 12.802 seconds to start",
        "[I 2026-11-25 20:47:50.046 JupyterHub base:1] User b@x.org took 15.703 seconds to start",
    ]
    listening = {
        "a@x.org": "[I 2026-11-25 20:47:45.827 ServerApp] Jupyter Server 2.21.1 is running at:",
        "c@x.org": "[I 2026-11-25 20:47:46.000 ServerApp] Jupyter Server 2.21.1 is running at:",
    }
    # b never listened (no line), c never became ready: neither has a lag
    assert hub_lags(hub_log, listening) == {"a@x.org": 1.5}


QGROUPS = """\
Qgroupid  Referenced  Exclusive  Max referenced  Max exclusive  Path
--------  ----------  ---------  --------------  -------------  ----
0/5        16384      16384            none           none  <toplevel>
0/256   52445184    1064960     10737418240           none  ada
0/257   52445184      16384            none           none  .camphub-snapshots/ada/2026-12-03_13-00
0/258   52445184    1048576            none           none  .camphub-snapshots/ada/2026-12-03_13-01
0/259   52428800     104857            none           none  ada-old
1/100      16384      16384            none           none  <under member qgroups>
"""


def test_snapshot_space_is_the_exclusive_bytes_of_the_snapshot_subvolumes_only():
    assert exclusive_bytes_under(QGROUPS, ".camphub-snapshots/") == (2, 16384 + 1048576)
    assert referenced_bytes_of(QGROUPS, {"ada"}) == 52445184


def test_bench_homes_have_valid_dirs_and_the_limit():
    homes = homes_json(200, 10)["homes"]
    assert len({home["dir"] for home in homes}) == 200
    assert homes[0] == {
        "user": "student001@bench.camp",
        "dir": "student001-40bench-2ecamp",
        "limit_bytes": 10 * GIB,
    }
