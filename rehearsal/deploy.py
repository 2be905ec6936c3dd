"""Runs a Pulumi program under the rehearsal's mocks, in its own process.

    python -m rehearsal.deploy PLAN.json

PLAN.json (written by rehearsal.run) names the program directory, stack, configuration, the
local cloud's work directory and instance image. The program runs as `pulumi up` would run it:
its `__main__.py` with the stack's configuration, every resource created for real by the mocks,
those named in the plan's `replace` made anew (`pulumi up --replace`). Afterwards resources of
the previous run that the program no longer declares, and the old ones of those replaced, are
deleted, last declared first. The stack outputs are written to <work dir>/outputs.json (root
only: some are secrets). A fresh process per run because Pulumi's runtime settings are
process-wide.
"""

import asyncio
import json
import os
import runpy
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulumi
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import wait_for_rpcs

from infra import layout
from rehearsal.cloud import LocalCloud
from rehearsal.engine import RehearsalMocks, RehearsalMonitor, run_delete
from rehearsal.environment import Environment, short
from rehearsal.state import State

# Instances boot and commands wait on SSH in parallel where the graph allows; the runtime's
# default pool (cores + 4) would serialise a larger cluster.
MOCK_THREADS = 32


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    configure(plan["config"], plan["secret_keys"])
    work_dir = Path(plan["work_dir"])
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = Environment(
        cloud=LocalCloud(plan["name"], work_dir),
        state=State(work_dir / "state.json"),
        instance_image=plan["instance_image"],
        vpc_cidr=plan["vpc_cidr"],
        log_dir=log_dir,
    )
    mocks = RehearsalMocks(env, replace=plan["replace"])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(ThreadPoolExecutor(max_workers=MOCK_THREADS))
    pulumi.runtime.set_mocks(
        mocks,
        project=plan["project"],
        stack=plan["stack"],
        preview=False,
        monitor=RehearsalMonitor(mocks),
    )

    # The camp's subnet is this rehearsal's range of the VPC, its private network's
    # (rehearsal/vpc.py): one fixed range would collide with another rehearsal's on the engine.
    layout.SUBNET_CIDR = plan["vpc_cidr"]
    program_dir = Path(plan["program_dir"])
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    try:
        outputs = loop.run_until_complete(_run_program(program_dir / "__main__.py"))
    except Exception as error:
        print(f"deployment failed: {error!r}", file=sys.stderr)
        return 1
    for record in mocks.left_behind():
        began = time.monotonic()
        run_delete(env, record)
        env.state.forget(record)
        mocks.progress(f"deleted {short(record.type)} {record.name}", time.monotonic() - began)
    _write_private(work_dir / "outputs.json", json.dumps(outputs, indent=1))
    return 0


def configure(config: dict[str, str], secret_keys: list[str]) -> None:
    """Hands the program its configuration as the Pulumi CLI does: the values (in the runtime
    and in the environment, where programs may also look), and which of them are secret."""
    os.environ["PULUMI_CONFIG"] = json.dumps(config)
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(secret_keys)
    pulumi.runtime.set_all_config(config, secret_keys)


async def _run_program(main_file: Path) -> dict:
    """Runs the program to completion; returns its outputs as {name: {value, secret}}."""
    runpy.run_path(str(main_file), run_name="__main__")
    await wait_for_rpcs()
    outputs = {}
    for name, value in get_root_resource().outputs.items():
        output = pulumi.Output.from_input(value)
        outputs[name] = {"value": await output.future(), "secret": await output.is_secret()}
    return outputs


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
