"""Signing in on the rehearsed camp, as people do at camp: in Chromium, through nginx at hubUrl,
"Sign in with Google" answered by the rehearsal's Google stand-in (rehearsal/google_stand_in.py)
while the hub runs the real GoogleOAuthenticator.

A student signs in, works in JupyterLab and keeps their files across a server restart (and the
server ignores the Jupyter settings in their home); a student
added during the week signs in while those already working keep their kernels; a student removed
from the class list is refused and their home stays; a student whose email is too long for a
Docker service name, escaped, signs in and runs a cell all the same.
"""

import re
import secrets
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import student_browser
from e2e_support import escaped
from jupyter_api import HubClient
from playwright.sync_api import Browser, Page, expect, sync_playwright

from infra import layout
from infra.config import DEFAULTS

pytestmark = pytest.mark.live

HOME_LIMIT_GIB = DEFAULTS["nfs"]["homeQuotaGb"]
DOCKER_SERVICE_NAME_LIMIT = 63
USER_CONFIG_HEADER = "X-Camphub-Student-Config"
WRITE_USER_CONFIG = f"""
import pathlib
config = pathlib.Path.home() / ".jupyter"
config.mkdir(exist_ok=True)
setting = {{"headers": {{"{USER_CONFIG_HEADER}": "read"}}}}
(config / "jupyter_server_config.py").write_text(f"c.ServerApp.tornado_settings = {{setting!r}}")
"""


@dataclass(frozen=True)
class People:
    """This module's own students, new in every run (a kept camp still has the last run's
    servers, homes and JupyterLab workspaces); the other modules stop, move and remove theirs."""

    writer: str
    worker: str
    leaver: str
    newcomer: str
    long_named: str  # 60 characters: escaped, too long for a Docker service name

    @classmethod
    def for_run(cls) -> "People":
        run = secrets.token_hex(3)
        names = ("mary", "katherine", "dorothy", "annie", "margaret.heafield.hamilton.of.apollo")
        return cls(*(f"{name}.{run}@camp.example.org" for name in names))


@dataclass(frozen=True)
class SignedIn:
    """A student whose browser shows their JupyterLab, with an API token of their own."""

    email: str
    page: Page
    client: HubClient


@pytest.fixture(scope="module")
def people() -> People:
    return People.for_run()


@pytest.fixture(scope="module")
def hub_url(camp, people) -> str:
    camp.add_to_class_list(people.writer, people.worker, people.leaver, people.long_named)
    camp.up()
    return camp.outputs["hubUrl"].rstrip("/")


@pytest.fixture(scope="module")
def ca_file(hub_url, tmp_path_factory) -> Path:
    """The certificate nginx serves (self-signed on the dev stack), which API clients trust."""
    hub = urlsplit(hub_url)
    path = tmp_path_factory.mktemp("hub") / "hub-certificate.pem"
    path.write_text(ssl.get_server_certificate((hub.hostname, hub.port or 443)))
    return path


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as playwright:
        chromium = student_browser.launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def sign_in(browser, hub_url, ca_file):
    """Signs a student in with a browser profile of their own and waits for their JupyterLab."""

    def signed_in(email: str) -> SignedIn:
        context = browser.new_context(ignore_https_errors=True)
        page, callback = student_browser.sign_in(context, hub_url, email)
        assert callback.status < 400, f"{email} refused at the OAuth callback: {callback.status}"
        student_browser.wait_for_jupyterlab(page, hub_url, email)
        token = student_browser.create_api_token(context, hub_url, email)
        return SignedIn(email, page, HubClient(hub_url, ca_file, token))

    return signed_in


def test_student_signs_in_runs_a_cell_and_keeps_files_across_a_server_restart(sign_in, people):
    mary = sign_in(people.writer)
    assert student_browser.run_first_cell(mary.page, "print(6 * 7)").strip() == "42"
    # Her space against her home's limit and her memory against its limit, in the status bar
    # (the NFS server publishes her home's usage every minute).
    limits = re.compile(rf"Disk:\s+\d+\.\d\d / {HOME_LIMIT_GIB:.2f} GB.*Mem:\s+[\d.]+ / [\d.]+ MB")
    expect(mary.page.locator("#jp-main-statusbar")).to_contain_text(limits, timeout=120_000)
    content = f"written by {mary.email} at {time.time()}"
    _write_file(mary, "persist.txt", content)
    # A server that read its student's own settings would send this header from now on.
    mary.client.run_code(mary.email, WRITE_USER_CONFIG)

    mary.client.stop_server(mary.email)
    mary.client.start_server_and_wait_until_it_answers(mary.email)

    printed = mary.client.run_code(mary.email, "print(open('persist.txt').read())")
    assert printed.strip() == content
    status = mary.client.server_api(mary.email, "GET", "/status")
    assert status.ok and USER_CONFIG_HEADER not in status.headers


def test_a_student_with_a_60_character_email_signs_in_and_runs_a_cell(sign_in, people):
    assert len(people.long_named) == 60
    assert len(f"jupyter-{escaped(people.long_named)}") > DOCKER_SERVICE_NAME_LIMIT
    margaret = sign_in(people.long_named)
    assert student_browser.run_first_cell(margaret.page, "print(6 * 7)").strip() == "42"


def test_student_added_later_signs_in_and_working_students_keep_their_kernels(
    camp, sign_in, people
):
    katherine = sign_in(people.worker)
    assert student_browser.run_first_cell(katherine.page, "answer = 6 * 7\nprint(answer)")
    (kernel_id,) = _notebook_kernels(katherine)
    hub_started = camp.hub_container_started_at()

    camp.add_to_class_list(people.newcomer)
    camp.up()

    assert camp.hub_container_started_at() == hub_started
    sign_in(people.newcomer)
    assert _notebook_kernels(katherine) == [kernel_id]
    printed = katherine.client.run_in_kernel(katherine.email, kernel_id, "print(answer)")
    assert printed.strip() == "42"


def test_student_removed_from_the_class_list_is_refused_and_keeps_their_home(
    camp, sign_in, browser, hub_url, people
):
    dorothy = sign_in(people.leaver)
    _write_file(dorothy, "notes.txt", "my project")

    lines = camp.userlist.read_text().splitlines()
    camp.userlist.write_text("".join(f"{line}\n" for line in lines if dorothy.email not in line))
    camp.up()

    assert dorothy.email not in camp.usernames()
    context = browser.new_context(ignore_https_errors=True)
    page, callback = student_browser.sign_in(context, hub_url, dorothy.email)
    assert callback.status == 403, f"{dorothy.email} got {callback.status} at the callback"
    assert "403" in page.locator("h1").first.inner_text()
    # Read where the homes live: on the hub, root is squashed on the NFS mount, as on AWS.
    home = f"{layout.NFS_EXPORT_DIR}/{escaped(dorothy.email)}"
    nfs = camp.outputs["nfsPrivateIp"]
    assert camp.run(f"sudo cat '{home}/notes.txt'", host=nfs) == "my project"


def _write_file(student: SignedIn, name: str, content: str) -> None:
    file = {"type": "file", "format": "text", "content": content}
    response = student.client.server_api(student.email, "PUT", f"/contents/{name}", json=file)
    response.raise_for_status()


def _notebook_kernels(student: SignedIn) -> list[str]:
    """The kernels of the notebooks open in the student's JupyterLab."""
    sessions = student.client.server_api(student.email, "GET", "/sessions")
    sessions.raise_for_status()
    return [s["kernel"]["id"] for s in sessions.json() if s["type"] == "notebook"]
