"""One student at 9:00, as their browser speaks to the hub: HTTP and a kernel websocket, no
browser engine.

The student opens the hub's login page, then presses "Sign in with Google" (the clock starts),
types their email at the provider's consent page and submits it, comes back through the hub's
OAuth callback, which starts their server; they follow the spawn-pending page's progress
events until the server is ready, open JupyterLab (the server's own OAuth round trip through the
hub), open a notebook's kernel and run one cell over the kernel websocket. Browser-like request
headers (Sec-Fetch-Mode) keep the hub's XSRF checks exactly as they are for a browser.
"""

import json
import re
import ssl
import time
import uuid
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import websocket
from jupyter_api import execute_in_kernel, user_path

CELL = "print(sum(range(10**6)))"
CELL_OUTPUT = f"{sum(range(10**6))}\n"
# The hub's own start timeout (infra/hub_settings.py) is the longest a start may take.
SPAWN_TIMEOUT_SECONDS = 600
REQUEST_TIMEOUT_SECONDS = 120
# A new kernel on a worker where the whole class starts theirs: a person waits; so does the
# student here, as long as the hub waits for a server.
FIRST_CELL_TIMEOUT_SECONDS = SPAWN_TIMEOUT_SECONDS
NAVIGATE = {"Sec-Fetch-Mode": "navigate"}
SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
SIGN_IN_LINK = re.compile(r"href=[\"']([^\"']*oauth_login[^\"']*)[\"']")
PROGRESS_URL = re.compile(r'new EventSource\("([^"]+)"\)')


class StudentError(RuntimeError):
    """A step of the student's morning went wrong; the message names the step."""


@dataclass
class Timeline:
    """Seconds after pressing sign-in at which each step was done (time.monotonic based)."""

    pressed: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    failure: str | None = None

    def mark(self, step: str) -> None:
        self.steps[step] = time.monotonic() - self.pressed

    @property
    def first_cell(self) -> float | None:
        return self.steps.get("cell")


class Student:
    def __init__(self, hub_url: str, ca_file: Path, email: str):
        self.hub_url = hub_url.rstrip("/")
        self.ca_file = ca_file
        self.email = email
        self.server_path = f"/user/{user_path(email)}"
        self.session = requests.Session()
        self.timeline = Timeline()

    def open_login_page(self) -> str:
        """Before 9:00: the login page is open in the browser; returns its sign-in link."""
        page = self._navigate(f"{self.hub_url}/hub/login")
        link = SIGN_IN_LINK.search(page.text)
        if not link:
            raise StudentError(f"{self.email}: no 'Sign in with Google' link on the login page")
        return urljoin(page.url, unescape(link.group(1)))

    def morning(self, sign_in_link: str) -> Timeline:
        """Press sign-in and go on until the first cell ran; failures end up in the timeline."""
        self.timeline.pressed = time.monotonic()
        try:
            self._morning(sign_in_link)
        except (
            StudentError,
            OSError,
            requests.RequestException,
            websocket.WebSocketException,
        ) as e:
            self.timeline.failure = f"{type(e).__name__}: {e}"
        return self.timeline

    def _morning(self, sign_in_link: str) -> None:
        consent = self._navigate(sign_in_link)
        landing = self._navigate(consent.url, method="POST", data={"sub": self.email})
        self.timeline.mark("signed_in")
        if self.server_path not in urlsplit(landing.url).path:
            server_url = self._follow_progress(landing)
            self.timeline.mark("server_ready")
            landing = self._navigate(server_url)
        if not urlsplit(landing.url).path.startswith(f"{self.server_path}/lab"):
            raise StudentError(f"{self.email}: expected JupyterLab, landed on {landing.url}")
        self.timeline.mark("lab")
        kernel_id = self._start_kernel()
        self.timeline.mark("kernel")
        printed = self._run_cell(kernel_id)
        if printed != CELL_OUTPUT:
            raise StudentError(f"{self.email}: the cell printed {printed!r}")
        self.timeline.mark("cell")

    def _navigate(self, url: str, method: str = "GET", **kwargs) -> requests.Response:
        response = self.session.request(
            method,
            url,
            headers=NAVIGATE,
            verify=str(self.ca_file),
            timeout=REQUEST_TIMEOUT_SECONDS,
            **kwargs,
        )
        if response.status_code != 200:
            raise StudentError(
                f"{self.email}: {method} {url} ended at {response.url}: HTTP {response.status_code}"
            )
        return response

    def _follow_progress(self, pending_page: requests.Response) -> str:
        """The spawn-pending page's event stream, until the server is ready; returns its URL."""
        match = PROGRESS_URL.search(pending_page.text)
        if not match:
            raise StudentError(f"{self.email}: no progress stream on {pending_page.url}")
        progress_url = urljoin(pending_page.url, unescape(match.group(1)))
        headers = {**SCRIPT, "Accept": "text/event-stream"}
        with self.session.get(
            progress_url,
            headers=headers,
            verify=str(self.ca_file),
            stream=True,
            timeout=(REQUEST_TIMEOUT_SECONDS, SPAWN_TIMEOUT_SECONDS),
        ) as stream:
            if stream.status_code != 200:
                raise StudentError(f"{self.email}: progress stream HTTP {stream.status_code}")
            for line in stream.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line.removeprefix("data:"))
                if event.get("failed"):
                    raise StudentError(f"{self.email}: spawn failed: {event.get('message')}")
                if event.get("ready"):
                    return urljoin(self.hub_url, event["url"])
        raise StudentError(f"{self.email}: the progress stream ended before the server was ready")

    def _start_kernel(self) -> str:
        """What JupyterLab does for a new notebook: a session with a python3 kernel."""
        xsrf = self.session.cookies.get("_xsrf", path=f"{self.server_path}/")
        response = self.session.post(
            f"{self.hub_url}{self.server_path}/api/sessions",
            json={
                "path": "bench.ipynb",
                "name": "bench.ipynb",
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
            headers={**SCRIPT, "X-XSRFToken": xsrf or ""},
            verify=str(self.ca_file),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        if response.status_code != 201:
            raise StudentError(
                f"{self.email}: new session HTTP {response.status_code}: {response.text[:200]}"
            )
        return response.json()["kernel"]["id"]

    def _run_cell(self, kernel_id: str) -> str:
        ws_base = self.hub_url.replace("https://", "wss://", 1)
        url = (
            f"{ws_base}{self.server_path}/api/kernels/{kernel_id}/channels"
            f"?session_id={uuid.uuid4().hex}"
        )
        cookies = "; ".join(f"{c.name}={c.value}" for c in self._cookies_for_server())
        connection = websocket.create_connection(
            url,
            cookie=cookies,
            origin=self.hub_url,
            header=["Sec-Fetch-Mode: websocket"],
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(self.ca_file)},
            timeout=FIRST_CELL_TIMEOUT_SECONDS,
        )
        try:
            return execute_in_kernel(connection, CELL, FIRST_CELL_TIMEOUT_SECONDS)
        finally:
            connection.close()

    def _cookies_for_server(self) -> list:
        """The cookies a browser sends to the student's server: the hub's host, the server's
        path (not the hub's own /hub/ cookies, not the provider's)."""
        host = urlsplit(self.hub_url).hostname
        return [
            cookie
            for cookie in self.session.cookies
            if cookie.domain.lstrip(".") == host
            and self.server_path.startswith(cookie.path.rstrip("/"))
        ]
