"""JupyterHubService: JupyterHub itself, running on the hub machine behind nginx.

The steps on the hub, in dependency order: mount the homes; install the secrets (stdin, root-only
files); configure nginx and its certificate; build the hub and proxy images; start the proxy and
the hub, each in its container, once all of those and the swarm exist; then sync the class list
through the hub's API. A changed class list reruns only the sync: no instance is touched and the
hub keeps running. A restarted hub (new settings, image or secrets) leaves the proxy, and so
every running student's server, serving.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from infra import layout
from infra.config import CampConfig, DomainSpec
from infra.homes import ClassHomes, mount_homes
from infra.hub import HubSite
from infra.hub_settings import HUB_READY_WAIT_SECONDS, hub_settings_json, schema
from infra.payload import HUB_IMAGE, NGINX, PROXY_IMAGE, build_image_arguments, image_tag
from infra.remote import Step, run_step, script_line, warn_about
from infra.workers import ServerPool

NGINX_SITE_TEMPLATE = f"{NGINX.remote_dir}/camphub.conf.template"
HUB_LOCAL_URL = f"http://127.0.0.1:{layout.HUB_PORT}"


@dataclass(frozen=True)
class JupyterHubServiceArgs:
    config: CampConfig
    hub: HubSite  # the machine, URL, host name and swarm it serves on
    homes: ClassHomes  # mounted on the hub; every listed student's home exists: they may sign in
    workers: ServerPool  # the image students' servers run; they need a worker that has it


def lets_encrypt_options(domain: DomainSpec | None) -> list[str]:
    """configure-nginx's options for the domain's certificate (a wildcard too, with students'
    servers on subdomains); none without a domain."""
    if domain is None:
        return []
    ca = ["--letsencrypt-ca", "staging"] if domain.lets_encrypt_staging else []
    subdomains = ["--user-subdomains"] if domain.user_subdomains else []
    return ["--letsencrypt-email", domain.lets_encrypt_email, *ca, *subdomains]


class JupyterHubService(pulumi.ComponentResource):
    started: pulumi.Resource
    class_list_synced: pulumi.Resource

    def __init__(
        self, name: str, args: JupyterHubServiceArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("camphub:index:JupyterHubService", name, None, opts)
        self._args = args
        self._prefix = name
        hub = args.hub
        mounted = mount_homes(hub.machine, args.homes.share, parent=self)
        secrets_json = self._secrets_json(args.config)
        secrets = run_step(
            hub.machine,
            Step(
                "install-secrets",
                script_line("install-secrets", "--secrets-dir", layout.SECRETS_DIR),
                stdin=secrets_json,
                secret_output=True,
            ),
            parent=self,
        )
        nginx = self._configure_nginx()
        hub_image, proxy_image = image_tag(HUB_IMAGE), image_tag(PROXY_IMAGE)
        images = [
            run_step(
                hub.machine,
                Step(
                    f"{tree.name}-image", script_line("build-image", *build_image_arguments(tree))
                ),
                parent=self,
            )
            for tree in (HUB_IMAGE, PROXY_IMAGE)
        ]
        settings = hub.url.apply(
            lambda url: hub_settings_json(args.config, url, args.workers.notebook_image)
        )
        self.started = run_step(
            hub.machine,
            Step(
                "start-hub",
                self._start_hub_line(hub_image, proxy_image),
                stdin=settings,
                # New secrets take effect by restarting the hub; the value stays encrypted. The
                # hub binds the homes and its state as it starts: a new NFS server's mount-homes
                # or a new hub volume's mount-hub-state stops it, and this starts it again.
                triggers=[secrets_json, args.homes.share.server_ip, hub.state_volume_id],
                depends_on=[
                    mounted,
                    secrets,
                    nginx,
                    *images,
                    hub.swarm,
                    *args.workers.ready,
                    args.homes.made,
                ],
            ),
            parent=self,
        )
        self.class_list_synced = run_step(
            hub.machine,
            Step(
                "sync-userlist",
                script_line(
                    "sync-userlist",
                    "--userlist-file",
                    layout.USERLIST_FILE,
                    "--secrets-dir",
                    layout.SECRETS_DIR,
                    "--hub-url",
                    HUB_LOCAL_URL,
                ),
                stdin=json.dumps(args.config.class_list.as_hub_json(), indent=2),
                # A student may sign in once their home exists; a new one is made first.
                depends_on=[self.started, args.homes.made],
            ),
            parent=self,
        )
        self.register_outputs(
            {"hubImage": hub_image, "proxyImage": proxy_image, "settings": settings}
        )

    def _secrets_json(self, config: CampConfig) -> pulumi.Output[str]:
        def child(kind, suffix: str, **kwargs):
            return kind(
                f"{self._prefix}-{suffix}", **kwargs, opts=pulumi.ResourceOptions(parent=self)
            )

        cookie = child(random.RandomBytes, "cookie-secret", length=32)
        proxy = child(random.RandomPassword, "proxy-token", length=48, special=False)
        sync = child(random.RandomPassword, "userlist-sync-token", length=48, special=False)
        values = {
            schema.OAUTH_CLIENT_SECRET: config.oauth_client_secret,
            schema.COOKIE_SECRET: cookie.hex,
            schema.PROXY_AUTH_TOKEN: proxy.result,
            schema.USERLIST_SYNC_TOKEN: sync.result,
        }
        return pulumi.Output.secret(
            pulumi.Output.all(**values).apply(lambda named: json.dumps(named, sort_keys=True))
        )

    def _configure_nginx(self) -> pulumi.Resource:
        hub = self._args.hub
        configured = run_step(
            hub.machine,
            Step(
                "configure-nginx",
                script_line(
                    "configure-nginx",
                    "--server-name",
                    hub.host_name,
                    "--http-port",
                    str(layout.HTTP_PORT),
                    "--https-port",
                    str(layout.HTTPS_PORT),
                    "--hub-port",
                    str(layout.HUB_PORT),
                    "--template",
                    NGINX_SITE_TEMPLATE,
                    # On the hub's volume: a new hub serves the certificate students accepted.
                    "--tls-dir",
                    layout.HUB_TLS_DIR,
                    "--landing-pages",
                    layout.LANDING_PAGES_DIR,
                    "--landing-page-path",
                    layout.LANDING_PAGE_PATH,
                    *lets_encrypt_options(self._args.config.domain),
                ),
                # A changed site template is applied, not only delivered.
                triggers=[NGINX.content_hash()],
            ),
            parent=self,
        )
        # No certificate from Let's Encrypt yet (DNS, a blocked port, its limits): the hub serves
        # a self-signed one meanwhile, and the organizer reads why here.
        warn_about(configured)
        return configured

    def _start_hub_line(self, hub_image: str, proxy_image: str) -> pulumi.Output[str]:
        return script_line(
            "start-hub",
            "--image",
            hub_image,
            "--container",
            layout.HUB_CONTAINER,
            "--proxy-image",
            proxy_image,
            "--proxy-container",
            layout.PROXY_CONTAINER,
            "--proxy-token-file",
            f"{layout.SECRETS_DIR}/{schema.PROXY_AUTH_TOKEN}",
            "--network",
            layout.OVERLAY_NETWORK,
            "--port",
            str(layout.HUB_PORT),
            "--settings-file",
            layout.HUB_SETTINGS_FILE,
            "--state-dir",
            layout.HUB_STATE_DIR,
            "--homes-dir",
            layout.HOMES_MOUNT_DIR,
            "--etc-dir",
            layout.HUB_ETC_DIR,
            "--secrets-dir",
            layout.SECRETS_DIR,
            "--wait-seconds",
            str(HUB_READY_WAIT_SECONDS),
        )
