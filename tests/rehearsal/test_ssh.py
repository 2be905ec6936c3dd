"""How the local cloud dials a machine (rehearsal/ssh.py): one still booting, and one that shows
a host key other than the one it must show."""

import base64
import io
import socket
import threading
from dataclasses import dataclass, field

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from rehearsal import ssh
from tests.unit.ssh_keys import openssh_private_text, openssh_public_text


def serve(listener: socket.socket, handle) -> None:
    """Hands every connection `listener` accepts to `handle`, in a thread, until it is closed."""

    def accept():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            handle(connection)

    threading.Thread(target=accept, daemon=True).start()


@pytest.fixture
def sshd_that_hangs_up_mid_handshake():
    """A port that answers like sshd, then closes the connection before the key exchange, as sshd
    does while cloud-init restarts it on a machine's first boot. Counts the connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def hang_up(connection):
        connections.append(connection)
        connection.sendall(b"SSH-2.0-OpenSSH_9.9\r\n")
        connection.close()

    serve(listener, hang_up)
    yield listener.getsockname()[1], connections
    listener.close()


def test_a_connection_closed_mid_handshake_is_dialled_again_until_the_attempts_run_out(
    sshd_that_hangs_up_mid_handshake,
):
    port, connections = sshd_that_hangs_up_mid_handshake
    connection = ssh.Connection(
        host="127.0.0.1",
        user="admin",
        private_key=openssh_private_text(ed25519.Ed25519PrivateKey.generate()),
        port=port,
        dial_attempts=3,
        dial_timeout=5,
    )

    with pytest.raises(ssh.RemoteError, match=r"after 3 attempts: .*EOF"), ssh.session(connection):
        pass

    assert len(connections) == 3


@dataclass
class Sshd:
    """An SSH server on loopback showing `host_key`; it lets any key sign in and counts the
    connections and the sign-in attempts it saw."""

    port: int
    host_key: str  # authorized_keys form
    connections: list = field(default_factory=list)
    sign_ins: list = field(default_factory=list)


class _AnyKeySignsIn(paramiko.ServerInterface):
    def __init__(self, sign_ins: list):
        self.sign_ins = sign_ins

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        self.sign_ins.append(username)
        return paramiko.AUTH_SUCCESSFUL


@pytest.fixture
def sshd():
    private = ed25519.Ed25519PrivateKey.generate()
    host_key = paramiko.Ed25519Key.from_private_key(io.StringIO(openssh_private_text(private)))
    listener = socket.create_server(("127.0.0.1", 0))
    server = Sshd(listener.getsockname()[1], openssh_public_text(private))

    def handshake(connection):
        server.connections.append(connection)
        transport = paramiko.Transport(connection)
        transport.add_server_key(host_key)
        transport.start_server(server=_AnyKeySignsIn(server.sign_ins))

    serve(listener, handshake)
    yield server
    listener.close()


def dialling(server: Sshd, host_key: str | None) -> ssh.Connection:
    return ssh.Connection(
        host="127.0.0.1",
        user="admin",
        private_key=openssh_private_text(ed25519.Ed25519PrivateKey.generate()),
        port=server.port,
        dial_attempts=2,
        dial_timeout=5,
        host_key=host_key,
    )


def another_host_key() -> str:
    return openssh_public_text(ed25519.Ed25519PrivateKey.generate())


def test_a_machine_showing_its_own_host_key_is_signed_in_to(sshd):
    with ssh.session(dialling(sshd, sshd.host_key)) as client:
        assert client.get_transport().is_authenticated()
    assert sshd.sign_ins == ["admin"]


def test_a_machine_showing_another_host_key_is_refused_before_anything_is_sent(sshd):
    expected = another_host_key()
    shown = paramiko.PKey.from_type_string(*_parts(sshd.host_key)).fingerprint

    with pytest.raises(ssh.HostKeyMismatch) as refused, ssh.session(dialling(sshd, expected)):
        pass

    message = str(refused.value)
    assert f"host key mismatch: admin@127.0.0.1 showed ssh-ed25519 {shown}" in message
    assert "after 2 attempts" in message  # dialled again, as pulumi-command does
    assert sshd.sign_ins == []
    assert len(sshd.connections) == 2


def test_without_a_host_key_any_key_is_accepted_as_pulumi_command_does(sshd):
    with ssh.session(dialling(sshd, None)) as client:
        assert client.get_transport().is_authenticated()


def test_the_host_key_a_step_pins_is_read_from_its_connection_and_its_proxy():
    pinned, hub = another_host_key(), another_host_key()
    connection = ssh.Connection.from_inputs(
        {
            "host": "10.192.0.12",
            "privateKey": "key",
            "hostKey": pinned,
            "proxy": {"host": "203.0.113.10", "privateKey": "key", "hostKey": hub},
        }
    )
    assert (connection.host_key, connection.proxy.host_key) == (pinned, hub)


def _parts(authorized: str) -> tuple[str, bytes]:
    key_type, blob = authorized.split()[:2]
    return key_type, base64.b64decode(blob)
