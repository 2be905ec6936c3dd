"""The hub's Let's Encrypt certificate never blocks the camp: the real configure-nginx and certbot
on a Debian 13 machine (the payload checker) against Pebble, Let's Encrypt's test ACME server, as
the local cloud runs it (rehearsal/acme_stand_in.py: Pebble asking its own DNS, where the test
sets the hub's record as Route 53 would) and trusted as the local cloud has its machines trust it.

While the CA cannot be reached the site serves the self-signed certificate, the step succeeds
with a WARNING saying why, and the retry timer is on; once the CA answers, the retry service (what
the timer runs) gets the certificate and nginx serves it after a reload, its master process the
same; then the timer is off and a rerun changes nothing.
"""

import re
from typing import NamedTuple

import payload_checker
import pytest
from waiting import wait_for

from infra import layout
from rehearsal import acme_pebble_files, acme_stand_in, acme_trust, cloud

DOMAIN = "hub.camphub.test"
EMAIL = "organizer@camphub.test"
TEMPLATE = f"{payload_checker.PROJECT_MOUNT}/nginx/camphub.conf.template"
RETRY_SERVICE = "camphub-certificate.service"
RETRY_TIMER = "camphub-certificate.timer"
RETRY_SETTINGS = "/etc/camphub/certificate.env"
DIRECTORY_URL = acme_pebble_files.directory_url()
STAGING_SERVER_URL = acme_pebble_files.directory_url(acme_pebble_files.STAGING_HOST)
RENEWAL = f"/etc/letsencrypt/renewal/{DOMAIN}.conf"  # certbot's settings of the certificate
# Where the local cloud's trust script finds what it installs (its shared directory there).
TRUST_FILES_DIR = "/var/tmp/acme-stand-in"
UNRESOLVED_DOMAIN = "nowhere.camphub.test"
STAGING_DIRECTORY_URL = "https://acme-staging-v02.api.letsencrypt.org/directory"
WARNING = "WARNING: no certificate from Let's Encrypt yet: "
STAGING = ("--letsencrypt-ca", "staging")
CA_START_TIMEOUT_SECONDS = 30
SERVED_CERT_TIMEOUT_SECONDS = 20


class Camp(NamedTuple):
    hub: payload_checker.Machine
    ca: acme_stand_in.AcmeStandIn
    first_report: str  # configure-nginx's output of its first run, the CA away


def configure(hub, *extra: str):
    return hub.script(
        "configure-nginx", "--server-name", DOMAIN, "--hub-port", str(layout.HUB_PORT),
        "--template", TEMPLATE, "--letsencrypt-email", EMAIL, *extra,
    )  # fmt: skip


def served_certificate(hub, *fields: str) -> str:
    """Fields (-subject, -issuer, ...) of the certificate nginx serves for DOMAIN."""
    command = (
        f"openssl s_client -connect 127.0.0.1:{layout.HTTPS_PORT} -servername {DOMAIN}"
        f" </dev/null 2>/dev/null | openssl x509 -noout {' '.join(fields)}"
    )
    return hub.run("sh", "-c", command, check=False).stdout


def warning_of(output: str) -> tuple[str, str]:
    """configure-nginx's warning in its report: certbot's reason, and what the hub does."""
    reason, _, meanwhile = output.split(WARNING)[1].partition(". The hub serves ")
    return reason, meanwhile


def nginx_master_pid(hub) -> str:
    return hub.run("systemctl", "show", "--property", "MainPID", "--value", "nginx").stdout.strip()


def unit_state(hub, unit: str) -> tuple[str, str]:
    enabled = hub.run("systemctl", "is-enabled", unit, check=False).stdout.strip()
    active = hub.run("systemctl", "is-active", unit, check=False).stdout.strip()
    return enabled, active


def trust_acme_server(hub, ca: acme_stand_in.AcmeStandIn) -> None:
    """What the local cloud does on its instances, with its own script: certbot asks the
    stand-in (its staging name for --test-cert), and the machine trusts the stand-in's HTTPS."""
    files = acme_trust.trust_files(ca.ca_certificate)
    for name, text in files.items():
        hub.write(f"{TRUST_FILES_DIR}/{name}", text)
    command = acme_trust.trust_command(TRUST_FILES_DIR)
    hub.run(*command, stdin=acme_trust.TRUST_SCRIPT.read_text())


