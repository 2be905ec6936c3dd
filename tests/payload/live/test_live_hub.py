"""The hub as students and the teacher meet it, on this machine: the real images, config, bootstrap
scripts and nginx site, driven in Chromium and over the hub and Jupyter APIs as students and the
teacher use them.

What runs (conftest.py): a one-node swarm on the local engine, an attachable overlay, the hub
container started by scripts/start-hub after scripts/install-secrets, Debian's nginx with the
rendered nginx/camphub.conf.template and a self-signed certificate, and oidc-provider-mock
standing in for Google while the hub still runs GoogleOAuthenticator.

What it proves: plain HTTP goes to HTTPS; a listed student signs in, gets a limited swarm
service with only their own home, and runs a cell in JupyterLab; files survive a restart of
their server; an unlisted email is refused and gets nothing; a classmate reaches neither the
student's server nor their files; the admin panel is the teacher's alone; a 50 MB upload crosses
nginx; the idle culler stops an idle server. The culler test recreates the hub with a short
timeout, so it runs last. Run: `bin/test tests/payload/live` (needs bin/setup-host first).
"""

import base64
import hashlib
import os
import re
import time

import hub
import pytest
import requests
import student_browser
import swarm
from jupyter_api import user_path
from waiting import wait_for

from infra import layout

pytestmark = pytest.mark.live

UPLOAD_BYTES = 50 * 1024 * 1024
RACE_START_TIMEOUT_SECONDS = 60
CULL_SLACK_SECONDS = 150  # on top of the idle timeout: the culler's interval and a stop


