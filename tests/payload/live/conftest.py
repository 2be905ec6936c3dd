"""The live hub: swarm, overlay, Google stand-in, hub container and nginx, once per session.

Every Docker object is named with this run's prefix and removed afterwards; when a test fails,
the swarm's view of the students' services, the hub's log and nginx's error log are printed.
"""

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import addressed_network
import hub
import nginx_front
import pytest
import student_browser
import swarm
from jupyter_api import HubClient
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from rehearsal import google_stand_in
from rehearsal.detached import free_port

LOOPBACK = "127.0.0.1"
DOCKER_PREFIX = "h2-"
# The whole session shares one hub; a day-long idle timeout keeps the culler away from the
# other tests. The culler test restarts the hub with a short one.
RELAXED_IDLE_TIMEOUT_SECONDS = 86_400
OPEN_BROWSER = pytest.StashKey[Browser]()
# nginx logs every handshake the browser aborts over the self-signed certificate at "info".
NGINX_SERIOUS = re.compile(r"\[(warn|error|crit|alert|emerg)\]")


@dataclass(frozen=True)
class People:
    """Accounts unique to this run, so parallel runs on one engine never share a server."""

    student: str
    classmate: str
    idler: str
    teacher: str
    outsider: str

    @classmethod
    def for_run(cls, run_id: str) -> "People":
        return cls(
            student=f"alice.{run_id}@example.org",
            classmate=f"bob.{run_id}@example.org",
            idler=f"carol.{run_id}@example.org",
            teacher=f"teacher.{run_id}@example.org",
            # Same stand-in, verified address, simply not on the class list.
            outsider=f"mallory.{run_id}@example.net",
        )

    def class_list(self) -> hub.ClassList:
        return hub.ClassList(
            students=(self.student, self.classmate, self.idler), admins=(self.teacher,)
        )


@dataclass(frozen=True)
class LiveHub:
    public_url: str
    http_url: str  # nginx's plain-HTTP side, which only redirects
    ca_file: Path
    placement: hub.HubPlacement
    hub_image: str
    files: hub.HubFiles
    people: People
    google: google_stand_in.GoogleStandIn
    nginx: nginx_front.NginxFront
    settings: dict

    @property
    def network(self) -> str:
        return self.placement.network.name

    @property
    def hub_container(self) -> str:
        return self.placement.container

    def client(self, token: str | None) -> HubClient:
        return HubClient(self.public_url, self.ca_file, token)


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(3)


@pytest.fixture(scope="session")
def one_node_swarm() -> Iterator[None]:
    created = swarm.ensure_swarm()
    yield
    if created:
        swarm.leave_swarm_if_unused()


@pytest.fixture(scope="session")
def overlay(one_node_swarm, run_id) -> Iterator[addressed_network.AddressedNetwork]:
    """An attachable overlay (standalone containers such as the hub join it) with room for the
    hub's and the proxy's fixed addresses."""
    network = addressed_network.create(
        f"{DOCKER_PREFIX}camphub-{run_id}", "--driver", "overlay", "--attachable"
    )
    yield network
    swarm.remove_services_on_network(network.name)
    swarm.remove_network(network.name)


@pytest.fixture(scope="session")
def google(one_node_swarm, tmp_path_factory) -> Iterator[google_stand_in.GoogleStandIn]:
    log = tmp_path_factory.mktemp("google") / "provider.log"
    provider = google_stand_in.start(swarm.gateway_address(), free_port(LOOPBACK), log)
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def live_hub(overlay, google, run_id, tmp_path_factory, camphub_images) -> Iterator[LiveHub]:
    files = hub.HubFiles(tmp_path_factory.mktemp("live-hub"))
    people = People.for_run(run_id)
    for email in (*people.class_list().students, *people.class_list().admins, people.outsider):
        google.add_user(email)
    http_port, https_port = free_port(LOOPBACK), free_port(LOOPBACK)
    public_url = f"https://{LOOPBACK}:{https_port}"
    placement = hub.HubPlacement(
        container=f"{DOCKER_PREFIX}hub-{run_id}",
        proxy_container=f"{DOCKER_PREFIX}proxy-{run_id}",
        network=overlay,
        port=free_port(LOOPBACK),
    )
    settings = hub.hub_settings(
        public_url=public_url,
        provider=google,
        notebook_image=camphub_images.notebook,
        placement=placement,
        files=files,
        idle_timeout_seconds=RELAXED_IDLE_TIMEOUT_SECONDS,
    )
    hub.prepare(files, people.class_list())
    nginx_prefix = files.root / "nginx"  # its files, the certificate among them
    try:
        hub.start_hub(camphub_images, placement, files, settings)
        front = _start_nginx(nginx_prefix, http_port, https_port, placement.port)
    except BaseException:
        _dump_hub_log(placement.container)
        placement.remove_containers()
        raise
    yield LiveHub(
        public_url,
        f"http://{LOOPBACK}:{http_port}",
        nginx_prefix / "cert.pem",
        placement,
        camphub_images.hub,
        files,
        people,
        google,
        front,
        settings,
    )
    front.stop()
    swarm.remove_services_on_network(overlay.name)
    placement.remove_containers()
    # Students' files (the 50 MB upload among them) are not worth keeping past the run.
    shutil.rmtree(files.homes_dir, ignore_errors=True)


