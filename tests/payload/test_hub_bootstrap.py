"""The hub's bootstrap steps against the real hub and proxy images: build-image, install-secrets,
start-hub and sync-userlist run one after the other as the program runs them, then
sync-userlist's changes are read back through JupyterHub's REST API.

The hub and the proxy run on a bridge network of their own (no swarm needed: nothing is spawned
here), at fixed addresses as on the camp's overlay.
"""

import json
import secrets
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import addressed_network
import camphub_settings as schema
import payload_checker
import pytest
from hub_files import HubFiles
from sample_hub_settings import sample_settings
from waiting import wait_for

from infra import layout
from infra.payload import HUB_IMAGE as HUB_IMAGE_TREE
from infra.payload import PROXY_IMAGE as PROXY_IMAGE_TREE
from infra.payload import build_image_arguments, image_tag
from rehearsal.detached import free_port

pytestmark = pytest.mark.live

# Tagged by content hash as the program tags it, so a changed context is built again.
HUB_IMAGE = image_tag(HUB_IMAGE_TREE)
PROXY_IMAGE = image_tag(PROXY_IMAGE_TREE)
STUDENT, CLASSMATE, TEACHER = "alice@example.org", "bob@example.org", "teacher@example.org"


def class_list(*users: tuple[str, bool]) -> str:
    return json.dumps({"users": [{"name": name, "admin": admin} for name, admin in users]})


