"""The nginx site, rendered and installed by the real configure-nginx on a Debian 13 machine
(the payload checker), checked by nginx itself and by requests through it to a stand-in hub."""

import json
import re

import payload_checker
import pytest
from waiting import wait_for

from infra import layout

TEMPLATE = payload_checker.PROJECT_DIR / "nginx" / "camphub.conf.template"
CONFIGURE_NGINX = payload_checker.PROJECT_DIR / "scripts" / "configure-nginx"
REMOTE_TEMPLATE = f"{payload_checker.PROJECT_MOUNT}/nginx/camphub.conf.template"
ECHO_UPSTREAM = f"{payload_checker.PROJECT_MOUNT}/tests/payload/echo_upstream.py"
SITE = "/etc/nginx/sites-available/camphub"
TLS_DIR = "/etc/nginx/camphub-tls"
SELF_SIGNED_CERT = f"{TLS_DIR}/camphub-selfsigned.crt"
ACME_WEBROOT = "/var/www/camphub-acme"
HUB_IP = "10.20.30.40"
HUB_DOMAIN = "camp.example.org"
UPLOAD_MB = 150
SERVED_CERT_TIMEOUT_SECONDS = 20
UPSTREAM_TIMEOUT_SECONDS = 20


def test_configure_nginx_fills_every_placeholder_of_the_template():
    placeholders = set(re.findall(r"\{\{(\w+)\}\}", TEMPLATE.read_text()))
    filled = set(re.findall(r"s\|\{\{(\w+)\}\}\|", CONFIGURE_NGINX.read_text()))
    assert placeholders == filled == {
        "SERVER_NAME", "HTTP_PORT", "HTTPS_PORT", "HUB_PORT", "TLS_CERT", "TLS_KEY",
        "ACME_WEBROOT", "LANDING_PAGES", "LANDING_PAGE_PATH",
    }  # fmt: skip


def configure(
    hub, server_name: str, *extra: str, template: str = REMOTE_TEMPLATE, check: bool = True
):
    return hub.script(
        "configure-nginx", "--server-name", server_name,
        "--http-port", str(layout.HTTP_PORT), "--https-port", str(layout.HTTPS_PORT),
        "--hub-port", str(layout.HUB_PORT), "--template", template, *extra, check=check,
    )  # fmt: skip


def subject_alt_name(hub, cert_source: str) -> str:
    """The SAN of a certificate file, or of the certificate nginx serves when given 'served'."""
    if cert_source == "served":
        command = (
            "openssl s_client -connect 127.0.0.1:443 </dev/null 2>/dev/null"
            " | openssl x509 -noout -ext subjectAltName"
        )
    else:
        command = f"openssl x509 -in {cert_source} -noout -ext subjectAltName"
    return hub.run("sh", "-c", command, check=False).stdout


def wait_until_served(hub, name: str) -> None:
    wait_for(
        lambda: f"DNS:{name}" in subject_alt_name(hub, "served"),
        timeout=SERVED_CERT_TIMEOUT_SECONDS,
        what=f"nginx serving a certificate for {name}",
    )


def curl(hub, *args: str) -> str:
    return hub.run("curl", "--silent", "--show-error", "--insecure", *args).stdout


def forwarded(hub, *args: str, path: str = "/hub/home") -> dict:
    """What the stand-in hub received for an HTTPS request through nginx."""
    return json.loads(curl(hub, *args, f"https://127.0.0.1{path}"))


@pytest.fixture(scope="module")
def configured_hub():
    """A hub-like machine, the stand-in hub behind nginx, and configure-nginx's first output."""
    payload_checker.build_image()
    with payload_checker.machine("hub") as machine:
        machine.run(
            "systemd-run",
            "--unit",
            "echo-upstream",
            "python3",
            ECHO_UPSTREAM,
            "127.0.0.1",
            str(layout.HUB_PORT),
        )
        upstream = f"http://127.0.0.1:{layout.HUB_PORT}/"
        wait_for(
            lambda: (
                machine.run("curl", "-sf", "-o", "/dev/null", upstream, check=False).returncode == 0
            ),
            timeout=UPSTREAM_TIMEOUT_SECONDS,
            what="the stand-in hub answering",
        )
        yield machine, configure(machine, HUB_IP).stdout


@pytest.fixture
def hub(configured_hub):
    return configured_hub[0]


