"""jupyterhub_config.py, loaded by JupyterHub's own config loader inside the real hub image.

Sample settings use the machine layout (infra/layout.py); the files are mounted where the hub
machine has them. hub_config_probe.py reports the traits the real authenticator and spawner
classes end up with, and the last test runs the hub itself.
"""

import copy
import importlib.util
import json
import py_compile
import secrets
import subprocess
from pathlib import Path

import camphub_settings as schema
import pytest
from hub_files import HubFiles
from sample_hub_settings import sample_settings

from infra import layout

CONFIG_FILE = layout.PROJECT_DIR / "images" / "hub" / "jupyterhub_config.py"
PROBE = Path(__file__).with_name("hub_config_probe.py")
PROBE_IN_CONTAINER = "/tmp/hub_config_probe.py"
STUDENT = "alice@example.org"
STUDENT_HOME = "alice-40example-2eorg"  # DockerSpawner's escaped form of STUDENT
TEACHER = "teacher@example.org"

# Written as the program writes them (optional keys at their defaults), through the schema, with
# limits unlike the sample's so that the tests see them come through.
SAMPLE_SETTINGS = schema.as_dict(
    sample_settings(
        notebook={
            "mem_limit": "2G",
            "mem_guarantee": "1G",
            "cpu_limit": 1.5,
            "cpu_guarantee": 0.25,
            "start_timeout_seconds": 600,
        },
        hub={"concurrent_spawn_limit": 30, "active_server_limit": 40},
    )
)


class HubInputs(HubFiles):
    """What bootstrap writes on the hub machine, in a temporary directory per test."""

    def __init__(self, root: Path, settings: dict) -> None:
        super().__init__(root)
        self.settings = settings

    def write(self) -> None:
        self.settings_file.write_text(json.dumps(self.settings))

    def volumes(self) -> list[str]:
        """Mounts at the machine's paths, as start-hub makes them."""
        return [
            f"--volume={self.etc_dir}:{layout.HUB_ETC_DIR}:ro",
            f"--volume={self.homes_dir}:{layout.HOMES_MOUNT_DIR}",
            f"--volume={self.state_dir}:{layout.HUB_STATE_DIR}",
        ]


def make_hub_inputs(root: Path) -> HubInputs:
    inputs = HubInputs(root, copy.deepcopy(SAMPLE_SETTINGS))
    for directory in (inputs.secrets_dir, inputs.homes_dir, inputs.state_dir):
        directory.mkdir(parents=True)
    inputs.secrets_dir.chmod(0o700)
    for name in schema.SECRET_NAMES:
        inputs.secret(name).write_text(secrets.token_hex(32) + "\n")
        inputs.secret(name).chmod(0o600)
    class_list = {"users": [{"name": STUDENT, "admin": False}, {"name": TEACHER, "admin": True}]}
    inputs.userlist_file.write_text(json.dumps(class_list))
    inputs.write()
    return inputs


@pytest.fixture
def hub_inputs(tmp_path) -> HubInputs:
    return make_hub_inputs(tmp_path)