class HubMachine(HubFiles):
    """The hub machine's directories under a temporary root; the scripts run against them."""

    def __init__(self, root: Path, network: addressed_network.AddressedNetwork) -> None:
        super().__init__(root)
        suffix = uuid.uuid4().hex[:8]
        self.container = f"{payload_checker.NAME_PREFIX}realhub-{suffix}"
        self.proxy_container = f"{payload_checker.NAME_PREFIX}proxy-{suffix}"
        self.network = network
        self.port = free_port("127.0.0.1")
        self.homes_dir.mkdir(parents=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, active_server_limit: int = 10) -> str:
        """The settings the program writes (infra/hub_settings.py), for this temporary root."""
        return schema.to_json(
            sample_settings(
                f"https://127.0.0.1:{self.port}",
                oauth={"client_id": "camphub-bootstrap-test"},
                notebook={"image": "camphub/notebook:test"},
                swarm=self.network.swarm_section(),
                hub={
                    "port": self.port,
                    "state_dir": str(self.state_dir),
                    "active_server_limit": active_server_limit,
                },
                **self.settings_sections(),
            )
        )

    def install_secrets(self) -> str:
        values = {name: secrets.token_hex(24) for name in schema.SECRET_NAMES}
        return payload_checker.run_script(
            "install-secrets", "--secrets-dir", str(self.secrets_dir), stdin=json.dumps(values)
        ).stdout

    def start_hub(self, active_server_limit: int = 10) -> str:
        return payload_checker.run_script(
            "start-hub", *self.start_hub_arguments(), stdin=self.settings(active_server_limit)
        ).stdout

    def start_hub_arguments(self) -> list[str]:
        return [
            "--image", HUB_IMAGE, "--container", self.container,
            "--proxy-image", PROXY_IMAGE, "--proxy-container", self.proxy_container,
            "--network", self.network.name, "--port", str(self.port),
            *self.start_hub_options(), "--wait-seconds", "120",
        ]  # fmt: skip

    def sync_userlist(self, users: str) -> str:
        return payload_checker.run_script(
            "sync-userlist", "--userlist-file", str(self.userlist_file),
            "--secrets-dir", str(self.secrets_dir), "--hub-url", self.url, "--wait-seconds", "60",
            stdin=users,
        ).stdout  # fmt: skip

    def proxy_routes(self) -> dict:
        """The proxy's routing table, read through its API with the token start-hub mounted."""
        token = self.secret(schema.PROXY_AUTH_TOKEN).read_text()
        request = urllib.request.Request(
            f"http://{self.network.proxy_address}:{layout.PROXY_API_PORT}/api/routes",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def api(self, path: str, method: str = "GET", token: str | None = None):
        """The hub API's answer to `path`, by default as the sync service."""
        token = token or self.secret(schema.USERLIST_SYNC_TOKEN).read_text()
        request = urllib.request.Request(
            f"{self.url}/hub/api{path}", method=method, headers={"Authorization": f"token {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or "null")

    def hub_users(self) -> dict[str, bool]:
        """{name: admin} as the hub's API reports it, read with the sync service's token."""
        return {user["name"]: user["admin"] for user in self.api("/users")}

    def user_token(self, username: str) -> str:
        """A token for a user, made by the hub's own command line."""
        made = payload_checker.docker(
            "exec", self.container, "jupyterhub", "token",
            "--config", "/srv/jupyterhub/jupyterhub_config.py", username,
        )  # fmt: skip
        return made.stdout.split()[-1]

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/hub/health", timeout=5) as response:
            return response.status == 200


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Secrets installed and the real proxy and hub started, as the bootstrap steps do."""
    for tree in (HUB_IMAGE_TREE, PROXY_IMAGE_TREE):
        payload_checker.run_script("build-image", *build_image_arguments(tree, on_the_hub=False))
    network = addressed_network.create(
        f"{payload_checker.NAME_PREFIX}hubnet-{uuid.uuid4().hex[:8]}"
    )
    machine = HubMachine(tmp_path_factory.mktemp("hub-machine"), network)
    try:
        machine.install_secrets()
        started = machine.start_hub()
        assert "proxy container created" in started and "hub container created" in started
        assert "empty class list written" in started
        yield machine
    except BaseException:
        for container in (machine.container, machine.proxy_container):
            print(payload_checker.docker("logs", "--tail", "60", container, check=False))
        raise
    finally:
        payload_checker.docker("rm", "-f", machine.container, machine.proxy_container, check=False)
        payload_checker.docker("network", "rm", network.name, check=False)


def test_students_arrive_in_the_hub_and_in_the_file(hub):
    output = hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    assert output == f"sync-userlist: added {STUDENT}, {CLASSMATE}; userlist file written\n"
    assert hub.hub_users() == {STUDENT: False, CLASSMATE: False}
    assert json.loads(hub.userlist_file.read_text())["users"][0] == {
        "name": STUDENT,
        "admin": False,
    }


def test_the_same_class_list_again_changes_nothing(hub):
    users = class_list((STUDENT, False), (CLASSMATE, False))
    hub.sync_userlist(users)
    assert hub.sync_userlist(users) == "sync-userlist: nothing changed; userlist file unchanged\n"


def test_a_removed_student_is_deleted_without_a_hub_restart(hub):
    hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    started_at = container_started_at(hub.container)
    output = hub.sync_userlist(class_list((CLASSMATE, False)))
    assert output == f"sync-userlist: removed {STUDENT}; userlist file written\n"
    assert hub.hub_users() == {CLASSMATE: False}
    assert container_started_at(hub.container) == started_at


# JupyterHub lets only an admin grant or revoke admin (apihandlers/users.py), whatever the
# token's scopes: the userlist-sync service needs `"admin": True` in jupyterhub_config.py.
def test_admins_are_added_promoted_and_demoted_without_a_hub_restart(hub):
    hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    started_at = container_started_at(hub.container)
    output = hub.sync_userlist(class_list((STUDENT, True), (CLASSMATE, False), (TEACHER, True)))
    assert output == (
        f"sync-userlist: added {TEACHER}; promoted {STUDENT}; userlist file written\n"
    )
    assert hub.hub_users() == {STUDENT: True, CLASSMATE: False, TEACHER: True}
    output = hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False), (TEACHER, True)))
    assert output == f"sync-userlist: demoted {STUDENT}; userlist file written\n"
    assert hub.hub_users() == {STUDENT: False, CLASSMATE: False, TEACHER: True}
    assert container_started_at(hub.container) == started_at


def container_started_at(container: str) -> str:
    return payload_checker.docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout


def test_a_rerun_of_start_hub_leaves_the_running_hub_alone(hub):
    assert hub.start_hub() == "start-hub: nothing changed\n"


def test_a_recreated_hub_leaves_the_proxy_running_and_routes_through_it_again(hub):
    proxy_started_at = container_started_at(hub.proxy_container)
    try:
        assert hub.start_hub(active_server_limit=11) == (
            "start-hub: settings written; hub container recreated\n"
        )
    finally:
        hub.start_hub()
    assert container_started_at(hub.proxy_container) == proxy_started_at
    hub_route = hub.proxy_routes()["/"]
    assert hub_route["target"] == f"http://{hub.network.hub_address}:{layout.HUB_API_PORT}"


def test_the_proxy_has_no_privilege_and_its_token_only_in_a_read_only_file(hub):
    inspected = json.loads(payload_checker.docker("inspect", hub.proxy_container).stdout)[0]
    token = hub.secret(schema.PROXY_AUTH_TOKEN).read_text().strip()
    assert token not in json.dumps(inspected)
    assert inspected["HostConfig"]["CapDrop"] == ["ALL"]
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    (token_mount,) = [
        m for m in inspected["Mounts"] if m["Source"].endswith(schema.PROXY_AUTH_TOKEN)
    ]
    assert token_mount["RW"] is False
    # The API answers on the proxy's overlay address only: never on the published port.
    published = inspected["HostConfig"]["PortBindings"]
    assert published == {f"{hub.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(hub.port)}]}


def test_a_restarted_hub_keeps_its_users_in_the_state_directory(hub):
    hub.sync_userlist(class_list((STUDENT, False), (TEACHER, True)))
    latecomer = "dana@example.org"
    hub.api(f"/users/{latecomer}", method="POST")
    payload_checker.docker("restart", hub.container)
    wait_for(hub.healthy, timeout=120, what="the restarted hub answers through the proxy")
    assert hub.hub_users() == {STUDENT: False, TEACHER: True, latecomer: False}
    assert (hub.state_dir / "jupyterhub.sqlite").is_file()
    logs = payload_checker.docker("logs", hub.container).stderr
    assert "Starting managed service idle-culler" in logs


def test_metrics_are_for_admins_only(hub):
    hub.sync_userlist(class_list((STUDENT, False), (TEACHER, True)))
    metrics = f"{hub.url}/hub/metrics"
    assert status_of(metrics, hub.user_token(TEACHER)) == 200
    assert status_of(metrics, hub.user_token(STUDENT)) == 403
    assert status_of(metrics, None) == 403


def status_of(url: str, token: str | None) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_proxy_made_again_brings_the_hub_back_to_give_it_every_route(hub):
    payload_checker.docker("rm", "--force", hub.proxy_container)
    output = hub.start_hub()
    assert output == "start-hub: proxy container created; hub container recreated\n"
    assert "/" in hub.proxy_routes()


def test_the_hub_is_reached_only_through_the_proxy_and_sees_its_directories(hub):
    hub_config = json.loads(payload_checker.docker("inspect", hub.container).stdout)[0]
    assert hub_config["HostConfig"]["PortBindings"] in ({}, None)
    mounts = {m["Destination"]: m["RW"] for m in hub_config["Mounts"]}
    assert mounts == {
        "/var/run/docker.sock": True,
        str(hub.etc_dir): False,
        str(hub.state_dir): True,
        str(hub.homes_dir): True,
    }
    for container in (hub.container, hub.proxy_container):
        policy = payload_checker.docker(
            "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", container
        ).stdout.strip()
        assert policy == "unless-stopped"


def test_a_changed_secret_recreates_the_hub_and_is_never_printed(hub):
    cookie_secret = hub.secret(schema.COOKIE_SECRET)
    cookie_secret.write_text(secrets.token_hex(32))
    started = payload_checker.run_script(
        "start-hub", *hub.start_hub_arguments(), stdin=hub.settings()
    )
    assert started.stdout == "start-hub: hub container recreated\n"
    assert cookie_secret.read_text() not in started.stdout + started.stderr


def test_a_stopped_hub_is_started_again(hub):
    payload_checker.docker("stop", hub.container)
    assert hub.start_hub() == "start-hub: hub container started\n"


def test_settings_that_are_not_a_json_object_are_refused(hub):
    refused = payload_checker.run_script(
        "start-hub", *hub.start_hub_arguments(), stdin="[1, 2]", check=False
    )
    assert refused.returncode != 0
    assert "stdin must be the hub settings as a JSON object" in refused.stderr
