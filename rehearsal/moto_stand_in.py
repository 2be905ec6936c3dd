"""The archive's AWS side on the local cloud: moto's server playing S3, EC2 and IAM, and Route 53
for certbot's DNS-01 challenge (rehearsal/moto_route53.py).

The rehearsal starts it detached (pid and log under <work dir>/aws) on the gateway of its
private network, the host as the instances see it, so the NFS server reaches it as it would
reach AWS. Moto checks every request's signature and permissions from the moment it is ready:
the mocks and tests use the rehearsal's administrator key (created first, kept root-only in the
work directory); the NFS server gets the key of a moto user standing for its instance role,
holding exactly the role's policies. Moto keeps everything in memory: `down` saves the bucket's
objects under <work dir>/archive before it stops the server; should the server die while the
camp is up, the next `up` starts an empty one and makes the bucket again, but the homes volume
is not made again (its data is the loop device's), so the archive's snapshot then fails.
"""

import contextlib
from pathlib import Path

from rehearsal.moto_roles import RoleUsers
from rehearsal.moto_server import MotoServer, StandInError


class AwsStandIn(MotoServer, RoleUsers):
    """One rehearsal's moto server (rehearsal/moto_server.py), the rehearsal's administrator
    key for it, and what the mocks play in it: the bucket and its settings, EC2's volumes, and
    the users standing for instance roles (rehearsal/moto_roles.py), Route 53's hosted zones."""

    # The bucket and its settings.

    def create_bucket(self, name: str) -> None:
        s3 = self.client("s3")
        if name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=name)

    def configure_bucket(self, setting: str, inputs: dict) -> None:
        """Applies one of the bucket's declared settings, by its resource type's short name."""
        s3, bucket = self.client("s3"), inputs["bucket"]
        if setting == "BucketVersioning":
            status = inputs["versioningConfiguration"]["status"]
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
        elif setting == "BucketServerSideEncryptionConfiguration":
            rules = [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}
                for algorithm in (
                    rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
                    for rule in inputs["rules"]
                )
            ]
            s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
            )
        elif setting == "BucketPublicAccessBlock":
            names = (
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            )
            block = {name: bool(inputs.get(name[0].lower() + name[1:])) for name in names}
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
        else:
            raise StandInError(f"the AWS stand-in does not play {setting}")

    def has_bucket(self, name: str) -> bool:
        return name in {b["Name"] for b in self.client("s3").list_buckets()["Buckets"]}

    # SSM's parameters (the machines' host keys).

    def put_parameter(self, name: str, value: str, type_: str) -> None:
        self.client("ssm").put_parameter(Name=name, Value=value, Type=type_, Overwrite=True)

    def delete_parameter(self, name: str) -> None:
        ssm = self.client("ssm")
        # Deleted already: a teardown run again.
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=name)

    def has_parameter(self, name: str) -> bool:
        ssm = self.client("ssm")
        try:
            ssm.get_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            return False
        return True

    # Route 53's hosted zones (their TXT records are the internet's: moto_route53.py).

    def hosted_zone(self, name: str) -> str:
        """The id of the public zone `name`, made if missing: on AWS the organizer's zone is
        there before the camp."""
        route53, dns_name = self.client("route53"), f"{name.rstrip('.')}."
        zones = route53.list_hosted_zones_by_name(DNSName=dns_name)["HostedZones"]
        zone = next((zone for zone in zones if zone["Name"] == dns_name), None)
        if zone is None:
            zone = route53.create_hosted_zone(Name=dns_name, CallerReference=dns_name)["HostedZone"]
        return zone["Id"].removeprefix("/hostedzone/")

    # EC2's volumes (their attachments are the local cloud's: moto holds no instances).

    def create_volume(
        self, zone: str, size_gb: int, encrypted: bool, tags: dict[str, str] | None = None
    ) -> str:
        tagged = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        # EC2 refuses a tag specification without tags.
        tagging = {"TagSpecifications": [{"ResourceType": "volume", "Tags": tagged}]}
        volume = self.client("ec2").create_volume(
            AvailabilityZone=zone,
            Size=size_gb,
            Encrypted=encrypted,
            VolumeType="gp3",
            **(tagging if tagged else {}),
        )
        return volume["VolumeId"]

    def volumes(self, filters: list[dict]) -> list[dict]:
        """EC2's DescribeVolumes with `filters` ([{"Name", "Values"}])."""
        return self.client("ec2").describe_volumes(Filters=filters)["Volumes"]

    # The archive, saved before the server stops (moto keeps it in memory only).

    def save_objects(self, target: Path) -> list[Path]:
        """Every object of every bucket under `target/<bucket>/<key>`; returns the files."""
        s3 = self.client("s3")
        saved = []
        for bucket in s3.list_buckets()["Buckets"]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
            for item in (item for page in pages for item in page.get("Contents", [])):
                path = target / bucket["Name"] / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket["Name"], item["Key"], str(path))
                saved.append(path)
        return saved
