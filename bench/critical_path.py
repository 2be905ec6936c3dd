"""The critical path of a first `pulumi up` on AWS, from the program's own dependency graph.

    python -m bench.critical_path [--stack camp] [--measured DEPLOY_LOG]

The graph is what the program declares: it runs under the unit tests' mock runtime
(tests/unit/program.py), which records every resource and what it waits for. Each resource gets
an estimated duration: AWS API resources from published typical figures (AWS_SECONDS, sources
beside them); the bootstrap steps, which run camphub's own scripts on the machines, from a
rehearsal's deploy log (`rehearse up` prints "created Command <name> (<seconds>s)" per step), else
from STEP_SECONDS (measured in a cold rehearsal, see bench/RESULTS.md). A machine boots while
the engine goes on, so `<machine>-cloud-init` ends when that machine finished booting (its
instance's end plus the boot) or when what it waits for ended, whichever is later.

Printed: the longest chain with each step's start and end, the total, and how much work runs
beside it.
"""

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.layout import PROJECT_DIR

COMMAND = "command:remote:Command"
INSTANCE = "aws:ec2/instance:Instance"
BOOT_SUFFIX = "-cloud-init"
SSHD_SUFFIX = "-sshd"  # the jump host's sshd answering, early in its boot
# Steps that end when their machine has got that far since its instance was made.
BOOTING_SUFFIXES = (BOOT_SUFFIX, SSHD_SUFFIX)

# Seconds the engine waits for each AWS API resource to be created.
AWS_SECONDS = {
    # pending -> running as the provider waits for it: ~16 s measured over instance types and
    # regions (github.com/brevdev/ec2-coldboot-research, "Key Findings").
    INSTANCE: 16.0,
    # The provider waits for INSYNC; Route 53 propagates a change to its authoritative servers
    # "within 60 seconds" (Route 53 FAQ, "How quickly will changes I make to my DNS settings
    # propagate?").
    "aws:route53/record:Record": 60.0,
    # Creating a volume, then waiting for `available`, typically seconds (EBS User Guide,
    # "Create an Amazon EBS volume"); the attachment likewise waits for `attached`.
    "aws:ebs/volume:Volume": 10.0,
    "aws:ec2/volumeAttachment:VolumeAttachment": 10.0,
    # IAM is eventually consistent: the provider retries an instance profile until EC2 sees it
    # ("Troubleshoot IAM: changes that I make are not always immediately visible").
    "aws:iam/instanceProfile:InstanceProfile": 10.0,
}
# Any other AWS resource is one API call (security group rules, key pair, S3 settings, EIP).
API_CALL_SECONDS = 2.0
# Resources computed by the engine itself (keys, random values, components).
LOCAL_SECONDS = 0.0

# Bootstrap steps by name (the machine prefix dropped; the hub's build of the notebook image named
# in full, apart from the workers' load of it): seconds measured in a cold `rehearse up
# --build-on-hub` of the dev stack with 2 workers (bench/RESULTS.md, "Provisioning", 2026-12-04,
# bench/results/rehearse-up-cold-build-on-hub-*.log), the 2-core machine otherwise quiet but for
# an engineer's unit tests. The hub builds its three images side by side on 2 cores, as a
# t3.medium hub would. A boot counts from its instance's creation to the end of cloud-init's
# package installs; a jump host's sshd from its creation to its first SSH answer (a container
# here: on EC2 the kernel's boot comes first, some 20 s more, off the critical path).
STEP_SECONDS = {
    # sshd starts once the machine has fetched its host key, after cloud-init's package installs:
    # 87.0 s against hub-cloud-init's 87.3 s in a warm rehearsal (bench/results/
    # rehearse-up-pinned-host-keys-2026-12-04.log), so the cold figure less that 0.3 s.
    "hub-sshd": 90.4,
    "hub-cloud-init": 90.7,
    "worker-cloud-init": 83.5,
    "nfs-cloud-init": 54.8,
    "payload": 0.4,
    "hub-image": 92.0,
    "proxy-image": 126.5,
    "hub-notebook-image": 174.4,
    "serve-images": 1.2,
    "publish-notebook-image": 6.7,
    # One worker's load of the archive, measured alone: on AWS each worker loads on its own CPUs
    # and disk, while two workers of a rehearsal share these 2 cores and one disk (59.8 s for
    # both at once, in the cold run above). The slowest of four lone loads: 21.5 s (bench/results/
    # rehearse-up-one-worker-2026-12-04T1852Z.log), 29.3 s twice and 36.5 s (bench.worker_join).
    "notebook-image": 36.5,
    "swarm-init": 0.8,
    "swarm-join-token": 0.7,
    "swarm-join": 1.0,
    "membership": 0.3,
    "student-internet": 1.3,
    "nfs-export-homes": 6.0,
    "publish-materials": 1.1,
    "mount-homes": 1.9,
    "mount-state": 1.3,
    "install-secrets": 1.0,
    "configure-nginx": 1.5,
    "start-hub": 2.9,
    "sync-userlist": 0.4,
    # prepare-archive installs Debian's python3-boto3; run again by the archive step, it checks.
    "prepare-archive": 18.2,
    "archive-homes": 0.6,
    "make-homes": 2.0,
    "schedule-home-snapshots": 4.4,
}


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    needs: tuple[str, ...]  # names of what it waits for
    seconds: float


@dataclass(frozen=True)
class Timing:
    start: float
    end: float
    via: str | None  # the dependency that made it wait longest


