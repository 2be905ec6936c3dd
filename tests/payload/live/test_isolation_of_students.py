"""Students kept apart, on the live hub: what code in a student's kernel, run through the hub as a
student runs it, can and cannot reach of the hub and of a classmate's server, and what it runs as.

The host firewall (camphub-wall) is not loaded on this shared engine; tests/payload/
test_student_wall.py proves it on a machine of its own. What is checked here holds without it:
the proxy's API refuses whoever lacks its token, a classmate's server admits no one but its
owner even when reached directly on the overlay, and the student's process has no privileges
and no Docker socket. Named to run before the live hub module, whose last test
restarts the hub with a short idle timeout.
"""

import json
from pathlib import Path

import pytest
import swarm
from camphub_settings import DEFAULT_PIDS_LIMIT
from jupyter_api import HubClient, user_path

from infra import layout

pytestmark = pytest.mark.live

PROBE_SOURCE = (Path(__file__).parents[1] / "wall" / "probe.py").read_text()
SINGLE_USER_PORT = 8888  # DockerSpawner's port for the server in each container


def client(live_hub, person) -> HubClient:
    return HubClient(live_hub.public_url, live_hub.ca_file, person.token)


def in_kernel(live_hub, person, code: str) -> object:
    """Runs `code` (which leaves its answer in `answer`) in `person`'s kernel; the answer."""
    as_person = client(live_hub, person)
    as_person.start_server_and_wait_until_it_answers(person.email)
    printed = as_person.run_code(person.email, f"{code}\nimport json; print(json.dumps(answer))")
    return json.loads(printed.strip().splitlines()[-1])


def reach_from_kernel(live_hub, person, targets: list[str]) -> dict[str, str]:
    code = (
        "import types\nprobe = types.ModuleType('probe')\n"
        f"exec({PROBE_SOURCE!r}, probe.__dict__)\nanswer = probe.outcomes({targets!r})"
    )
    return in_kernel(live_hub, person, code)


def test_a_kernel_reaches_the_hub_api_and_the_proxy_api_refuses_it(live_hub, student):
    swarm_settings = live_hub.settings["swarm"]
    hub_api = f"{swarm_settings['hub_address']}:{swarm_settings['hub_api_port']}"
    assert reach_from_kernel(live_hub, student, [hub_api]) == {hub_api: "open"}
    proxy_api = (
        f"http://{swarm_settings['proxy_address']}:{live_hub.settings['hub']['proxy_api_port']}"
    )
    status = in_kernel(
        live_hub,
        student,
        "import urllib.error, urllib.request\n"
        "try:\n"
        f"    answer = urllib.request.urlopen('{proxy_api}/api/routes', timeout=10).status\n"
        "except urllib.error.HTTPError as error:\n"
        "    answer = error.code",
    )
    # Without the proxy's token, no route is read or changed; on a camp the student's wall
    # keeps the kernel from connecting at all (tests/e2e/test_student_isolation.py).
    assert status == 403


def test_a_classmates_server_on_the_overlay_admits_neither_the_student_nor_anonymous(
    live_hub, student, classmate
):
    # The control: the classmate's own token gets through the hub's proxy.
    as_classmate = client(live_hub, classmate)
    as_classmate.start_server_and_wait_until_it_answers(classmate.email)
    assert as_classmate.server_api(classmate.email, "GET", "/contents").status_code == 200
    (service,) = swarm.user_services(live_hub.network, classmate.email)
    url = (
        f"http://{service['Spec']['Name']}:{SINGLE_USER_PORT}"
        f"/user/{user_path(classmate.email)}/api/contents"
    )
    code = f"""
import os, urllib.error, urllib.request

class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

def status(headers):
    try:
        return urllib.request.build_opener(Stay).open(
            urllib.request.Request({url!r}, headers=headers), timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code

own_token = {{"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}}
answer = {{"own token": status(own_token), "anonymous": status({{}})}}
"""
    statuses = in_kernel(live_hub, student, code)
    assert statuses["own token"] == 403, statuses
    assert statuses["anonymous"] in (302, 401, 403), statuses


def test_a_kernel_runs_unprivileged_without_the_docker_socket(live_hub, student):
    code = """
import os
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
answer = {
    "uid": os.getuid(),
    "capabilities": [status[k].strip() for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "docker socket": any("docker.sock" in line for line in open("/proc/self/mounts"))
                     or os.path.exists("/var/run/docker.sock"),
}
"""
    answer = in_kernel(live_hub, student, code)
    assert answer == {
        "uid": layout.STUDENT_UID,
        "capabilities": ["0000000000000000"] * 4,
        "docker socket": False,
    }


def test_a_students_container_holds_a_limited_number_of_processes(live_hub, student):
    expected = live_hub.settings["notebook"].get("pids_limit", DEFAULT_PIDS_LIMIT)
    assert expected > 0
    (service,) = swarm.user_services(live_hub.network, student.email)
    assert service["Spec"]["TaskTemplate"]["Resources"]["Limits"].get("Pids") == expected
    # cgroup v2 (Debian 13) shows the limit at the top, v1 (some CI machines) under pids/.
    code = """
from pathlib import Path
cgroup = Path("/sys/fs/cgroup")
limit = next(f for f in (cgroup / "pids.max", cgroup / "pids" / "pids.max") if f.exists())
answer = limit.read_text()
"""
    assert in_kernel(live_hub, student, code).strip() == str(expected)
