"""The hub and proxy containers, started by the real bootstrap scripts from the real images and
config.

install-secrets and start-hub run exactly as on the hub machine (settings and secrets on stdin),
only with every path under the test's directory instead of /etc/camphub and /var/lib/camphub.
"""

import json
import os
import secrets
import subprocess
from dataclasses import dataclass

import camphub_settings as schema
import swarm
from addressed_network import AddressedNetwork
from hub_files import HubFiles
from sample_hub_settings import sample_settings

from infra import layout
from infra.layout import PROJECT_DIR
from infra.userlist import escaped_username

SCRIPTS_DIR = PROJECT_DIR / "scripts"
HUB_READY_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class ClassList:
    students: tuple[str, ...]
    admins: tuple[str, ...]

    def as_json(self) -> dict:
        users = [{"name": name, "admin": False} for name in self.students]
        users += [{"name": name, "admin": True} for name in self.admins]
        return {"users": users}


@dataclass(frozen=True)
class HubPlacement:
    """Where this run's hub lives: its and its proxy's containers, the overlay network they have
    fixed addresses on, and the proxy's loopback port."""

    container: str
    proxy_container: str
    network: AddressedNetwork
    port: int

    def remove_containers(self) -> None:
        for container in (self.container, self.proxy_container):
            swarm.remove_container(container)


def hub_settings(
    *,
    public_url: str,
    provider,
    notebook_image: str,
    placement: HubPlacement,
    files: HubFiles,
    idle_timeout_seconds: int,
) -> dict:
    """The settings JSON that bootstrap writes, for a one-node swarm on this machine."""
    settings = sample_settings(
        public_url,
        oauth={
            "client_id": "camphub-live-test",
            "authorize_url": provider.authorize_url,
            "token_url": provider.token_url,
            "userdata_url": provider.userdata_url,
        },
        notebook={"image": notebook_image, "idle_timeout_seconds": idle_timeout_seconds},
        swarm=placement.network.swarm_section(),
        hub={
            "port": placement.port,
            "state_dir": str(files.state_dir),
            "concurrent_spawn_limit": 30,
            "active_server_limit": 0,
        },
        **files.settings_sections(),
    )
    return schema.as_dict(settings)


def make_home(files: HubFiles, name: str) -> None:
    """A student's home and what beside it the spawner mounts, as nfs-homes make leaves them on a
    volume without limits (the hub never makes them)."""
    home = files.homes_dir / escaped_username(name)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, layout.STUDENT_UID, layout.STUDENT_GID)
    for beside in (layout.SNAPSHOTS_DIRNAME, layout.USAGE_DIRNAME):
        (files.homes_dir / beside / home.name).mkdir(parents=True, exist_ok=True)


def prepare(files: HubFiles, class_list: ClassList) -> None:
    """The class list, the homes and the secrets, as the program, nfs-homes and install-secrets
    leave them."""
    for directory in (files.etc_dir, files.homes_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for name in (*class_list.students, *class_list.admins):
        make_home(files, name)
    files.userlist_file.write_text(json.dumps(class_list.as_json()))
    values = {name: secrets.token_hex(32) for name in schema.SECRET_NAMES}
    _run_script(
        "install-secrets", "--secrets-dir", str(files.secrets_dir), stdin=json.dumps(values)
    )


def start_hub(images, placement: HubPlacement, files: HubFiles, settings: dict) -> str:
    """Run start-hub with the settings on stdin; it (re)creates the container when they
    changed and returns once /hub/health answers. Returns what the script reported."""
    return _run_script(
        "start-hub",
        "--image",
        images.hub,
        "--container",
        placement.container,
        "--proxy-image",
        images.proxy,
        "--proxy-container",
        placement.proxy_container,
        "--network",
        placement.network.name,
        "--port",
        str(placement.port),
        *files.start_hub_options(),
        "--wait-seconds",
        str(HUB_READY_TIMEOUT_SECONDS),
        stdin=json.dumps(settings),
    )


def _run_script(name: str, *args: str, stdin: str) -> str:
    result = subprocess.run(
        [str(SCRIPTS_DIR / name), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/{name} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout
