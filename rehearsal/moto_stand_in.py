"""The archive's AWS side on the local cloud: moto's server playing S3, EC2 and IAM.

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
import json
import os
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

from rehearsal import detached

MODULE = "moto.server"
PORT = 5000  # moto's own default; each rehearsal binds its own network's gateway
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"  # the account the mocks answer getCallerIdentity with
ADMIN_USER = "rehearsal-admin"
START_SECONDS = 30
ALLOW_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


class StandInError(RuntimeError):
    """The AWS stand-in could not be started or reached."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


class AwsStandIn:
    """One rehearsal's moto server and the rehearsal's administrator key for it."""

    def __init__(self, work_dir: Path):
        self.dir = work_dir
        self._pid_file = work_dir / "moto.pid"
        self._endpoint_file = work_dir / "endpoint"
        self._admin_file = work_dir / "admin.json"
        self.log = work_dir / "moto.log"

    # The process.

    @property
    def endpoint(self) -> str:
        if not self._endpoint_file.exists():
            raise StandInError(f"the AWS stand-in was never started ({self._endpoint_file})")
        return self._endpoint_file.read_text().strip()

    def is_running(self) -> bool:
        """Whether the server runs and accepts connections (at the endpoint it was started
        on: a network made again may have another gateway)."""
        process = self._process()
        return process is not None and process.is_ours() and self._answers(self.endpoint)

    def ensure_running(self, host: str, port: int = PORT) -> str:
        """Starts the server on `host` unless it runs there already; returns its endpoint."""
        endpoint = f"http://{host}:{port}"
        if self.is_running() and self.endpoint == endpoint:
            return endpoint
        self.stop()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        process = detached.start(
            MODULE,
            ["--host", host, "--port", str(port)],
            self.log,
            env={"MOTO_ACCOUNT_ID": ACCOUNT_ID},
        )
        self._pid_file.write_text(str(process.pid))
        self._endpoint_file.write_text(endpoint)
        try:
            process.wait_until(lambda: self._answers(endpoint), START_SECONDS)
        except (detached.DetachedError, TimeoutError) as error:
            self.stop()
            raise StandInError(f"moto's server did not start on {endpoint}: {error}") from error
        try:
            self._create_admin()
        except Exception:
            self.stop()
            raise
        return endpoint

    def stop(self) -> None:
        """Stops the server, if it runs; a pid recorded for it that another program has
        since is left alone."""
        process = self._process()
        if process is not None:
            process.stop()
        self._pid_file.unlink(missing_ok=True)

    def _process(self) -> detached.DetachedProcess | None:
        """The server as last started, running or not; None if none is recorded."""
        try:
            pid = int(self._pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return detached.DetachedProcess(pid, MODULE, self.log)

    @staticmethod
    def _answers(endpoint: str) -> bool:
        """Whether the server accepts connections. Only that: an HTTP request can take seconds
        on a busy machine, and a live server taken for dead would be restarted empty."""
        address = urllib.parse.urlsplit(endpoint)
        try:
            with socket.create_connection((address.hostname, address.port), timeout=10):
                return True
        except OSError:
            return False

    def _create_admin(self) -> None:
        """The rehearsal's administrator, made while moto still lets anyone in; then every
        request must be signed by a key moto knows and allowed by its holder's policies."""
        iam = self._client("iam", Credentials("bootstrap", "bootstrap"))
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(
            UserName=ADMIN_USER,
            PolicyName="everything",
            PolicyDocument=json.dumps(ALLOW_EVERYTHING),
        )
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        fd = os.open(self._admin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"access_key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}, file)
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",  # requests without authorization allowed from now on
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    # Clients.

    def client(self, service: str):
        """A boto3 client for `service` with the administrator's key."""
        admin = json.loads(self._admin_file.read_text())
        return self._client(service, Credentials(admin["access_key_id"], admin["secret"]))

    def _client(self, service: str, credentials: Credentials):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
        )

    # What the mocks play.

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

    def put_role_policy(self, role: str, name: str, document: str) -> None:
        """The role's policy on the user standing for the role. Moto checks S3 actions against
        their bucket and key but gives EC2 actions no resource, so EC2 statements name '*'."""
        policy = json.loads(document)
        for statement in policy["Statement"]:
            if _actions(statement) and all(a.startswith("ec2:") for a in _actions(statement)):
                statement["Resource"] = "*"
        self._ensure_user(role)
        self.client("iam").put_user_policy(
            UserName=role, PolicyName=name, PolicyDocument=json.dumps(policy)
        )

    def has_role_policy(self, role: str, name: str) -> bool:
        iam = self.client("iam")
        try:
            return name in iam.list_user_policies(UserName=role)["PolicyNames"]
        except iam.exceptions.NoSuchEntityException:
            return False

    def role_credentials(self, role: str, access_key_id: str = "") -> Credentials | None:
        """A key for the user standing for `role`; None if `access_key_id` is still valid."""
        self._ensure_user(role)
        iam = self.client("iam")
        keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=role)["AccessKeyMetadata"]}
        if access_key_id in keys:
            return None
        key = iam.create_access_key(UserName=role)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def revoke_role_credentials(self, role: str, access_key_id: str) -> None:
        iam = self.client("iam")
        # Revoked already: a teardown run again.
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            iam.delete_access_key(UserName=role, AccessKeyId=access_key_id)

    def _ensure_user(self, name: str) -> None:
        iam = self.client("iam")
        try:
            iam.get_user(UserName=name)
        except iam.exceptions.NoSuchEntityException:
            # The engine's threads may make it at once (the role's policy, an instance's key).
            with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                iam.create_user(UserName=name)

    def aws_files(self, credentials: Credentials) -> dict[str, str]:
        """What stands in for the instance metadata service's role credentials: the AWS SDK's
        shared config (the endpoint, the region) and credentials files, by file name."""
        config = f"[default]\nregion = {REGION}\nendpoint_url = {self.endpoint}\n"
        keys = (
            f"[default]\naws_access_key_id = {credentials.access_key_id}\n"
            f"aws_secret_access_key = {credentials.secret_access_key}\n"
        )
        return {"config": config, "credentials": keys}

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


def _actions(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else actions
