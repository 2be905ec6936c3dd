"""One rehearsal of a program on the local cloud: prepare, deploy, report, tear down.

Used by `bin/rehearse` (rehearsal/cli.py) and by the end-to-end tests. Each phase prints its
duration; the deployment itself runs in a fresh process (rehearsal/deploy.py).
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rehearsal import acme_stand_in, cloud, docker_cli, google_stand_in, local_images, ssh
from rehearsal.commands import DeleteStepFailed
from rehearsal.engine import run_delete
from rehearsal.environment import Environment
from rehearsal.moto_stand_in import AwsStandIn
from rehearsal.state import Record, State, record_key

PROJECT_DIR = Path(__file__).resolve().parent.parent


class RehearsalError(RuntimeError):
    """A rehearsal could not be brought up or down."""


@contextmanager
def phase(title: str, timings: dict[str, float]):
    print(f"==> {title}", flush=True)
    began = time.monotonic()
    yield
    timings[title] = time.monotonic() - began
    print(f"    {title}: {timings[title]:.1f}s", flush=True)


def stack_config(program_dir: Path, stack: str) -> dict[str, Any]:
    """The stack file's configuration as the runtime expects it ({"project:key": "value"}).

    Objects and lists become JSON, as the Pulumi CLI passes them. Encrypted values cannot be
    read without the stack's secrets provider and are left out: a rehearsal supplies its own.
    """
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        return {}
    values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    config = {}
    for key, value in values.items():
        if isinstance(value, dict) and "secure" in value:
            continue
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config


def replacement_keys(records: Sequence[Record], wanted: Sequence[str]) -> list[str]:
    """The record keys of the resources `wanted` names, each by its URN (urn:pulumi:<stack>::
    <project>::<parent types$>type::name), its `type::name` key, or its name alone where no
    other resource has it; anything else is refused before the run, as Pulumi refuses it."""
    keys = []
    for name in wanted:
        if name.startswith("urn:pulumi:"):
            *_, qualified_type, resource_name = name.split("::")
            name = record_key(qualified_type.rsplit("$", 1)[-1], resource_name)
        matches = [r.key for r in records if name in (r.key, r.name)]
        if len(matches) != 1:
            found = "no resource" if not matches else f"{len(matches)} resources ({matches})"
            raise RehearsalError(f"--replace {name}: {found} by that name in the last run")
        keys.append(matches[0])
    return keys


@dataclass
class Rehearsal:
    """A program deployed as `stack` on the local cloud, its state under `work_dir`; its Docker
    objects are named after `name` (the stack's name unless given)."""

    program_dir: Path
    stack: str
    work_dir: Path | None = None
    name: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.program_dir = Path(self.program_dir).resolve()
        self.name = self.name or self.stack
        self.work_dir = Path(self.work_dir or PROJECT_DIR / ".work" / "rehearsal" / self.name)
        self.work_dir = self.work_dir.resolve()
        self.cloud = cloud.LocalCloud(self.name, self.work_dir)
        self.aws = AwsStandIn(self.work_dir / "aws")

    @property
    def project(self) -> str:
        return yaml.safe_load((self.program_dir / "Pulumi.yaml").read_text())["name"]

    def up(
        self,
        config: dict[str, Any],
        secret_keys: list[str],
        images: tuple[str, ...] = (),
        replace: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Deploys (or updates) the stack; returns its outputs as {name: {value, secret}}.

        `images` (built on this machine) are loaded into the hub's Docker next to the base
        image, as if the hub had built them; the workers get theirs from the hub, as on AWS.
        A stack with a domain gets Let's Encrypt's stand-in (rehearsal/acme_stand_in.py)
        before the program runs. `replace` names resources of the last run to make anew, as
        `pulumi up --replace` does: by URN, by `type::name`, or by name alone where no other
        resource has it."""
        replaced = replacement_keys(self._records(), replace)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work_dir, 0o700)
        with phase("instance image", self.timings):
            image = local_images.ensure_instance_image()
        with phase("network, shared directory, package cache, AWS stand-in", self.timings):
            vpc_cidr = self.cloud.ensure_network()
            self.cloud.ensure_shared_dir((local_images.BASE_IMAGE, *images))
            self.cloud.load_shared_images()
            self.cloud.ensure_apt_cache(image)
            # A TXT record set in moto's Route 53 is set in the ACME stand-in's DNS, if any.
            challenge_dns = acme_stand_in.AcmeStandIn(self.cloud).management_url_file
            self.aws.ensure_running(self.cloud.gateway(), challenge_dns=challenge_dns)
        if config.get(f"{self.project}:domain"):
            with phase("ACME stand-in (Let's Encrypt: Pebble and its DNS)", self.timings):
                acme_stand_in.AcmeStandIn(self.cloud).ensure()
        plan = {
            "program_dir": str(self.program_dir),
            "project": self.project,
            "stack": self.stack,
            "name": self.name,
            "config": config,
            "secret_keys": secret_keys,
            "work_dir": str(self.work_dir),
            "instance_image": image,
            "vpc_cidr": vpc_cidr,  # the camp's subnet: this rehearsal's range of the VPC
            "replace": replaced,
        }
        plan_file = self.work_dir / "plan.json"
        plan_file.write_text(json.dumps(plan, indent=1))
        os.chmod(plan_file, 0o600)
        with phase("deploy (the program under the mocks)", self.timings):
            self._deploy(plan_file)
        return self.outputs()

    def _deploy(self, plan_file: Path) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "rehearsal.deploy", str(plan_file)],
            cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
            check=False,
        )
        if result.returncode != 0:
            raise RehearsalError(
                f"the deployment failed (see above; command logs in {self.work_dir / 'logs'})"
            )

    def outputs(self) -> dict[str, Any]:
        outputs_file = self.work_dir / "outputs.json"
        return json.loads(outputs_file.read_text()) if outputs_file.exists() else {}

    def _records(self) -> list[Record]:
        """What the last run left, as its state file records it."""
        state_file = self.work_dir / "state.json"
        return State(state_file).records() if state_file.exists() else []

    def status(self) -> list[str]:
        """The machines (address, running or not), the volumes and addresses, and how many
        bootstrap steps and recorded resources the last run left."""
        records = self._records()
        if not records:
            return []
        lines = []
        for record in records:
            short = record.type.rsplit(":", 1)[-1]
            if short == "Instance":
                running = self.cloud.is_running(record.made["resource"])
                where = f"{record.made['address']:<16} {'running' if running else 'STOPPED'}"
                lines.append(f"machine  {record.name:<12} {record.id:<20} {where}")
            elif short in ("Volume", "Eip"):
                lines.append(f"{short.lower():<8} {record.name:<12} {record.id}")
        steps = sum(r.type.startswith("command:") for r in records)
        recorded = sum(not r.type.startswith("command:") for r in records)
        lines.append(f"{steps} bootstrap steps done, {recorded} cloud resources recorded")
        return lines

    @property
    def archive_dir(self) -> Path:
        """Where `down` keeps what the AWS stand-in's buckets held (the archive outlives the
        camp on AWS; moto keeps it in memory only)."""
        return self.work_dir / "archive"

    def down(self, keep_going: bool = False) -> None:
        """Runs every delete step, last declared first, then removes all the rehearsal made.

        A delete step that fails stops it there, nothing else deleted, as it stops `pulumi
        destroy` (the archive step fails rather than let the homes go unarchived); with
        `keep_going` that is a warning and everything goes."""
        state_file = self.work_dir / "state.json"
        with phase("delete steps", self.timings):
            if state_file.exists():
                self._delete_all(State(state_file), keep_going)
        with phase("the AWS stand-in's buckets saved, the stand-in stopped", self.timings):
            if self.aws.is_running():
                saved = self.aws.save_objects(self.archive_dir)
                print(f"    {len(saved)} objects saved under {self.archive_dir}", flush=True)
            self.aws.stop()
        with phase("containers, volumes, network", self.timings):
            # Before the network: the Google stand-in listens on its gateway.
            google_stand_in.stop_recorded(self.work_dir)
            acme_stand_in.AcmeStandIn(self.cloud).remove()  # before the public network
            self.cloud.remove_all()
            for leftover in ("state.json", "outputs.json", "plan.json"):
                (self.work_dir / leftover).unlink(missing_ok=True)

    def destroy(self) -> None:
        """`pulumi destroy`: every delete step, then every resource, last declared first, as
        `down` does; but what the program declared retain_on_delete stays (the homes volume's
        data, the archive bucket), and so do the AWS stand-in and the networks, as an AWS
        account stays: a later `up` may bring the camp back. A delete step that fails stops it
        there, nothing else deleted."""
        state_file = self.work_dir / "state.json"
        with phase("destroy: delete steps, then all but what is retained", self.timings):
            if state_file.exists():
                self._delete_all(State(state_file), keep_going=False, keep_retained=True)
        (self.work_dir / "outputs.json").unlink(missing_ok=True)

    def _delete_all(self, state: State, keep_going: bool, keep_retained: bool = False) -> None:
        env = Environment(self.cloud, state, "", "", self.work_dir / "logs")
        for record in reversed(state.records()):
            if keep_retained and record.retained:
                state.forget(record)
                continue
            began = time.monotonic()
            try:
                run_delete(env, record)
            except DeleteStepFailed as error:
                if not keep_going:
                    raise RehearsalError(
                        f"{error}\nNothing else was deleted: fix the cause and run `down` again "
                        "(or `rehearse down --keep-going` to delete everything regardless)"
                    ) from error
                print(f"    warning: {error}", flush=True)
            except (ssh.RemoteError, docker_cli.CloudError) as error:
                # A machine already gone cannot run its delete step; tearing down goes on.
                print(f"    warning: {error}", flush=True)
            state.forget(record)
            if record.type.startswith(("aws:ec2/instance", "command:")) and (
                record.made or record.inputs.get("delete")
            ):
                short = record.type.rsplit(":", 1)[-1]
                print(f"    deleted {short} {record.name} ({time.monotonic() - began:.1f}s)")
