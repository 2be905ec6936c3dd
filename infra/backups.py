"""Daily EBS snapshots of the homes volume, taken and pruned by AWS Data Lifecycle Manager (DLM).

The hourly snapshots on the NFS server bring back a student's file; these bring back the whole
volume (a deleted or broken volume, a filesystem that no longer mounts). DLM snapshots every
volume that carries its policy's target tag and keeps the newest `nfs.backupKeepDays`. The tag's
value is random per homes volume, so a volume an earlier camp of the same stack left in the
account (`pulumi destroy` keeps it) is never snapshotted again, nor another project's. DLM acts
with a role of its own that may snapshot only that volume and delete only the snapshots carrying
that tag. Snapshots already taken stay in the account when the policy goes with the stack.
"""

import json
import re

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import CampConfig
from infra.iam import trust_policy
from infra.region import current_region

# camphub runs in AWS's commercial partition (the Debian AMIs it uses are published there).
PARTITION = "aws"
BACKUP_TAG = "camphub:homes-backup"
# When DLM starts the day's snapshot (UTC; it starts within the hour after): night in Europe,
# evening in the Americas, so the day's work is in it.
BACKUP_TIME = "03:00"


def homes_backup_tags(name: str, stack: str, parent: pulumi.Resource) -> dict:
    """The tag that marks the homes volume for its daily backups, unique to that one volume."""
    suffix = random.RandomId(
        f"{name}-homes-backup-tag", byte_length=4, opts=pulumi.ResourceOptions(parent=parent)
    )
    return {BACKUP_TAG: suffix.hex.apply(lambda suffix: f"{stack}-{suffix}")}


def snapshot_volume_statement(region: str, account: str, volume_id: str) -> dict:
    """Permission to snapshot the one volume (the archive's role has it too)."""
    return {
        "Sid": "SnapshotTheHomesVolume",
        "Effect": "Allow",
        "Action": "ec2:CreateSnapshot",
        "Resource": [
            f"arn:{PARTITION}:ec2:{region}:{account}:volume/{volume_id}",
            f"arn:{PARTITION}:ec2:{region}::snapshot/*",
        ],
    }


def backup_policy(region: str, account: str, volume_id: str, tag_value: str) -> dict:
    """DLM's permissions: snapshot the homes volume, tag those snapshots, delete only them."""
    snapshots = f"arn:{PARTITION}:ec2:{region}::snapshot/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            snapshot_volume_statement(region, account, volume_id),
            {
                "Sid": "TagSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": snapshots,
            },
            {
                # Every snapshot of the policy carries the volume's tags (copy_tags).
                "Sid": "DeleteOnlyTheHomesBackups",
                "Effect": "Allow",
                "Action": "ec2:DeleteSnapshot",
                "Resource": snapshots,
                "Condition": {"StringEquals": {f"aws:ResourceTag/{BACKUP_TAG}": tag_value}},
            },
            {
                # Describe calls name no resource in IAM: they read, never change.
                "Sid": "SeeVolumesAndSnapshots",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeVolumes",
                    "ec2:DescribeSnapshots",
                    "ec2:DescribeInstances",
                    "ec2:DescribeAvailabilityZones",
                ],
                "Resource": "*",
            },
        ],
    }


def back_up_daily(
    name: str,
    volume_id: pulumi.Input[str],
    tag_value: pulumi.Input[str],
    config: CampConfig,
    parent: pulumi.Resource,
) -> aws.dlm.LifecyclePolicy | None:
    """DLM's daily snapshots of the volume, which carries the tag BACKUP_TAG: `tag_value`
    (None: backups off)."""
    keep_days = config.nfs.backup_keep_days
    if keep_days == 0:
        return None
    role = aws.iam.Role(
        f"{name}-backup-role",
        assume_role_policy=trust_policy("dlm.amazonaws.com"),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    identity = aws.get_caller_identity_output()
    region = current_region()
    document = pulumi.Output.all(region, identity.account_id, volume_id, tag_value).apply(
        lambda v: json.dumps(backup_policy(*v))
    )
    grant = aws.iam.RolePolicy(
        f"{name}-backup", role=role.id, policy=document, opts=pulumi.ResourceOptions(parent=parent)
    )
    # DLM takes only letters, digits, spaces, '-' and '_' in a description.
    stack = re.sub(r"[^0-9A-Za-z _-]", "-", config.stack)
    return aws.dlm.LifecyclePolicy(
        f"{name}-daily-backups",
        description=f"camphub {stack} daily snapshots of the homes volume",
        execution_role_arn=role.arn,
        state="ENABLED",
        policy_details={
            "resource_types": ["VOLUME"],
            "target_tags": {BACKUP_TAG: tag_value},
            "schedules": [
                {
                    "name": "daily",
                    "create_rule": {"interval": 24, "interval_unit": "HOURS", "times": BACKUP_TIME},
                    "retain_rule": {"count": keep_days},
                    # The volume's tags, the backup tag among them, on every snapshot.
                    "copy_tags": True,
                }
            ],
        },
        tags={"Name": "camphub-homes-daily", "camphub:stack": config.stack},
        # DLM checks that it may act with the role when the policy is made.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[grant]),
    )
