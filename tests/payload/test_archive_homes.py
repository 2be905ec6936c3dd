"""scripts/archive-homes against moto's S3 and EC2 on loopback: every file of every home is in
the archive byte for byte, and a failure stops it before anything else happens.

The script runs for real (as root, in its own mount namespace where the homes directory is a
mount point, as the homes volume is on the NFS server); only AWS is played by moto.
"""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra import layout
from infra.archive import links_command

SCRIPT = layout.PROJECT_DIR / "scripts" / "archive-homes"
BUCKET = "camphub-archive-test"
PREFIX = "homes/camp"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="archive-homes runs as root")


@pytest.fixture(scope="module")
def moto_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url):
    def client(service):
        return boto3.client(service, endpoint_url=moto_url, region_name=REGION, **CREDENTIALS)

    s3, ec2 = client("s3"), client("ec2")
    s3.create_bucket(Bucket=BUCKET)
    volume_id = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    yield s3, ec2, volume_id
    for version in s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def homes(tmp_path) -> Path:
    """Two students' homes, with what students make, and what is on the volume but no home."""
    homes = tmp_path / "homes"
    alice = homes / "alice-40example-2eorg"
    bob = homes / "bob-40example-2eorg"
    (alice / "materials" / "day 1").mkdir(parents=True)
    (alice / "materials" / "day 1" / "Übung.ipynb").write_text('{"cells": []}\n')
    (alice / ".ipython" / "profile_default").mkdir(parents=True)
    (alice / ".ipython" / "profile_default" / "history.sqlite").write_bytes(bytes(range(256)) * 64)
    (alice / "empty.txt").write_bytes(b"")
    (alice / "empty-dir").mkdir()
    (alice / "link-to-notes").symlink_to("materials/day 1/Übung.ipynb")
    (alice / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    bob.mkdir(parents=True)
    (bob / "model.pkl").write_bytes(os.urandom(4096))
    (homes / "lost+found").mkdir()
    (homes / "lost+found" / "orphan").write_text("not a home")
    (homes / layout.MATERIALS_DIRNAME).mkdir()
    (homes / layout.MATERIALS_DIRNAME / "README.ipynb").write_text("{}")
    return homes


# Less than alice's home: the NFS server's root disk next to 200 students' homes.
SMALL_DISK = "1m"


def run_archive(
    homes: Path,
    moto_url: str,
    volume_id: str,
    bucket: str = BUCKET,
    mount=True,
    small_disks=False,
):
    """Runs the script as pulumi-command would; `mount` makes `homes` a mount point first;
    `small_disks` puts a SMALL_DISK filesystem on /var/tmp, where temporary files go (TMPDIR;
    /tmp holds the test's homes)."""
    command = [sys.executable, str(SCRIPT), "--homes-dir", str(homes), "--bucket", bucket]
    command += ["--prefix", PREFIX, "--volume-id", volume_id, "--region", REGION]
    # S3's smallest parts, so alice's home (random bytes do not compress) takes several.
    command += ["--part-mib", "5"]
    if small_disks:
        command = ["sh", "-c", f"mount -t tmpfs -o size={SMALL_DISK} tmpfs /var/tmp && "
                   'TMPDIR=/var/tmp exec "$@"', "small-disks", *command]  # fmt: skip
    if mount:
        # In a private mount namespace: the bind mount disappears with the process.
        command = ["sh", "-c", 'mount --bind "$0" "$0" && exec "$@"', str(homes), *command]
    if mount or small_disks:
        command = ["unshare", "--mount", "--propagation", "private", *command]
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


def files_under(root: Path) -> dict[str, bytes | str]:
    """Every file (bytes), symlink ('-> target') and directory ('dir') under root, by path."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[relative] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[relative] = "dir"
        else:
            found[relative] = path.read_bytes()
    return found


def extract(s3, key: str, into: Path) -> Path:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(into, filter="tar")
    return into


def test_every_file_of_every_home_is_archived_byte_for_byte(aws, homes, moto_url, tmp_path):
    s3, _, volume_id = aws
    result = run_archive(homes, moto_url, volume_id)
    assert result.returncode == 0, result.stderr
    assert "archived 2 homes" in result.stdout
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [
        f"{PREFIX}/MANIFEST.json",
        f"{PREFIX}/alice-40example-2eorg.tar.gz",
        f"{PREFIX}/bob-40example-2eorg.tar.gz",
    ]
    for home in ("alice-40example-2eorg", "bob-40example-2eorg"):
        restored = extract(s3, f"{PREFIX}/{home}.tar.gz", tmp_path / "restored" / home)
        assert files_under(restored / home) == files_under(homes / home), home


def test_nothing_is_staged_on_a_disk_smaller_than_a_home(aws, homes, moto_url, tmp_path):
    """A home larger than the server's free root disk: streamed, it reaches S3 whole."""
    s3, _, volume_id = aws
    result = run_archive(homes, moto_url, volume_id, small_disks=True)
    assert result.returncode == 0, result.stderr
    home = "alice-40example-2eorg"
    restored = extract(s3, f"{PREFIX}/{home}.tar.gz", tmp_path / "restored")
    assert files_under(restored / home) == files_under(homes / home)


def test_the_manifest_lists_each_archive_with_its_checksum(aws, homes, moto_url):
    s3, _, volume_id = aws
    assert run_archive(homes, moto_url, volume_id).returncode == 0
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/MANIFEST.json")["Body"].read()
    )
    assert manifest["volume_id"] == volume_id
    by_home = {entry["home"]: entry for entry in manifest["homes"]}
    assert sorted(by_home) == ["alice-40example-2eorg", "bob-40example-2eorg"]
    assert by_home["alice-40example-2eorg"]["files"] == 4  # the symlink is kept as a link
    assert by_home["bob-40example-2eorg"]["files"] == 1
    for entry in manifest["homes"]:
        stored = s3.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == entry["sha256"]
        assert len(stored) == entry["bytes"]
    parts = s3.head_object(Bucket=BUCKET, Key=by_home["alice-40example-2eorg"]["key"])["ETag"]
    assert parts.strip('"').endswith("-3")  # 12 MiB in 5 MiB parts


