"""Students kept apart, on the local cloud: what code in a student's kernel can reach, run through
the hub as the student's browser runs it (nginx at hubUrl, the hub's proxy, the kernel's websocket).

Every machine of the camp is probed at its private address on the ports it serves or could
serve (TCP; the swarm's UDP ports by counting what arrives), with the metadata service, the
proxy's API and a classmate's server; each target is its own test and must get no answer at
all: the machine's wall (camphub-wall) or the overlay wall in the student's own network namespace
dropped it. A refused connection would mean no wall stood in the way. The control: from the
worker's own network namespace the same machines answer. Allowed: the hub API the server needs
and the internet (a real `pip install` from PyPI), except in exam mode. Last, the walls still
stand after Docker, then the worker machines, restart, and each worker's journal shows every
student's container walled before it started.
"""

import json
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import escaped, in_kernel, signed_in
from waiting import wait_for

from infra import layout
from rehearsal.ssh import RemoteError

# Students of this module's own, so that what other modules do to the class list never meets it.
STUDENT = "wall.student@camp.example.org"
CLASSMATE = "wall.classmate@camp.example.org"
MACHINES = ("hub", "workers-0", "workers-1", "nfs")
SWARM_MEMBERS = ("hub", "workers-0", "workers-1")  # the cluster security group's
PROBE_SOURCE = (Path(__file__).parents[1] / "payload" / "wall" / "probe.py").read_text()
WALL_ORDER_SOURCE = (Path(__file__).parents[1] / "payload" / "wall" / "wall_order.py").read_text()
# Docker's TCP API ports: camphub's daemons listen on neither, and no container may find one.
DOCKER_API_PORTS = {"docker-api": 2375, "docker-api-tls": 2376}
EVERY_MACHINE_PORTS = {
    "ssh": layout.SSH_PORT,
    "swarm-manager": layout.SWARM_MANAGER_PORT,
    "swarm-gossip": layout.SWARM_GOSSIP_PORT,
    "nfs": layout.NFS_PORT,
    **DOCKER_API_PORTS,
}
HUB_HOST_PORTS = {
    "http": layout.HTTP_PORT,
    "https": layout.HTTPS_PORT,
    "hub": layout.HUB_PORT,
    "notebook-image-archive": layout.IMAGES_PORT,
}
SINGLE_USER_PORT = 8888  # DockerSpawner's port for the server in each container
METADATA_V4 = "169.254.169.254"
METADATA_V6 = "fd00:ec2::254"
# How a connect() ends when a wall drops its packets: no answer at all. A port with nothing
# listening and no wall in between answers at once (ConnectionRefusedError), a listening one opens.
DROPPED = "TimeoutError"
PIP_PACKAGE = "six"  # small and pure Python: a wheel of a few kB from PyPI


@dataclass(frozen=True)
class Target:
    host: str  # a machine of the camp (its private address) or a name as the kernel dials it
    port: int

    def address(self, private_addresses: dict[str, str]) -> str:
        host = private_addresses.get(self.host, self.host)
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def machine_targets() -> dict[str, Target]:
    targets = {
        f"{machine}-{service}": Target(machine, port)
        for machine in MACHINES
        for service, port in EVERY_MACHINE_PORTS.items()
    }
    for service, port in HUB_HOST_PORTS.items():
        targets[f"hub-{service}"] = Target("hub", port)
    return targets


FORBIDDEN = {
    **machine_targets(),
    "metadata": Target(METADATA_V4, 80),
    "proxy-api": Target(layout.PROXY_OVERLAY_ADDRESS, layout.PROXY_API_PORT),
    "proxy-public-port-on-the-overlay": Target(layout.PROXY_OVERLAY_ADDRESS, layout.HUB_PORT),
    "classmates-server": Target(f"jupyter-{escaped(CLASSMATE)}", SINGLE_USER_PORT),
}
HUB_API = Target(layout.HUB_OVERLAY_ADDRESS, layout.HUB_API_PORT)
PYPI = Target("pypi.org", 443)


@pytest.fixture(scope="module")
def enrolled(camp) -> None:
    camp.add_to_class_list(STUDENT, CLASSMATE)
    camp.up()


student = signed_in(STUDENT)
classmate = signed_in(CLASSMATE)


def private_addresses(camp) -> dict[str, str]:
    """Each machine's private address, from the stack's outputs."""
    outputs = camp.outputs
    addresses = {"hub": outputs["hubPrivateIp"], "nfs": outputs["nfsPrivateIp"]}
    addresses |= {f"workers-{i}": ip for i, ip in enumerate(outputs["workerPrivateIps"])}
    return addresses


def calling(source: str, call: str) -> str:
    """Code for a kernel: `source` loaded as a module (so its command-line part stays idle),
    then `answer = module.<call>`."""
    return (
        "import types\nmodule = types.ModuleType('payload')\n"
        f"exec({source!r}, module.__dict__)\nanswer = module.{call}"
    )


def probed(camp, targets: dict[str, Target], probe) -> dict[str, str]:
    """How a connection to each target ended, by target name; `probe` dials the addresses."""
    addresses = private_addresses(camp)
    dialled = {name: target.address(addresses) for name, target in targets.items()}
    outcomes = probe(list(dialled.values()))
    return {name: outcomes[address] for name, address in dialled.items()}


def probe_from_kernel(camp, student, targets: dict[str, Target]) -> dict[str, str]:
    """From a kernel of the student's server, through the hub."""

    def probe(addresses: list[str]) -> dict[str, str]:
        return in_kernel(student, STUDENT, calling(PROBE_SOURCE, f"outcomes({addresses!r})"))

    return probed(camp, targets, probe)


def probe_from_machine(camp, machine: str, targets: dict[str, Target]) -> dict[str, str]:
    """From `machine`'s own network namespace, outside every container."""
    machine_address = private_addresses(camp)[machine]

    def probe(addresses: list[str]) -> dict[str, str]:
        command = "python3 - " + " ".join(addresses)
        return json.loads(camp.run(command, host=machine_address, stdin=PROBE_SOURCE))

    return probed(camp, targets, probe)


@pytest.fixture(scope="module")
def reached(camp, student, classmate) -> dict[str, str]:
    """One probe of every target from the student's kernel, with the classmate's server up."""
    classmate.start_server_and_wait_until_it_answers(CLASSMATE)
    return probe_from_kernel(camp, student, {**FORBIDDEN, "hub-api": HUB_API})


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_a_students_kernel_cannot_reach(reached, name):
    assert reached[name] == DROPPED


def test_the_machines_answer_their_own_network_so_the_walls_stop_the_kernel(camp, student):
    """The control: from the student's worker itself the hub answers on the swarm ports and
    HTTPS and the worker on its own SSH, the very targets the kernel cannot reach; SSH to the
    other machines is the hub's alone, so their security groups drop the worker's, as on AWS."""
    worker = camp.server_node(STUDENT)
    served = ("hub-swarm-manager", "hub-swarm-gossip", "hub-https", f"{worker}-ssh")
    walled = [f"{m}-ssh" for m in MACHINES if m not in ("hub", worker)]
    targets = {name: FORBIDDEN[name] for name in (*served, *walled)}
    expected = {**dict.fromkeys(served, "open"), **dict.fromkeys(walled, DROPPED)}
    assert probe_from_machine(camp, worker, targets) == expected


def test_the_kernel_reaches_the_hub_api_as_its_server_does(reached, student):
    assert reached["hub-api"] == "open"
    code = """
import os, urllib.request
request = urllib.request.Request(
    os.environ["JUPYTERHUB_API_URL"] + "/user",
    headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})
answer = json.load(urllib.request.urlopen(request, timeout=30))["name"]
"""
    assert in_kernel(student, STUDENT, f"import json\n{code}") == STUDENT


PIP_INSTALL = f"""
import os, subprocess, sys, tempfile
with tempfile.TemporaryDirectory() as target:
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--retries", "0",
         "--timeout", "10", "--index-url", "https://pypi.org/simple", "--target", target,
         {PIP_PACKAGE!r}],
        capture_output=True, text=True)
    installed = sorted(os.listdir(target))
answer = {{"exit": pip.returncode, "installed": installed, "said": pip.stderr[-500:],
          "computed after": sum(range(10))}}
"""


def pip_install(student) -> dict:
    return in_kernel(student, STUDENT, PIP_INSTALL)


def test_the_kernel_installs_a_package_from_pypi(student):
    answer = pip_install(student)
    assert answer["exit"] == 0, answer["said"]
    assert f"{PIP_PACKAGE}.py" in answer["installed"]


