"""The local cloud's machinery, proven on a throwaway program (tests/e2e/tiny_program) before the
real one: instances boot from their user-data, commands and copies run over real SSH (one host
through the other as jump host), a volume exported by one instance is mounted by the other
through the mount.nfs shim, a second run with nothing changed runs nothing, a changed input
reruns only its command, a command no longer declared runs its delete step, a failing command
fails the deployment, and `down` leaves nothing behind."""

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from waiting import wait_for

from rehearsal import ssh
from rehearsal.run import Rehearsal, RehearsalError

pytestmark = pytest.mark.live

PROGRAM_DIR = Path(__file__).parent / "tiny_program"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode(), private


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rehearsal = Rehearsal(PROGRAM_DIR, "e2e-tiny", tmp_path_factory.mktemp("tiny"))
    yield rehearsal
    rehearsal.down()
    assert rehearsal.cloud.containers() == []
    assert not list((rehearsal.work_dir / "volumes").glob("*.img"))


def up(tiny: Rehearsal, keys, **settings) -> dict:
    public, private = keys
    config = {"tiny:publicKey": public, "tiny:privateKey": private}
    config.update({f"tiny:{name}": str(value).lower() for name, value in settings.items()})
    outputs = tiny.up(config, secret_keys=["tiny:privateKey"])
    return {name: output["value"] for name, output in outputs.items()}


def on_gate(tiny: Rehearsal, keys, command: str) -> str:
    address = tiny.outputs()["gateAddress"]["value"]  # the Elastic IP, reached from this machine
    connection = ssh.Connection(address, "admin", keys[1])
    result = ssh.run(connection, command)
    assert result.exit_status == 0, result.stderr
    return result.stdout


def test_first_up_runs_every_step_on_booted_instances(tiny, keys):
    outputs = up(tiny, keys, greeting="from-stdin", withExtra=True)
    assert outputs["hostnames"] == ["gate", "inner"]
    assert outputs["read"] == "hello\nfrom-stdin"  # copied through the jump host, plus stdin
    # Written by inner on its volume, read on gate, mounted there as if from inner's NFS export.
    content, source = outputs["mounted"].split("\n")
    assert content == "shared"
    assert source.endswith(":/srv/export")
    assert outputs["runs"] == "1"


def test_second_up_with_nothing_changed_runs_nothing(tiny, keys):
    outputs = up(tiny, keys, greeting="from-stdin", withExtra=True)
    assert outputs["runs"] == "1"
    assert on_gate(tiny, keys, "wc -l < ~/runs") == "1"


def test_changed_input_reruns_its_command_and_dropped_command_runs_its_delete(tiny, keys):
    outputs = up(tiny, keys, greeting="changed")
    assert outputs["read"] == "hello\nchanged"
    assert on_gate(tiny, keys, "wc -l < ~/runs") == "1"
    assert on_gate(tiny, keys, "ls /tmp/extra-deleted") == "/tmp/extra-deleted"


def test_failing_command_fails_the_deployment_with_its_stderr(tiny, keys, capfd):
    with pytest.raises(RehearsalError):
        up(tiny, keys, greeting="changed", fail=True)
    err = capfd.readouterr().err
    assert "gate-fail" in err and "exited 3" in err and "failing on purpose" in err


def test_restarted_instance_gets_its_volume_back(tiny):
    inner = tiny.cloud.container_name("inner")
    subprocess.run(["docker", "restart", inner], check=True, capture_output=True)

    def device_node_exists() -> bool:
        check = ["docker", "exec", inner, "test", "-b", "/dev/xvdf"]
        return subprocess.run(check, check=False, capture_output=True).returncode == 0

    wait_for(
        device_node_exists,
        timeout=60,
        what="the restarted instance has its volume's device node",
        interval=1,
    )
