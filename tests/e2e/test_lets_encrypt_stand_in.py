"""A rehearsed camp with a domain gets its certificate from the local cloud's Let's Encrypt (Pebble,
rehearsal/acme_stand_in.py) as a camp on AWS gets one from Let's Encrypt, through the same
program: the Route 53 record lands in the stand-in's DNS, Pebble validates on the hub's Elastic
IP, and the hub trusts Pebble as it trusts Let's Encrypt. The step's report is read from the
rehearsal's state: `up` repeats its WARNING from there (infra/remote.py warn_about).

In file order: with the CA unreachable, `up` with a domain succeeds, the hub serves its
self-signed certificate and the step's report (which `up` repeats as a warning) says why; once the
CA answers, the retry (what the timer runs) gets the certificate, which nginx serves after a
reload, its master process the same; a replaced hub serves that certificate from its volume and
asks the CA for none. The camp goes back to its settings (no domain) at the end of the module,
whatever happened, so the modules after it find the camp they expect.
"""

import socket
import ssl

import pytest
from cryptography import x509
from waiting import wait_for

from infra import layout
from rehearsal import acme_stand_in

pytestmark = pytest.mark.live

ZONE = "camp.rehearsal.test"
DOMAIN = f"jupyter.{ZONE}"
# The settings an organizer sets for a domain in a Route 53 zone (README, step 7).
DOMAIN_SETTINGS = {"domain": DOMAIN, "hostedZone": ZONE, "letsEncryptEmail": f"organizer@{ZONE}"}
CONFIGURE_NGINX = "hub-configure-nginx"  # the bootstrap step that asks for the certificate
WARNING = "WARNING: no certificate from Let's Encrypt yet: "
RETRY_SERVICE = "camphub-certificate.service"
RETRY_TIMER = "camphub-certificate.timer"  # runs RETRY_SERVICE every 15 minutes
PEBBLE_TIMEOUT_SECONDS = 30
SERVED_CERT_TIMEOUT_SECONDS = 30
HANDSHAKE_TIMEOUT_SECONDS = 10


def served_certificate(camp, trusted_root: str | None = None) -> x509.Certificate:
    """The certificate the hub serves to a client that asks for DOMAIN (SNI) at the hub's
    address, as a browser does once the name resolves there; with `trusted_root` the handshake
    fails unless the served chain verifies against that root for DOMAIN."""
    context = ssl.create_default_context(cadata=trusted_root) if trusted_root else None
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    address = (camp.outputs["hubPublicIp"], layout.HTTPS_PORT)
    with (
        socket.create_connection(address, timeout=HANDSHAKE_TIMEOUT_SECONDS) as connection,
        context.wrap_socket(connection, server_hostname=DOMAIN) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def nginx_master_pid(camp) -> str:
    return camp.run("systemctl show --property MainPID --value nginx").strip()


@pytest.fixture(scope="module")
def acme(camp):
    """The rehearsal's Let's Encrypt, made as `up` makes it for a stack with a domain, then
    stopped: unreachable, as Let's Encrypt behind a blocked network. `up` leaves it stopped.
    A certificate for DOMAIN that an earlier run left on the hub's volume (a camp kept with
    CAMPHUB_E2E_KEEP=1) is deleted first: this module watches a first one come."""
    stand_in = acme_stand_in.AcmeStandIn(camp.rehearsal.cloud).ensure()
    stand_in.stop()
    renewal = f"{layout.LETSENCRYPT_DIR}/renewal/{DOMAIN}.conf"
    camp.run(f"sudo sh -c 'if [ -e {renewal} ]; then "
             f"certbot delete --non-interactive --cert-name {DOMAIN}; fi'")  # fmt: skip
    return stand_in


@pytest.fixture(scope="module")
def with_domain(camp, acme):
    """The camp's `up` with a domain in a Route 53 zone while the CA is unreachable; afterwards
    the camp's own settings again (no domain: its record deleted, the hub on its address)."""
    try:
        yield camp.up(settings=DOMAIN_SETTINGS)
    finally:
        acme.start()  # as the modules after this one would find the internet
        camp.up()


def test_the_route53_record_points_the_domain_at_the_hubs_address(camp, acme, with_domain):
    assert acme.resolve(DOMAIN) == [with_domain["hubPublicIp"]]
    assert with_domain["hubUrl"].rstrip("/") == f"https://{DOMAIN}"


def test_without_the_ca_up_succeeds_and_warns_with_certbots_reason(camp, with_domain):
    report = camp.step(CONFIGURE_NGINX).outputs["stdout"]
    assert WARNING in report, report
    reason = report.split(WARNING)[1]
    assert reason and not reason.startswith("certbot failed"), report
    assert f"{RETRY_TIMER} on" in report


def test_without_the_ca_the_hub_serves_its_self_signed_certificate(camp, with_domain):
    served = served_certificate(camp)
    assert served.issuer == served.subject
    assert DOMAIN in served.subject.rfc4514_string()


@pytest.fixture(scope="module")
def issued(camp, acme, with_domain):
    """The CA back, and the retry run: what the hub then serves, nginx's master process before
    and after, and how many certificates the CA had issued before and after."""
    master, count = nginx_master_pid(camp), acme.issued_count()  # Pebble's count: over its life
    acme.start()
    wait_for(acme.answers, timeout=PEBBLE_TIMEOUT_SECONDS, what="Pebble answering")
    # Stands for camphub-certificate.timer's next tick (every 15 minutes): the service it starts.
    camp.run(f"sudo systemctl start {RETRY_SERVICE}")
    root = acme.root_certificate()
    served = wait_for(
        lambda: _verified(camp, root),
        timeout=SERVED_CERT_TIMEOUT_SECONDS,
        what="the hub serving a certificate from Pebble's root",
    )
    return {"served": served, "root": root, "masters": (master, nginx_master_pid(camp)),
            "counts": (count, acme.issued_count())}  # fmt: skip


def _verified(camp, root: str) -> x509.Certificate | None:
    try:
        return served_certificate(camp, trusted_root=root)
    except ssl.SSLCertVerificationError:
        return None  # still the self-signed one


def test_once_the_ca_answers_the_retry_gets_the_certificate_without_a_restart(issued):
    master_before, master_after = issued["masters"]
    assert master_after == master_before, "nginx was restarted, not reloaded"
    count_before, count_after = issued["counts"]
    assert count_after == count_before + 1, "one certificate asked for and issued"


@pytest.fixture(scope="module")
def replaced(camp, acme, issued):
    """`pulumi up --replace` of the hub's instance, the domain still set."""
    return camp.up(settings=DOMAIN_SETTINGS, replace=("hub",))


def test_a_replaced_hub_serves_the_same_certificate_and_asks_for_none(camp, acme, issued, replaced):
    assert acme.issued_count() == issued["counts"][1]
    served = served_certificate(camp, trusted_root=issued["root"])
    assert served.serial_number == issued["served"].serial_number
    assert acme.resolve(DOMAIN) == [replaced["hubPublicIp"]]