@pytest.fixture
def exam_mode(camp):
    """The camp with `notebook.internet: false`; the stack's own setting again afterwards,
    whatever the test did."""
    try:
        camp.up(workers=2, notebook={"internet": False})
        yield
    finally:
        camp.up(workers=2)


def test_exam_mode_fails_pip_keeps_the_notebook_and_lifting_it_brings_pip_back(
    camp, student, exam_mode
):
    in_exam = pip_install(student)
    assert in_exam["exit"] != 0 and in_exam["installed"] == [], in_exam
    assert in_exam["computed after"] == sum(range(10))
    reached = probe_from_kernel(camp, student, {"hub-api": HUB_API, "pypi": PYPI})
    assert reached == {"hub-api": "open", "pypi": DROPPED}
    camp.up(workers=2)
    after = pip_install(student)
    assert after["exit"] == 0, after["said"]


UDP_PORTS = (layout.SWARM_VXLAN_PORT, layout.SWARM_GOSSIP_PORT)
COUNTING_TABLE = "camphub_e2e_marked_datagrams"
# Sends one datagram carrying an 8-byte mark to each HOST:PORT given; run in the kernel, or as a
# command on a machine (python3 - MARK HOST:PORT...).
SEND_MARKED = """
import socket, sys

def send_marked(mark, targets):
    for target in targets:
        host, _, port = target.rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(bytes.fromhex(mark) + b" camphub e2e", (host, int(port)))
    return len(targets)

if __name__ == "__main__":
    print(send_marked(sys.argv[1], sys.argv[2:]))
"""


def counting_table(marks: dict[str, str]) -> str:
    """An nft table counting, by sender, the marked datagrams that arrive on the swarm's UDP
    ports after every other input rule (a datagram some wall drops is never counted)."""
    ports = ", ".join(str(port) for port in UDP_PORTS)
    rules = "".join(
        f'\t\tudp dport {{ {ports} }} @th,64,64 0x{mark} counter comment "{sender}"\n'
        for sender, mark in marks.items()
    )
    return (
        f"table inet {COUNTING_TABLE}\ndelete table inet {COUNTING_TABLE}\n"
        f"table inet {COUNTING_TABLE} {{\n\tchain input {{\n"
        f"\t\ttype filter hook input priority 100; policy accept;\n{rules}\t}}\n}}\n"
    )


def marked_arrivals(camp, address: str) -> dict[str, int]:
    listing = camp.run(f"sudo nft list table inet {COUNTING_TABLE}", host=address)
    counted = re.findall(r'counter packets (\d+) bytes \d+ comment "(\w+)"', listing)
    return {sender: int(packets) for packets, sender in counted}


def test_a_students_kernel_gets_no_datagram_to_the_swarms_udp_ports(camp, student):
    """VXLAN and gossip ride UDP, where a closed port looks like an open one; so each machine
    counts the datagrams that arrive, the kernel's and (the control) its worker's own."""
    addresses = {machine: private_addresses(camp)[machine] for machine in MACHINES}
    targets = [f"{address}:{port}" for address in addresses.values() for port in UDP_PORTS]
    marks = {"kernel": secrets.token_hex(8), "worker": secrets.token_hex(8)}
    for address in addresses.values():
        camp.run("sudo nft -f -", host=address, stdin=counting_table(marks))
    try:
        send = calling(SEND_MARKED, f"send_marked({marks['kernel']!r}, {targets!r})")
        assert in_kernel(student, STUDENT, send) == len(targets)
        worker = addresses[camp.server_node(STUDENT)]
        camp.run(f"python3 - {marks['worker']} {' '.join(targets)}", host=worker,
                 stdin=SEND_MARKED)  # fmt: skip

        def the_workers_arrived() -> dict[str, dict[str, int]] | None:
            arrived = {m: marked_arrivals(camp, address) for m, address in addresses.items()}
            members = all(arrived[m]["worker"] == len(UDP_PORTS) for m in SWARM_MEMBERS)
            return arrived if members else None

        # The worker's own datagrams, sent after the kernel's, arrive on every swarm member; the
        # NFS server's security group takes no swarm traffic, so none arrive there.
        arrived = wait_for(
            the_workers_arrived, timeout=30, what="the worker's datagrams arrive", interval=1
        )
        assert arrived["nfs"]["worker"] == 0
        assert {m: got["kernel"] for m, got in arrived.items()} == dict.fromkeys(MACHINES, 0)
    finally:
        for address in addresses.values():
            camp.run(f"sudo nft delete table inet {COUNTING_TABLE}", host=address)