def test_the_homes_volume_is_snapshotted_after_the_archive(aws, homes, moto_url):
    _, ec2, volume_id = aws
    result = run_archive(homes, moto_url, volume_id)
    assert result.returncode == 0, result.stderr
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    (snapshot,) = snapshots["Snapshots"]
    assert snapshot["SnapshotId"] in result.stdout
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags == {"Name": "camphub-homes-final", "camphub:archive": PREFIX}


def test_a_failed_upload_fails_the_step_and_takes_no_snapshot(aws, homes, moto_url):
    _, ec2, volume_id = aws
    result = run_archive(homes, moto_url, volume_id, bucket="camphub-no-such-bucket")
    assert result.returncode != 0
    assert "NoSuchBucket" in result.stderr and "nothing was deleted" in result.stderr
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    assert snapshots["Snapshots"] == []


def test_an_unmounted_homes_directory_is_refused(aws, homes, moto_url):
    s3, _, volume_id = aws
    result = run_archive(homes, moto_url, volume_id, mount=False)
    assert result.returncode != 0
    assert "is not a mount point" in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_the_links_command_gives_a_working_link_per_student(aws, homes, moto_url):
    """The command the stack exports, run as the organizer would, with the AWS CLI."""
    s3, _, volume_id = aws
    assert run_archive(homes, moto_url, volume_id).returncode == 0
    aws_cli = Path(sys.executable).with_name("aws")
    environment = {
        **os.environ,
        "PATH": f"{aws_cli.parent}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    result = subprocess.run(
        ["bash", "-c", links_command(BUCKET, PREFIX)],
        env=environment, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    links = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert sorted(links) == [
        f"{PREFIX}/alice-40example-2eorg.tar.gz",
        f"{PREFIX}/bob-40example-2eorg.tar.gz",
    ]
    for key, url in links.items():
        assert "X-Amz-Signature=" in url or "Signature=" in url, url
        with urllib.request.urlopen(url, timeout=30) as response:
            downloaded = response.read()
        assert downloaded == s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
