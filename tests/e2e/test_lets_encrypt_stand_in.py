"""A rehearsed camp with a domain in a Route 53 zone gets its certificate from the local cloud's
Let's Encrypt (Pebble, rehearsal/acme_stand_in.py) as a camp on AWS gets one from Let's Encrypt,
through the same program: the Route 53 records land in the stand-in's DNS, the hub's certbot
answers the DNS-01 challenge for the domain and its wildcard in Route 53 (moto, whose TXT records
the stand-in's DNS answers), and the hub trusts Pebble as it trusts Let's Encrypt. The step's
report is read from the rehearsal's state: `up` repeats its WARNING from there (infra/remote.py
warn_about).

In file order: with the CA unreachable, `up` with a domain succeeds, the hub serves its
self-signed certificate and the step's report (which `up` repeats as a warning) says why; once
the CA answers, the retry (what the timer runs) gets the certificate, which nginx serves after a
reload, its master process the same; a replaced hub serves that certificate from its volume and
asks the CA for none. Then, in Chromium: a student's server is on a subdomain of its own, where
the hub's cookies do not go; a page the student serves there, opened by their teacher, runs with
the teacher's access to that server but cannot read the hub or make it act for the teacher; the
teacher still reaches the hub's admin page. The camp goes back to its settings (no domain) at the
end of the module, whatever happened, so the modules after it find the camp they expect.
"""

import json
import re
import secrets
import socket
import ssl
import string
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import student_browser
from cryptography import x509
from jupyter_api import user_path
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from waiting import wait_for

from infra import layout
from rehearsal import acme_stand_in

pytestmark = pytest.mark.live

ZONE = "camp.rehearsal.test"
DOMAIN = f"jupyter.{ZONE}"
HUB_URL = f"https://{DOMAIN}"
# The settings an organizer sets for a domain in a Route 53 zone (README, step 7).
DOMAIN_SETTINGS = {"domain": DOMAIN, "hostedZone": ZONE, "letsEncryptEmail": f"organizer@{ZONE}"}
# This run's own student, put on the class list with the domain; the sample list's admin.
STUDENT = f"origins.{secrets.token_hex(3)}@camp.example.org"
TEACHER = "teacher@camp.example.org"
CONFIGURE_NGINX = "hub-configure-nginx"  # the bootstrap step that asks for the certificate
WARNING = "WARNING: no certificate from Let's Encrypt yet: "
RETRY_SERVICE = "camphub-certificate.service"
RETRY_TIMER = "camphub-certificate.timer"  # runs RETRY_SERVICE every 15 minutes
PEBBLE_TIMEOUT_SECONDS = 30
SERVED_CERT_TIMEOUT_SECONDS = 30
HANDSHAKE_TIMEOUT_SECONDS = 10