def test_a_students_kernel_has_no_ipv6_way_to_the_metadata_service(student):
    """The rehearsal's networks, like Docker's by default on EC2, give containers no IPv6 but
    loopback and link-local; so fd00:ec2::254 is unreachable before any wall (the machine's wall
    drops fc00::/7 too, which this cannot exercise)."""
    code = f"""
import errno, socket
with open("/proc/net/if_inet6") as table:
    scopes = sorted({{line.split()[3] for line in table}})
try:
    socket.create_connection(("{METADATA_V6}", 80), timeout=3).close()
    outcome = "open"
except OSError as error:
    outcome = errno.errorcode.get(error.errno, type(error).__name__)
answer = {{"address scopes": scopes, "metadata": outcome}}
"""
    # Scopes in /proc/net/if_inet6: 10 host (loopback), 20 link; a global address would be 00.
    answer = in_kernel(student, STUDENT, code)
    assert set(answer["address scopes"]) <= {"10", "20"}, answer
    assert answer["metadata"] == "ENETUNREACH", answer


WORKERS = ("workers-0", "workers-1")
RESTART_SECONDS = 300


def worker_back(camp, worker: str, address: str) -> bool:
    """The worker's Docker is back in the swarm and the manager counts it ready again."""
    try:
        state = camp.run("sudo docker info --format '{{.Swarm.LocalNodeState}}'", host=address)
    except RemoteError:  # the machine is still booting
        return False
    return state.strip() == "active" and camp.swarm_nodes().get(worker) == "Ready"


def restart_every_worker(camp, student, classmate, restart) -> None:
    """With the two servers stopped, `restart(worker, address)` on every worker and wait until
    each is back; the servers then start afresh, so both run on a restarted worker."""
    student.stop_server(STUDENT)
    classmate.stop_server(CLASSMATE)
    addresses = private_addresses(camp)
    for worker in WORKERS:
        restart(worker, addresses[worker])
    for worker in WORKERS:
        wait_for(
            lambda worker=worker: worker_back(camp, worker, addresses[worker]),
            timeout=RESTART_SECONDS,
            what=f"{worker} is back in the swarm",
            interval=3,
        )
    classmate.start_server_and_wait_until_it_answers(CLASSMATE)
    student.start_server_and_wait_until_it_answers(STUDENT)


def not_dropped(camp, student) -> dict[str, str]:
    """Each forbidden target whose connection from the student's kernel is not dropped."""
    reached = probe_from_kernel(camp, student, FORBIDDEN)
    return {name: got for name, got in reached.items() if got != DROPPED}


def test_the_walls_hold_after_docker_restarts_on_the_workers(camp, student, classmate):
    def restart_docker(worker: str, address: str) -> None:
        camp.run("sudo systemctl restart docker.service", host=address)

    restart_every_worker(camp, student, classmate, restart_docker)
    assert not_dropped(camp, student) == {}


def walled_first(camp) -> dict[str, bool]:
    """For the student and the classmate: whether, by the journal of the worker running the
    server, the container's wall was loaded no later than Docker's StartedAt for it, and not
    again after (tests/payload/wall/wall_order.py)."""
    order = {}
    for worker in WORKERS:
        address = private_addresses(camp)[worker]
        order |= json.loads(camp.run("sudo python3 -", host=address, stdin=WALL_ORDER_SOURCE))
    return {user: order.get(user, {}).get("walled_first", False) for user in (STUDENT, CLASSMATE)}


def test_the_walls_hold_after_the_worker_machines_restart(camp, student, classmate):
    def restart_machine(worker: str, address: str) -> None:
        container = camp.rehearsal.cloud.container_name(worker)
        subprocess.run(["docker", "restart", container], check=True, capture_output=True)

    restart_every_worker(camp, student, classmate, restart_machine)
    assert not_dropped(camp, student) == {}
    assert walled_first(camp) == {STUDENT: True, CLASSMATE: True}