def step_key(name: str) -> str:
    """The STEP_SECONDS key of a bootstrap step: workers-2-notebook-image -> notebook-image."""
    for suffix in BOOTING_SUFFIXES:
        if name.endswith(suffix):
            machine = name.removesuffix(suffix)
            return ("worker" if machine.startswith("workers-") else machine) + suffix
    if "-payload-" in name:
        return "payload"
    for key in sorted(STEP_SECONDS, key=len, reverse=True):
        if name.endswith(key):
            return key
    raise KeyError(f"no duration for bootstrap step {name}: add it to STEP_SECONDS")


def estimated_seconds(name: str, type_: str, measured: dict[str, float]) -> float:
    if type_.startswith("command:"):
        return measured.get(name, STEP_SECONDS[step_key(name)])
    if type_ in AWS_SECONDS:
        return AWS_SECONDS[type_]
    return API_CALL_SECONDS if type_.startswith("aws:") else LOCAL_SECONDS


def schedule(nodes: dict[str, Node], boots_from: Callable[[str], str | None]) -> dict[str, Timing]:
    """Earliest start and end of every node when everything runs as soon as it may."""
    timings: dict[str, Timing] = {}

    def timing(name: str) -> Timing:
        if name not in timings:
            node = nodes[name]
            ends = {need: timing(need).end for need in node.needs}
            via = max(ends, key=ends.get) if ends else None
            start = ends[via] if via else 0.0
            end = start + node.seconds
            instance = boots_from(name)
            if instance is not None:
                # The machine has been booting since its instance was created.
                booted = timing(instance).end + node.seconds
                end = max(start, booted)
                if booted >= start:
                    via = instance
            timings[name] = Timing(start, end, via)
        return timings[name]

    for name in nodes:
        timing(name)
    return timings


def longest_chain(timings: dict[str, Timing]) -> list[str]:
    last = max(timings, key=lambda name: timings[name].end)
    chain = [last]
    while timings[chain[-1]].via is not None:
        chain.append(timings[chain[-1]].via)
    return list(reversed(chain))


def program_graph(stack: str, measured: dict[str, float]) -> dict[str, Node]:
    """The program's custom resources and what each waits for, components resolved to the
    resources inside them."""
    sys.path.insert(0, str(PROJECT_DIR / "tests" / "unit"))
    from program import deploy, organizer_config

    deployment = deploy(organizer_config(PROJECT_DIR / f"Pulumi.{stack}.yaml"))
    resources = {r.urn: r for r in deployment.resources}

    def custom_inside(urn: str) -> set[str]:
        resource = resources[urn]
        if not resource.type.startswith("camphub:"):
            return {resource.name}
        children = [r.urn for r in deployment.resources if r.parent == urn]
        return set().union(*(custom_inside(child) for child in children))

    return {
        r.name: Node(
            r.name,
            r.type,
            tuple(sorted(set().union(*(custom_inside(u) for u in r.dependencies)) - {r.name})),
            estimated_seconds(r.name, r.type, measured),
        )
        for r in deployment.resources
        if not r.type.startswith("camphub:")
    }


# A deploy log's line per created or updated resource, as `rehearse up` prints it.
MEASURED_LINE = re.compile(
    r"\[\s*(?P<elapsed>[\d.]+)s\] (?:created|updated) \w+ (?P<name>\S+) \((?P<seconds>[\d.]+)s\)"
)


def measured_steps(log: Path) -> dict[str, float]:
    """Seconds per bootstrap step from a rehearsal's deploy output; a machine's boot counts
    from the end of its instance's creation, as the machine boots from then on."""
    ends, seconds = {}, {}
    for match in map(MEASURED_LINE.search, log.read_text().splitlines()):
        if match:
            ends[match["name"]] = float(match["elapsed"])
            seconds[match["name"]] = float(match["seconds"])
    for name in [n for n in seconds if n.endswith(BOOTING_SUFFIXES)]:
        instance = booting_instance(name)
        if instance in ends:
            seconds[name] = round(ends[name] - ends[instance], 1)
    return seconds


def booting_instance(name: str) -> str:
    """hub-cloud-init, hub-sshd -> hub: the instance whose boot the step waits for."""
    for suffix in BOOTING_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def report(nodes: dict[str, Node]) -> str:
    def boots_from(name: str) -> str | None:
        machine = booting_instance(name)
        if (
            name.endswith(BOOTING_SUFFIXES)
            and nodes.get(machine, Node("", "", (), 0)).type == INSTANCE
        ):
            return machine
        return None

    timings = schedule(nodes, boots_from)
    chain = longest_chain(timings)
    lines = [f"{'start':>7} {'end':>7}  step (critical path)"]
    for name in chain:
        lines.append(f"{timings[name].start:7.0f} {timings[name].end:7.0f}  {name}")
    total = timings[chain[-1]].end
    work = sum(node.seconds for node in nodes.values())
    lines.append(
        f"critical path {total:.0f}s ({total / 60:.1f} min) through {len(chain)} of "
        f"{len(nodes)} resources; all their durations added up: {work:.0f}s, "
        f"so {work / total:.1f} run at a time on average"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="critical_path", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="camp")
    parser.add_argument("--measured", type=Path, help="a rehearsal's deploy output")
    args = parser.parse_args(argv)
    measured = measured_steps(args.measured) if args.measured else {}
    print(report(program_graph(args.stack, measured)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
