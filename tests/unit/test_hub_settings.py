"""The hub's settings file, computed from the stack config."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import camphub_settings
import pytest
from program import deploy

from infra import layout
from infra.capacity import pool_capacity
from infra.config import NotebookSpec, OAuthEndpoints, WorkerPoolSpec
from infra.hub_settings import hub_settings, schema
from infra.payload import HUB_IMAGE, NOTEBOOK_IMAGE, image_tag

STAND_IN = OAuthEndpoints(
    authorize_url="http://10.0.0.1:8000/oauth2/authorize",
    token_url="http://10.0.0.1:8000/oauth2/token",
    userdata_url="http://10.0.0.1:8000/userinfo",
)


def test_settings_carry_the_notebook_limits_and_idle_timeout(camp_config):
    settings = hub_settings(camp_config, "https://hub.example.org", "camphub/notebook:abc")
    notebook = settings.notebook
    assert notebook.image == "camphub/notebook:abc"
    # The camp stack's notebook section; the idle time given in minutes, sent in seconds.
    assert (notebook.mem_limit, notebook.mem_guarantee) == ("2G", "1G")
    assert (notebook.cpu_limit, notebook.cpu_guarantee) == (1.0, 0.25)
    assert notebook.idle_timeout_seconds == camp_config.notebook.idle_cull_minutes * 60 == 3600
    # How long a start may take in all, and how long a started server has to answer.
    assert (notebook.start_timeout_seconds, notebook.http_timeout_seconds) == (600, 300)
    assert settings.oauth.callback_url == "https://hub.example.org/hub/oauth_callback"
    assert settings.swarm.placement_constraints == ("node.role == worker",)


def test_the_homes_section_names_the_mount_and_the_nfs_servers_directories_beside_the_homes(
    camp_config,
):
    # The hub only mounts; who owns the homes (uid, gid) is the NFS server's business.
    assert hub_settings(camp_config, "https://h", "img").homes == schema.Homes(
        host_dir=layout.HOMES_MOUNT_DIR,
        snapshots_dirname=layout.SNAPSHOTS_DIRNAME,
        snapshots_container_dir=layout.SNAPSHOTS_CONTAINER_DIR,
        usage_dirname=layout.USAGE_DIRNAME,
        usage_container_dir=layout.USAGE_CONTAINER_DIR,
    )


def test_sign_in_uses_googles_own_endpoints_unless_a_stand_in_is_configured(camp_config):
    assert camp_config.oauth_endpoints is None
    google = hub_settings(camp_config, "https://h", "img").oauth
    endpoints = ("authorize_url", "token_url", "userdata_url")
    assert [getattr(google, name) for name in endpoints] == [None, None, None]
    stand_in = dataclasses.replace(camp_config, oauth_endpoints=STAND_IN)
    oauth = hub_settings(stand_in, "https://h", "img").oauth
    assert oauth == dataclasses.replace(
        google,
        authorize_url="http://10.0.0.1:8000/oauth2/authorize",
        token_url="http://10.0.0.1:8000/oauth2/token",
        userdata_url="http://10.0.0.1:8000/userinfo",
    )


def test_settings_hold_no_class_list_so_adding_a_student_does_not_restart_the_hub(camp_config):
    settings = str(hub_settings(camp_config, "https://h", "img"))
    assert "ada@camp.example.org" not in settings


def test_spawn_limits_follow_what_the_workers_hold(camp_config):
    # 2 x t3.xlarge (16 GiB, 0.5 GiB reserved; 4 vCPUs) at 1 GiB and 0.25 CPU: 15 each.
    assert pool_capacity(camp_config) == 30
    bigger = dataclasses.replace(
        camp_config,
        workers=WorkerPoolSpec(count=3, instance_type="t3.xlarge"),
        notebook=dataclasses.replace(camp_config.notebook, mem_guarantee="512M"),
    )
    # At 512 MiB, memory would place 31 per worker; 4 vCPUs at 0.25 CPU place only 16.
    assert pool_capacity(bigger) == 3 * 16
    settings = hub_settings(bigger, "https://h", "img")
    assert settings.hub.concurrent_spawn_limit == 48
    assert settings.hub.active_server_limit == 48


def test_unknown_instance_types_leave_spawns_unlimited(camp_config):
    exotic = dataclasses.replace(
        camp_config, workers=WorkerPoolSpec(count=2, instance_type="x9z.huge")
    )
    assert pool_capacity(exotic) == 0
    assert isinstance(exotic.notebook, NotebookSpec)


class _AnyConfig:
    """Stands in for traitlets' Config: any section, any trait, remembered as set."""

    def __getattr__(self, name):
        section = _AnyConfig()
        setattr(self, name, section)
        return section


