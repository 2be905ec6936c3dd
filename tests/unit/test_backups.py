"""Daily EBS snapshots of the homes volume by AWS Data Lifecycle Manager: only that volume, kept
as many days as configured, by a role that may do nothing else; none when turned off."""

import json

import pytest
from program import deploy

from infra.backups import BACKUP_TAG, backup_policy

POLICY = "aws:dlm/lifecyclePolicy:LifecyclePolicy"
VOLUME = "aws:ebs/volume:Volume"


@pytest.fixture
def policy(deployment):
    (policy,) = deployment.of_type(POLICY)
    return policy


def test_only_the_homes_volume_is_backed_up_by_a_tag_no_other_volume_carries(deployment, policy):
    volume = deployment.named("nfs-homes", VOLUME)
    tag = volume.inputs["tags"][BACKUP_TAG]
    others = [v for v in deployment.of_type(VOLUME) if v is not volume]
    assert others and all(BACKUP_TAG not in v.inputs["tags"] for v in others)
    # The stack's name and a random part: a homes volume an earlier camp of the same stack left
    # in the account is never snapshotted again.
    assert tag.startswith("test-") and len(tag) > len("test-")
    details = policy.inputs["policyDetails"]
    assert details["resourceTypes"] == ["VOLUME"]
    assert details["targetTags"] == {BACKUP_TAG: tag}
    assert volume.inputs["tags"]["Name"] == "camphub-homes"


def test_a_snapshot_a_day_is_kept_for_the_configured_days(base_config):
    (policy,) = deploy({**base_config, "nfs": {"backupKeepDays": 3}}).of_type(POLICY)
    assert policy.inputs["state"] == "ENABLED"
    (schedule,) = policy.inputs["policyDetails"]["schedules"]
    assert schedule["createRule"] == {"interval": 24, "intervalUnit": "HOURS", "times": "03:00"}
    assert schedule["retainRule"] == {"count": 3}
    assert schedule["copyTags"] is True  # the backup tag too, which the role's deletes require


def test_seven_days_are_kept_by_default(policy):
    (schedule,) = policy.inputs["policyDetails"]["schedules"]
    assert schedule["retainRule"] == {"count": 7}


def test_dlm_acts_with_a_role_of_its_own_granted_before_the_policy(deployment, policy):
    role = deployment.named("nfs-backup-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "dlm.amazonaws.com"}
    assert policy.inputs["executionRoleArn"] == "arn:aws:iam::123456789012:role/nfs-backup-role"
    grant = deployment.named("nfs-backup")
    assert grant.inputs["role"] == role.id
    assert deployment.depends_on(policy, grant)


def test_the_role_may_snapshot_only_the_homes_volume_and_delete_only_its_backups(
    deployment, policy
):
    volume = deployment.named("nfs-homes", VOLUME)
    tag = volume.inputs["tags"][BACKUP_TAG]
    document = json.loads(deployment.named("nfs-backup").inputs["policy"])
    assert document == backup_policy("us-east-1", "123456789012", volume.id, tag)
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["SnapshotTheHomesVolume"]["Resource"] == [
        f"arn:aws:ec2:us-east-1:123456789012:volume/{volume.id}",
        "arn:aws:ec2:us-east-1::snapshot/*",
    ]
    assert statements["DeleteOnlyTheHomesBackups"]["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{BACKUP_TAG}": tag}
    }


def test_the_role_may_do_nothing_else():
    document = backup_policy("eu-west-1", "111122223333", "vol-0abc", "camp-0a1b2c3d")
    actions = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        action = [action] if isinstance(action, str) else action
        actions.update(action)
        if statement["Resource"] == "*":  # IAM names no resource for a describe call
            assert all(a.startswith("ec2:Describe") for a in action), action
    assert actions == {
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:DeleteSnapshot",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeInstances",
        "ec2:DescribeAvailabilityZones",
    }


def test_zero_days_means_no_backups_and_no_role_for_them(base_config):
    deployment = deploy({**base_config, "nfs": {"backupKeepDays": 0}})
    assert deployment.of_type(POLICY) == []
    assert "nfs-backup-role" not in [r.name for r in deployment.of_type("aws:iam/role:Role")]
    assert [
        r.name
        for r in deployment.of_type("aws:iam/rolePolicy:RolePolicy")
        if not r.name.endswith("-host-key-reader")
    ] == ["archive-nfs-server"]


def test_everything_for_the_backups_belongs_to_the_nfs_server(deployment, policy):
    nfs = deployment.named("nfs", typ="camphub:index:NfsServer")
    (tag,) = deployment.of_type("random:index/randomId:RandomId")
    for resource in (
        policy,
        tag,
        deployment.named("nfs-backup-role"),
        deployment.named("nfs-backup"),
    ):
        assert resource.parent == nfs.urn, resource.name
