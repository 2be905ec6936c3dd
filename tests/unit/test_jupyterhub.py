"""JupyterHubService, in the whole program: secrets on stdin, settings, and the class list sync."""

import ipaddress
import json

from camphub_settings import PROXY_AUTH_TOKEN, SECRET_NAMES
from components import base_of, deploy_component, hub_of, jupyterhub_of, nfs_of

from infra import layout
from infra.hub_settings import SPAWN_HTTP_TIMEOUT_SECONDS
from infra.payload import PROXY_IMAGE, image_tag


def test_secrets_reach_the_hub_as_one_secret_json_on_stdin(deployment):
    install = deployment.named("hub-install-secrets")
    assert install.is_secret("stdin")
    secrets = json.loads(install.inputs["stdin"])
    assert sorted(secrets) == sorted(SECRET_NAMES)
    assert secrets["oauth_client_secret"] == "google-oauth-secret-value"
    assert len(set(secrets.values())) == len(SECRET_NAMES)


def test_the_hub_restarts_when_a_secret_changes(deployment):
    start = deployment.named("hub-start-hub")
    secrets = deployment.named("hub-install-secrets").inputs["stdin"]
    assert deployment.own_triggers(start)[0] == secrets
    assert start.is_secret("triggers", index=1)


def test_the_hub_starts_again_on_a_new_nfs_servers_homes_and_on_a_new_hub_volume(deployment):
    start = deployment.named("hub-start-hub")
    nfs_server = deployment.outputs["nfsPrivateIp"]
    hub_volume = deployment.named("hub-state", "aws:ebs/volume:Volume").id
    assert deployment.own_triggers(start)[1:] == [nfs_server, hub_volume]


def test_the_hub_is_waited_for_longer_than_it_may_take_to_check_a_running_server(deployment):
    # A restarted hub answers only once it has checked the servers it finds running.
    command = deployment.named("hub-start-hub").inputs["create"].split()
    wait = int(command[command.index("--wait-seconds") + 1])
    settings = json.loads(deployment.named("hub-start-hub").inputs["stdin"])
    assert settings["notebook"]["http_timeout_seconds"] == SPAWN_HTTP_TIMEOUT_SECONDS
    assert wait > SPAWN_HTTP_TIMEOUT_SECONDS


def test_the_proxy_is_built_and_started_apart_from_the_hub_with_its_token_from_a_file(deployment):
    start = deployment.named("hub-start-hub")
    build = deployment.named("hub-proxy-image")
    assert f"--tag {image_tag(PROXY_IMAGE)}" in build.inputs["create"]
    assert deployment.depends_on(start, build)
    command = start.inputs["create"].split()
    assert command[command.index("--proxy-image") + 1] == image_tag(PROXY_IMAGE)
    token_file = command[command.index("--proxy-token-file") + 1]
    assert token_file == f"{layout.SECRETS_DIR}/{PROXY_AUTH_TOKEN}"


def test_servers_call_the_hub_and_the_hub_its_proxy_at_fixed_overlay_addresses(deployment):
    settings = json.loads(deployment.named("hub-start-hub").inputs["stdin"])
    automatic = ipaddress.ip_network(layout.OVERLAY_AUTOMATIC_RANGE)
    overlay = ipaddress.ip_network(layout.OVERLAY_SUBNET)
    fixed = [settings["swarm"]["hub_address"], settings["swarm"]["proxy_address"]]
    assert len(set(fixed)) == 2
    for address in map(ipaddress.ip_address, fixed):
        # Inside the overlay, never handed to a task, and not its gateway (the first address).
        assert address in overlay and address not in automatic
        assert address != next(overlay.hosts())
    assert automatic.subnet_of(overlay)
    init = deployment.named("hub-swarm-init").inputs["create"]
    assert f"--subnet {overlay} --ip-range {automatic}" in init


def test_the_hub_settings_carry_the_url_and_client_id(deployment):
    settings = json.loads(deployment.named("hub-start-hub").inputs["stdin"])
    assert settings["public_url"] == "https://203.0.113.10"
    assert settings["oauth"]["client_id"] == "1234-camp.apps.googleusercontent.com"


def test_the_class_list_is_synced_with_lower_cased_names(deployment):
    sync = deployment.named("hub-sync-userlist")
    assert json.loads(sync.inputs["stdin"]) == {
        "users": [
            {"name": "teacher@camp.example.org", "admin": True},
            {"name": "ada@camp.example.org", "admin": False},
            {"name": "grace@camp.example.org", "admin": False},
        ]
    }


def test_nginx_is_configured_for_the_domain_with_lets_encrypt(base_config):
    from program import deploy

    deployment = deploy({**base_config, "domain": "j.camp.test", "letsEncryptEmail": "o@camp.test"})
    create = deployment.named("hub-configure-nginx").inputs["create"]
    assert "--server-name j.camp.test" in create
    assert "--letsencrypt-email o@camp.test" in create


def test_without_a_domain_nginx_uses_the_elastic_ip_and_self_signs(deployment):
    create = deployment.named("hub-configure-nginx").inputs["create"]
    assert "--server-name 203.0.113.10" in create
    assert "--letsencrypt-email" not in create


def test_a_changed_nginx_template_reconfigures_nginx(deployment):
    from infra.payload import NGINX

    configure = deployment.named("hub-configure-nginx")
    assert deployment.own_triggers(configure) == [NGINX.content_hash()]


def test_the_service_runs_on_the_hub_site_alone(base_config):
    # The service knows the hub only as the HubSite it declares.
    def build(config):
        base = base_of(config)
        hub = hub_of(config, base)
        return jupyterhub_of(config, hub, nfs_of(config, base, hub))

    deployment = deploy_component(base_config, build)
    on_hub = deployment.named("hub-swarm-init").inputs["connection"]
    start = deployment.named("hub-start-hub")
    assert start.inputs["connection"] == on_hub
    assert deployment.depends_on(start, deployment.named("hub-swarm-init"))
    assert json.loads(start.inputs["stdin"])["public_url"] == "https://203.0.113.10"
    nginx = deployment.named("hub-configure-nginx").inputs["create"]
    assert "--server-name 203.0.113.10" in nginx
