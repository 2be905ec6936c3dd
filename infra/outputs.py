"""What `pulumi up` tells the organizer: where the camp is, what to register with Google, how to
reach the machines, and what the week costs.

The admin key (root on every machine) is saved outside the project, in ~/.ssh, where no `git add`
of the project can pick it up; the ssh_config beside the project holds only addresses, and the
known_hosts file only the machines' public host keys, which ssh then requires (both ignored by git
as well)."""

from dataclasses import dataclass
from typing import Any

import pulumi

from infra import layout
from infra.admin_key import AdminKey
from infra.archive import HomesArchive
from infra.config import ADOPT_KEY, CampConfig
from infra.cost import weekly_cost
from infra.hub import Hub
from infra.hub_dns import user_server_host_pattern
from infra.hub_settings import OAUTH_CALLBACK_PATH
from infra.landing_page import LandingPage
from infra.network import Placement
from infra.nfs import NfsServer
from infra.region import current_region
from infra.workers import SwarmWorkerPool

SSH_CONFIG_FILE = "camphub.ssh_config"
KNOWN_HOSTS_FILE = "camphub.known_hosts"
HUB_ALIAS = "camphub-hub"


@dataclass(frozen=True)
class SshHost:
    """A machine as the organizer's ssh knows it: by alias, at an address, through the hub when
    `jump` names it, showing `host_key`."""

    alias: str
    address: str
    host_key: str
    jump: str | None = None


def ssh_hosts(
    hub: tuple[str, str], workers: list[tuple[str, str]], nfs: tuple[str, str]
) -> list[SshHost]:
    """The hub directly, every other machine through it; each given as (address, host key)."""
    hosts = [SshHost(HUB_ALIAS, *hub)]
    hosts += [SshHost(f"camphub-worker-{i}", *w, jump=HUB_ALIAS) for i, w in enumerate(workers)]
    hosts.append(SshHost("camphub-nfs", *nfs, jump=HUB_ALIAS))
    return hosts


def key_file(stack: str) -> str:
    """Where the organizer keeps the stack's admin key: one per stack, outside the project."""
    return f"~/.ssh/camphub-{stack}.key"