def _start_nginx(
    prefix: Path, http_port: int, https_port: int, hub_port: int
) -> nginx_front.NginxFront:
    prefix.mkdir(parents=True)
    cert, key = nginx_front.make_self_signed_certificate(prefix, LOOPBACK)
    site = nginx_front.render_site(
        prefix,
        http_port=http_port,
        https_port=https_port,
        hub_port=hub_port,
        cert=cert,
        key=key,
        server_name=LOOPBACK,
    )
    config = nginx_front.write_main_config(prefix, site)
    health_url = f"https://{LOOPBACK}:{https_port}/hub/health"
    return nginx_front.start(prefix, config, health_url, cert)


def _dump_hub_log(container: str) -> None:
    print(f"--- docker logs {container} ---")
    print(_container_log(container))


@pytest.fixture(scope="session")
def browser(pytestconfig, live_hub) -> Iterator[Browser]:
    """Chromium trusting exactly the hub's self-signed certificate (by its public key), so
    every other certificate check stays on."""
    trust = f"--ignore-certificate-errors-spki-list={nginx_front.spki_sha256(live_hub.ca_file)}"
    with sync_playwright() as playwright:
        chromium = student_browser.launch_chromium(playwright, trust)
        # Kept where the failure report can find it, even when a fixture failed half-way.
        pytestconfig.stash[OPEN_BROWSER] = chromium
        yield chromium
        del pytestconfig.stash[OPEN_BROWSER]
        chromium.close()


@dataclass(frozen=True)
class SignedIn:
    """A person with an open browser session and an API token of their own."""

    email: str
    page: Page
    token: str


def _sign_in_for_session(
    browser: Browser, stack: LiveHub, email: str, start_path: str, *, wait_for_lab: bool = False
) -> SignedIn:
    context = browser.new_context()
    page, callback = student_browser.sign_in(context, stack.public_url, email, start_path)
    assert callback.status < 400, f"{email} refused at the OAuth callback: {callback.status}"
    if wait_for_lab:
        student_browser.wait_for_jupyterlab(page, stack.public_url, email)
    token = student_browser.create_api_token(context, stack.public_url, email)
    return SignedIn(email, page, token)


@pytest.fixture(scope="session")
def student(browser, live_hub) -> SignedIn:
    """Alice, signed in through the browser; the hub spawns her server and opens JupyterLab."""
    return _sign_in_for_session(
        browser, live_hub, live_hub.people.student, "/hub/login", wait_for_lab=True
    )


@pytest.fixture(scope="session")
def classmate(browser, live_hub) -> SignedIn:
    """Bob, another student on the list, signed in (his own server spawns as for anyone)."""
    return _sign_in_for_session(browser, live_hub, live_hub.people.classmate, "/hub/login")


@pytest.fixture(scope="session")
def teacher(browser, live_hub) -> SignedIn:
    """The admin on the class list, signed in on the way to the admin panel."""
    return _sign_in_for_session(browser, live_hub, live_hub.people.teacher, "/hub/admin")


@pytest.fixture
def new_context(browser):
    """Fresh browser profiles (one per person), closed after the test."""
    contexts = []

    def make():
        context = browser.new_context()
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Attach the swarm's, the hub's and nginx's view to the report of a failed test."""
    report = yield
    stack = item.funcargs.get("live_hub") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, LiveHub):
        report.sections.append(("live hub diagnostics", _diagnostics(stack)))
        chromium = item.config.stash.get(OPEN_BROWSER, None)
        if chromium is not None:
            shots = _screenshot_open_pages(
                chromium, stack.files.state_dir.parent / "failures", item.name
            )
            report.sections.append(("what the browser showed", shots))
    return report


def _screenshot_open_pages(chromium: Browser, directory: Path, test_name: str) -> str:
    directory.mkdir(exist_ok=True)
    lines = []
    for number, page in enumerate(p for c in chromium.contexts for p in c.pages):
        path = directory / f"{test_name}-{number}.png"
        try:
            page.screenshot(path=path, full_page=True)
        except PlaywrightError as error:
            lines.append(f"{page.url}: no screenshot ({error})")
            continue
        lines.append(f"{page.url}: {path}")
    return "\n".join(lines)


def _diagnostics(stack: LiveHub) -> str:
    parts = []
    for service in swarm.services_on_network(stack.network):
        parts.append(f"--- docker service ps {service['Spec']['Name']} ---")
        parts.append(swarm.docker("service", "ps", "--no-trunc", service["ID"], check=False))
        parts.append(f"--- docker service logs {service['Spec']['Name']} (last 60 lines) ---")
        parts.append(_command_output("docker", "service", "logs", "--tail", "60", service["ID"]))
    parts.append(f"--- docker logs {stack.hub_container} (last 200 lines) ---")
    parts.append(_container_log(stack.hub_container))
    parts.append(f"--- {stack.nginx.error_log}: warnings and worse (last 50) ---")
    if stack.nginx.error_log.exists():
        serious = [
            line
            for line in stack.nginx.error_log.read_text().splitlines()
            if NGINX_SERIOUS.search(line)
        ]
        parts.append("\n".join(serious[-50:]))
    return "\n".join(parts)


def _container_log(container: str) -> str:
    return _command_output("docker", "logs", "--tail", "200", container)


def _command_output(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.stdout + result.stderr
