"""HomesArchive, in the whole program: a bucket that outlives the camp, the NFS server's narrow
permissions, and the archive that `pulumi destroy` runs before the homes volume goes."""

import json

import pytest

from infra import layout
from infra.archive import LINK_SECONDS, archive_policy

BUCKET = "aws:s3/bucket:Bucket"
KEPT_SETTINGS = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketPolicy:BucketPolicy",
)


@pytest.fixture
def bucket(deployment):
    (bucket,) = deployment.of_type(BUCKET)
    return bucket


@pytest.fixture
def archive_step(deployment):
    return deployment.named("nfs-archive-homes")


def test_the_bucket_and_every_setting_of_it_survive_destroy(deployment, bucket):
    assert bucket.retain_on_delete
    assert bucket.inputs["forceDestroy"] is False
    for kind in KEPT_SETTINGS:
        (setting,) = deployment.of_type(kind)
        assert setting.retain_on_delete, f"{setting.urn} would be undone by destroy"
        assert setting.inputs["bucket"] == bucket.id, setting.urn


def test_the_bucket_is_versioned_encrypted_and_never_public(deployment):
    (versioning,) = deployment.of_type(KEPT_SETTINGS[0])
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (encryption,) = deployment.of_type(KEPT_SETTINGS[1])
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (block,) = deployment.of_type(KEPT_SETTINGS[2])
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block.inputs[flag] is True, flag


def test_the_bucket_refuses_every_request_without_tls(deployment, bucket):
    (policy,) = deployment.of_type(KEPT_SETTINGS[3])
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = f"arn:aws:s3:::{bucket.id}"
    assert sorted(statement["Resource"]) == [arn, f"{arn}/*"]


def test_only_the_nfs_server_may_write_archives_and_only_under_the_prefix(deployment, bucket):
    grant = deployment.named("archive-nfs-server")
    assert grant.inputs["role"] == deployment.named("nfs-role").id
    volume = deployment.named("nfs-homes", "aws:ebs/volume:Volume")
    document = json.loads(grant.inputs["policy"])
    assert document == archive_policy(
        bucket.id, "homes/test", "us-east-1", "123456789012", volume.id
    )
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["PutHomeArchives"]["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert statements["PutHomeArchives"]["Resource"] == f"arn:aws:s3:::{bucket.id}/homes/test/*"
    assert statements["SnapshotTheHomesVolume"]["Resource"][0] == (
        f"arn:aws:ec2:us-east-1:123456789012:volume/{volume.id}"
    )
    assert statements["NameTheSnapshot"]["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "CreateSnapshot"}
    }


def test_the_policy_allows_nothing_else():
    document = archive_policy("b", "homes/camp", "eu-west-1", "111122223333", "vol-0abc")
    actions = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            assert resource != "*" and not resource.endswith(":*"), resource
    assert actions == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
    }


def test_the_nfs_server_runs_as_its_own_role(deployment):
    role = deployment.named("nfs-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    profile = deployment.named("nfs-profile")
    assert profile.inputs["role"] == role.id
    assert deployment.named("nfs").inputs["iamInstanceProfile"] == profile.id
    # The archive's permissions go to this role alone; every machine has its own
    # (tests/unit/test_host_key.py).
    grants = deployment.of_type("aws:iam/rolePolicy:RolePolicy")
    assert {g.name for g in grants if g.inputs["role"] == role.id} == {
        "nfs-host-key-reader",
        "archive-nfs-server",
    }


def test_destroy_archives_before_the_volume_or_the_server_goes(deployment, archive_step):
    # The engine deletes a resource only after everything that depends on it.
    attachment = deployment.named("nfs-homes", "aws:ec2/volumeAttachment:VolumeAttachment")
    for resource in (attachment, deployment.named("nfs"), deployment.named("nfs-export-homes")):
        assert deployment.depends_on(archive_step, resource), resource.urn
    grant = deployment.named("archive-nfs-server")
    assert deployment.depends_on(archive_step, grant), "the permission could go first"
    for kind in KEPT_SETTINGS:
        assert deployment.depends_on(archive_step, deployment.of_type(kind)[0]), kind


def test_destroy_archives_while_the_hub_and_workers_still_run(deployment, archive_step):
    memberships = [r for r in deployment.resources if r.name.endswith("-membership")]
    assert len(memberships) == 2  # the default pool
    for resource in [deployment.named("hub-start-hub"), *memberships]:
        assert deployment.depends_on(archive_step, resource), resource.name


def test_the_archive_step_prepares_on_up_and_archives_on_destroy(deployment, bucket, archive_step):
    volume = deployment.named("nfs-homes", "aws:ebs/volume:Volume")
    create = archive_step.inputs["create"]
    assert "scripts/prepare-archive" in create
    assert f"--homes-dir {layout.NFS_EXPORT_DIR}" in create
    delete = archive_step.inputs["delete"]
    assert delete.startswith(f"sudo python3 {layout.PAYLOAD_DIR}/scripts/archive-homes ")
    for argument in (
        f"--homes-dir {layout.NFS_EXPORT_DIR}",
        f"--bucket {bucket.id}",
        "--prefix homes/test",
        f"--volume-id {volume.id}",
        "--region us-east-1",
    ):
        assert argument in delete
    # A trigger would replace the step, and a replacement runs the delete action: an archive.
    assert not archive_step.inputs.get("triggers")


def test_the_archive_location_and_the_links_command_are_outputs(deployment, bucket):
    assert deployment.outputs["homesArchive"] == f"s3://{bucket.id}/homes/test/"
    command = deployment.outputs["homesArchiveLinksCommand"]
    assert f"--bucket {bucket.id}" in command
    assert "--prefix homes/test/" in command
    assert f'aws s3 presign "s3://{bucket.id}/$key" --expires-in {LINK_SECONDS}' in command
    assert not deployment.output_is_secret("homesArchive")


def test_the_archive_runs_on_the_machine_that_holds_the_homes_once_they_are_in_place(deployment):
    # HomesArchive knows the NFS server only as the HomesServer it declares.
    on_nfs = deployment.named("nfs-export-homes").inputs["connection"]
    attachment = deployment.named("nfs-homes", "aws:ec2/volumeAttachment:VolumeAttachment")
    for name in ("nfs-prepare-archive", "nfs-archive-homes"):
        step = deployment.named(name)
        assert step.inputs["connection"] == on_nfs, name
        for resource in (attachment, deployment.named("nfs-export-homes")):
            assert resource.urn in step.dependencies, (name, resource.urn)
