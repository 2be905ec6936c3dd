"""Bootstrap trusts only its own machines (infra/host_key.py): every machine's sshd shows the one
host key the program made for it, and a machine that shows another fails its step, saying so,
before the step sends anything."""

import pytest

from infra import layout
from infra.outputs import host_keys_by_address
from infra.userlist import escaped_username as escaped
from rehearsal.docker_cli import docker
from rehearsal.run import RehearsalError

STUDENT = "host.key.check@camp.example.org"
HOST_KEY_PUB = f"{layout.HOST_KEY_FILE}.pub"


def shown_host_keys(camp, address: str) -> list[str]:
    """Every host key the sshd at `address` offers, of any type, as the hub sees it."""
    scanned = camp.run(f"ssh-keyscan -T 10 {address} 2>/dev/null")
    keys = [line for line in scanned.splitlines() if not line.startswith("#")]
    return sorted(" ".join(line.split()[1:3]) for line in keys)


def test_every_machine_shows_the_key_the_program_made_for_it_and_no_other(camp):
    outputs = camp.outputs
    expected = host_keys_by_address(outputs)
    del expected[outputs["hubPublicIp"]]  # scanned from the hub itself, at its private address
    for address, host_key in expected.items():
        assert shown_host_keys(camp, address) == [" ".join(host_key.split()[:2])], address


@pytest.fixture
def nfs_showing_another_key(camp):
    """The NFS server's sshd shows a key of its own making, as a machine that took its address
    would; its own key is put back afterwards (over `docker exec`: SSH to it is refused then)."""
    container = camp.rehearsal.cloud.container_name("nfs")
    kept = f"{layout.HOST_KEY_FILE}.kept"
    docker("exec", container, "cp", "-p", layout.HOST_KEY_FILE, kept)
    docker("exec", container, "sh", "-c",
           f"rm -f {layout.HOST_KEY_FILE} {HOST_KEY_PUB} && "
           f"ssh-keygen -q -t ed25519 -N '' -f {layout.HOST_KEY_FILE} && "
           "systemctl restart ssh.service")  # fmt: skip
    yield container
    docker("exec", container, "sh", "-c",
           f"mv -f {kept} {layout.HOST_KEY_FILE} && ssh-keygen -y -f {layout.HOST_KEY_FILE} "
           f"> {HOST_KEY_PUB} && systemctl restart ssh.service")  # fmt: skip


def test_a_machine_showing_another_host_key_fails_its_step_and_says_so(
    camp, nfs_showing_another_key, capfd
):
    camp.add_to_class_list(STUDENT)
    with pytest.raises(RehearsalError):
        camp.up()
    out, err = capfd.readouterr()
    # Through the hub, at once: pulumi-command would dial again over the closed connection.
    assert "nfs-make-homes: host key mismatch: admin@" in out + err
    assert "nothing was sent" in out + err
    home = f"{layout.NFS_EXPORT_DIR}/{escaped(STUDENT)}"
    probe = f"test -e {home} && echo made || echo absent"
    assert docker("exec", nfs_showing_another_key, "sh", "-c", probe) == "absent"
