"""The end-of-week archive on a Debian 13 machine like the NFS server: prepare-archive installs
Debian's boto3 once, then archive-homes (Python 3.13, that boto3) puts every home into moto's S3,
byte for byte, and snapshots the volume in moto's EC2.

moto listens on the Docker bridge's address on the host, the only address the machine shares
with it; the homes are a tmpfs mounted at the export directory, as the volume is on the server.
"""

import hashlib
import io
import subprocess
import tarfile
import uuid

import boto3
import payload_checker
import pytest
from moto.server import ThreadedMotoServer

from infra import layout
from rehearsal.detached import free_port

pytestmark = pytest.mark.live

BUCKET = "camphub-archive-debian"
PREFIX = "homes/camp"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
HOMES = layout.NFS_EXPORT_DIR
SCRIPTS = payload_checker.SCRIPTS_DIR
# name -> {relative path: content}: what two students left at the end of the week.
STUDENT_FILES = {
    "alice-40example-2eorg": {
        "materials/README.ipynb": b'{"cells": ["edited"]}\n',
        "project/data.csv": b"x,y\n" + b"1,2\n" * 5000,
        ".local/share/jupyter/runtime.json": b"{}",
        "empty": b"",
    },
    "bob-40example-2eorg": {"notes with spaces.md": "Grüße\n".encode()},
}


@pytest.fixture(scope="module")
def nfs_machine():
    """A booted Debian 13 checker machine named with this suite's prefix, homes on a tmpfs."""
    payload_checker.build_image()
    name = f"h5-archive-{uuid.uuid4().hex[:8]}"
    payload_checker.docker(
        "run", "-d", "--name", name, *payload_checker.SYSTEMD_FLAGS,
        "-v", f"{payload_checker.PROJECT_DIR}:{payload_checker.PROJECT_MOUNT}:ro",
        payload_checker.IMAGE,
    )  # fmt: skip
    machine = payload_checker.Machine(name)
    try:
        machine.wait_until_booted()
        machine.run("mkdir", "-p", HOMES)
        machine.run("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", HOMES)
        for home, files in STUDENT_FILES.items():
            for relative, content in files.items():
                path = f"{HOMES}/{home}/{relative}"
                machine.run("mkdir", "-p", path.rsplit("/", 1)[0])
                write_bytes(name, path, content)
            machine.run(
                "chown", "-R", f"{layout.STUDENT_UID}:{layout.STUDENT_GID}", f"{HOMES}/{home}"
            )
            machine.run("chmod", "700", f"{HOMES}/{home}")
        yield machine
    finally:
        payload_checker.docker("rm", "-f", "-v", name, check=False)


def write_bytes(container: str, path: str, content: bytes) -> None:
    subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", 'cat > "$1"', "-", path],
        input=content, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def moto_on_bridge(nfs_machine):
    """moto, listening on the host's address on the machine's network; yields its URL."""
    route = nfs_machine.read("/proc/net/route").splitlines()[1:]
    gateway_hex = next(line.split()[2] for line in route if line.split()[1] == "00000000")
    gateway = ".".join(str(int(gateway_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
    port = free_port("127.0.0.1")
    server = ThreadedMotoServer(ip_address=gateway, port=port, verbose=False)
    server.start()
    yield f"http://{gateway}:{port}"
    server.stop()


def test_prepare_installs_boto3_once(nfs_machine):
    first = nfs_machine.script("prepare-archive", "--homes-dir", HOMES)
    assert first.stdout.strip() == "prepare-archive: installed python3-boto3"
    second = nfs_machine.script("prepare-archive", "--homes-dir", HOMES)
    assert second.stdout.strip() == "prepare-archive: nothing changed"


def test_every_home_reaches_s3_byte_for_byte_and_the_volume_is_snapshotted(
    nfs_machine, moto_on_bridge, tmp_path
):
    nfs_machine.script("prepare-archive", "--homes-dir", HOMES)
    s3, ec2 = (
        boto3.client(service, endpoint_url=moto_on_bridge, region_name=REGION, **CREDENTIALS)
        for service in ("s3", "ec2")
    )
    s3.create_bucket(Bucket=BUCKET)
    volume_id = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    environment = [f"AWS_ENDPOINT_URL={moto_on_bridge}", "AWS_ACCESS_KEY_ID=testing"]
    environment += ["AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true"]
    result = nfs_machine.run(
        "env", *environment, "python3", f"{SCRIPTS}/archive-homes", "--homes-dir", HOMES,
        "--bucket", BUCKET, "--prefix", PREFIX, "--volume-id", volume_id, "--region", REGION,
    )  # fmt: skip
    assert "archived 2 homes (5 files" in result.stdout
    for home, files in STUDENT_FILES.items():
        body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{home}.tar.gz")["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            archived = {
                m.name.removeprefix(f"{home}/"): tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile()
            }
            owners = {(m.uid, m.gid) for m in tar.getmembers()}
        assert {k: hashlib.sha256(v).hexdigest() for k, v in archived.items()} == {
            k: hashlib.sha256(v).hexdigest() for k, v in files.items()
        }, home
        assert owners == {(layout.STUDENT_UID, layout.STUDENT_GID)}
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    assert len(snapshots["Snapshots"]) == 1
