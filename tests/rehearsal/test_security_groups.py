"""Security groups on the local cloud (rehearsal/security_groups.py): containers on a rehearsal's
networks reach an instance's port only when its groups' rules allow it, at once as the rules
change. The machines are plain containers of the instance image that listen on a few ports."""

import subprocess

import pytest

from rehearsal import local_images, security_groups
from rehearsal.docker_cli import PREFIX, docker
from rehearsal.state import Record

LOCAL_CLOUD = "test-security-groups"

SERVE = """
import socket, threading
def tcp(port):
    server = socket.create_server(("", port))
    while True:
        connection, _ = server.accept()
        connection.sendall(b"hello")
        connection.close()
def udp(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("", port))
    while True:
        data, peer = server.recvfrom(100)
        server.sendto(data, peer)
for port in (8000, 8001, 8002, 8080):
    threading.Thread(target=tcp, args=(port,)).start()
threading.Thread(target=udp, args=(9000,)).start()
"""

PROBE = """
import socket, sys
protocol, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if protocol == "tcp":
        with socket.create_connection((host, port), timeout=1.5) as connection:
            assert connection.recv(10) == b"hello"
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(1.5)
            client.sendto(b"ping", (host, port))
            assert client.recv(10) == b"ping"
    print("open")
except (OSError, AssertionError):
    print("closed")
"""


class Machines:
    """`target` (group sg-target, with an Elastic IP), `peer` (group sg-peer), `other` (group
    sg-other) on the private network; `outsider` on the public one, no instance."""

    def __init__(self, local):
        self.local = local
        image = local_images.ensure_instance_image()
        self.address = {}
        for name in ("target", "peer", "other"):
            self.address[name] = local.new_private_address()
            self._run(image, name, local.name, self.address[name])
        self.public = local.allocate_address("eipalloc-target")
        local.associate_address("target", self.public)
        self._run(image, "outsider", local.public_network, None)
        self.instances = [
            self._instance(name, group)
            for name, group in (("target", "sg-target"), ("peer", "sg-peer"), ("other", "sg-other"))
        ]
        self.eip = Record(
            security_groups.EIP, "eip", "eipalloc-target", "", {"instance": "i-target"}, {},
            {"address": self.public},
        )  # fmt: skip

    def _run(self, image, name, network, address):
        placed = ["--ip", address] if address else []
        docker(
            "run", "--detach", f"--label={PREFIX}.stack={self.local.stack}",
            "--name", self.local.container_name(name), "--network", network, *placed,
            "--entrypoint", "python3", image, "-c", SERVE,
        )  # fmt: skip

    def _instance(self, name, group):
        inputs = {"vpcSecurityGroupIds": [group]}
        made = {"resource": name, "address": self.address[name]}
        return Record(security_groups.INSTANCE, name, f"i-{name}", "", inputs, {}, made)

    def allow(self, rules: list[dict]) -> None:
        """The target's group holds exactly `rules` (as the program declares them)."""
        records = [
            Record(security_groups.INGRESS_RULE, f"rule-{i}", f"sgr-{i}", "", rule, {})
            for i, rule in enumerate(rules)
        ]
        security_groups.enforce(self.local.stack, [*self.instances, self.eip, *records])

    def reaches(self, source: str, protocol: str, port: int, to: str = "target") -> bool:
        host = self.public if to == "public" else self.address[to]
        answer = docker(
            "exec", self.local.container_name(source), "python3", "-c", PROBE, protocol, host,
            str(port),
        )  # fmt: skip
        return answer == "open"


def rule(protocol, from_port, to_port, **source):
    return {
        "securityGroupId": "sg-target",
        "ipProtocol": protocol,
        "fromPort": from_port,
        "toPort": to_port,
        **source,
    }


@pytest.fixture(scope="module")
def machines(local_cloud):
    yield Machines(local_cloud)
    security_groups.remove(local_cloud.stack)


def test_a_port_range_from_a_referenced_group_lets_its_members_in_and_no_one_else(machines):
    machines.allow([rule("tcp", 8000, 8001, referencedSecurityGroupId="sg-peer")])

    assert machines.reaches("peer", "tcp", 8000)
    assert machines.reaches("peer", "tcp", 8001)
    assert not machines.reaches("peer", "tcp", 8002)
    assert not machines.reaches("other", "tcp", 8000)
    assert not machines.reaches("peer", "udp", 9000)


def test_a_udp_port_from_a_cidr_lets_that_cidr_in(machines):
    peer = machines.address["peer"]
    machines.allow([rule("udp", 9000, 9000, cidrIpv4=f"{peer}/32")])

    assert machines.reaches("peer", "udp", 9000)
    assert not machines.reaches("other", "udp", 9000)
    assert not machines.reaches("peer", "tcp", 8000)


def test_a_rule_deleted_or_changed_takes_effect_at_once(machines):
    machines.allow([rule("tcp", 8000, 8000, referencedSecurityGroupId="sg-peer")])
    assert machines.reaches("peer", "tcp", 8000)

    machines.allow([rule("tcp", 8001, 8001, referencedSecurityGroupId="sg-peer")])
    assert not machines.reaches("peer", "tcp", 8000)
    assert machines.reaches("peer", "tcp", 8001)

    machines.allow([])
    assert not machines.reaches("peer", "tcp", 8001)


def test_a_world_open_port_is_reachable_from_the_public_network_only_once_added(machines):
    web = rule("tcp", 8000, 8000, cidrIpv4="0.0.0.0/0")
    machines.allow([web])
    assert machines.reaches("outsider", "tcp", 8000, to="public")
    assert not machines.reaches("outsider", "tcp", 8080, to="public")

    machines.allow([web, rule("tcp", 8080, 8080, cidrIpv4="0.0.0.0/0")])
    assert machines.reaches("outsider", "tcp", 8080, to="public")
    assert machines.reaches("other", "tcp", 8080)  # the world is everyone


def test_answers_to_an_instance_s_own_connections_come_back(machines):
    machines.allow([])  # nothing may open a connection to the target

    outsider = docker(
        "inspect", "--format",
        f'{{{{(index .NetworkSettings.Networks "{machines.local.public_network}").IPAddress}}}}',
        machines.local.container_name("outsider"),
    )  # fmt: skip
    assert not machines.reaches("outsider", "tcp", 8000, to="public")
    for protocol, port in (("tcp", "8000"), ("udp", "9000")):
        answer = docker(
            "exec", machines.local.container_name("target"), "python3", "-c", PROBE, protocol,
            outsider, port,
        )  # fmt: skip
        assert answer == "open"


def test_the_rehearsal_s_chain_is_gone_once_removed(machines):
    machines.allow([])
    chain = security_groups.chain_name(machines.local.stack)
    assert chain in _docker_user()

    security_groups.remove(machines.local.stack)

    assert chain not in _docker_user()


def _docker_user() -> str:
    return subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True).stdout