def run_probe(images, inputs: HubInputs, *args: str) -> subprocess.CompletedProcess:
    command = [
        "docker", "run", "--rm", f"--name=h1-probe-{secrets.token_hex(4)}",
        *inputs.volumes(),
        f"--volume={PROBE}:{PROBE_IN_CONTAINER}:ro",
        images.hub, "python", PROBE_IN_CONTAINER, *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def probe_report(images, inputs: HubInputs) -> dict:
    result = run_probe(images, inputs, "report")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def default_inputs(tmp_path_factory) -> HubInputs:
    return make_hub_inputs(tmp_path_factory.mktemp("hub-inputs"))


@pytest.fixture(scope="module")
def report(camphub_images, default_inputs) -> dict:
    """What the sample settings produce; read-only for the tests that share it."""
    return probe_report(camphub_images, default_inputs)


def test_config_compiles(tmp_path):
    py_compile.compile(str(CONFIG_FILE), cfile=str(tmp_path / "config.pyc"), doraise=True)


@pytest.mark.live
def test_only_the_class_list_signs_in_under_full_lowercased_emails(report):
    google = report["authenticator"]
    assert report["hub"]["authenticator_class"] == "oauthenticator.google.GoogleOAuthenticator"
    assert google["allowed_users"] == [STUDENT, TEACHER]
    assert google["admin_users"] == [TEACHER]
    assert google["allow_all"] is False
    # Students the userlist sync adds later through the API may sign in without a restart.
    assert google["allow_existing_users"] is True
    assert google["strip_domain"] is False
    assert set(google["username_of"].values()) == {STUDENT}


@pytest.mark.live
def test_sign_in_waits_for_google_longer_than_tornados_20_seconds(report):
    # A whole class signing in at 9:00 makes some answers slow; past the timeout the student
    # gets an error page and must start over (bench/RESULTS.md).
    assert report["authenticator"]["http_request_kwargs"]["request_timeout"] > 20


@pytest.mark.live
def test_google_endpoints_unless_the_settings_name_a_stand_in(camphub_images, hub_inputs, report):
    assert report["authenticator"]["authorize_url"].startswith("https://accounts.google.com/")
    assert report["authenticator"]["userdata_url"].startswith("https://www.googleapis.com/")
    stand_in = "http://172.17.0.1:9999"
    hub_inputs.settings["oauth"] |= {
        "authorize_url": f"{stand_in}/authorize",
        "token_url": f"{stand_in}/token",
        "userdata_url": f"{stand_in}/userinfo",
    }
    hub_inputs.write()
    google = probe_report(camphub_images, hub_inputs)["authenticator"]
    assert google["authorize_url"] == f"{stand_in}/authorize"
    assert google["token_url"] == f"{stand_in}/token"
    assert google["userdata_url"] == f"{stand_in}/userinfo"


@pytest.mark.live
def test_a_hosted_domain_restricts_sign_in_but_keeps_full_emails(camphub_images, hub_inputs):
    hub_inputs.settings["oauth"]["hosted_domains"] = ["Example.org"]
    hub_inputs.write()
    google = probe_report(camphub_images, hub_inputs)["authenticator"]
    assert google["hosted_domain"] == ["example.org"]
    assert google["strip_domain"] is False
    assert set(google["username_of"].values()) == {STUDENT}


@pytest.mark.live
def test_secrets_come_from_the_secret_files(default_inputs, report):
    def secret(name):
        return default_inputs.secret(name).read_text().strip()

    assert report["authenticator"]["client_secret"] == secret("oauth_client_secret")
    assert report["hub"]["proxy_auth_token"] == secret("proxy_auth_token")
    assert report["hub"]["cookie_secret_file"] == f"{layout.SECRETS_DIR}/cookie_secret"
    sync = next(s for s in report["hub"]["services"] if s["name"] == "userlist-sync")
    assert sync["api_token"] == secret("userlist_sync_token")


@pytest.mark.live
def test_hub_listens_behind_nginx_and_keeps_state_on_the_host(report):
    hub = report["hub"]
    assert hub["public_url"] == "https://camp.example.org/"
    assert hub["subdomain_host"] == ""  # students' servers on the hub's origin, unless asked
    assert hub["bind_url"] == f"http://0.0.0.0:{layout.HUB_PORT}"
    assert hub["hub_bind_url"] == f"http://0.0.0.0:{layout.HUB_API_PORT}"
    assert hub["hub_connect_url"] == (f"http://{layout.HUB_OVERLAY_ADDRESS}:{layout.HUB_API_PORT}")
    assert hub["db_url"] == f"sqlite:///{layout.HUB_STATE_DIR}/jupyterhub.sqlite"
    # The proxy runs apart and outlives the hub: the hub only talks to its API.
    assert hub["proxy_should_start"] is False
    assert hub["proxy_api_url"] == f"http://{layout.PROXY_OVERLAY_ADDRESS}:{layout.PROXY_API_PORT}"
    # A proxy restarted on its own has its routes back within a minute.
    assert hub["last_activity_interval"] == 60
    # A restarted hub must leave the students' servers running.
    assert hub["cleanup_servers"] is False
    # ...and answer only once it knows which of them still run (-1: however long that takes).
    assert hub["init_spawners_timeout"] == -1
    assert hub["concurrent_spawn_limit"] == 30
    assert hub["active_server_limit"] == 40
    assert hub["authenticate_prometheus"] is True


@pytest.mark.live
def test_user_subdomains_put_each_server_under_the_hubs_host(camphub_images, hub_inputs):
    hub_inputs.settings["user_subdomains"] = True
    hub_inputs.write()
    hub = probe_report(camphub_images, hub_inputs)["hub"]
    assert hub["subdomain_host"] == "https://camp.example.org"


@pytest.mark.live
def test_students_run_as_swarm_services_on_workers(report):
    spawner = report["spawner"]
    assert report["hub"]["spawner_class"] == "camphub_spawner.CamphubSwarmSpawner"
    assert spawner["image"] == SAMPLE_SETTINGS["notebook"]["image"]
    assert spawner["cmd"] == ["jupyterhub-singleuser"]
    assert spawner["pull_policy"] == "skip"
    assert spawner["network_name"] == layout.OVERLAY_NETWORK
    assert spawner["use_internal_ip"] is True
    assert spawner["extra_endpoint_spec"] == {"mode": "dnsrr"}
    assert spawner["extra_placement_spec"] == {"constraints": ["node.role == worker"]}
    assert spawner["extra_container_spec"] == {"cap_drop": ["ALL"]}
    assert spawner["object_name"] == f"jupyter-{STUDENT_HOME}"
    assert spawner["remove"] is True
    assert spawner["start_timeout"] == 600
    assert spawner["default_url"] == "/lab"
    # Nothing in a student's home configures the server their teachers open.
    assert spawner["disable_user_config"] is True


@pytest.mark.live
def test_limits_and_guarantees_come_from_the_settings(report):
    spawner = report["spawner"]
    assert spawner["mem_limit"] == 2 * 1024**3
    assert spawner["mem_guarantee"] == 1024**3
    assert spawner["cpu_limit"] == 1.5
    assert spawner["cpu_guarantee"] == 0.25


@pytest.mark.live
def test_a_student_sees_only_their_own_home_snapshots_and_usage(report):
    homes = layout.HOMES_MOUNT_DIR
    assert report["spawner"]["volume_binds"] == {
        f"{homes}/{STUDENT_HOME}": {"bind": "/home/jovyan", "mode": "rw"},
        f"{homes}/{layout.SNAPSHOTS_DIRNAME}/{STUDENT_HOME}": {
            "bind": layout.SNAPSHOTS_CONTAINER_DIR,
            "mode": "ro",
        },
        f"{homes}/{layout.USAGE_DIRNAME}/{STUDENT_HOME}": {
            "bind": layout.USAGE_CONTAINER_DIR,
            "mode": "ro",
        },
    }
    # The NFS server makes the homes; the hub runs nothing before a spawn (its root is squashed).
    assert report["spawner"]["has_pre_spawn_hook"] is False


@pytest.mark.live
def test_the_culler_holds_only_the_scopes_it_needs(report):
    services = {service["name"]: service for service in report["hub"]["services"]}
    roles = {role["name"]: role for role in report["hub"]["load_roles"]}
    assert set(services) == {"idle-culler", "userlist-sync"}
    assert "--timeout=3600" in services["idle-culler"]["command"]
    assert "--cull-every=300" in services["idle-culler"]["command"]
    assert "api_token" not in services["idle-culler"]
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert sorted(roles["idle-culler"]["scopes"]) == sorted(
        ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    )


@pytest.mark.live
def test_the_userlist_sync_joins_the_admin_role_and_changes_nothing_else_in_it(report):
    roles = {role["name"]: role for role in report["hub"]["load_roles"]}
    # Only an admin may grant or revoke admin through the API; see the running hub below.
    assert roles["admin"] == {"name": "admin", "services": ["userlist-sync"]}
    assert not any(service.get("admin") for service in report["hub"]["services"])


@pytest.mark.live
def test_a_short_idle_timeout_is_checked_often_enough(camphub_images, hub_inputs):
    hub_inputs.settings["notebook"]["idle_timeout_seconds"] = 60
    hub_inputs.write()
    hub = probe_report(camphub_images, hub_inputs)["hub"]
    culler = next(s for s in hub["services"] if s["name"] == "idle-culler")
    assert "--timeout=60" in culler["command"]
    assert "--cull-every=30" in culler["command"]


@pytest.mark.live
def test_an_idle_timeout_of_zero_runs_no_culler(camphub_images, hub_inputs):
    hub_inputs.settings["notebook"]["idle_timeout_seconds"] = 0
    hub_inputs.write()
    hub = probe_report(camphub_images, hub_inputs)["hub"]
    assert [service["name"] for service in hub["services"]] == ["userlist-sync"]
    assert [role["name"] for role in hub["load_roles"]] == ["admin"]


def load_config_module():
    """The config file as a module, on this machine's Python: its checks need only stdlib."""
    spec = importlib.util.spec_from_file_location("camphub_jupyterhub_config", CONFIG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class AnyConfig:
    """Stands in for traitlets' Config where only the config's own checks are under test."""

    def __getattr__(self, name):
        section = AnyConfig()
        setattr(self, name, section)
        return section


@pytest.fixture
def host_inputs(tmp_path) -> HubInputs:
    """The sample inputs with the class list and secrets at their paths on this machine."""
    inputs = make_hub_inputs(tmp_path)
    inputs.settings["paths"] = schema.as_dict(inputs.settings_sections()["paths"])
    inputs.write()
    return inputs


def configure_error(inputs: HubInputs) -> str:
    config = load_config_module()
    with pytest.raises(config.SettingsError) as error:
        config.configure(AnyConfig(), config.load_settings(inputs.settings_file))
    return str(error.value)


def test_the_sample_settings_configure_without_error(host_inputs):
    config = load_config_module()
    hub = AnyConfig()
    config.configure(hub, config.load_settings(host_inputs.settings_file))
    assert hub.SwarmSpawner.image == SAMPLE_SETTINGS["notebook"]["image"]


@pytest.mark.parametrize(
    "key",
    [
        "notebook.image",
        "swarm.network",
        "hub.state_dir",
        "oauth.client_id",
        "homes.snapshots_dirname",
        "homes.usage_container_dir",
    ],
)
def test_a_missing_setting_is_named(host_inputs, key):
    section, name = key.split(".")
    del host_inputs.settings[section][name]
    host_inputs.write()
    assert f"required setting {key!r} is missing" in configure_error(host_inputs)


def test_a_mistyped_setting_is_named(host_inputs):
    host_inputs.settings["notebook"]["cpu_limit"] = "lots"
    host_inputs.write()
    error = configure_error(host_inputs)
    assert "setting 'notebook.cpu_limit' must be int or float, got str 'lots'" in error


def test_a_boolean_is_not_a_number(host_inputs):
    host_inputs.settings["hub"]["port"] = True
    host_inputs.write()
    assert "setting 'hub.port' must be int, got bool True" in configure_error(host_inputs)


def test_a_missing_settings_file_is_named(tmp_path):
    config = load_config_module()
    with pytest.raises(config.SettingsError, match=r"hub settings file .* does not exist"):
        config.load_settings(tmp_path / "absent.json")


def test_a_missing_secret_file_is_named(host_inputs):
    host_inputs.secret("oauth_client_secret").unlink()
    expected = f"secret file {host_inputs.secret('oauth_client_secret')} does not exist"
    assert expected in configure_error(host_inputs)


def test_an_api_token_jupyterhub_would_never_match_is_refused(host_inputs):
    host_inputs.secret("userlist_sync_token").write_text("x" * 65)
    error = configure_error(host_inputs)
    assert "userlist_sync_token must hold 8 to 64 characters, it holds 65" in error


def test_a_malformed_class_list_is_named(host_inputs):
    host_inputs.userlist_file.write_text('{"users": [{"admin": true}]}')
    assert "userlist.json: entry 1 has no email 'name'" in configure_error(host_inputs)


def test_a_negative_idle_timeout_is_refused(host_inputs):
    host_inputs.settings["notebook"]["idle_timeout_seconds"] = -5
    host_inputs.write()
    assert "'notebook.idle_timeout_seconds' must be >= 0" in configure_error(host_inputs)


@pytest.mark.live
def test_jupyterhub_stops_on_incomplete_settings_and_names_the_key(camphub_images, hub_inputs):
    del hub_inputs.settings["notebook"]["image"]
    hub_inputs.write()
    result = subprocess.run(
        ["docker", "run", "--rm", f"--name=h1-hub-{secrets.token_hex(4)}", *hub_inputs.volumes(),
         camphub_images.hub],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "required setting 'notebook.image' is missing" in result.stderr
