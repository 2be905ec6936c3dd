"""The rehearsal's AWS stand-in (rehearsal/moto_stand_in.py) on its own: the NFS server's key
may do what the program's archive policy allows and nothing else, and moto refuses keys it
does not know, so the rehearsed archive proves the role is enough."""

import json

import boto3
import botocore.exceptions
import pytest

from infra.archive import archive_policy
from rehearsal.detached import free_port
from rehearsal.moto_server import REGION
from rehearsal.moto_stand_in import AwsStandIn

BUCKET, PREFIX, ROLE = "camphub-archive-rehearsal", "homes/dev", "nfs-role-test"


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    stand_in = AwsStandIn(tmp_path_factory.mktemp("aws"))
    stand_in.ensure_running("127.0.0.1", free_port("127.0.0.1"))
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def role_clients(aws):
    """S3 and EC2 clients with the key the NFS server gets in place of its role's credentials,
    and the homes volume's id."""
    aws.create_bucket(BUCKET)
    volume_id = aws.create_volume("us-east-1a", 8, encrypted=True)
    policy = archive_policy(BUCKET, PREFIX, REGION, "000000000000", volume_id)
    aws.put_role_policy(ROLE, "archive", json.dumps(policy))
    key = aws.role_credentials(ROLE)
    clients = [
        boto3.client(
            service,
            endpoint_url=aws.endpoint,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        )
        for service in ("s3", "ec2")
    ]
    return *clients, volume_id


def denied(call) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def test_the_role_key_archives_under_the_prefix_and_snapshots_the_volume(role_clients):
    s3, ec2, volume_id = role_clients
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/ada.tar.gz", Body=b"home")
    assert ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"].startswith("snap-")


def test_the_role_key_can_do_nothing_else(role_clients):
    s3, ec2, _ = role_clients
    assert denied(lambda: s3.put_object(Bucket=BUCKET, Key="elsewhere/ada.tar.gz", Body=b"x"))
    assert denied(lambda: s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/ada.tar.gz"))
    assert denied(lambda: s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/ada.tar.gz"))
    assert denied(lambda: ec2.describe_volumes())


def test_a_key_moto_does_not_know_is_refused(aws):
    stranger = boto3.client(
        "s3",
        endpoint_url=aws.endpoint,
        region_name=REGION,
        aws_access_key_id="AKIASTRANGER",
        aws_secret_access_key="guessed",
    )
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAccessKeyId"):
        stranger.list_buckets()


def test_the_stand_in_restarts_only_when_it_is_not_running(aws):
    pid, endpoint = (aws.dir / "moto.pid").read_text(), aws.endpoint
    assert aws.ensure_running("127.0.0.1", int(endpoint.rsplit(":", 1)[1])) == endpoint
    assert (aws.dir / "moto.pid").read_text() == pid
    assert aws.has_bucket(BUCKET)


def test_a_terminated_instances_key_is_revoked_so_replacements_never_exhaust_the_quota(aws):
    # IAM allows two keys per user: the old instance's and its replacement's, while both run.
    for _ in range(3):
        old = aws.role_credentials("replaced-role")
        new = aws.role_credentials("replaced-role")
        aws.revoke_role_credentials("replaced-role", old.access_key_id)
        aws.revoke_role_credentials("replaced-role", new.access_key_id)
    revoked = boto3.client(
        "s3",
        endpoint_url=aws.endpoint,
        region_name=REGION,
        aws_access_key_id=new.access_key_id,
        aws_secret_access_key=new.secret_access_key,
    )
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAccessKeyId"):
        revoked.list_buckets()
