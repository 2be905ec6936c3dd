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
from pathlib import Path

import camphub_settings as schema
import swarm
from addressed_network import AddressedNetwork

from infra import layout
from infra.hub_settings import homes_at
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
class HubFiles:
    """The host side of the hub: etc (settings, class list, secrets), state and homes."""

    root: Path

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    @property
    def settings_file(self) -> Path:
        return self.etc_dir / "hub-settings.json"

    @property
    def userlist_file(self) -> Path:
        return self.etc_dir / "userlist.json"

    @property
    def secrets_dir(self) -> Path:
        return self.etc_dir / "secrets"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def homes_dir(self) -> Path:
        return self.root / "homes"


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
    settings = schema.HubSettings(
        public_url=public_url,
        oauth=schema.OAuth(
            client_id="camphub-live-test",
            callback_url=f"{public_url}/hub/oauth_callback",
            authorize_url=provider.authorize_url,
            token_url=provider.token_url,
            userdata_url=provider.userdata_url,
        ),
        notebook=schema.Notebook(
            image=notebook_image,
            mem_limit="1G",
            mem_guarantee="256M",
            cpu_limit=1.0,
            cpu_guarantee=0.1,
            idle_timeout_seconds=idle_timeout_seconds,
            start_timeout_seconds=300,
        ),
        swarm=schema.Swarm(
            network=placement.network.name,
            # One node: the workers' placement constraint would leave nowhere to run.
            placement_constraints=(),
            hub_address=placement.network.hub_address,
            hub_api_port=layout.HUB_API_PORT,
            proxy_address=placement.network.proxy_address,
        ),
        homes=homes_at(str(files.homes_dir)),
        hub=schema.Hub(
            port=placement.port,
            proxy_api_port=layout.PROXY_API_PORT,
            state_dir=str(files.state_dir),
            concurrent_spawn_limit=30,
            active_server_limit=0,
        ),
        paths=schema.Paths(userlist=str(files.userlist_file), secrets_dir=str(files.secrets_dir)),
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
        "--proxy-token-file",
        str(files.secrets_dir / schema.PROXY_AUTH_TOKEN),
        "--network",
        placement.network.name,
        "--port",
        str(placement.port),
        "--settings-file",
        str(files.settings_file),
        "--state-dir",
        str(files.state_dir),
        "--homes-dir",
        str(files.homes_dir),
        "--etc-dir",
        str(files.etc_dir),
        "--secrets-dir",
        str(files.secrets_dir),
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
