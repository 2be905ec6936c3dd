"""The camp run and hit with faults on the local cloud: the real program, the dev stack with two
workers, driven as an organizer would (class list edits and `up` again, SSH to the hub) and hit
with faults (a worker killed, the hub machine restarted); scaling is test_camp_week.py's.

The hub is checked through its REST API with the class-list service's token (read on the hub);
signing in through a browser is test_sign_in.py's.
"""

import re
import subprocess

import pytest
from e2e_support import escaped
from waiting import wait_for

from infra import layout
from infra.hub_settings import HUB_READY_WAIT_SECONDS
from rehearsal import ssh
from rehearsal.camp import class_list
from rehearsal.commands import COMMAND

pytestmark = pytest.mark.live

# What a bootstrap script says when a second run finds everything in place.
UNCHANGED = re.compile(r"nothing changed|already built|already loaded|nothing to do")
REPORT_LINE = re.compile(r"^[a-z][a-z-]+: ")


def test_up_builds_the_cluster_and_syncs_the_class_list(camp):
    assert camp.outputs["hubUrl"].startswith("https://")
    nodes = camp.swarm_nodes()
    assert camp.worker_names() == {"workers-0", "workers-1"}
    assert set(nodes.values()) == {"Ready"}
    _, students, admins = class_list("dev")
    assert {*students, *admins} <= camp.usernames()


def test_servers_spread_over_both_workers_and_homes_persist(camp):
    students = ["ada@camp.example.org", "grace@camp.example.org"]
    nodes = {camp.start_server(student) for student in students}
    assert nodes == {"workers-0", "workers-1"}, "the swarm placed both servers on one worker"
    camp.in_server(students[0], "sh -c 'echo kept > ~/work.txt'")
    camp.hub_api(f"/users/{students[0]}/server", method="DELETE")
    wait_for(
        lambda: not camp.server_node(students[0]),
        timeout=120,
        what="ada's server stopped",
        interval=1,
    )
    camp.start_server(students[0])
    assert camp.in_server(students[0], "sh -c 'cat ~/work.txt'") == "kept"


def test_every_bootstrap_step_run_again_changes_nothing(camp):
    hub_started = camp.hub_container_started_at()
    for record in camp.records(COMMAND):
        inputs = record.inputs
        connection = inputs["connection"]
        host = None if connection["host"] == camp.outputs["hubPublicIp"] else connection["host"]
        result = camp.run(inputs["create"], host=host, stdin=inputs.get("stdin"))
        changed = [
            line
            for line in result.splitlines()
            if REPORT_LINE.match(line) and not UNCHANGED.search(line)
        ]
        assert not changed, f"{record.name} changed something on its second run: {changed}"
    assert camp.hub_container_started_at() == hub_started


def test_adding_a_student_replaces_nothing_and_keeps_the_hub_running(camp):
    instances = {r.name: r.id for r in camp.records()}
    hub_started = camp.hub_container_started_at()
    with camp.userlist.open("a") as userlist:
        userlist.write("newcomer@camp.example.org\n")
    camp.up(workers=2)
    assert {r.name: r.id for r in camp.records()} == instances
    assert camp.hub_container_started_at() == hub_started
    assert "newcomer@camp.example.org" in camp.usernames()


def test_removed_student_loses_access_and_keeps_their_home(camp):
    student = "alan@camp.example.org"
    # On the NFS server, where the homes are: the hub's root is squashed on its mount, as on AWS.
    home, nfs = f"{layout.NFS_EXPORT_DIR}/{escaped(student)}", camp.outputs["nfsPrivateIp"]
    camp.run(f"echo work | sudo tee '{home}/notes.txt' >/dev/null", host=nfs)
    lines = camp.userlist.read_text().splitlines()
    camp.userlist.write_text("\n".join(line for line in lines if student not in line) + "\n")
    camp.up(workers=2)
    assert student not in camp.usernames()
    assert camp.run(f"sudo cat '{home}/notes.txt'", host=nfs) == "work"


def test_killed_worker_is_reported_down_and_its_server_moves_with_its_files(camp, tmp_path):
    student = "grace@camp.example.org"
    camp.start_server(student)
    victim = camp.server_node(student)
    survivor = ({"workers-0", "workers-1"} - {victim}).pop()
    camp.in_server(student, "sh -c 'echo survives > ~/before-crash.txt'")
    container = camp.rehearsal.cloud.container_name(victim)
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    camp.wait_until_node_is(victim, "Down", timeout=120)
    wait_for(
        lambda: camp.server_node(student) == survivor,
        timeout=300,
        what=f"{student}'s server runs again on {survivor}",
        interval=3,
    )
    assert camp.in_server(student, "sh -c 'cat ~/before-crash.txt'") == "survives"
    # The hub follows the server to its new address (camphub_spawner.py): the student's requests
    # through nginx and the proxy reach it again.
    with camp.as_student(student, camp.hub_certificate(tmp_path / "hub.pem")) as client:
        wait_for(
            lambda: client.server_answers(student),
            timeout=120,
            what=f"{student}'s requests reach their server on {survivor}",
            interval=3,
        )
    subprocess.run(["docker", "start", container], check=True, capture_output=True)
    camp.wait_until_node_is(victim, "Ready", timeout=300)


@pytest.fixture(scope="module")
def restarted_hub(camp):
    """The hub machine restarted while ada's server runs: (users, ada's task) from before."""
    student = "ada@camp.example.org"
    camp.start_server(student)
    before = (camp.usernames(), camp.running_task(student))
    subprocess.run(
        ["docker", "restart", camp.rehearsal.cloud.container_name("hub")],
        check=True,
        capture_output=True,
    )

    def hub_answers() -> bool:
        try:
            return camp.usernames() == before[0]
        except (AssertionError, ssh.RemoteError):  # hub not up yet; machine still booting
            return False

    wait_for(
        hub_answers,
        timeout=HUB_READY_WAIT_SECONDS,
        what="the restarted hub answers with the same users",
        interval=3,
    )
    return before


def test_restarted_hub_machine_keeps_its_users_and_running_servers(camp, restarted_hub):
    users, task = restarted_hub
    assert camp.usernames() == users
    assert camp.running_task("ada@camp.example.org") == task


def test_restarted_hub_routes_to_servers_again(camp, restarted_hub):
    # The hub reaches a server at its task's address (camphub_spawner.py), not its service
    # name; the overlay reaches it again 15 to 55 s after the restart, inside http_timeout.
    def server_ready() -> bool:
        server = camp.hub_api("/users/ada@camp.example.org")["servers"].get("", {})
        # A restarted hub first checks every server it knew ("pending": "check").
        return server.get("ready") or server.get("pending") != "check"

    wait_for(
        server_ready, timeout=300, what="the restarted hub has checked ada's server", interval=3
    )
    assert camp.hub_api("/users/ada@camp.example.org")["servers"].get("", {}).get("ready")
