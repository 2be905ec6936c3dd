"""`rehearse`: camphub's real program on the local cloud, for a newcomer without an AWS account.

    bin/rehearse up [--stack dev] [--workers N]   deploy, or update what changed
    bin/rehearse status [--stack dev]            the machines and their state
    bin/rehearse down [--stack dev]              delete steps, then everything it made
    bin/rehearse substitutions                   what differs from AWS, and why

The stack's configuration comes from Pulumi.<stack>.yaml with the changes in
rehearsal/stacks.yaml (the sample class list, the worker count, a generated OAuth secret).
"""

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from rehearsal.run import PROJECT_DIR, Rehearsal, RehearsalError, stack_config
from rehearsal.substitutions import SUBSTITUTIONS

NAMESPACE = "camphub"
STACKS_FILE = Path(__file__).resolve().parent / "stacks.yaml"
SECRET_KEYS = [f"{NAMESPACE}:oauthClientSecret"]


def rehearsal_settings(stack: str) -> dict[str, Any]:
    stacks = yaml.safe_load(STACKS_FILE.read_text()) or {}
    if stack not in stacks:
        raise RehearsalError(
            f"stack {stack!r} has no rehearsal settings; {STACKS_FILE} lists: {', '.join(stacks)}"
        )
    return stacks[stack]


def program_config(rehearsal: Rehearsal, workers: int | None) -> dict[str, str]:
    """The stack's configuration with the rehearsal's changes (see the module docstring)."""
    settings = rehearsal_settings(rehearsal.stack)
    config = stack_config(PROJECT_DIR, rehearsal.stack)
    userlist = (STACKS_FILE.parent / settings["userlistFile"]).resolve()
    config[f"{NAMESPACE}:userlistFile"] = str(userlist)
    worker_settings = _object(config, "workers") | settings.get("workers", {})
    if workers is not None:
        worker_settings["count"] = workers
    config[f"{NAMESPACE}:workers"] = json.dumps(worker_settings)
    # Security groups are recorded, not enforced: the rehearsal's own networks stand in.
    private, public = rehearsal.cloud.ensure_network(), rehearsal.cloud.public_subnet()
    config[f"{NAMESPACE}:sshAllowedCidrs"] = json.dumps([public, private])
    config[f"{NAMESPACE}:oauthClientSecret"] = _generated_secret(rehearsal.work_dir)
    return config


def _object(config: dict[str, str], key: str) -> dict[str, Any]:
    raw = config.get(f"{NAMESPACE}:{key}")
    return json.loads(raw) if raw else {}


def _generated_secret(work_dir: Path) -> str:
    """The same secret on every run (a new one would restart the hub), root-only on disk."""
    secret_file = work_dir / "oauth-client-secret"
    if not secret_file.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return secret_file.read_text()


def up(rehearsal: Rehearsal, workers: int | None) -> None:
    began = time.monotonic()
    outputs = rehearsal.up(program_config(rehearsal, workers), SECRET_KEYS)
    print(f"\nrehearsal up in {time.monotonic() - began:.0f}s; phases:")
    for title, seconds in rehearsal.timings.items():
        print(f"  {seconds:7.1f}s  {title}")
    print_sign_in(rehearsal, outputs)


def print_sign_in(rehearsal: Rehearsal, outputs: dict[str, Any]) -> None:
    settings = rehearsal_settings(rehearsal.stack)
    userlist = (STACKS_FILE.parent / settings["userlistFile"]).resolve()
    members = [
        line.split()
        for line in userlist.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    admins = [m[0] for m in members if m[1:] == ["admin"]]
    students = [m[0] for m in members if m[1:] != ["admin"]]
    print(f"\nhub: {outputs['hubUrl']['value']}  (self-signed certificate: accept it once)")
    print(f"  sign in as a student: {', '.join(students)}")
    print(f"  sign in as an admin:  {', '.join(admins)}  (then /hub/admin)")
    print(f"  class list: {userlist} (edit it and run `bin/rehearse up` again)")
    print(f"  ssh to the hub: ssh -i {rehearsal.work_dir / 'admin.key'} "
          f"admin@{outputs['hubPublicIp']['value']}")  # fmt: skip
    key_file = rehearsal.work_dir / "admin.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(outputs["adminSshKey"]["value"])


def status(rehearsal: Rehearsal) -> None:
    lines = rehearsal.status()
    if not lines:
        print(f"nothing rehearsed for stack {rehearsal.stack}")
        return
    print("\n".join(lines))
    outputs = rehearsal.outputs()
    if "hubUrl" in outputs:
        print(f"\nhub: {outputs['hubUrl']['value']}")


def print_substitutions() -> None:
    for substitution in SUBSTITUTIONS:
        print(f"- {substitution.production}\n  rehearsal: {substitution.rehearsal}\n"
              f"  piece: {substitution.piece}")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rehearse", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "status", "down", "substitutions"])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--workers", type=int, help="worker count (default: rehearsal/stacks.yaml)")
    args = parser.parse_args(argv)
    if args.action == "substitutions":
        print_substitutions()
        return 0
    rehearsal = Rehearsal(PROJECT_DIR, args.stack)
    try:
        if args.action == "up":
            up(rehearsal, args.workers)
        elif args.action == "status":
            status(rehearsal)
        else:
            rehearsal.down()
    except RehearsalError as error:
        print(f"rehearse {args.action}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