def ssh_config(hosts: list[SshHost], identity_file: str) -> str:
    """An ssh_config that trusts each machine's own host key only (`known_hosts`), by alias: a
    replaced machine at a new address is still the same host."""
    blocks = []
    for host in hosts:
        lines = [f"Host {host.alias}", f"  HostName {host.address}", f"  User {layout.LOGIN_USER}"]
        lines.append(f"  IdentityFile {identity_file}")
        lines += [f"  HostKeyAlias {host.alias}", f"  UserKnownHostsFile {KNOWN_HOSTS_FILE}"]
        lines.append("  StrictHostKeyChecking yes")
        if host.jump:
            lines.append(f"  ProxyJump {host.jump}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def known_hosts(hosts: list[SshHost]) -> str:
    """The known_hosts file of `ssh_config`: each alias with the key the program made for it."""
    return "".join(f"{host.alias} {host.host_key.strip()}\n" for host in hosts if host.host_key)


def host_keys_by_address(outputs: dict[str, Any]) -> dict[str, str]:
    """Each machine's host key by its address, from the stack's outputs (plain values)."""
    keys = dict(line.split(" ", 1) for line in outputs["sshKnownHosts"].splitlines())
    by_address = {host.address: keys[host.alias] for host in _hosts_of(outputs)}
    # The hub is also reached at its private address (through itself, as the others are).
    return by_address | {outputs["hubPrivateIp"]: keys[HUB_ALIAS]}


def _hosts_of(outputs: dict[str, Any]) -> list[SshHost]:
    workers = [(address, "") for address in outputs["workerPrivateIps"]]
    return ssh_hosts((outputs["hubPublicIp"], ""), workers, (outputs["nfsPrivateIp"], ""))


def adopt_command(volume_id: str) -> str:
    """What brings a destroyed camp back with every home (README.md, "Bring back a destroyed
    camp")."""
    return f"pulumi config set --path {ADOPT_KEY} {volume_id} && pulumi up"


def export_outputs(
    config: CampConfig,
    placement: Placement,
    admin_key: AdminKey,
    hub: Hub,
    workers: SwarmWorkerPool,
    nfs: NfsServer,
    archive: HomesArchive,
    landing_page: LandingPage,
) -> None:
    callback_url = pulumi.Output.format("{0}{1}", hub.url, OAUTH_CALLBACK_PATH)
    pulumi.export("hubUrl", hub.url)
    # The camp's address leads there too; the pages that say what the camp is and where to sign in.
    pulumi.export("landingPageUrl", landing_page.url)
    pulumi.export("userServerUrl", hub.url.apply(lambda url: user_server_url(config, url)))
    pulumi.export("userServerOrigin", user_server_origin(config))
    pulumi.export("oauthCallbackUrl", callback_url)
    pulumi.export("googleSignIn", callback_url.apply(lambda url: google_sign_in(config, url)))
    if hub.dns_record_to_create is not None:
        pulumi.export("dnsRecordToCreate", hub.dns_record_to_create)
    # Pinned after the first `pulumi up`, a later change of instance type can never move the camp.
    pulumi.export("availabilityZone", placement.availability_zone)
    # Where the camp lives: its own VPC and subnet, or the kept camphub:subnetId.
    pulumi.export("vpcId", placement.vpc_id)
    pulumi.export("subnetId", placement.subnet_id)
    pulumi.export("hubPublicIp", hub.public_ip)
    pulumi.export("hubPrivateIp", hub.private_ip)
    pulumi.export("workerPrivateIps", workers.private_ips)
    pulumi.export("nfsPrivateIp", nfs.private_ip)
    pulumi.export("homesVolumeId", nfs.homes_volume_id)
    # Kept with the archive's outputs before `pulumi destroy`: what brings the camp back.
    pulumi.export("homesAdoptCommand", nfs.homes_volume_id.apply(adopt_command))
    # Filled by `pulumi destroy`; the bucket stays after it.
    pulumi.export("homesArchive", archive.location)
    pulumi.export("homesArchiveLinksCommand", archive.links_command)
    pulumi.export("adminSshKey", admin_key.private_key)
    identity = key_file(config.stack)
    hosts = pulumi.Output.all(
        hub=pulumi.Output.all(hub.public_ip, hub.host_key),
        workers=pulumi.Output.all(workers.private_ips, workers.host_keys),
        nfs=pulumi.Output.all(nfs.private_ip, nfs.host_key),
    ).apply(
        lambda m: ssh_hosts(tuple(m["hub"]), list(zip(*m["workers"], strict=True)), tuple(m["nfs"]))
    )
    pulumi.export("sshConfig", hosts.apply(lambda h: ssh_config(h, identity_file=identity)))
    pulumi.export("sshKnownHosts", hosts.apply(known_hosts))
    pulumi.export("sshCommand", ssh_command(config.stack))
    pulumi.export(
        "weeklyCostEstimate",
        current_region().apply(lambda name: weekly_cost(config, name).as_output()),
    )


def user_server_url(config: CampConfig, hub_url: str) -> str:
    """Where a student's server is, as a pattern (<user>: their sign-in name; on a subdomain,
    made a valid DNS label)."""
    path = "/user/<user>/"
    if config.user_subdomains:
        return f"https://{user_server_host_pattern(config.domain.name)}{path}"
    return f"{hub_url}{path}"


def user_server_origin(config: CampConfig) -> str:
    """What a page served at a student's server can reach, said plainly (README, security)."""
    if config.user_subdomains:
        return (
            "its own: each student's server has an origin of its own, apart from the hub's and "
            "every other student's"
        )
    return (
        "the hub's: a page served at a student's server runs with the hub's origin and can act "
        "as whoever opens it there, a teacher included. Set camphub:domain and "
        "camphub:hostedZone (a Route 53 zone) to give each server its own (README: 'What each "
        "origin can reach')"
    )


def ssh_command(stack: str) -> str:
    """Saves the key (readable by the organizer alone from its first byte) and the ssh_config,
    then connects to the hub."""
    output = f"pulumi stack output --stack {stack}"
    return (
        f"(umask 077 && mkdir -p ~/.ssh && {output} --show-secrets adminSshKey > {key_file(stack)})"
        f" && {output} sshConfig > {SSH_CONFIG_FILE}"
        f" && {output} sshKnownHosts > {KNOWN_HOSTS_FILE}"
        f" && ssh -F {SSH_CONFIG_FILE} camphub-hub   # or camphub-worker-0, camphub-nfs"
    )


def google_sign_in(config: CampConfig, callback_url: str) -> str:
    """What Google must know before a student signs in (README.md, "Before the first `pulumi
    up`"): repeated here because a missed step shows only when the class signs in."""
    if config.oauth_endpoints is not None:
        return (
            "Sign-in goes to the stand-in provider of camphub:oauthEndpoints: nothing to register."
        )
    steps = (
        f"Google Cloud console, APIs & Services: (1) the OAuth client {config.oauth_client_id} "
        f"(Web application) lists {callback_url} as an authorized redirect URI; (2) the OAuth "
        "consent screen (External; scopes openid and email only) is PUBLISHED, 'In production': "
        "while it is 'Testing' only its listed test users can sign in and every other student "
        "gets 'Access blocked'."
    )
    if config.domain is None:
        steps += (
            " Google takes no IP address as a redirect URI: for sign-in, give the hub a name "
            "(camphub:domain)."
        )
    return steps
