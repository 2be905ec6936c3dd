"""What must keep running on the hub is kept running by the hub machine itself, not by the last
`pulumi up`: nginx by systemd, the hub and the proxy by Docker's restart policy (Docker itself
under systemd). Each is killed as a crash kills it, on the rehearsed camp, and comes back with
nothing done by hand; a student's server is reached through nginx and the proxy again.
"""

import pytest
from e2e_support import in_kernel
from waiting import wait_for

from infra import layout

pytestmark = pytest.mark.live

STUDENT = "ada@camp.example.org"
# The hub puts a restarted proxy's routes back at its next check (jupyterhub_config.py).
ROUTES_BACK_SECONDS = 60 + 30
BACK_SECONDS = 120


def main_pid(camp, container: str) -> int:
    return int(camp.run(f"sudo docker inspect --format '{{{{.State.Pid}}}}' {container}"))


def nginx_pid(camp) -> int:
    return int(camp.run("systemctl show --property MainPID --value nginx.service"))


def crash(camp, pid: int) -> None:
    camp.run(f"sudo kill -KILL {pid}")


def health_answers(camp, base_url: str) -> bool:
    """Whether /hub/health at `base_url`, asked on the hub machine, answers 200."""
    probe = f"curl -sk -o /dev/null -w '%{{http_code}}' {base_url}/hub/health || true"
    return camp.run(probe) == "200"


def hub_health(camp) -> bool:
    return health_answers(camp, f"http://127.0.0.1:{layout.HUB_PORT}")


def https_answers(camp) -> bool:
    return health_answers(camp, f"https://127.0.0.1:{layout.HTTPS_PORT}")


def test_nginx_killed_is_started_again_by_systemd(camp):
    before = nginx_pid(camp)
    crash(camp, before)
    wait_for(
        lambda: nginx_pid(camp) not in (0, before) and https_answers(camp),
        timeout=BACK_SECONDS,
        what="nginx started again",
    )


@pytest.mark.parametrize("container", [layout.HUB_CONTAINER, layout.PROXY_CONTAINER])
def test_a_killed_hub_or_proxy_is_started_again_and_students_reach_their_servers(
    camp, ca_file, container
):
    camp.start_server(STUDENT)
    before = main_pid(camp, container)
    crash(camp, before)
    wait_for(
        lambda: main_pid(camp, container) not in (0, before) and hub_health(camp),
        timeout=BACK_SECONDS,
        what=f"{container} started again",
    )
    with camp.as_student(STUDENT, ca_file) as client:
        wait_for(
            lambda: client.server_answers(STUDENT),
            timeout=ROUTES_BACK_SECONDS,
            what=f"{STUDENT}'s server reached through the proxy again",
            interval=3,
        )
        assert in_kernel(client, STUDENT, "answer = 6 * 7") == 42