def test_nginx_sends_plain_http_to_https_and_pins_https(live_hub):
    redirect = requests.get(f"{live_hub.http_url}/hub/login", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"{live_hub.public_url}/hub/login"
    login = requests.get(
        f"{live_hub.public_url}/hub/login", verify=str(live_hub.ca_file), timeout=10
    )
    assert login.ok
    assert "max-age=" in login.headers.get("Strict-Transport-Security", "")


def test_student_signs_in_and_runs_a_cell_in_jupyterlab(live_hub, student, tmp_path):
    services = swarm.user_services(live_hub.network, student.email)
    assert len(services) == 1, f"expected one swarm service for {student.email}: {services}"
    output = student_browser.run_first_cell(student.page, "print(6 * 7)")
    student.page.screenshot(path=tmp_path / "jupyterlab-first-cell.png")
    assert output.strip() == "42"


def test_student_server_is_a_limited_swarm_service_with_only_its_own_home(live_hub, student):
    (service,) = swarm.user_services(live_hub.network, student.email)
    task = service["Spec"]["TaskTemplate"]
    notebook = live_hub.settings["notebook"]
    limits = task["Resources"].get("Limits", {})
    reservations = task["Resources"].get("Reservations", {})
    assert limits.get("MemoryBytes") == _bytes(notebook["mem_limit"])
    assert limits.get("NanoCPUs") == int(notebook["cpu_limit"] * 1e9)
    assert reservations.get("MemoryBytes") == _bytes(notebook["mem_guarantee"])
    assert reservations.get("NanoCPUs") == int(notebook["cpu_guarantee"] * 1e9)
    assert service["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    binds = [m for m in task["ContainerSpec"].get("Mounts", []) if m["Type"] == "bind"]
    homes = live_hub.files.homes_dir
    own = hub.escaped_username(student.email)
    from_homes = {
        m["Source"]: (m["Target"], m.get("ReadOnly", False))
        for m in binds
        if m["Source"].startswith(f"{homes}/")
    }
    # Their own home, and only their own snapshots and usage, which they cannot change.
    assert from_homes == {
        f"{homes}/{own}": ("/home/jovyan", False),
        f"{homes}/{layout.SNAPSHOTS_DIRNAME}/{own}": (layout.SNAPSHOTS_CONTAINER_DIR, True),
        f"{homes}/{layout.USAGE_DIRNAME}/{own}": (layout.USAGE_CONTAINER_DIR, True),
    }


def test_files_survive_a_server_restart(live_hub, student):
    client = live_hub.client(student.token)
    client.start_server_and_wait_until_it_answers(student.email)
    content = f"written by {student.email} at {time.time()}"
    path = "/contents/persist.txt"
    client.server_api(
        student.email, "PUT", path, json={"type": "file", "format": "text", "content": content}
    ).raise_for_status()

    client.stop_server(student.email)
    assert swarm.user_services(live_hub.network, student.email) == []
    client.start_server_and_wait_until_it_answers(student.email)

    response = client.server_api(student.email, "GET", path)
    response.raise_for_status()
    assert response.json()["content"] == content
    (on_host,) = live_hub.files.homes_dir.glob("*/persist.txt")
    assert (on_host.stat().st_uid, on_host.stat().st_gid) == (1000, 100)
    printed = client.run_code(student.email, "print(open('persist.txt').read())")
    assert printed.strip() == content


def test_email_not_on_the_class_list_is_refused(live_hub, new_context, teacher):
    outsider = live_hub.people.outsider
    page, callback = student_browser.sign_in(new_context(), live_hub.public_url, outsider)
    assert callback.status == 403, f"outsider got {callback.status} at the callback"
    assert (
        live_hub.client(teacher.token).hub_api("GET", f"/users/{user_path(outsider)}").status_code
        == 404
    )
    assert swarm.user_services(live_hub.network, outsider) == []
    page.close()


def test_student_cannot_reach_a_classmates_server(live_hub, student, classmate):
    # The control: alice herself gets through, so a refusal below is about who asks.
    as_alice = live_hub.client(student.token)
    as_alice.start_server_and_wait_until_it_answers(student.email)
    assert as_alice.server_api(student.email, "GET", "/contents").status_code == 200
    alice = user_path(student.email)

    lab = student_browser.open_url(classmate.page, f"{live_hub.public_url}/user/{alice}/lab")
    assert lab.status == 403, f"classmate opened alice's lab: {lab.status} {lab.url}"
    as_classmate = live_hub.client(classmate.token)
    assert as_classmate.server_api(student.email, "GET", "/contents").status_code == 403
    assert as_classmate.hub_api("GET", f"/users/{alice}").status_code in (403, 404)
    assert as_classmate.hub_api("POST", f"/users/{alice}/tokens").status_code in (403, 404)


def test_classmates_kernel_sees_only_its_own_home(live_hub, student, classmate):
    client = live_hub.client(classmate.token)
    client.start_server_and_wait_until_it_answers(classmate.email)
    printed = client.run_code(
        classmate.email,
        "import os; print(sorted(os.listdir('/home')), os.path.exists('persist.txt'))",
    )
    assert printed.strip() == "['jovyan'] False"


def test_admin_reaches_the_admin_panel_and_a_student_does_not(live_hub, teacher, student):
    admin_page = teacher.page
    assert re.search(r"/hub/admin", admin_page.url), f"teacher landed on {admin_page.url}"
    admin_page.get_by_text(student.email).first.wait_for(timeout=60_000)

    refused = student.page.context.new_page()
    response = student_browser.open_url(refused, f"{live_hub.public_url}/hub/admin")
    assert response.status == 403, f"student got {response.status} at /hub/admin"
    users = live_hub.client(student.token).hub_api("GET", "/users")
    assert users.status_code == 403 or [u["name"] for u in users.json()] == [student.email]
    refused.close()


def test_fifty_megabyte_upload_crosses_nginx(live_hub, student):
    client = live_hub.client(student.token)
    client.start_server_and_wait_until_it_answers(student.email)
    payload = os.urandom(UPLOAD_BYTES)

    body = {"type": "file", "format": "base64", "content": base64.b64encode(payload).decode()}
    started = time.monotonic()
    client.server_api(student.email, "PUT", "/contents/upload.bin", json=body).raise_for_status()
    print(f"50 MB upload through nginx: {time.monotonic() - started:.1f}s")
    model = client.server_api(student.email, "GET", "/contents/upload.bin?content=0").json()
    assert model["size"] == UPLOAD_BYTES
    (on_host,) = live_hub.files.homes_dir.glob("*/upload.bin")
    assert hashlib.sha256(on_host.read_bytes()).digest() == hashlib.sha256(payload).digest()


def test_restarted_server_answers_as_soon_as_the_hub_calls_it_ready(live_hub, student):
    """What the student's browser does the moment the spawn page says "ready": right after a
    stop, the hub must route to the new task, not to the old one the service name may still
    resolve to."""
    client = live_hub.client(student.token)
    client.start_server_and_wait_until_it_answers(student.email)
    client.stop_server(student.email)
    client.start_server(student.email, timeout=RACE_START_TIMEOUT_SECONDS)
    first_answer = client.server_api(student.email, "GET", "/status")
    assert first_answer.status_code == 200, (
        f"hub called the restarted server ready but the proxy answered "
        f"{first_answer.status_code}: its route leads to a task that is not listening"
    )


def test_idle_culler_stops_an_idle_server(live_hub, teacher, camphub_images):
    """Bootstrap's way of changing a setting: start-hub with new settings recreates the hub
    container; the admin's token still works afterwards because the database is on the host."""
    idle_timeout = 30
    short = {
        **live_hub.settings,
        "notebook": {**live_hub.settings["notebook"], "idle_timeout_seconds": idle_timeout},
    }
    hub.start_hub(camphub_images, live_hub.placement, live_hub.files, short)
    try:
        admin = live_hub.client(teacher.token)
        idler = live_hub.people.idler
        admin.start_server(idler)
        assert len(swarm.user_services(live_hub.network, idler)) == 1
        started = time.monotonic()
        wait_for(
            lambda: admin.server_gone(idler),
            timeout=idle_timeout + CULL_SLACK_SECONDS,
            what=f"idle culler stopping {idler}'s server",
            interval=2,
        )
        print(f"idle server culled {time.monotonic() - started:.0f}s after it was ready")
        assert swarm.user_services(live_hub.network, idler) == []
    finally:
        hub.start_hub(camphub_images, live_hub.placement, live_hub.files, live_hub.settings)


def _bytes(size: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    return int(size[:-1]) * units[size[-1].upper()]
