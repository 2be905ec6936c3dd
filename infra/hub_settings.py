"""The hub's settings file: every value jupyterhub_config.py uses, computed from the stack config.

The shape is the hub image's own schema, images/hub/camphub_settings.py: the program builds its
HubSettings and writes it with its to_json, the hub reads it with its load. Nothing secret goes
in here; secrets go to root-only files of their own, named there too.
"""

import dataclasses
import importlib.util
import sys
from types import ModuleType

from infra import layout
from infra.capacity import pool_capacity
from infra.config import CampConfig, OAuthEndpoints
from infra.payload import HUB_IMAGE

OAUTH_CALLBACK_PATH = "/hub/oauth_callback"
# Long enough for a cold start on a busy worker (the image is prebuilt on every worker).
SPAWN_START_TIMEOUT_SECONDS = 600
# How long a started server may take to answer. When the whole class starts at once, a full
# worker starts every server more slowly than one alone (about 1 CPU second each, shared): on the
# benchmark's 2 cores 100 students' servers were ready up to 121 s after they pressed sign-in
# (bench/RESULTS.md), at JupyterHub's default of 120 s.
SPAWN_HTTP_TIMEOUT_SECONDS = 300
# How long start-hub waits for a (re)started hub to answer: it answers once it has checked every
# server it finds running (side by side, each within the http timeout), after its own start.
HUB_READY_WAIT_SECONDS = SPAWN_HTTP_TIMEOUT_SECONDS + 120
SCHEMA_MODULE = "camphub_settings"


def _load_schema() -> ModuleType:
    """The schema file the hub image carries, loaded from the image's build context rather than
    copied into infra/, so the program cannot write what the hub would not read. It is registered
    under the name the hub imports it by: jupyterhub_config.py loaded in a test, or a test that
    imports it from images/hub (pytest's pythonpath), gets these very classes."""
    if SCHEMA_MODULE in sys.modules:
        return sys.modules[SCHEMA_MODULE]
    path = HUB_IMAGE.local_dir / f"{SCHEMA_MODULE}.py"
    spec = importlib.util.spec_from_file_location(SCHEMA_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[SCHEMA_MODULE] = module
    spec.loader.exec_module(module)
    return module


schema = _load_schema()

# The sections every camp has the same, from the machines' layout: where the servers run and
# how they call the hub back; where the class list and the secrets are on the hub machine.
CAMP_SWARM = schema.Swarm(
    network=layout.OVERLAY_NETWORK,
    placement_constraints=("node.role == worker",),
    hub_address=layout.HUB_OVERLAY_ADDRESS,
    hub_api_port=layout.HUB_API_PORT,
    proxy_address=layout.PROXY_OVERLAY_ADDRESS,
)
CAMP_PATHS = schema.Paths(userlist=layout.USERLIST_FILE, secrets_dir=layout.SECRETS_DIR)


def hub_settings(config: CampConfig, hub_url: str, notebook_image: str) -> schema.HubSettings:
    """Depends on the pool, never on the class list: adding a student must not restart the hub."""
    capacity = pool_capacity(config)
    notebook = config.notebook
    homes = layout.HOMES_MOUNT_DIR
    return schema.HubSettings(
        public_url=hub_url,
        oauth=schema.OAuth(
            client_id=config.oauth_client_id,
            callback_url=hub_url + OAUTH_CALLBACK_PATH,
            hosted_domains=tuple(config.google_hosted_domains),
            **_oauth_endpoints(config.oauth_endpoints),
        ),
        notebook=schema.Notebook(
            image=notebook_image,
            mem_limit=notebook.mem_limit,
            mem_guarantee=notebook.mem_guarantee,
            cpu_limit=notebook.cpu_limit,
            cpu_guarantee=notebook.cpu_guarantee,
            idle_timeout_seconds=notebook.idle_cull_minutes * 60,
            start_timeout_seconds=SPAWN_START_TIMEOUT_SECONDS,
            http_timeout_seconds=SPAWN_HTTP_TIMEOUT_SECONDS,
        ),
        swarm=CAMP_SWARM,
        homes=homes_at(homes),
        # The whole class may press "start" in the same minute at 9:00: let every start the
        # workers can hold proceed at once, and refuse the ones they cannot.
        hub=hub_at_its_paths(servers=capacity),
        paths=CAMP_PATHS,
        # Published on the homes volume by the NFS server (infra/materials.py).
        materials=schema.CourseFiles(
            host_dir=f"{homes}/{layout.MATERIALS_DIRNAME}",
            container_dir=layout.MATERIALS_CONTAINER_DIR,
        ),
        shared_data=schema.CourseFiles(
            host_dir=f"{homes}/{layout.SHARED_DATA_DIRNAME}",
            container_dir=layout.SHARED_DATA_CONTAINER_DIR,
        )
        if config.shared_data
        else None,
        user_subdomains=config.user_subdomains,
    )


def hub_at_its_paths(servers: int) -> schema.Hub:
    """The hub section at the hub machine's ports and paths, with at most `servers` starts in
    progress and servers running at once (0: no limit)."""
    return schema.Hub(
        port=layout.HUB_PORT,
        proxy_api_port=layout.PROXY_API_PORT,
        state_dir=layout.HUB_STATE_DIR,
        concurrent_spawn_limit=servers,
        active_server_limit=servers,
    )


def homes_at(host_dir: str) -> schema.Homes:
    """The homes section for homes mounted at `host_dir`; beside them the NFS server's snapshots
    and usage directories (tests mount homes elsewhere)."""
    return schema.Homes(
        host_dir=host_dir,
        snapshots_dirname=layout.SNAPSHOTS_DIRNAME,
        snapshots_container_dir=layout.SNAPSHOTS_CONTAINER_DIR,
        usage_dirname=layout.USAGE_DIRNAME,
        usage_container_dir=layout.USAGE_CONTAINER_DIR,
    )


def hub_settings_json(config: CampConfig, hub_url: str, notebook_image: str) -> str:
    """The settings file's content, as start-hub receives it on stdin."""
    return schema.to_json(hub_settings(config, hub_url, notebook_image))


def _oauth_endpoints(endpoints: OAuthEndpoints | None) -> dict:
    """None: Google's own endpoints; only a test provider standing in for Google sets them."""
    return dataclasses.asdict(endpoints) if endpoints else {}
