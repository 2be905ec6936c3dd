"""A hub restart during class, on the rehearsed camp.

configurable-http-proxy runs in a container of its own (scripts/start-hub), so while `pulumi up`
makes the hub's container again for a changed setting, a student working in a kernel goes on
without one failed request, and every running server reaches the new hub at the same fixed
address on the overlay. A student who signs in once the hub is back reaches the server that kept
running through the server's own OAuth callback, which calls the hub API from inside it.
"""

import itertools
import threading
import time
from dataclasses import dataclass, field

import pytest
import student_browser
from e2e_support import in_kernel
from jupyter_api import user_path
from playwright.sync_api import sync_playwright
from waiting import wait_for

from infra import layout

pytestmark = pytest.mark.live

WORKING = "grace@camp.example.org"  # in a kernel through the restart
RETURNING = "ada@camp.example.org"  # their server keeps running; they sign in afterwards
POLL_EVERY_SECONDS = 1.0
# Any notebook setting: every one of them restarts the hub.
CHANGED_SETTING = {"idleCullMinutes": 239}
ACTIVITY_WITHIN_SECONDS = 10
# What a server does to report its activity, with its own environment: the HTTP status.
REPORT_ACTIVITY = """
import datetime, json, os, urllib.request
now = datetime.datetime.now(datetime.UTC).isoformat()
body = {"last_activity": now, "servers": {"": {"last_activity": now}}}
api, user = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_USER"]
request = urllib.request.Request(
    api + "/users/" + user + "/activity",
    method="POST",
    data=json.dumps(body).encode(),
    headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
             "Content-Type": "application/json"},
)
print(urllib.request.urlopen(request, timeout=5).status)
"""


@dataclass
class KernelPoller:
    """Runs a cell in `owner`'s kernel through nginx every second, on a thread of its own, and
    records when each answer came and every failure."""

    client: object
    owner: str
    kernel_id: str
    answers: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                printed = self.client.run_in_kernel(self.owner, self.kernel_id, "print(6 * 7)")
                if printed.strip() == "42":
                    self.answers.append(time.monotonic())
                else:
                    self.failures.append(f"unexpected output {printed!r}")
            except Exception as error:  # every kind of failure is what is counted
                self.failures.append(f"{type(error).__name__}: {error}")
            # Pacing, not synchronisation: one request a second, as a working student makes.
            self.stop.wait(max(0.0, POLL_EVERY_SECONDS - (time.monotonic() - began)))

    def longest_gap(self) -> float:
        return max(later - earlier for earlier, later in itertools.pairwise(self.answers))


@dataclass(frozen=True)
class Restart:
    """What the student in a kernel saw while `up` restarted the hub for a changed setting."""

    poller: KernelPoller
    hub_started: tuple[str, str]  # the hub container's StartedAt before and after
    proxy_started: tuple[str, str]  # the proxy container's, likewise
    finished_at: float  # when `up` returned: the new hub answers


@pytest.fixture(scope="module")
def restart(camp, ca_file):
    camp.start_server(RETURNING)
    with camp.as_student(WORKING, ca_file) as client:
        client.start_server_and_wait_until_it_answers(WORKING)
        kernel = client.server_api(WORKING, "POST", "/kernels", json={"name": "python3"})
        kernel.raise_for_status()
        poller = KernelPoller(client, WORKING, kernel.json()["id"])
        before = [
            camp.container_started_at(c) for c in (layout.HUB_CONTAINER, layout.PROXY_CONTAINER)
        ]
        polling = threading.Thread(target=poller.run, daemon=True)
        polling.start()
        try:
            camp.up(notebook=CHANGED_SETTING)
            finished_at = time.monotonic()
            # A few more answers from the new hub's side of the restart.
            wait_for(
                lambda: len([t for t in poller.answers if t > finished_at]) >= 5,
                timeout=60,
                what="answers after the restart",
            )
        finally:
            poller.stop.set()
            polling.join()
        after = [
            camp.container_started_at(c) for c in (layout.HUB_CONTAINER, layout.PROXY_CONTAINER)
        ]
    yield Restart(poller, (before[0], after[0]), (before[1], after[1]), finished_at)
    camp.up()  # the stack's own settings again, for the modules after this one


def test_a_student_in_a_kernel_sees_no_failed_request_while_the_hub_restarts(restart):
    hub_before, hub_after = restart.hub_started
    assert hub_after != hub_before, "the changed setting did not restart the hub"
    assert restart.proxy_started[0] == restart.proxy_started[1], "the proxy was restarted"
    assert restart.poller.failures == []
    print(f"longest gap between answers in the kernel: {restart.poller.longest_gap():.1f} s")
    # An outage would show as a gap: the hub used to be gone for 15 to 55 s.
    assert restart.poller.longest_gap() < 15


def test_every_running_server_calls_the_restarted_hub_at_its_fixed_address(camp, restart):
    hub_api = f"http://{layout.HUB_OVERLAY_ADDRESS}:{layout.HUB_API_PORT}/hub/api"
    for owner in (WORKING, RETURNING):
        # What the server's own process was started with, and so calls, all week.
        environment = camp.in_server(owner, "cat /proc/1/environ").split("\0")
        assert f"JUPYTERHUB_API_URL={hub_api}" in environment
    # The server's own token and URL, from inside its container: the new hub takes its report.
    report_activity = f"python3 -c '{REPORT_ACTIVITY}'"
    for owner in (WORKING, RETURNING):
        wait_for(
            lambda owner=owner: camp.in_server(owner, report_activity).strip() == "200",
            timeout=ACTIVITY_WITHIN_SECONDS,
            what=f"{owner}'s server reporting activity to the restarted hub",
        )


def test_a_student_whose_server_kept_running_signs_in_again_and_reaches_it(camp, restart, ca_file):
    hub_url = camp.outputs["hubUrl"].rstrip("/")
    with sync_playwright() as playwright:
        browser = student_browser.launch_chromium(playwright)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page, callback = student_browser.sign_in(context, hub_url, RETURNING)
            assert callback.status < 400, f"refused at the hub's OAuth callback: {callback.status}"
            # JupyterLab opens only once the server's own OAuth callback has had the hub API
            # take its code: the server reached the restarted hub.
            student_browser.wait_for_jupyterlab(page, hub_url, RETURNING)
        finally:
            browser.close()
    with camp.as_student(RETURNING, ca_file) as client:
        assert in_kernel(client, RETURNING, "answer = 6 * 7") == 42
    assert camp.hub_api(f"/users/{user_path(RETURNING)}")["servers"][""]["ready"]
