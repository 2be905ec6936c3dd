"""How camphub's own program is rehearsed: its stack configuration with the rehearsal's changes.

rehearsal/stacks.yaml says what a rehearsal changes in Pulumi.<stack>.yaml (the sample class
list, the worker count); the OAuth client secret is generated once per rehearsal and kept in its
work directory, root only; the SSH CIDRs are the rehearsal's own networks (security groups are
recorded, not enforced).
"""

import json
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from infra.payload import HUB_IMAGE, NOTEBOOK_IMAGE, image_tag
from rehearsal import cloud
from rehearsal.run import PROJECT_DIR, Rehearsal, RehearsalError, stack_config

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


def program_config(
    rehearsal: Rehearsal, workers: int | None = None, userlist: Path | None = None
) -> dict[str, str]:
    """The stack's configuration with the rehearsal's changes (see the module docstring);
    `workers` and `userlist` override rehearsal/stacks.yaml."""
    settings = rehearsal_settings(rehearsal.stack)
    config = stack_config(PROJECT_DIR, rehearsal.stack)
    userlist = userlist or (STACKS_FILE.parent / settings["userlistFile"]).resolve()
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


def prebuilt_images() -> tuple[str, ...]:
    """The hub and notebook images built here once, under the tags the program gives them, so
    every instance finds them loaded and its build step has nothing to do (one build on this
    machine instead of one per worker: what keeps the end-to-end suite inside CI's budget)."""
    return tuple(
        cloud.build_image(tree.local_dir, image_tag(tree)) for tree in (HUB_IMAGE, NOTEBOOK_IMAGE)
    )


def class_list(stack: str) -> tuple[Path, list[str], list[str]]:
    """The sample class list of `stack`: its path, the students' and the admins' emails."""
    userlist = (STACKS_FILE.parent / rehearsal_settings(stack)["userlistFile"]).resolve()
    members = [
        line.split()
        for line in userlist.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    admins = [m[0] for m in members if m[1:] == ["admin"]]
    students = [m[0] for m in members if m[1:] != ["admin"]]
    return userlist, students, admins