def address_of(hub, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return payload_checker.docker("inspect", "--format", template, hub.name).stdout.strip()


@pytest.fixture(scope="module")
def camp(tmp_path_factory):
    """The hub on a local cloud's public network, DOMAIN's record pointing at it in the
    stand-in's DNS, the stand-in's Pebble stopped (the CA unreachable), and the first run."""
    payload_checker.build_image()
    local = cloud.LocalCloud(payload_checker.unique_name("acme"), tmp_path_factory.mktemp("acme"))
    local.ensure_network()
    ca = acme_stand_in.AcmeStandIn(local)
    try:
        ca.ensure().stop()
        flags = ("--network", local.public_network)
        with payload_checker.machine("hub", extra_flags=flags) as hub:
            ca.set_a(DOMAIN, [address_of(hub, local.public_network)])
            trust_acme_server(hub, ca)
            yield Camp(hub, ca, configure(hub).stdout)
    finally:
        print(payload_checker.docker("logs", ca.pebble_container, check=False).stdout)
        local.remove_all()


@pytest.fixture
def hub(camp):
    return camp.hub


@pytest.fixture
def ca(camp):
    return camp.ca


@pytest.mark.live
class TestACertificateThatComesLate:
    """In file order: the CA away, then back."""

    def test_without_the_ca_the_step_succeeds_and_warns_with_certbots_reason(self, camp):
        output = camp.first_report
        reason, meanwhile = warning_of(output)
        assert reason and reason != "certbot failed", output
        assert meanwhile.startswith("its self-signed certificate meanwhile and retries every 15 ")
        assert f"{RETRY_TIMER} on" in output

    def test_without_the_ca_the_site_serves_the_self_signed_certificate(self, hub):
        served = served_certificate(hub, "-subject", "-issuer", "-ext", "subjectAltName")
        assert f"DNS:{DOMAIN}" in served
        assert f"subject=CN={DOMAIN}" in served and f"issuer=CN={DOMAIN}" in served

    def test_the_retry_timer_is_on_and_runs_the_same_options(self, hub):
        assert unit_state(hub, RETRY_TIMER) == ("enabled", "active")
        settings = hub.read(RETRY_SETTINGS)
        assert f"--server-name {DOMAIN} " in settings
        assert f"--letsencrypt-email {EMAIL}" in settings

    def test_a_rerun_without_the_ca_only_warns_again(self, hub):
        output = configure(hub).stdout.strip()
        assert output.startswith(f"configure-nginx: {WARNING}"), output
        assert ";" not in output

    def test_once_the_ca_answers_the_retry_switches_the_site_without_a_restart(self, hub, ca):
        master = nginx_master_pid(hub)
        ca.start()
        wait_for(
            lambda: hub.run("curl", "-sf", DIRECTORY_URL, check=False).stdout,
            timeout=CA_START_TIMEOUT_SECONDS,
            what="Pebble answering on its directory URL",
        )
        hub.run("systemctl", "start", RETRY_SERVICE)
        issuer = wait_for(
            lambda: re.search(r"issuer=.*Pebble.*", served_certificate(hub, "-issuer")),
            timeout=SERVED_CERT_TIMEOUT_SECONDS,
            what="nginx serving Pebble's certificate",
        )
        assert nginx_master_pid(hub) == master, f"nginx was restarted, not reloaded ({issuer[0]})"
        assert ca.issued_count() == 1

    def test_the_served_chain_verifies_against_the_cas_root(self, hub, ca):
        hub.write("/var/tmp/pebble-root.pem", ca.root_certificate())
        handshake = hub.run(
            "sh",
            "-c",
            f"openssl s_client -connect 127.0.0.1:{layout.HTTPS_PORT} -servername {DOMAIN}"
            f" -verify_hostname {DOMAIN} -verify_return_error -CAfile /var/tmp/pebble-root.pem"
            " </dev/null",
            check=False,
        )
        assert "Verify return code: 0 (ok)" in handshake.stdout, handshake.stdout[-800:]

    def test_with_the_certificate_the_timer_is_off(self, hub):
        assert unit_state(hub, RETRY_TIMER) == ("disabled", "inactive")

    def test_a_certificate_from_the_other_ca_is_replaced(self, hub):
        """A rehearsal's staging certificate, the camp then wanting production: certbot's
        renewal settings name the CA that issued it (here rewritten to staging's)."""
        hub.run("sed", "-i", f"s|^server = .*|server = {STAGING_DIRECTORY_URL}|", RENEWAL)
        before = served_certificate(hub, "-serial")
        assert f"Let's Encrypt certificate for {DOMAIN}" in configure(hub).stdout
        wait_for(
            lambda: served_certificate(hub, "-serial") not in ("", before),
            timeout=SERVED_CERT_TIMEOUT_SECONDS,
            what="nginx serving the replacing certificate",
        )
        assert f"server = {DIRECTORY_URL}" in hub.read(RENEWAL)

    def test_a_certificate_proved_by_the_other_challenge_is_replaced(self, hub):
        """A wildcard's DNS-01 certificate, the camp then without its hosted zone (whose record
        the hub could no longer write at renewal): here the renewal settings rewritten so."""
        hub.run("sed", "-i", "s|^authenticator = .*|authenticator = dns-route53|", RENEWAL)
        assert f"Let's Encrypt certificate for {DOMAIN}" in configure(hub).stdout
        assert "authenticator = webroot" in hub.read(RENEWAL)

    def test_a_rerun_with_the_certificate_changes_nothing_and_asks_for_none(self, hub, ca):
        issued = ca.issued_count()
        assert configure(hub).stdout == "configure-nginx: nothing changed\n"
        assert ca.issued_count() == issued

    def test_a_challenge_the_ca_refuses_is_warned_with_the_cas_own_reason(self, hub):
        """The CA answers but cannot validate (here: a name it cannot resolve, as a record not
        made yet); then back to the camp's name, whose certificate is still there."""
        try:
            output = configure(hub, "--server-name", UNRESOLVED_DOMAIN).stdout
            reason, _ = warning_of(output)
            assert UNRESOLVED_DOMAIN in reason and "challenges have failed" not in reason, output
        finally:
            restored = configure(hub).stdout
        assert f"{RETRY_TIMER} off" in restored

    def test_staging_asks_the_stand_ins_staging_name_and_is_kept(self, hub):
        """letsEncryptStaging (--test-cert) on a machine the local cloud trusts the stand-in
        on: certbot's wrapper asks the staging name, which configure-nginx then recognises, so a
        rerun keeps the certificate."""
        before = served_certificate(hub, "-serial")
        assert f"Let's Encrypt certificate for {DOMAIN}" in configure(hub, *STAGING).stdout
        assert f"server = {STAGING_SERVER_URL}" in hub.read(RENEWAL)
        wait_for(
            lambda: served_certificate(hub, "-serial") not in ("", before),
            timeout=SERVED_CERT_TIMEOUT_SECONDS,
            what="nginx serving the staging certificate",
        )
        assert configure(hub, *STAGING).stdout == "configure-nginx: nothing changed\n"