def _load_hub_config_module():
    path = layout.PROJECT_DIR / "images" / "hub" / "jupyterhub_config.py"
    spec = importlib.util.spec_from_file_location("camphub_jupyterhub_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hub_configuration_accepts_the_settings_the_program_writes(camp_config, tmp_path):
    """The contract between infra/hub_settings.py and images/hub/jupyterhub_config.py."""
    hub_config = _load_hub_config_module()
    camp_config = dataclasses.replace(camp_config, oauth_endpoints=STAND_IN)
    settings = hub_settings(camp_config, "https://hub.example.org", "camphub/notebook:abc")
    # Where the hub machine keeps these files, this test keeps them in a temporary directory.
    paths = schema.Paths(userlist=str(tmp_path / "userlist.json"), secrets_dir=str(tmp_path))
    settings_file = tmp_path / "hub-settings.json"
    settings_file.write_text(schema.to_json(dataclasses.replace(settings, paths=paths)))
    (tmp_path / "userlist.json").write_text(json.dumps(camp_config.class_list.as_hub_json()))
    for name in schema.SECRET_NAMES:
        (tmp_path / name).write_text("0123456789abcdef" * 4)
    config = _AnyConfig()
    hub_config.configure(config, hub_config.load_settings(settings_file))
    assert config.JupyterHub.public_url == "https://hub.example.org"
    assert config.SwarmSpawner.image == "camphub/notebook:abc"
    assert config.SwarmSpawner.mem_guarantee == "1G"
    assert config.GoogleOAuthenticator.token_url == "http://10.0.0.1:8000/oauth2/token"
    homes = layout.HOMES_MOUNT_DIR
    assert config.SwarmSpawner.volumes == {f"{homes}/{{username}}": "/home/jovyan"}
    assert config.SwarmSpawner.read_only_volumes == {
        f"{homes}/.camphub-snapshots/{{username}}": "/srv/camp/snapshots",
        f"{homes}/.camphub-usage/{{username}}": "/srv/camp/usage",
        f"{homes}/.camphub-materials": "/srv/camp/materials",
    }
    # The hub never touches a home: nothing runs before a spawn.
    assert "pre_spawn_hook" not in vars(config.SwarmSpawner)


# The settings file as the program writes it: a changed byte restarts every stack's hub, so a
# change here is deliberate (the proxy apart from the hub and the fixed overlay addresses were
# the last). The notebook image's tag changes with its files, so it is left out.
FIXTURES = Path(__file__).with_name("fixtures")
NOTEBOOK_IMAGE_IN_FIXTURES = "camphub/notebook:<content hash>"
EVERY_SECTION = {
    "sharedData": True,
    "googleHostedDomains": ["camp.example.org"],
    "oauthEndpoints": {
        "authorizeUrl": STAND_IN.authorize_url,
        "tokenUrl": STAND_IN.token_url,
        "userdataUrl": STAND_IN.userdata_url,
    },
}


@pytest.mark.parametrize(
    ("fixture", "extra_config"), [("base", {}), ("every-section", EVERY_SECTION)]
)
def test_the_program_writes_the_settings_file_byte_for_byte_as_before(
    base_config, fixture, extra_config
):
    written = deploy({**base_config, **extra_config}).named("hub-start-hub").inputs["stdin"]
    before = (FIXTURES / f"hub-settings.{fixture}.json").read_text()
    assert written == before.replace(NOTEBOOK_IMAGE_IN_FIXTURES, image_tag(NOTEBOOK_IMAGE))


def test_what_the_program_writes_the_hub_reads_back_unchanged(camp_config, tmp_path):
    camp_config = dataclasses.replace(camp_config, oauth_endpoints=STAND_IN, shared_data=True)
    settings = hub_settings(camp_config, "https://h", "img")
    path = tmp_path / "hub-settings.json"
    path.write_text(schema.to_json(settings))
    assert schema.load(path) == settings


def test_the_program_and_the_tests_use_the_schema_file_the_hub_image_carries():
    assert schema is camphub_settings
    assert Path(schema.__file__) == HUB_IMAGE.local_dir / "camphub_settings.py"


def test_a_knob_the_program_never_turns_stays_out_of_the_file(camp_config):
    # Written at its default it would change every stack's file, and so restart every hub.
    notebook = json.loads(schema.to_json(hub_settings(camp_config, "https://h", "img")))["notebook"]
    assert "pids_limit" not in notebook
    assert schema.parse(
        {**_written(camp_config), "notebook": notebook}, "f"
    ).notebook.pids_limit == (schema.DEFAULT_PIDS_LIMIT)


def _written(camp_config) -> dict:
    return schema.as_dict(hub_settings(camp_config, "https://h", "img"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["notebook"].pop("image"), "f: required setting 'notebook.image' is missing"),
        (lambda s: s.pop("oauth"), "f: required setting 'oauth' is missing"),
        (
            lambda s: s["hub"].update(port=True),
            "f: setting 'hub.port' must be int, got bool True",
        ),
        (
            lambda s: s["notebook"].update(cpu_limit="lots"),
            "f: setting 'notebook.cpu_limit' must be int or float, got str 'lots'",
        ),
        (
            lambda s: s["swarm"].update(placement_constraints=["a", 3]),
            "f: setting 'swarm.placement_constraints[1]' must be str, got int 3",
        ),
        (
            lambda s: s.update(materials={"host_dir": "/x"}),
            "f: required setting 'materials.container_dir' is missing",
        ),
        (
            lambda s: s["notebook"].update(idle_timeout_seconds=-5),
            "f: 'notebook.idle_timeout_seconds' must be >= 0",
        ),
    ],
)
def test_the_schema_names_the_dotted_key_it_refuses(camp_config, change, message):
    values = _written(camp_config)
    change(values)
    with pytest.raises(schema.SettingsError) as error:
        schema.parse(values, "f")
    assert str(error.value) == message


def test_optional_settings_take_their_defaults_when_absent_or_null(camp_config):
    values = _written(camp_config)
    del values["oauth"]["hosted_domains"]
    values["notebook"]["http_timeout_seconds"] = None
    del values["materials"]
    settings = schema.parse(values, "f")
    assert settings.oauth.hosted_domains == ()
    assert settings.notebook.http_timeout_seconds == schema.DEFAULT_HTTP_TIMEOUT_SECONDS
    assert settings.materials is None
