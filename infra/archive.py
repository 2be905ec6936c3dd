"""HomesArchive: at `pulumi destroy`, every student's home goes to S3 before anything is deleted.

An S3 bucket that outlives the stack (versioned, encrypted, never public, TLS only) receives one
compressed tar per student from the NFS server, which then snapshots the homes volume. The work
is the delete action of a step on the NFS server that depends on the homes volume's attachment
and the export (the `HomesServer` the NFS server declares, infra/homes.py) and on the server
itself, so the engine runs it before either goes; if it fails, the destroy stops
there and the volume (retained in any case) keeps the homes. The server's role may put objects
under the archive prefix and snapshot the homes volume, and nothing else.
"""

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout
from infra.backups import PARTITION, snapshot_volume_statement
from infra.config import CampConfig
from infra.homes import HomesServer
from infra.region import current_region
from infra.remote import Step, run_step, script_line

# The longest a presigned link made with an IAM user's keys may last (SigV4: 7 days).
LINK_SECONDS = 7 * 24 * 3600


def archive_prefix(stack: str) -> str:
    return f"homes/{stack}"


def archive_policy(bucket: str, prefix: str, region: str, account: str, volume_id: str) -> dict:
    """The NFS server's permissions: write archives under `prefix`, snapshot the homes volume."""
    snapshots = f"arn:{PARTITION}:ec2:{region}::snapshot/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # PutObject covers the parts of an upload; a failed one is aborted, not left.
                "Sid": "PutHomeArchives",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"arn:{PARTITION}:s3:::{bucket}/{prefix}/*",
            },
            snapshot_volume_statement(region, account, volume_id),
            {
                # Tags only while creating the snapshot, never on anything that exists.
                "Sid": "NameTheSnapshot",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": snapshots,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
            },
        ],
    }


def tls_only_policy(bucket: str) -> dict:
    """Refuses every request to the bucket that does not come over TLS."""
    arn = f"arn:{PARTITION}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def links_command(bucket: str, prefix: str) -> str:
    """A shell command that prints each student's archive with a presigned download link."""
    listing = shlex.join(
        [
            "aws",
            "s3api",
            "list-objects-v2",
            "--bucket",
            bucket,
            "--prefix",
            f"{prefix}/",
            "--query",
            "Contents[?ends_with(Key, '.tar.gz')].Key",
            "--output",
            "text",
        ]
    )
    presign = f'aws s3 presign "s3://{bucket}/$key" --expires-in {LINK_SECONDS}'
    return f'for key in $({listing}); do echo "$key $({presign})"; done'


@dataclass(frozen=True)
class HomesArchiveArgs:
    config: CampConfig
    homes: HomesServer
    # Steps that must still be there while the archive runs (the hub, the workers): the archive
    # is destroyed, that is run, before any of them.
    before_these_go: Sequence[pulumi.Resource] = ()


class HomesArchive(pulumi.ComponentResource):
    bucket: aws.s3.Bucket  # its id is its name
    prefix: str
    location: pulumi.Output[str]
    links_command: pulumi.Output[str]

    def __init__(
        self, name: str, args: HomesArchiveArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("camphub:index:HomesArchive", name, None, opts)
        self._name = name
        self.prefix = archive_prefix(args.config.stack)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=False,
            tags={"Name": "camphub-archive", "camphub:stack": args.config.stack},
            opts=self._kept(),
        )
        bucket_settings = self._secure_bucket()
        grant = self._grant_nfs_server(args.homes)
        self.step = self._archive_step(
            args.homes, after=[grant, *bucket_settings, *args.before_these_go]
        )
        self.location = pulumi.Output.format("s3://{0}/{1}/", self.bucket.id, self.prefix)
        self.links_command = self.bucket.id.apply(lambda b: links_command(b, self.prefix))
        self.register_outputs({"location": self.location, "bucket": self.bucket.id})

    def _archive_step(
        self, homes: HomesServer, after: Sequence[pulumi.Resource]
    ) -> pulumi.Resource:
        """Prepares on `pulumi up`; archives and snapshots on `pulumi destroy`, before the homes
        volume's attachment, the export, the server and everything in `after` go."""
        prepare = script_line("prepare-archive", "--homes-dir", layout.NFS_EXPORT_DIR)
        exported = homes.in_place
        # The archive step waits for the whole camp, so that destroy runs it first; preparing only
        # there would put the tools' install at the very end of a first `pulumi up`
        # (bench/RESULTS.md). Done early, beside the image builds, the archive step only checks.
        prepared = run_step(
            homes.machine, Step("prepare-archive", prepare, depends_on=exported), parent=self
        )
        return run_step(
            homes.machine,
            Step(
                "archive-homes",
                prepare,
                delete=script_line(
                    "archive-homes",
                    "--homes-dir",
                    layout.NFS_EXPORT_DIR,
                    "--bucket",
                    self.bucket.id,
                    "--prefix",
                    self.prefix,
                    "--volume-id",
                    homes.volume_id,
                    "--region",
                    current_region(),
                ),
                depends_on=[*exported, prepared, *after],
            ),
            parent=self,
        )

    def _kept(self, **kwargs) -> pulumi.ResourceOptions:
        # The archive is what is left of the camp: `pulumi destroy` leaves the bucket and its
        # settings in the account (deleting a setting would undo it, e.g. make it public).
        return pulumi.ResourceOptions(parent=self, retain_on_delete=True, **kwargs)

    def _secure_bucket(self) -> list[pulumi.Resource]:
        bucket = self.bucket.id
        versioning = aws.s3.BucketVersioning(
            f"{self._name}-versioning",
            bucket=bucket,
            versioning_configuration={"status": "Enabled"},
            opts=self._kept(),
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-encryption",
            bucket=bucket,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=self._kept(),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{self._name}-public-access",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._kept(),
        )
        tls_only = aws.s3.BucketPolicy(
            f"{self._name}-tls-only",
            bucket=bucket,
            policy=self.bucket.id.apply(lambda b: json.dumps(tls_only_policy(b))),
            # S3 refuses policy changes while the public access block is being applied.
            opts=self._kept(depends_on=[public_access]),
        )
        return [versioning, encryption, public_access, tls_only]

    def _grant_nfs_server(self, homes: HomesServer) -> aws.iam.RolePolicy:
        identity = aws.get_caller_identity_output()
        document = pulumi.Output.all(
            self.bucket.id, current_region(), identity.account_id, homes.volume_id
        ).apply(lambda v: json.dumps(archive_policy(v[0], self.prefix, v[1], v[2], v[3])))
        return aws.iam.RolePolicy(
            f"{self._name}-nfs-server",
            role=homes.role_id,
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )
