"""camphub's walls on a Debian 13 machine with Docker, swarm mode and the `camphub` overlay: what
a student's container can reach, before and after Docker restarts and the machine reboots.

The machine ("node") loads the walls as cloud-init installs them (the same files and units: the
machine's wall enabled before Docker starts; Docker's default runtime camphub-runc, which walls a
student's container as it is created, before its first process runs, or refuses it). A second
machine on the same network ("peer") stands in for the other instances and for the metadata
service: it answers on the SSH, NFS, swarm and hub ports at its address, and at 169.254.169.254,
which the node routes to it as EC2 does. On the node's overlay a container named like the hub
answers on the hub API and public ports, a classmate's server on the single-user port, and the
student is a container on the overlay running as uid 1000 without capabilities and with
JUPYTERHUB_USER set (as JupyterHub's spawner sets it), probing with tests/payload/wall/probe.py.
Every forbidden target is first shown to answer without the walls, so a closed one was closed by
a wall and not by a missing listener. The journal's wall lines prove each student's container
walled before Docker started it (tests/payload/wall/wall_order.py).
"""

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import payload_checker
import pytest
from payload_checker import Machine, docker
from waiting import wait_for

from infra import layout, userdata

pytestmark = pytest.mark.live

PREFIX = "h6-wall-"
BASE_IMAGE = "debian:trixie-slim"
WALL_FILES = {
    "/usr/local/share/camphub-wall/student-wall.nft": "0644",
    "/usr/local/sbin/camphub-wall": "0755",
    "/etc/systemd/system/camphub-wall.service": "0644",
    "/usr/local/share/camphub-wall/student-overlay.nft": "0644",
    "/usr/local/sbin/camphub-overlay-wall": "0755",
    "/usr/local/sbin/camphub-runc": "0755",
}
OVERLAY_RULESET = "/usr/local/share/camphub-wall/student-overlay.nft"
WALL_TOOLS = f"{payload_checker.PROJECT_MOUNT}/tests/payload/wall"
METADATA = "169.254.169.254"
LISTENER = "/payload/tests/payload/wall/listener.py"
STUDENT = "h6-student"
CLASSMATE = "h6-classmate"
NEWCOMER = "h6-newcomer"  # a student whose container a test creates, walled or refused
SINGLE_USER_PORT = 8888  # where DockerSpawner's servers listen
BUILDER = "h6-builder"  # a container on docker0, as an image build's RUN step is
# The student and the hub stand-in borrow the node's Python (Debian 13, like their image).
BORROWED = ("-v", "/usr:/usr:ro", "-v", f"{payload_checker.PROJECT_MOUNT}:/payload:ro")
STUDENT_FLAGS = ("--user", f"{layout.STUDENT_UID}:{layout.STUDENT_GID}", "--cap-drop", "ALL")
# What instances serve (SSH, NFS, swarm, the hub's port) and the metadata service's HTTP.
INSTANCE_PORTS = (
    layout.SSH_PORT,
    layout.NFS_PORT,
    layout.SWARM_MANAGER_PORT,
    layout.SWARM_GOSSIP_PORT,
    layout.HUB_PORT,
)
METADATA_PORT = 80
INTERNET = "pypi.org:443"
# A reboot restarts the machine's Docker, and Docker the containers with a backoff that doubles
# while their wall cannot load yet; on a loaded CI machine that took over 120 s (52 s quiet).
RESTART_SECONDS = 240
PROBE = "/payload/tests/payload/wall/probe.py"


@dataclass(frozen=True)
class Lab:
    """A worker with Docker, the walls and a student's container, and a peer machine that
    plays the rest of the camp: what the student may and may not reach from there."""

    node: Machine
    peer_address: str
    node_address: str

    def docker(self, *args: str) -> str:
        return self.node.run("docker", *args).stdout

    def gateway_address(self) -> str:
        """The node's own address on docker_gwbridge, the students' way out of the overlay."""
        template = "{{(index .IPAM.Config 0).Gateway}}"
        return self.docker("network", "inspect", "-f", template, "docker_gwbridge").strip()

    def forbidden(self) -> list[str]:
        machines = (self.peer_address, self.node_address, self.gateway_address())
        ports = [f"{address}:{port}" for address in machines for port in INSTANCE_PORTS]
        return [*ports, f"{METADATA}:{METADATA_PORT}"]

    def hub_api(self) -> str:
        return f"{layout.HUB_CONTAINER}:{layout.HUB_API_PORT}"

    def on_the_overlay(self) -> list[str]:
        """What a student must not open on the overlay: a classmate's server, the hub's
        other port (the proxy's public side, reached through nginx instead)."""
        return [f"{CLASSMATE}:{SINGLE_USER_PORT}", f"{layout.HUB_CONTAINER}:{layout.HUB_PORT}"]

    def probe(self, *targets: str, container: str = STUDENT) -> dict[str, str]:
        outcomes = self.try_probe(*targets, container=container)
        assert outcomes is not None, f"cannot exec the probe in {container}"
        return outcomes

    def try_probe(self, *targets: str, container: str = STUDENT) -> dict[str, str] | None:
        """The probe's outcomes, or None while Docker cannot exec in the container (it is
        still being started again after a restart)."""
        probed = self.node.run("docker", "exec", container, "python3", PROBE, *targets,
                               check=False)  # fmt: skip
        return json.loads(probed.stdout) if probed.returncode == 0 else None

    def wall(self, *args: str) -> str:
        return self.node.run("camphub-wall", *args).stdout.strip()


def address_of(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return docker("inspect", "-f", template, container).stdout.strip()


def boot(name: str, network: str, *flags: str) -> Machine:
    docker(
        "run", "-d", "--name", name, "--hostname", name, "--network", network,
        *payload_checker.SYSTEMD_FLAGS, *flags,
        "-v", f"{payload_checker.PROJECT_DIR}:{payload_checker.PROJECT_MOUNT}:ro",
        payload_checker.IMAGE,
    )  # fmt: skip
    machine = Machine(name)
    machine.wait_until_booted()
    return machine


def install_file(node: Machine, path: str, mode: str) -> None:
    """A file of cloud-init/files as user-data writes it: layout names filled in."""
    source = userdata.FILES_DIR / path.lstrip("/")
    node.write(path, userdata.substitute_layout(source.read_text(), str(source)))
    node.run("chmod", mode, path)


def install_walls(node: Machine) -> None:
    """What cloud-init does: the files, the machine's wall enabled before Docker starts."""
    for path, mode in WALL_FILES.items():
        install_file(node, path, mode)
    node.run("systemctl", "daemon-reload")
    node.run("systemctl", "enable", "--now", "camphub-wall.service")


def start_docker(node: Machine) -> None:
    """The hub's and workers' daemon.json (its default runtime camphub-runc), then Docker."""
    install_file(node, "/etc/docker/daemon.json", "0644")
    node.run("systemctl", "enable", "--now", "docker.service")


def serve_as_peer(peer: Machine) -> None:
    peer.run("ip", "addr", "add", f"{METADATA}/32", "dev", "lo")
    ports = " ".join(str(port) for port in (*INSTANCE_PORTS, METADATA_PORT))
    peer.run("sh", "-c", f"python3 {WALL_TOOLS}/listener.py {ports} >/dev/null 2>&1 &")


def prepare_node(node: Machine, peer_address: str) -> None:
    """What the machine has after a boot: the metadata route, its own services listening."""
    node.run("ip", "route", "replace", f"{METADATA}/32", "via", peer_address)
    swarm_ports = (layout.SWARM_MANAGER_PORT, layout.SWARM_GOSSIP_PORT)  # the swarm serves these
    ports = " ".join(str(port) for port in INSTANCE_PORTS if port not in swarm_ports)
    node.run("sh", "-c", f"python3 {WALL_TOOLS}/listener.py {ports} >/dev/null 2>&1 &")


def load_base_image(node: Machine) -> None:
    saved = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
    loaded = subprocess.run(
        ["docker", "exec", "-i", node.name, "docker", "load"],
        stdin=saved.stdout, capture_output=True, check=False,
    )  # fmt: skip
    assert saved.wait() == 0 and loaded.returncode == 0, loaded.stderr.decode()


def start_swarm(lab: Lab) -> None:
    """A one-node swarm with camphub's overlay, the hub stand-in and a student on it; both
    come back after a restart, as the real ones do."""
    lab.docker("swarm", "init", "--advertise-addr", lab.node_address)
    # As swarm-init makes it: the overlay wall's rules name this subnet.
    lab.docker("network", "create", "--driver", "overlay", "--attachable",
               "--subnet", layout.OVERLAY_SUBNET, "--ip-range", layout.OVERLAY_AUTOMATIC_RANGE,
               layout.OVERLAY_NETWORK)  # fmt: skip
    lab.docker(
        "run", "-d", "--name", layout.HUB_CONTAINER, "--restart", "always",
        "--network", layout.OVERLAY_NETWORK, *BORROWED, BASE_IMAGE,
        "python3", LISTENER, str(layout.HUB_API_PORT), str(layout.HUB_PORT),
    )  # fmt: skip
    for name, command in (
        (STUDENT, ["sleep", "infinity"]),
        (CLASSMATE, ["python3", LISTENER, str(SINGLE_USER_PORT)]),
    ):
        lab.docker(
            "run", "-d", "--name", name, "--restart", "always",
            "--network", layout.OVERLAY_NETWORK, *STUDENT_FLAGS, *BORROWED,
            # As JupyterHub's spawner sets it: what camphub-overlay-wall looks for.
            "--env", f"JUPYTERHUB_USER={name}", BASE_IMAGE, *command,
        )  # fmt: skip
    lab.docker("run", "-d", "--name", BUILDER, "--restart", "always", *BORROWED,
               BASE_IMAGE, "sleep", "infinity")  # fmt: skip


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    payload_checker.build_image()
    suffix = uuid.uuid4().hex[:8]
    network, node_name, peer_name = (f"{PREFIX}{part}-{suffix}" for part in ("net", "node", "peer"))
    volume = f"{node_name}-docker"
    docker("network", "create", network)
    try:
        peer = boot(peer_name, network)
        node = boot(node_name, network, "-v", f"{volume}:/var/lib/docker")
        lab = Lab(node, address_of(peer_name, network), address_of(node_name, network))
        serve_as_peer(peer)
        prepare_node(node, lab.peer_address)
        install_walls(node)
        start_docker(node)
        load_base_image(node)
        start_swarm(lab)
        wait_for(lambda: lab.probe(lab.hub_api()) == {lab.hub_api(): "open"},
                 timeout=60, what="the hub stand-in answers on the overlay")  # fmt: skip
        yield lab
    finally:
        docker("rm", "-f", "-v", node_name, peer_name, check=False)
        docker("volume", "rm", "-f", volume, check=False)
        docker("network", "rm", network, check=False)


def closed(outcomes: dict[str, str]) -> dict[str, str]:
    return {target: result for target, result in outcomes.items() if result != "open"}


def opened(outcomes: dict[str, str]) -> dict[str, str]:
    return {target: result for target, result in outcomes.items() if result == "open"}


def test_without_the_wall_a_student_reaches_every_machine_and_the_metadata_service(lab):
    """The control: the listeners answer and the probe sees them, so the tests below can fail."""
    lab.node.run("nft", "delete", "table", "inet", "camphub_wall")
    try:
        assert closed(lab.probe(*lab.forbidden())) == {}
    finally:
        lab.wall("apply")


def test_without_the_overlay_wall_a_student_opens_a_classmates_server(lab):
    """The control for the overlay: the classmate's server and the hub's port answer."""
    pid = lab.docker("inspect", "--format", "{{.State.Pid}}", STUDENT).strip()
    lab.node.run("nsenter", "--target", pid, "--net",
                 "nft", "delete", "table", "inet", "camphub_overlay_wall")  # fmt: skip
    try:
        assert closed(lab.probe(*lab.on_the_overlay())) == {}
    finally:
        lab.docker("restart", STUDENT)  # created anew, so walled anew
        wait_for_student(lab)


def test_a_student_reaches_no_machine_and_no_metadata_but_the_hub_api_and_the_internet(lab):
    outcomes = lab.probe(*lab.forbidden(), *lab.on_the_overlay(), lab.hub_api(), INTERNET)
    assert opened(outcomes) == {lab.hub_api(): "open", INTERNET: "open"}


def test_the_hub_still_reaches_the_students_servers(lab):
    server = f"{CLASSMATE}:{SINGLE_USER_PORT}"
    assert lab.probe(server, container=layout.HUB_CONTAINER) == {server: "open"}


def test_an_image_build_step_reaches_no_machine_either(lab):
    outcomes = lab.probe(*lab.forbidden(), INTERNET, container=BUILDER)
    assert opened(outcomes) == {INTERNET: "open"}


def test_applying_again_changes_nothing(lab):
    assert lab.wall("apply") == "camphub-wall: nothing changed"


def test_exam_mode_closes_the_students_internet_but_not_the_hub_api_or_builds(lab):
    try:
        assert "internet: off" in lab.wall("internet", "off")
        assert lab.wall("internet", "off") == "camphub-wall: nothing changed"
        outcomes = lab.probe(*lab.forbidden(), lab.hub_api(), INTERNET)
        assert opened(outcomes) == {lab.hub_api(): "open"}
        assert lab.probe(INTERNET, container=BUILDER) == {INTERNET: "open"}
    finally:
        lab.wall("internet", "on")
    assert lab.probe(INTERNET) == {INTERNET: "open"}


def test_docker_cannot_start_without_the_wall_and_starts_after_it(lab):
    requires = lab.node.run("systemctl", "show", "-p", "Requires", "-p", "After", "docker.service")
    assert requires.stdout.count("camphub-wall.service") == 2


def test_docker_creates_every_container_with_camphub_runc(lab):
    assert lab.docker("info", "--format", "{{.DefaultRuntime}}").strip() == "camphub-runc"


def first_probe_by_docker_run(lab: Lab, *targets: str) -> dict[str, str]:
    output = lab.docker(
        "run", "--rm", "--network", layout.OVERLAY_NETWORK, *STUDENT_FLAGS, *BORROWED,
        "--env", f"JUPYTERHUB_USER={NEWCOMER}", BASE_IMAGE, "python3", PROBE, *targets,
    )  # fmt: skip
    return json.loads(output)


def first_probe_as_a_swarm_task(lab: Lab, *targets: str) -> dict[str, str]:
    """As DockerSpawner's servers run: a swarm service's task, named and placed by the swarm."""
    service = f"jupyter-{NEWCOMER}"
    lab.docker(
        "service", "create", "--detach", "--name", service, "--restart-condition", "none",
        "--network", layout.OVERLAY_NETWORK, "--cap-drop", "ALL",
        "--user", f"{layout.STUDENT_UID}:{layout.STUDENT_GID}",
        "--mount", "type=bind,source=/usr,target=/usr,readonly",
        "--mount", f"type=bind,source={payload_checker.PROJECT_MOUNT},target=/payload,readonly",
        "--env", f"JUPYTERHUB_USER={NEWCOMER}", BASE_IMAGE, "python3", PROBE, *targets,
    )  # fmt: skip
    try:

        def answered() -> dict[str, str] | None:
            output = lab.docker("service", "logs", "--raw", service).strip()
            return json.loads(output) if output else None

        return wait_for(answered, timeout=60, what="the swarm task's probe answered")
    finally:
        lab.docker("service", "rm", service)


def address_of_on_node(lab: Lab, container: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{layout.OVERLAY_NETWORK}").IPAddress}}}}'
    return lab.docker("inspect", "-f", template, container).strip()


@pytest.mark.parametrize("start", [first_probe_by_docker_run, first_probe_as_a_swarm_task])
def test_a_students_very_first_connection_to_a_classmate_is_dropped(lab, start):
    """The container's first command dials a classmate's server and the hub API at once, by
    address: the wall was in place before it ran (a wall loaded once the container had started
    would lose that race), and the hub API answers."""
    classmate = f"{address_of_on_node(lab, CLASSMATE)}:{SINGLE_USER_PORT}"
    hub_api = f"{address_of_on_node(lab, layout.HUB_CONTAINER)}:{layout.HUB_API_PORT}"
    assert start(lab, classmate, hub_api) == {classmate: "TimeoutError", hub_api: "open"}


def overlay_wall_journal(lab: Lab) -> str:
    return lab.node.run(
        "journalctl", "--no-pager", "-o", "cat", "-t", "camphub-overlay-wall"
    ).stdout


BROKEN_RULESETS = {
    "garbled": (f"echo 'drop everything {{' >> {OVERLAY_RULESET}", "nft refused the rules"),
    "missing": (f"rm {OVERLAY_RULESET}", f"{OVERLAY_RULESET} is missing"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_RULESETS))
def test_a_students_container_is_refused_while_its_wall_cannot_be_loaded(lab, broken):
    """Fail closed: Docker refuses to start it and says why, as the journal does; any other
    container still runs meanwhile."""
    breaking, reason = BROKEN_RULESETS[broken]
    container = lab.docker(
        "create", "--network", layout.OVERLAY_NETWORK, *STUDENT_FLAGS,
        "--env", f"JUPYTERHUB_USER={NEWCOMER}", BASE_IMAGE, "true",
    ).strip()  # fmt: skip
    refusal = f"refused container {container}: {reason}"
    try:
        lab.node.run("sh", "-c", breaking)
        started = lab.node.run("docker", "start", container, check=False)
        never_ran = lab.docker("inspect", "-f", "{{.State.StartedAt}}", container).strip()
        assert lab.docker("run", "--rm", BASE_IMAGE, "echo", "unaffected") == "unaffected\n"
        wait_for(lambda: refusal in overlay_wall_journal(lab), timeout=10,
                 what="the refusal in the journal")  # fmt: skip
    finally:
        install_file(lab.node, OVERLAY_RULESET, WALL_FILES[OVERLAY_RULESET])
        lab.docker("rm", "-f", container)
    assert started.returncode != 0
    assert refusal in started.stderr
    assert never_ran == "0001-01-01T00:00:00Z"


def test_a_students_container_on_the_machines_network_is_refused(lab):
    refused = lab.node.run(
        "docker", "run", "--rm", "--network", "host", "--env", f"JUPYTERHUB_USER={NEWCOMER}",
        BASE_IMAGE, "true", check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "no network namespace of its own" in refused.stderr


def test_other_containers_are_created_as_before_and_never_walled(lab):
    """The hub (on the overlay too), a plain `docker run` and an image build's RUN step, with the
    classic builder as scripts/build-image builds."""
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo built >/built\n"
    lab.node.run("env", "DOCKER_BUILDKIT=0", "docker", "build", "-q", "-t", "h6-built", "-",
                 stdin=dockerfile)  # fmt: skip
    assert lab.docker("run", "--rm", "h6-built", "cat", "/built") == "built\n"
    journal = overlay_wall_journal(lab)
    for name in (layout.HUB_CONTAINER, BUILDER):
        container, pid = lab.docker("inspect", "-f", "{{.Id}} {{.State.Pid}}", name).split()
        tables = lab.node.run("nsenter", "--target", pid, "--net", "nft", "list", "tables").stdout
        assert "camphub_overlay_wall" not in tables, name
        assert f"walled container {container}" not in journal, name


def wait_for_student(lab: Lab) -> None:
    """Until the student's and the classmate's containers are back and the student reaches the
    hub API but not the classmate's server."""

    def student_back_and_walled() -> bool:
        for name in (STUDENT, CLASSMATE):
            if lab.node.run("docker", "exec", name, "true", check=False).returncode != 0:
                return False
        outcomes = lab.try_probe(lab.hub_api(), *lab.on_the_overlay())
        return outcomes is not None and opened(outcomes) == {lab.hub_api(): "open"}

    wait_for(student_back_and_walled, timeout=RESTART_SECONDS, what="the student is back, walled")


def node_clock(lab: Lab) -> int:
    return int(lab.node.run("date", "+%s%N").stdout)


def walled_first(lab: Lab, since: int) -> dict[str, bool]:
    """For the student and the classmate: whether a wall loaded after `since` (the node's clock, in
    ns) came at or before Docker started the container, and none after (wall/wall_order.py)."""
    order = json.loads(lab.node.run("python3", f"{WALL_TOOLS}/wall_order.py",
                                    "--since", str(since)).stdout)  # fmt: skip
    return {name: order.get(name, {}).get("walled_first", False) for name in (STUDENT, CLASSMATE)}


def test_the_wall_holds_after_docker_restarts(lab):
    since = node_clock(lab)
    lab.node.run("systemctl", "restart", "docker.service")
    wait_for_student(lab)
    assert walled_first(lab, since) == {STUDENT: True, CLASSMATE: True}
    outcomes = lab.probe(*lab.forbidden(), *lab.on_the_overlay(), lab.hub_api(), INTERNET)
    assert opened(outcomes) == {lab.hub_api(): "open", INTERNET: "open"}


def test_the_wall_holds_after_the_machine_reboots(lab):
    since = node_clock(lab)
    docker("restart", lab.node.name)
    lab.node.wait_until_booted()
    prepare_node(lab.node, lab.peer_address)
    wait_for_student(lab)
    assert walled_first(lab, since) == {STUDENT: True, CLASSMATE: True}
    outcomes = lab.probe(*lab.forbidden(), *lab.on_the_overlay(), lab.hub_api(), INTERNET)
    assert opened(outcomes) == {lab.hub_api(): "open", INTERNET: "open"}


POLICY_FILE = "/etc/camphub-wall/student-internet"


@pytest.mark.parametrize("policy", ["on", "off"])
def test_the_composed_ruleset_passes_debian_13s_nft_check(lab, policy):
    try:
        lab.node.write(POLICY_FILE, f"{policy}\n")
        assert lab.node.run("camphub-wall", "check").returncode == 0
    finally:
        lab.node.run("rm", "-f", POLICY_FILE)


def test_a_garbled_policy_is_refused_by_name(lab):
    try:
        lab.node.write(POLICY_FILE, "bogus\n")
        refused = lab.node.run("camphub-wall", "check", check=False)
    finally:
        lab.node.run("rm", "-f", POLICY_FILE)
    assert refused.returncode != 0
    assert f"{POLICY_FILE} must hold on or off" in refused.stderr


def test_no_process_in_a_students_container_can_gain_privileges(lab):
    status = lab.docker("exec", STUDENT, "grep", "^NoNewPrivs:", "/proc/self/status")
    assert status.split() == ["NoNewPrivs:", "1"]


ALLOWED_FILE = "/etc/camphub-wall/allowed"


def test_an_address_the_operator_allows_is_reachable_and_a_bad_one_is_refused(lab):
    target = f"{lab.peer_address}:{layout.SSH_PORT}"
    try:
        lab.node.write(ALLOWED_FILE, f"# the sign-in stand-in\n{lab.peer_address}/32\n")
        assert "rules loaded" in lab.wall("apply")
        assert lab.probe(target) == {target: "open"}
        lab.node.write(ALLOWED_FILE, "10.0.0.0/8; flush ruleset\n")
        refused = lab.node.run("camphub-wall", "apply", check=False)
        assert refused.returncode != 0 and "is not an address" in refused.stderr
        assert lab.probe(target) == {target: "open"}, "a refused file changed the loaded rules"
    finally:
        lab.node.run("rm", "-f", ALLOWED_FILE)
        lab.wall("apply")
    assert closed(lab.probe(target)) == lab.probe(target)