@pytest.mark.live
class TestTheSiteOnAHub:
    """In file order: the first configuration, checks through nginx, then changes to it."""

    def test_first_run_makes_a_certificate_installs_the_site_and_reloads(self, configured_hub):
        hub, output = configured_hub
        assert f"self-signed certificate for IP:{HUB_IP}" in output
        assert "default site disabled" in output
        assert "nginx reloaded" in output
        assert hub.run("readlink", "/etc/nginx/sites-enabled/camphub").stdout.strip() == SITE

    def test_the_self_signed_certificate_names_the_ip_and_its_key_is_private(self, hub):
        assert f"IP Address:{HUB_IP}" in subject_alt_name(hub, SELF_SIGNED_CERT)
        mode = hub.run("stat", "-c", "%a %U", f"{TLS_DIR}/camphub-selfsigned.key").stdout.split()
        assert mode == ["600", "root"]

    def test_the_address_leads_to_the_landing_pages_published_beside_the_hub(self, hub):
        page = "<h1>Summer camp</h1>\n"
        hub.script("publish-site", "--dir", layout.LANDING_PAGES_DIR, "--index-from-stdin",
                   stdin=page)  # fmt: skip
        status = "%{http_code} %{redirect_url}"
        to_the_pages = curl(hub, "-o", "/dev/null", "-w", status, "https://127.0.0.1/")
        assert to_the_pages == f"302 https://127.0.0.1{layout.LANDING_PAGE_PATH}"
        assert curl(hub, f"https://127.0.0.1{layout.LANDING_PAGE_PATH}") == page
        written = curl(hub, "-o", "/dev/null", "-w", "%{http_code}", "--data", "x",
                       f"https://127.0.0.1{layout.LANDING_PAGE_PATH}index.html")  # fmt: skip
        assert written == "403"
        # Everything else still reaches the hub.
        assert forwarded(hub)["path"] == "/hub/home"

    def test_a_second_run_changes_nothing(self, hub):
        fingerprint = hub.run("openssl", "x509", "-in", SELF_SIGNED_CERT, "-noout", "-fingerprint")
        assert configure(hub, HUB_IP).stdout.strip() == "configure-nginx: nothing changed"
        again = hub.run("openssl", "x509", "-in", SELF_SIGNED_CERT, "-noout", "-fingerprint")
        assert again.stdout == fingerprint.stdout

    def test_without_port_options_the_standard_ports_are_used(self, hub):
        assert (layout.HTTP_PORT, layout.HTTPS_PORT) == (80, 443)
        result = hub.script(
            "configure-nginx", "--server-name", HUB_IP, "--hub-port", str(layout.HUB_PORT),
            "--template", REMOTE_TEMPLATE,
        )  # fmt: skip
        assert result.stdout == "configure-nginx: nothing changed\n"

    def test_plain_http_redirects_to_https_except_the_acme_challenge(self, hub):
        hub.write(f"{ACME_WEBROOT}/.well-known/acme-challenge/token-1", "challenge-answer\n")
        challenge = curl(hub, "http://127.0.0.1/.well-known/acme-challenge/token-1")
        assert challenge == "challenge-answer\n"
        redirect = curl(hub, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                        "http://127.0.0.1/hub/login?next=x")  # fmt: skip
        assert redirect == "301 https://127.0.0.1:443/hub/login?next=x"

    def test_https_forwards_the_client_headers_and_sets_hsts(self, hub):
        seen = forwarded(hub, "-H", "Host: camp.test")
        headers = seen["headers"]
        assert headers["host"] == "camp.test"
        assert headers["x-forwarded-proto"] == "https"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        response_headers = curl(hub, "-D", "-", "-o", "/dev/null", "https://127.0.0.1/")
        assert re.search(r"(?im)^strict-transport-security: max-age=\d{7,}", response_headers)

    def test_websocket_upgrades_are_passed_on_any_path(self, hub):
        seen = forwarded(
            hub, "-H", "Upgrade: websocket", "-H", "Connection: Upgrade",
            path="/user/alice/api/kernels/1/channels",
        )  # fmt: skip
        assert seen["headers"]["upgrade"] == "websocket"
        assert seen["headers"]["connection"].lower() == "upgrade"
        plain = forwarded(hub)
        assert plain["headers"]["connection"] == "close"

    def test_a_large_upload_reaches_the_hub(self, hub):
        hub.run("truncate", "-s", f"{UPLOAD_MB}M", "/var/tmp/upload.bin")
        seen = forwarded(
            hub, "--data-binary", "@/var/tmp/upload.bin", path="/user/alice/api/contents"
        )
        assert seen["body_length"] == UPLOAD_MB * 1024 * 1024

    @pytest.mark.parametrize(("protocol", "accepted"), [("-tls1_1", False), ("-tls1_2", True),
                                                        ("-tls1_3", True)])  # fmt: skip
    def test_only_tls_1_2_and_1_3_are_spoken(self, hub, protocol, accepted):
        handshake = hub.run(
            "sh",
            "-c",
            f"openssl s_client -connect 127.0.0.1:443 {protocol} </dev/null",
            check=False,
        )
        assert (handshake.returncode == 0) is accepted, handshake.stdout[-500:]

    def test_a_rejected_site_is_rolled_back(self, hub):
        before = hub.read(SITE)
        broken = "/var/tmp/broken.conf.template"
        hub.write(broken, TEMPLATE.read_text() + "\nnot_an_nginx_directive on;\n")
        result = configure(hub, HUB_IP, template=broken, check=False)
        assert result.returncode != 0
        assert "nginx rejected the rendered site" in result.stderr
        assert hub.read(SITE) == before
        assert forwarded(hub)["method"] == "GET"

    def test_a_new_server_name_gets_a_certificate_for_that_name(self, hub):
        output = configure(hub, HUB_DOMAIN).stdout
        assert f"self-signed certificate for DNS:{HUB_DOMAIN}" in output
        assert f"server_name {HUB_DOMAIN};" in hub.read(SITE)
        wait_until_served(hub, HUB_DOMAIN)
        configure(hub, HUB_IP)

    def test_a_certificate_certbot_already_has_is_used_without_asking_again(self, hub):
        """The state after a first Let's Encrypt run: the renewal is certbot's timer's job, so
        configure-nginx only points the site at the live certificate (certbot, which reaches no
        CA from here, would have failed: a WARNING, and the retry timer on)."""
        live = f"/etc/letsencrypt/live/{HUB_DOMAIN}"
        hub.run("mkdir", "-p", live)
        hub.run(
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "90", "-subj", f"/CN={HUB_DOMAIN}",
            "-addext", f"subjectAltName=DNS:{HUB_DOMAIN}",
            "-keyout", f"{live}/privkey.pem", "-out", f"{live}/fullchain.pem",
        )  # fmt: skip
        try:
            output = configure(hub, HUB_DOMAIN, "--letsencrypt-email", "organizer@example.org")
            assert "WARNING" not in output.stdout and "timer" not in output.stdout
            site = hub.read(SITE)
            assert f"ssl_certificate {live}/fullchain.pem;" in site
            assert f"ssl_certificate_key {live}/privkey.pem;" in site
        finally:
            hub.run("rm", "-rf", "/etc/letsencrypt")
            configure(hub, HUB_IP)

    def test_user_subdomains_are_served_and_named_by_the_certificate(self, hub):
        """Students' servers on <them>.<domain>: the site answers for the wildcard and its
        certificate names both; a certificate that lacks the wildcard is not kept."""
        wildcard = f"*.{HUB_DOMAIN}"
        try:
            configure(hub, HUB_DOMAIN)  # a certificate for the domain alone
            output = configure(hub, HUB_DOMAIN, "--user-subdomains").stdout
            assert f"self-signed certificate for DNS:{HUB_DOMAIN},DNS:{wildcard}" in output
            assert f"server_name {HUB_DOMAIN} {wildcard};" in hub.read(SITE)
            wait_until_served(hub, wildcard)
            student = f"alice.{HUB_DOMAIN}"
            url = f"https://{student}/user/a/"
            answer = json.loads(curl(hub, "--resolve", f"{student}:443:127.0.0.1", url))
            assert answer["headers"]["host"] == student
            assert configure(hub, HUB_DOMAIN, "--user-subdomains").stdout.strip() == (
                "configure-nginx: nothing changed"
            )
        finally:
            configure(hub, HUB_IP)

    def test_user_subdomains_are_refused_for_an_ip_address(self, hub):
        result = configure(hub, HUB_IP, "--user-subdomains", check=False)
        assert result.returncode != 0
        assert "--user-subdomains needs a domain" in result.stderr

    def test_lets_encrypt_is_refused_for_an_ip_address(self, hub):
        result = configure(hub, HUB_IP, "--letsencrypt-email", "organizer@example.org", check=False)
        assert result.returncode != 0
        assert "Let's Encrypt needs a domain" in result.stderr
