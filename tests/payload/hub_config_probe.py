"""Run inside the hub image: load jupyterhub_config.py as JupyterHub does and report the result.

    python hub_config_probe.py report             # JSON of the traits the config produced

The authenticator and spawner are the real classes, configured from the loaded config; the
spawner gets a stand-in for the hub's User object (only its name is read here).
"""

import json
import sys
from types import SimpleNamespace

from dockerspawner import SwarmSpawner
from jupyterhub.app import JupyterHub
from oauthenticator.google import GoogleOAuthenticator

CONFIG_FILE = "/srv/jupyterhub/jupyterhub_config.py"
# Spellings a student's Google account might report for the same address.
EMAIL_SPELLINGS = ["Alice@Example.org", "alice@example.org", "ALICE@EXAMPLE.ORG"]


def load_hub():
    hub = JupyterHub()
    hub.load_config_file(CONFIG_FILE)
    return hub


def spawner_for(hub, username):
    return SwarmSpawner(config=hub.config, user=SimpleNamespace(name=username))


def hub_report(hub):
    return {
        name: getattr(hub, name)
        for name in (
            "public_url",
            "subdomain_host",
            "bind_url",
            "hub_bind_url",
            "hub_connect_url",
            "db_url",
            "cookie_secret_file",
            "cleanup_servers",
            "init_spawners_timeout",
            "last_activity_interval",
            "concurrent_spawn_limit",
            "active_server_limit",
            "authenticate_prometheus",
            "services",
            "load_roles",
        )
    } | {
        "authenticator_class": str(hub.config.JupyterHub.authenticator_class),
        "spawner_class": str(hub.config.JupyterHub.spawner_class),
        "proxy_auth_token": hub.config.ConfigurableHTTPProxy.auth_token,
        "proxy_should_start": hub.config.ConfigurableHTTPProxy.should_start,
        "proxy_api_url": hub.config.ConfigurableHTTPProxy.api_url,
    }


def authenticator_report(hub):
    google = GoogleOAuthenticator(config=hub.config)
    traits = (
        "client_id",
        "client_secret",
        "oauth_callback_url",
        "hosted_domain",
        "strip_domain",
        "username_claim",
        "allow_existing_users",
        "allow_all",
        "authorize_url",
        "token_url",
        "userdata_url",
        "http_request_kwargs",
    )
    return {name: getattr(google, name) for name in traits} | {
        "allowed_users": sorted(google.allowed_users),
        "admin_users": sorted(google.admin_users),
        "username_of": {
            spelling: google.normalize_username(google.user_info_to_username({"email": spelling}))
            for spelling in EMAIL_SPELLINGS
        },
    }


def spawner_report(hub, username):
    spawner = spawner_for(hub, username)
    traits = (
        "image",
        "cmd",
        "pull_policy",
        "network_name",
        "use_internal_ip",
        "extra_endpoint_spec",
        "extra_container_spec",
        "extra_placement_spec",
        "mem_limit",
        "mem_guarantee",
        "cpu_limit",
        "cpu_guarantee",
        "start_timeout",
        "http_timeout",
        "remove",
        "default_url",
        "disable_user_config",
        "notebook_dir",
        "object_name",
        "volume_binds",
    )
    return {name: getattr(spawner, name) for name in traits} | {
        "has_pre_spawn_hook": callable(spawner.pre_spawn_hook),
    }


def main(command):
    hub = load_hub()
    if command == "report":
        report = {
            "hub": hub_report(hub),
            "authenticator": authenticator_report(hub),
            "spawner": spawner_report(hub, "alice@example.org"),
        }
        print(json.dumps(report, default=sorted))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
