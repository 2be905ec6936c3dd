"""How the local cloud dials a machine that is still booting (rehearsal/ssh.py)."""

import socket
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from rehearsal import ssh
from tests.unit.ssh_keys import openssh_private_text


@pytest.fixture
def sshd_that_hangs_up_mid_handshake():
    """A port that answers like sshd, then closes the connection before the key exchange, as sshd
    does while cloud-init restarts it on a machine's first boot. Counts the connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connections.append(connection)
            connection.sendall(b"SSH-2.0-OpenSSH_9.9\r\n")
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
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
