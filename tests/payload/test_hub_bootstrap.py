"""The hub's bootstrap steps against the real hub image: build-image, install-secrets, start-hub
and sync-userlist run one after the other as the program runs them, then sync-userlist's changes
are read back through JupyterHub's REST API.

The hub runs on a bridge network of its own (no swarm needed: nothing is spawned here).
"""

import json
import secrets
import urllib.request
import uuid
from pathlib import Path

import camphub_settings as schema
import payload_checker
import pytest

from infra import layout
from infra.hub_settings import homes_at
from infra.payload import HUB_IMAGE as HUB_IMAGE_TREE
from infra.payload import image_tag
from rehearsal.detached import free_port

pytestmark = pytest.mark.live

# Tagged by content hash as the program tags it, so a changed context is built again.
HUB_IMAGE = image_tag(HUB_IMAGE_TREE)
STUDENT, CLASSMATE, TEACHER = "alice@example.org", "bob@example.org", "teacher@example.org"


def class_list(*users: tuple[str, bool]) -> str:
    return json.dumps({"users": [{"name": name, "admin": admin} for name, admin in users]})


class HubMachine:
    """The hub machine's directories under a temporary root; the scripts run against them."""

    def __init__(self, root: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.container = f"{payload_checker.NAME_PREFIX}realhub-{suffix}"
        self.network = f"{payload_checker.NAME_PREFIX}hubnet-{suffix}"
        self.port = free_port("127.0.0.1")
        self.etc = root / "etc"
        self.secrets = self.etc / "secrets"
        self.userlist = self.etc / "userlist.json"
        self.state = root / "state"
        self.homes = root / "homes"
        self.homes.mkdir(parents=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> str:
        """The settings the program writes (infra/hub_settings.py), for this temporary root."""
        return schema.to_json(
            schema.HubSettings(
                public_url=f"https://127.0.0.1:{self.port}",
                oauth=schema.OAuth(
                    client_id="camphub-bootstrap-test",
                    callback_url=f"https://127.0.0.1:{self.port}/hub/oauth_callback",
                ),
                notebook=schema.Notebook(
                    image="camphub/notebook:test",
                    mem_limit="1G",
                    mem_guarantee="256M",
                    cpu_limit=1.0,
                    cpu_guarantee=0.1,
                    idle_timeout_seconds=3600,
                    start_timeout_seconds=300,
                ),
                swarm=schema.Swarm(
                    network=self.network,
                    placement_constraints=(),
                    hub_hostname=self.container,
                    hub_api_port=layout.HUB_API_PORT,
                ),
                homes=homes_at(str(self.homes)),
                hub=schema.Hub(
                    port=self.port,
                    state_dir=str(self.state),
                    concurrent_spawn_limit=10,
                    active_server_limit=10,
                ),
                paths=schema.Paths(userlist=str(self.userlist), secrets_dir=str(self.secrets)),
            )
        )

    def install_secrets(self) -> str:
        values = {name: secrets.token_hex(24) for name in schema.SECRET_NAMES}
        return payload_checker.run_script(
            "install-secrets", "--secrets-dir", str(self.secrets), stdin=json.dumps(values)
        ).stdout

    def start_hub(self) -> str:
        return payload_checker.run_script(
            "start-hub", "--image", HUB_IMAGE, "--container", self.container,
            "--network", self.network, "--port", str(self.port),
            "--settings-file", str(self.etc / "hub-settings.json"),
            "--state-dir", str(self.state), "--homes-dir", str(self.homes),
            "--etc-dir", str(self.etc), "--secrets-dir", str(self.secrets),
            "--wait-seconds", "120",
            stdin=self.settings(),
        ).stdout  # fmt: skip

    def sync_userlist(self, users: str) -> str:
        return payload_checker.run_script(
            "sync-userlist", "--userlist-file", str(self.userlist),
            "--secrets-dir", str(self.secrets), "--hub-url", self.url, "--wait-seconds", "60",
            stdin=users,
        ).stdout  # fmt: skip

    def hub_users(self) -> dict[str, bool]:
        """{name: admin} as the hub's API reports it, read with the sync service's token."""
        token = (self.secrets / "userlist_sync_token").read_text()
        request = urllib.request.Request(
            f"{self.url}/hub/api/users", headers={"Authorization": f"token {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return {user["name"]: user["admin"] for user in json.load(response)}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Secrets installed and the real hub started, as bootstrap steps 7 and 8 do."""
    payload_checker.run_script(
        "build-image", "--context", str(HUB_IMAGE_TREE.local_dir), "--tag", HUB_IMAGE
    )
    machine = HubMachine(tmp_path_factory.mktemp("hub-machine"))
    payload_checker.docker("network", "create", machine.network)
    try:
        machine.install_secrets()
        started = machine.start_hub()
        assert "hub container created" in started and "empty class list written" in started
        yield machine
    except BaseException:
        print(payload_checker.docker("logs", "--tail", "60", machine.container, check=False))
        raise
    finally:
        payload_checker.docker("rm", "-f", machine.container, check=False)
        payload_checker.docker("network", "rm", machine.network, check=False)


def test_students_arrive_in_the_hub_and_in_the_file(hub):
    output = hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    assert output == f"sync-userlist: added {STUDENT}, {CLASSMATE}; userlist file written\n"
    assert hub.hub_users() == {STUDENT: False, CLASSMATE: False}
    assert json.loads(hub.userlist.read_text())["users"][0] == {"name": STUDENT, "admin": False}


def test_the_same_class_list_again_changes_nothing(hub):
    users = class_list((STUDENT, False), (CLASSMATE, False))
    hub.sync_userlist(users)
    assert hub.sync_userlist(users) == "sync-userlist: nothing changed; userlist file unchanged\n"


def test_a_removed_student_is_deleted_without_a_hub_restart(hub):
    hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    started_at = hub_started_at(hub)
    output = hub.sync_userlist(class_list((CLASSMATE, False)))
    assert output == f"sync-userlist: removed {STUDENT}; userlist file written\n"
    assert hub.hub_users() == {CLASSMATE: False}
    assert hub_started_at(hub) == started_at


# JupyterHub lets only an admin grant or revoke admin (apihandlers/users.py), whatever the
# token's scopes: the userlist-sync service needs `"admin": True` in jupyterhub_config.py.
def test_admins_are_added_promoted_and_demoted_without_a_hub_restart(hub):
    hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False)))
    started_at = hub_started_at(hub)
    output = hub.sync_userlist(class_list((STUDENT, True), (CLASSMATE, False), (TEACHER, True)))
    assert output == (
        f"sync-userlist: added {TEACHER}; promoted {STUDENT}; userlist file written\n"
    )
    assert hub.hub_users() == {STUDENT: True, CLASSMATE: False, TEACHER: True}
    output = hub.sync_userlist(class_list((STUDENT, False), (CLASSMATE, False), (TEACHER, True)))
    assert output == f"sync-userlist: demoted {STUDENT}; userlist file written\n"
    assert hub.hub_users() == {STUDENT: False, CLASSMATE: False, TEACHER: True}
    assert hub_started_at(hub) == started_at


def hub_started_at(hub) -> str:
    return payload_checker.docker(
        "inspect", "--format", "{{.State.StartedAt}}", hub.container
    ).stdout


def test_a_rerun_of_start_hub_leaves_the_running_hub_alone(hub):
    assert hub.start_hub() == "start-hub: nothing changed\n"
