"""Hub settings for the tests that run the hub's own code (jupyterhub_config.py, start-hub, the
live hub): built with the schema, images/hub/camphub_settings.py, at the hub machine's paths and
with the sections every camp has the same (infra/hub_settings.py), with limits that fit a test
machine. A test names only what it changes."""

import dataclasses

from infra import layout
from infra.hub_settings import (
    CAMP_PATHS,
    CAMP_SWARM,
    OAUTH_CALLBACK_PATH,
    homes_at,
    hub_at_its_paths,
    schema,
)

PUBLIC_URL = "https://camp.example.org"


def sample_settings(public_url: str = PUBLIC_URL, **changes) -> schema.HubSettings:
    """The sample for a hub at `public_url`, changed by section: a dict changes those fields of
    its section (`hub={"port": 8001}`), anything else stands for the whole section
    (`homes=homes_at(...)`)."""
    sample = schema.HubSettings(
        public_url=public_url,
        oauth=schema.OAuth(
            client_id="camp-client-id", callback_url=public_url + OAUTH_CALLBACK_PATH
        ),
        notebook=schema.Notebook(
            image="camphub/notebook:0123abcd",
            mem_limit="1G",
            mem_guarantee="256M",
            cpu_limit=1.0,
            cpu_guarantee=0.1,
            idle_timeout_seconds=3600,
            start_timeout_seconds=300,
        ),
        swarm=CAMP_SWARM,
        homes=homes_at(layout.HOMES_MOUNT_DIR),
        hub=hub_at_its_paths(servers=10),
        paths=CAMP_PATHS,
    )
    changed = {
        name: dataclasses.replace(getattr(sample, name), **change)
        if isinstance(change, dict)
        else change
        for name, change in changes.items()
    }
    return dataclasses.replace(sample, **changed)