def served_certificate(
    camp, trusted_root: str | None = None, host: str = DOMAIN
) -> x509.Certificate:
    """The certificate the hub serves to a client that asks for `host` (SNI) at the hub's
    address, as a browser does once the name resolves there; with `trusted_root` the handshake
    fails unless the served chain verifies against that root for `host`."""
    context = ssl.create_default_context(cadata=trusted_root) if trusted_root else None
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    address = (camp.outputs["hubPublicIp"], layout.HTTPS_PORT)
    with (
        socket.create_connection(address, timeout=HANDSHAKE_TIMEOUT_SECONDS) as connection,
        context.wrap_socket(connection, server_hostname=host) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def nginx_master_pid(camp) -> str:
    return camp.run("systemctl show --property MainPID --value nginx").strip()


@pytest.fixture(scope="module")
def acme(camp):
    """The rehearsal's Let's Encrypt, made as `up` makes it for a stack with a domain, then
    stopped: unreachable, as Let's Encrypt behind a blocked network. `up` leaves it stopped.
    A certificate for DOMAIN that an earlier run left on the hub's volume (a camp kept with
    CAMPHUB_E2E_KEEP=1) is deleted first: this module watches a first one come. So is that run's
    ACME account, which the restarted Pebble has forgotten (Let's Encrypt never does)."""
    stand_in = acme_stand_in.AcmeStandIn(camp.rehearsal.cloud).ensure()
    stand_in.stop()
    renewal = f"{layout.LETSENCRYPT_DIR}/renewal/{DOMAIN}.conf"
    camp.run(f"sudo sh -c 'if [ -e {renewal} ]; then "
             f"certbot delete --non-interactive --cert-name {DOMAIN}; fi; "
             f"rm -rf {layout.LETSENCRYPT_DIR}/accounts'")  # fmt: skip
    return stand_in


@pytest.fixture(scope="module")
def with_domain(camp, acme):
    """The camp's `up` with a domain in a Route 53 zone while the CA is unreachable; afterwards
    the camp's own settings again (no domain: its record deleted, the hub on its address)."""
    camp.add_to_class_list(STUDENT)
    try:
        yield camp.up(settings=DOMAIN_SETTINGS)
    finally:
        acme.start()  # as the modules after this one would find the internet
        camp.up()


def test_the_route53_record_points_the_domain_at_the_hubs_address(camp, acme, with_domain):
    assert acme.resolve(DOMAIN) == [with_domain["hubPublicIp"]]
    assert with_domain["hubUrl"].rstrip("/") == HUB_URL


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


def test_the_certificate_names_every_students_server_too(camp, issued, replaced):
    served = served_certificate(camp, trusted_root=issued["root"], host=f"anyone.{DOMAIN}")
    assert served.serial_number == issued["served"].serial_number


# Each student's server on its own subdomain, in a real browser: Chromium resolves the domain and
# every name under it to the hub's address, as the Route 53 records make the internet do. It
# accepts Pebble's chain unchecked (a new root at each Pebble start; the tests above check it).
HUB_LOGIN_COOKIE = "jupyterhub-hub-login"  # the hub's credential: who is signed in, encrypted
# The one cookie JupyterHub shares with every subdomain, by design: a random id, no credential,
# that lets signing out at the hub end the sign-ins at the servers; no script can read it.
SESSION_COOKIE = "jupyterhub-session-id"
ATTACK_PAGE = Path(__file__).with_name("attacker_page.html")
STOLEN_TOKEN_NOTE = "taken by the attacker's page"  # the note of the token the page asks for
ATTACK_PAGE_TEXT = "A notebook that needs help"  # what the page shows
RUN_THE_CELL = re.compile(r"^Run this cell")  # the notebook toolbar's button
# Run in the student's container, as the student, with `page` set before it: the attacker's page
# in their home, and a notebook whose one cell shows it. A teacher who runs that cell to help
# sees its output in their own session, trusted, so JupyterLab runs the page's script, on the
# origin of the student's server, with the teacher's access to it.
WRITE_NOTEBOOK = """
import pathlib, nbformat
pathlib.Path.home().joinpath("help-me.html").write_text(page)
show = "from IPython.display import HTML\\nHTML(open('help-me.html').read())"
kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(show)])
notebook.metadata["kernelspec"] = kernel
nbformat.write(notebook, pathlib.Path.home() / "help-me.ipynb")
"""
ATTACK_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser(camp, replaced):
    address = replaced["hubPublicIp"]
    rules = f"MAP {DOMAIN} {address},MAP *.{DOMAIN} {address}"
    with sync_playwright() as playwright:
        chromium = student_browser.launch_chromium(playwright, f"--host-resolver-rules={rules}")
        yield chromium
        chromium.close()


def new_person(browser) -> BrowserContext:
    return browser.new_context(ignore_https_errors=True)


@pytest.fixture(scope="module")
def student(camp, browser):
    """The student signed in at the hub's domain, in JupyterLab on their own server."""
    context = new_person(browser)
    page, _ = student_browser.sign_in(context, HUB_URL, STUDENT)
    student_browser.wait_for_jupyterlab(page, HUB_URL, STUDENT)
    yield context, page
    context.close()
    camp.hub_api(f"/users/{user_path(STUDENT)}/server", method="DELETE")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_a_students_server_is_served_on_a_subdomain_of_its_own(student):
    _, page = student
    host = urlsplit(page.url).hostname
    assert host.endswith(f".{DOMAIN}") and host.count(".") == DOMAIN.count(".") + 1, page.url
    assert student_browser.run_first_cell(page, "print(6 * 7)").strip() == "42"


def test_the_hubs_sign_in_cookie_is_not_sent_to_the_students_server(student):
    context, page = student
    to_server = {cookie["name"]: cookie for cookie in context.cookies([page.url])}
    to_hub = {cookie["name"] for cookie in context.cookies([f"https://{DOMAIN}/hub/home"])}
    assert HUB_LOGIN_COOKIE in to_hub  # signed in at the hub...
    assert HUB_LOGIN_COOKIE not in to_server, to_server  # ...which the server never learns
    from_the_hub = {name for name, c in to_server.items() if c["domain"].lstrip(".") == DOMAIN}
    assert from_the_hub == {SESSION_COOKIE}, to_server
    assert to_server[SESSION_COOKIE]["httpOnly"]


def attacker_page(teacher: str) -> str:
    """The page a student serves, aimed at `teacher`."""
    page = string.Template(ATTACK_PAGE.read_text())
    return page.substitute(hub=HUB_URL, teacher=user_path(teacher), note=STOLEN_TOKEN_NOTE)


def open_as_teacher(context: BrowserContext, server_url: str) -> Page:
    """The teacher signs in and opens the student's notebook on the student's server, as they do
    to help; the hub may first ask the teacher to let their browser into that server."""
    page, _ = student_browser.sign_in(
        context, HUB_URL, TEACHER, start_path="/hub/login?next=%2Fhub%2Fhome"
    )
    # In a workspace of the teacher's own: the student's (kept in their home) may restore
    # notebooks of theirs beside it.
    student_browser.open_url(page, f"{server_url}lab/workspaces/teacher/tree/help-me.ipynb")
    authorize = page.get_by_role("button", name="Authorize")
    lab = page.locator("#jp-main-dock-panel")
    authorize.or_(lab).first.wait_for(timeout=student_browser.UI_TIMEOUT_MS)
    if authorize.is_visible():
        authorize.click()
    expect(lab).to_be_visible(timeout=student_browser.UI_TIMEOUT_MS)
    return page


def run_the_students_cell(page: Page) -> None:
    """As the teacher does once the notebook's kernel is ready: its one cell, run."""
    status_bar = page.locator("#jp-main-statusbar")
    expect(status_bar).to_contain_text(
        student_browser.KERNEL_IDLE, timeout=student_browser.CELL_TIMEOUT_MS
    )
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    cell = notebook.locator(".jp-Cell").first
    cell.locator(".jp-InputPrompt").click()  # selects the cell, as a click beside its code does
    notebook.get_by_role("button", name=RUN_THE_CELL).click()
    expect(cell.locator(".jp-OutputArea-output")).to_contain_text(
        ATTACK_PAGE_TEXT, timeout=student_browser.CELL_TIMEOUT_MS
    )


def teachers_token_notes(camp) -> list[str]:
    tokens = camp.hub_api(f"/users/{user_path(TEACHER)}/tokens")["api_tokens"]
    return [token.get("note") or "" for token in tokens]


@pytest.fixture(scope="module")
def attack(camp, browser, student):
    """The student's notebook, opened by the teacher on the student's server and its cell run:
    the student's server's URL, and what the attacker's page found it could do."""
    script = f"page = {attacker_page(TEACHER)!r}\n{WRITE_NOTEBOOK}"
    camp.in_server(STUDENT, "python3 -", stdin=script)
    server_url = camp.hub_api(f"/users/{user_path(STUDENT)}")["server"]
    context = new_person(browser)
    try:
        page = open_as_teacher(context, server_url)
        run_the_students_cell(page)
        found = page.wait_for_function("() => window.camphubAttack", timeout=ATTACK_TIMEOUT_MS)
        yield {"server_url": server_url, "found": found.json_value()}
    finally:
        context.close()


def test_the_attackers_page_runs_on_the_students_origin_with_the_teachers_access(attack):
    found = attack["found"]
    assert found["origin"] == origin(attack["server_url"]) != HUB_URL
    # The page does act as the teacher on its own origin: the server lets the teacher in.
    assert found["ownServer"]["status"] == 200, json.dumps(found)


def test_the_attackers_page_cannot_read_the_hub_or_its_cookies(attack):
    """On the hub's origin the page reads the hub's token page, the teacher's XSRF token in it."""
    found = attack["found"]
    for request in ("hubUser", "hubTokenPage"):
        assert "refused" in found[request], json.dumps(found)
    assert found["hubXsrfRead"] is False
    assert "jupyterhub" not in found["cookies"], json.dumps(found)


def test_the_attackers_page_cannot_make_the_hub_act_for_the_teacher(camp, attack):
    """On the hub's origin the page makes an API token of the teacher's, with their scopes."""
    assert "refused" in attack["found"]["newToken"], json.dumps(attack["found"])
    assert "newTokenBlind" in attack["found"]  # sent, its answer unreadable
    assert STOLEN_TOKEN_NOTE not in teachers_token_notes(camp)


def test_the_teacher_still_reaches_the_hubs_admin_page(browser):
    context = new_person(browser)
    try:
        page, _ = student_browser.sign_in(
            context, HUB_URL, TEACHER, start_path="/hub/login?next=%2Fhub%2Fadmin"
        )
        expect(page.get_by_text(STUDENT).first).to_be_visible(timeout=student_browser.UI_TIMEOUT_MS)
    finally:
        context.close()
