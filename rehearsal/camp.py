"""How camphub's own program is rehearsed: its stack configuration with the rehearsal's changes.

rehearsal/stacks.yaml says what a rehearsal changes in Pulumi.<stack>.yaml (the sample class
list, the worker count); the OAuth client ID is the stand-in's, the secret is generated once per
rehearsal and kept in its work directory, root only; the SSH CIDRs are the rehearsal's own
networks (security groups are recorded, not enforced); sign-in goes to the rehearsal's Google
stand-in (rehearsal/google_stand_in.py), which listens on the gateway of the rehearsal's
network, where both this machine's browser and the hub reach it. With `oauthEndpoints` set, the
program lets the rehearsal keep example values (infra/config.py).
"""

import json
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from infra.config import NAMESPACE
from infra.config_keys import SECRET_KEYS as SECRET_SETTINGS
from infra.errors import ConfigError
from infra.outputs import host_keys_by_address
from infra.payload import HUB_IMAGE, NOTEBOOK_IMAGE, PROXY_IMAGE, PayloadTree, image_tag
from infra.userlist import read_class_list
from rehearsal import docker_cli, google_stand_in, local_images, ssh
from rehearsal.run import PROJECT_DIR, Rehearsal, RehearsalError, stack_config

STACKS_FILE = Path(__file__).resolve().parent / "stacks.yaml"
# The stand-in takes any client; the stack files carry no client ID (the organizer sets theirs).
STAND_IN_CLIENT_ID = "000000000000-rehearsal.apps.googleusercontent.com"
# Every secret setting is marked secret, as `pulumi config set --secret` stores it.
SECRET_KEYS = [f"{NAMESPACE}:{key}" for key in SECRET_SETTINGS]
# Writes stdin to the file of private addresses containers may reach after all (cloud-init's
# camphub-wall) and reloads the wall, unless the file holds exactly that already.
ALLOW_ON_THE_WALL = (
    "sudo sh -c 'wanted=$(cat); file=/etc/camphub-wall/allowed; "
    '[ "$wanted" = "$(cat $file 2>/dev/null)" ] || '
    '{ mkdir -p /etc/camphub-wall && printf "%s\\n" "$wanted" > $file && camphub-wall apply; }\''
)


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
    config[f"{NAMESPACE}:oauthClientId"] = STAND_IN_CLIENT_ID
    config[f"{NAMESPACE}:oauthClientSecret"] = _generated_secret(rehearsal.work_dir)
    google = google_sign_in(rehearsal, userlist)
    config[f"{NAMESPACE}:oauthEndpoints"] = json.dumps(
        {
            "authorizeUrl": google.authorize_url,
            "tokenUrl": google.token_url,
            "userdataUrl": google.userdata_url,
        }
    )
    return config


def google_sign_in(rehearsal: Rehearsal, userlist: Path) -> google_stand_in.GoogleStandIn:
    """The rehearsal's Google stand-in, running, with everyone on the class list registered
    (the provider forgets them when it stops; registering again changes nothing)."""
    try:
        members = read_class_list(userlist, str(userlist)).members
    except ConfigError as error:
        raise RehearsalError(str(error)) from error
    google = google_stand_in.ensure_running(rehearsal.work_dir, _gateway(rehearsal.cloud.name))
    for member in members:
        google.add_user(member.name)
    return google


def _gateway(network: str) -> str:
    """This machine's address on the rehearsal's private network."""
    template = "{{range .IPAM.Config}}{{.Gateway}}{{end}}"
    return docker_cli.docker("network", "inspect", "--format", template, network)


def machine_connection(outputs: dict[str, Any], host: str | None = None) -> ssh.Connection:
    """From the stack's (plain) outputs, as the organizer's ssh_config reaches them: the hub, or
    `host` through it, each pinned to its own host key."""
    host_keys = host_keys_by_address(outputs)
    hub_ip = outputs["hubPublicIp"]
    hub = ssh.Connection(hub_ip, "admin", outputs["adminSshKey"], host_key=host_keys[hub_ip])
    if host is None:
        return hub
    return ssh.Connection(
        host, "admin", outputs["adminSshKey"], host_key=host_keys[host], proxy=hub
    )


def let_hub_reach_google(rehearsal: Rehearsal, outputs: dict[str, Any]) -> None:
    """camphub-wall keeps containers off private addresses, the stand-in's among them: as the
    hub machine's operator, the rehearsal allows its address there, and only there (students'
    containers on the workers stay off it). Changes nothing when it is allowed already."""
    host = urllib.parse.urlsplit(google_stand_in.recorded(rehearsal.work_dir).base_url).hostname
    hub = machine_connection({name: output["value"] for name, output in outputs.items()})
    allowed = f"# the rehearsal's Google sign-in stand-in\n{host}\n"
    result = ssh.run(hub, ALLOW_ON_THE_WALL, allowed)
    if result.exit_status != 0:
        raise RehearsalError(f"allowing the Google stand-in on the hub failed: {result.stderr}")


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
    """The hub, proxy and notebook images built here once, under the tags the program gives
    them, so the hub finds them loaded and its build steps have nothing to do; it ships the
    notebook image to the workers as on AWS (a build here, with Docker's layer cache, is
    what keeps the end-to-end suite inside CI's budget)."""
    return tuple(map(prebuilt_image, (HUB_IMAGE, PROXY_IMAGE, NOTEBOOK_IMAGE)))


def prebuilt_image(tree: PayloadTree) -> str:
    """The image of `tree` built here, its builder first (as scripts/build-image does)."""
    if tree.builder is None:
        return local_images.build_image(tree.local_dir, image_tag(tree))
    builder = prebuilt_image(tree.builder)
    return local_images.build_image(tree.local_dir, image_tag(tree), f"BUILDER_IMAGE={builder}")


def class_list(stack: str) -> tuple[Path, list[str], list[str]]:
    """The sample class list of `stack`: its path, the students' and the admins' emails."""
    userlist = (STACKS_FILE.parent / rehearsal_settings(stack)["userlistFile"]).resolve()
    members = read_class_list(userlist, userlist.name).members
    admins = [member.name for member in members if member.admin]
    students = [member.name for member in members if not member.admin]
    return userlist, students, admins
