"""The hub's settings file: every value jupyterhub_config.py uses, computed from the stack config.

The shape is documented in images/hub/jupyterhub_config.py, which reads it. Nothing secret goes
in here; secrets go to root-only files of their own.
"""

import dataclasses

from infra import layout
from infra.capacity import pool_capacity
from infra.config import CampConfig, OAuthEndpoints
from infra.materials import course_files_settings

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
SECRET_NAMES = ("oauth_client_secret", "cookie_secret", "proxy_auth_token", "userlist_sync_token")


def hub_settings(config: CampConfig, hub_url: str, notebook_image: str) -> dict:
    """Depends on the pool, never on the class list: adding a student must not restart the hub."""
    capacity = pool_capacity(config)
    notebook = config.notebook
    return {
        "public_url": hub_url,
        "oauth": {
            "client_id": config.oauth_client_id,
            "callback_url": hub_url + OAUTH_CALLBACK_PATH,
            "hosted_domains": list(config.google_hosted_domains),
            **_oauth_endpoint_settings(config.oauth_endpoints),
        },
        "notebook": {
            "image": notebook_image,
            "mem_limit": notebook.mem_limit,
            "mem_guarantee": notebook.mem_guarantee,
            "cpu_limit": notebook.cpu_limit,
            "cpu_guarantee": notebook.cpu_guarantee,
            "idle_timeout_seconds": notebook.idle_cull_minutes * 60,
            "start_timeout_seconds": SPAWN_START_TIMEOUT_SECONDS,
            "http_timeout_seconds": SPAWN_HTTP_TIMEOUT_SECONDS,
        },
        "swarm": {
            "network": layout.OVERLAY_NETWORK,
            "placement_constraints": ["node.role == worker"],
            "hub_hostname": layout.HUB_CONTAINER,
            "hub_api_port": layout.HUB_API_PORT,
        },
        "homes": {
            "host_dir": layout.HOMES_MOUNT_DIR,
            "snapshots_dirname": layout.SNAPSHOTS_DIRNAME,
            "snapshots_container_dir": layout.SNAPSHOTS_CONTAINER_DIR,
            "usage_dirname": layout.USAGE_DIRNAME,
            "usage_container_dir": layout.USAGE_CONTAINER_DIR,
        },
        "hub": {
            "port": layout.HUB_PORT,
            "state_dir": layout.HUB_STATE_DIR,
            # The whole class may press "start" in the same minute at 9:00: let every start
            # the workers can hold proceed at once, and refuse the ones they cannot (0: no limit).
            "concurrent_spawn_limit": capacity,
            "active_server_limit": capacity,
        },
        "paths": {"userlist": layout.USERLIST_FILE, "secrets_dir": layout.SECRETS_DIR},
        **course_files_settings(config.shared_data),
    }


def _oauth_endpoint_settings(endpoints: OAuthEndpoints | None) -> dict:
    """None: Google's own endpoints; only a test provider standing in for Google sets them."""
    if endpoints is None:
        return dict.fromkeys(("authorize_url", "token_url", "userdata_url"))
    return dataclasses.asdict(endpoints)
