"""Pulumi mocks that play the cloud for real (see rehearsal/substitutions.py for what is not).

Pulumi's mock runtime calls `new_resource` in the program's own dependency order, from a thread
pool, after each resource's inputs resolved. Here an EC2 instance boots a container, a remote
command runs over SSH, a copy goes over SFTP, an EBS volume becomes a loop device (and a volume
in moto's EC2), an S3 bucket and its settings, an instance role's policy and the credentials it
gives an instance are played by moto (rehearsal/moto_stand_in.py); everything else is recorded
with a plausible id. A resource whose inputs did not change since the last run
gets its recorded outputs back and nothing runs, as with Pulumi itself.
"""

import base64
import hashlib
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

from rehearsal import ssh
from rehearsal.cloud import Instance, LocalCloud
from rehearsal.moto_stand_in import AwsStandIn
from rehearsal.state import Record, State, digest_of, plain

INSTANCE = "aws:ec2/instance:Instance"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
VOLUME = "aws:ebs/volume:Volume"
VOLUME_ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SETTINGS = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
)  # a bucket policy is recorded only: moto would apply its statements without their conditions
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# Where an instance with an instance profile finds its role's credentials (the SDK's shared
# files of the root user, who runs the bootstrap steps), in place of the metadata service.
ROLE_CREDENTIALS_DIR = "/root/.aws"

REGION = "us-east-1"
ZONE = f"{REGION}a"
ACCOUNT_ID = "000000000000"
DEFAULT_VOLUME_GB = 8


@dataclass(frozen=True)
class Environment:
    """What the mocks know about the local cloud they play."""

    cloud: LocalCloud
    state: State
    instance_image: str
    vpc_cidr: str
    log_dir: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def aws(self) -> AwsStandIn:
        return AwsStandIn(self.cloud.work_dir / "aws")


class DeleteStepFailed(ssh.RemoteError):
    """A delete step ran and failed: `pulumi destroy` stops there, and so does the rehearsal."""


def reveal(value: Any) -> Any:
    """The value with Pulumi's secret wrappers removed: the mock runtime passes a secret input
    (and any object holding one, like a connection with its key) wrapped."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return reveal(value.get("value"))
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def secret(value: Any) -> dict[str, Any]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


class RehearsalMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock monitor, passing on what it drops: the outputs a resource declares secret
    (`additional_secret_outputs`), which the engine, not the SDK, would mark."""

    def __init__(self, mocks: "RehearsalMocks"):
        super().__init__(mocks)
        self._mocks = mocks

    def RegisterResource(self, request):
        self._mocks.secret_outputs.names = list(request.additionalSecretOutputs)
        return super().RegisterResource(request)


class RehearsalMocks(pulumi.runtime.Mocks):
    def __init__(self, env: Environment):
        self.env = env
        self._print_lock = threading.Lock()
        self.secret_outputs = threading.local()
        self._handlers: dict[
            str,
            Callable[
                [pulumi.runtime.MockResourceArgs, Record | None],
                tuple[str, dict[str, Any], dict[str, Any]],
            ],
        ] = {
            INSTANCE: self._instance,
            COMMAND: self._command,
            COPY: self._copy,
            VOLUME: self._volume,
            VOLUME_ATTACHMENT: self._volume_attachment,
            EIP: self._eip,
            EIP_ASSOCIATION: self._eip_association,
            KEY_PAIR: self._key_pair,
            BUCKET: self._bucket,
            **dict.fromkeys(BUCKET_SETTINGS, self._bucket_setting),
            ROLE_POLICY: self._role_policy,
            "random:index/randomBytes:RandomBytes": self._random_bytes,
            "random:index/randomPassword:RandomPassword": self._random_password,
            "random:index/randomString:RandomString": self._random_password,
            "random:index/randomId:RandomId": self._random_id,
            "random:index/randomUuid:RandomUuid": self._random_uuid,
            "tls:index/privateKey:PrivateKey": self._private_key,
        }

    # The runtime's entry points.

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:
            return args.name, {}
        declared = args.inputs
        args.inputs = reveal(declared)
        previous = self.env.state.previous(args.typ, args.name)
        digest = digest_of(args.inputs)
        if previous is not None and previous.digest == digest and self._still_there(previous):
            self.env.state.put(previous)
            return previous.id, self._state(declared, previous.outputs)
        handler = self._handlers.get(args.typ, self._record)
        began = time.monotonic()
        resource_id, outputs, made = handler(args, previous)
        record = Record(args.typ, args.name, resource_id, digest, plain(args.inputs), outputs, made)
        self.env.state.put(record)
        if handler is not self._record:
            verb = "created" if previous is None else "updated"
            self.progress(f"{verb} {_short(args.typ)} {args.name}", time.monotonic() - began)
        return resource_id, self._state(declared, outputs)

    def _state(self, declared: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        """The resource's state: its inputs as declared (secrets still wrapped) and its
        computed outputs, those it declared secret wrapped as secrets."""
        hidden = set(getattr(self.secret_outputs, "names", ()))
        computed = {k: secret(v) if k in hidden else v for k, v in outputs.items()}
        return {**declared, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs):
        """The lookups the program makes; anything else returns nothing, as the unit tests'."""
        ami_id = "ami-" + hashlib.sha256(self.env.instance_image.encode()).hexdigest()[:17]
        vpc = {"id": "vpc-rehearsal", "cidrBlock": self.env.vpc_cidr}
        answers = {
            "aws:ec2/getAmi:getAmi": {
                "id": ami_id,
                "imageId": ami_id,
                "architecture": "x86_64",
                "name": f"rehearsal-{self.env.instance_image}",
            },
            "aws:ec2/getVpc:getVpc": vpc,
            "aws:ec2/getSubnets:getSubnets": {"ids": ["subnet-rehearsal"]},
            "aws:ec2/getSubnet:getSubnet": {
                "id": "subnet-rehearsal",
                "availabilityZone": ZONE,
                "cidrBlock": self.env.vpc_cidr,
                "vpcId": vpc["id"],
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": [ZONE]},
            "aws:route53/getZone:getZone": {
                "zoneId": "Z0REHEARSAL",
                "name": args.args.get("name") or "rehearsal.test",
            },
            "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION},
            "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": ACCOUNT_ID},
        }
        return answers.get(args.token, {})

    def progress(self, what: str, seconds: float) -> None:
        elapsed = time.monotonic() - self.env.started
        with self._print_lock:
            print(f"  [{elapsed:6.1f}s] {what} ({seconds:.1f}s)", flush=True)

    # Handlers: each returns (id, computed outputs, what it made).

    def _still_there(self, record: Record) -> bool:
        """An unchanged instance is reused only if its container still exists (started if
        stopped, as an instance that was rebooted comes back; its role's credentials renewed
        if the AWS stand-in no longer knows them); a bucket, its settings and a role policy
        only if the AWS stand-in still has the bucket or the policy."""
        if record.type == BUCKET:
            return self.env.aws.has_bucket(record.id)
        if record.type in BUCKET_SETTINGS:
            return self.env.aws.has_bucket(record.inputs["bucket"])
        if record.type == ROLE_POLICY:
            return self.env.aws.has_role_policy(record.inputs["role"], record.outputs["name"])
        if record.type != INSTANCE:
            return True
        container = record.made["resource"]
        if not self.env.cloud.is_running(container):
            try:
                self.env.cloud.start(container)
            except RuntimeError:
                return False
        self._grant_role(record.inputs, record.made)
        return True

    def _record(self, args, previous):
        resource_id = previous.id if previous else _plausible_id(args.typ, args.name)
        return resource_id, {"arn": f"arn:aws:rehearsal:::{args.name}"}, {}

    def _instance(self, args, previous):
        replace = (
            previous is not None
            and bool(args.inputs.get("userDataReplaceOnChange"))
            and (previous.inputs.get("userData") != args.inputs.get("userData"))
        )
        if previous and not replace and self.env.cloud.exists(previous.made["resource"]):
            # A changed instance type, tag or (ignored) AMI is an in-place update on EC2, and a
            # changed user-data with user_data_replace_on_change off is never run again by
            # cloud-init: the same machine goes on.
            return previous.id, previous.outputs, previous.made
        user_data = args.inputs.get("userData")
        if user_data is None and args.inputs.get("userDataBase64"):
            user_data = base64.b64decode(args.inputs["userDataBase64"]).decode()
        instance_id = "i-" + secrets.token_hex(9)[:17]
        public_keys = self._public_keys(args.inputs.get("keyName"))
        instance = self.env.cloud.boot(
            args.name, instance_id, user_data or "", public_keys, self.env.instance_image
        )
        outputs = {
            "id": instance_id,
            "privateIp": instance.address,
            "publicIp": instance.address,
            "privateDns": instance.address,
            "publicDns": instance.address,
            "instanceState": "running",
            "availabilityZone": ZONE,
            "primaryNetworkInterfaceId": "eni-" + instance_id[2:],
            "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/{instance_id}",
        }
        made = {"resource": args.name, "container": instance.container, "address": instance.address}
        self._grant_role(args.inputs, made)
        return instance_id, outputs, made

    def _grant_role(self, inputs: dict[str, Any], made: dict[str, Any]) -> None:
        """What EC2's metadata service gives an instance with an instance profile: its role's
        credentials (moto_stand_in.AwsStandIn.aws_files), renewed when no longer valid. The
        access key's id is kept in `made`."""
        profile = inputs.get("iamInstanceProfile")
        if not profile:
            return
        role = self._recorded(INSTANCE_PROFILE, profile).inputs["role"]
        credentials = self.env.aws.role_credentials(role, made.get("roleAccessKeyId", ""))
        if credentials is not None:
            files = self.env.aws.aws_files(credentials)
            self.env.cloud.put_private_files(made["resource"], ROLE_CREDENTIALS_DIR, files)
            made["roleAccessKeyId"] = credentials.access_key_id

    def _recorded(self, type_: str, resource_id: str) -> Record:
        for record in self.env.state.records():
            if record.type == type_ and record.id == resource_id:
                return record
        raise LookupError(f"no {_short(type_)} {resource_id} in this rehearsal")

    def _key_pair(self, args, previous):
        key_name = args.inputs.get("keyName") or f"{args.name}-{secrets.token_hex(4)}"
        key_pair_id = previous.id if previous else "key-" + secrets.token_hex(8)
        return key_pair_id, {"keyName": key_name, "keyPairId": key_pair_id}, {}

    def _public_keys(self, key_name: str | None) -> list[str]:
        """The key pair's public key, which EC2 serves to cloud-init for the login user."""
        if not key_name:
            return []
        for record in self.env.state.records():
            if record.type == KEY_PAIR and record.outputs.get("keyName") == key_name:
                return [record.inputs["publicKey"].strip()]
        raise LookupError(f"no key pair {key_name} in this rehearsal")

    def _instance_by_id(self, instance_id: str) -> Instance:
        for record in self.env.state.records():
            if record.type == INSTANCE and record.id == instance_id:
                return Instance(record.made["container"], record.id, record.made["address"])
        raise LookupError(f"no instance {instance_id} in this rehearsal")

    def _eip(self, args, previous):
        allocation = previous.id if previous else "eipalloc-" + secrets.token_hex(8)
        address = self.env.cloud.allocate_address(allocation)
        if args.inputs.get("instance"):
            self._associate(args.inputs["instance"], address)
        outputs = {"publicIp": address, "allocationId": allocation, "publicDns": address}
        return allocation, outputs, {"address": address}

    def _eip_association(self, args, previous):
        allocation = args.inputs.get("allocationId")
        address = args.inputs.get("publicIp") or self.env.cloud.allocate_address(allocation)
        resource = self._associate(args.inputs["instanceId"], address)
        association = previous.id if previous else "eipassoc-" + secrets.token_hex(8)
        return association, {"publicIp": address}, {"resource": resource, "address": address}

    def _associate(self, instance_id: str, address: str) -> str:
        """Gives the instance the public address; returns the instance's resource name."""
        for record in self.env.state.records():
            if record.type == INSTANCE and record.id == instance_id:
                self.env.cloud.associate_address(record.made["resource"], address)
                return record.made["resource"]
        raise LookupError(f"no instance {instance_id} in this rehearsal")

    def _volume(self, args, previous):
        size = int(args.inputs.get("size") or DEFAULT_VOLUME_GB)
        volume_id = (
            previous.id
            if previous
            else self.env.aws.create_volume(
                args.inputs.get("availabilityZone") or ZONE,
                size,
                bool(args.inputs.get("encrypted")),
            )
        )
        self.env.cloud.create_volume(volume_id, size)
        return (
            volume_id,
            {"arn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:volume/{volume_id}"},
            {"volume": volume_id},
        )

    def _bucket(self, args, previous):
        # Pulumi names a bucket declared without a name after its resource, plus a suffix.
        name = args.inputs.get("bucket") or (
            previous.id if previous else f"{args.name}-{secrets.token_hex(4)[:7]}"
        )
        self.env.aws.create_bucket(name)
        outputs = {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": REGION}
        return name, outputs, {}

    def _bucket_setting(self, args, previous):
        self.env.aws.configure_bucket(_short(args.typ), args.inputs)
        return args.inputs["bucket"], {}, {}

    def _role_policy(self, args, previous):
        name = args.inputs.get("name") or f"{args.name}-{secrets.token_hex(4)[:7]}"
        role = args.inputs["role"]
        self.env.aws.put_role_policy(role, name, args.inputs["policy"])
        return f"{role}:{name}", {"name": name}, {}

    def _volume_attachment(self, args, previous):
        instance = self._instance_by_id(args.inputs["instanceId"])
        volume_id = args.inputs["volumeId"]
        loop = self.env.cloud.attach_volume(
            volume_id, instance, args.inputs["deviceName"], instance.address
        )
        attachment_id = f"vai-{volume_id}-{instance.instance_id}"
        made = {
            "volume": volume_id,
            "instance": instance.instance_id,
            "address": instance.address,
            "loop": loop,
        }
        return attachment_id, {}, made

    def _command(self, args, previous):
        inputs = args.inputs
        replacing = previous is not None and previous.inputs.get("triggers") != plain(
            inputs.get("triggers")
        )
        script = (
            inputs.get("create")
            if previous is None or replacing
            else (inputs.get("update") or inputs.get("create"))
        )
        result = self._run_remote(args.name, inputs, script) if script else ssh.Result("", "", 0)
        if replacing:
            run_delete(self.env, previous)
        command_id = (
            previous.id if previous and not replacing else _plausible_id(COMMAND, args.name)
        )
        return command_id, {"stdout": result.stdout, "stderr": result.stderr}, {}

    def _run_remote(self, name: str, inputs: dict, script: str) -> ssh.Result:
        connection = ssh.Connection.from_inputs(inputs["connection"])
        result = ssh.run(connection, script, inputs.get("stdin"), inputs.get("environment"))
        logged = inputs.get("logging", "stdoutAndStderr") != "none"
        if logged:
            log = self.env.log_dir / f"{name}.log"
            log.write_text(f"$ {script}\n{result.stdout}\n--- stderr\n{result.stderr}\n")
        if result.exit_status != 0:
            detail = result.stderr[-2000:] if logged else "(output not logged: it may hold secrets)"
            raise ssh.RemoteError(
                f"{name}: `{script}` on {connection.host} exited {result.exit_status}: {detail}"
            )
        return result

    def _copy(self, args, previous):
        connection = ssh.Connection.from_inputs(args.inputs["connection"])
        source = args.inputs["source"]
        remote_path = args.inputs["remotePath"]
        if isinstance(source, pulumi.FileAsset | pulumi.FileArchive):
            ssh.copy(connection, Path(source.path), remote_path)
        elif isinstance(source, pulumi.StringAsset):
            ssh.copy_text(connection, source.text, remote_path)
        else:
            raise TypeError(
                f"{args.name}: CopyToRemote copies a FileAsset, StringAsset or "
                f"FileArchive, not {type(source).__name__}"
            )
        copy_id = previous.id if previous else _plausible_id(COPY, args.name)
        return copy_id, {}, {}

    # Generated values, kept in the state so they stay the same across runs.

    def _random_password(self, args, previous):
        length = int(args.inputs.get("length") or 16)
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        return _plausible_id(args.typ, args.name), {"result": value}, {}

    def _random_id(self, args, previous):
        raw = secrets.token_bytes(int(args.inputs.get("byteLength") or 8))
        outputs = {
            "hex": raw.hex(),
            "b64Std": base64.b64encode(raw).decode(),
            "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "dec": str(int.from_bytes(raw, "big")),
        }
        return raw.hex(), outputs, {}

    def _random_bytes(self, args, previous):
        raw = secrets.token_bytes(int(args.inputs.get("length") or 32))
        outputs = {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
        return _plausible_id(args.typ, args.name), outputs, {}

    def _random_uuid(self, args, previous):
        value = str(uuid.uuid4())
        return value, {"result": value}, {}

    def _private_key(self, args, previous):
        key = _generate_ssh_key(args.inputs.get("algorithm", "ED25519"))
        return _plausible_id(args.typ, args.name), key, {}


def run_delete(env: Environment, record: Record) -> None:
    """Undoes what a record made: a command's delete step, a container, a loop device."""
    if record.type == COMMAND and record.inputs.get("delete"):
        inputs = record.inputs
        connection = ssh.Connection.from_inputs(inputs["connection"])
        environment = {
            **(inputs.get("environment") or {}),
            "PULUMI_COMMAND_STDOUT": record.outputs.get("stdout", ""),
            "PULUMI_COMMAND_STDERR": record.outputs.get("stderr", ""),
        }
        result = ssh.run(connection, inputs["delete"], None, environment)
        if result.exit_status != 0:
            raise DeleteStepFailed(
                f"delete of {record.name} exited {result.exit_status}: {result.stderr[-2000:]}"
            )
    elif record.type == INSTANCE:
        env.cloud.remove(record.made["resource"])
    elif record.type == EIP_ASSOCIATION:
        env.cloud.disassociate_address(record.made["resource"])
    elif record.type == VOLUME_ATTACHMENT:
        env.cloud.detach_volume(
            record.made["volume"], record.made["instance"], record.made["address"]
        )
    elif record.type == VOLUME:
        env.cloud.delete_volume(record.id)


def _short(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def _plausible_id(type_: str, name: str) -> str:
    return f"{_short(type_).lower()}-{hashlib.sha256(name.encode()).hexdigest()[:8]}-" + (
        secrets.token_hex(4)
    )


def _generate_ssh_key(algorithm: str) -> dict[str, str]:
    """What tls.PrivateKey returns, for the algorithms an SSH key uses."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "ED25519"
        else (rsa.generate_private_key(public_exponent=65537, key_size=4096))
    )
    openssh = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    pem_format = (
        serialization.PrivateFormat.PKCS8
        if algorithm == "ED25519"
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, pem_format, serialization.NoEncryption()
    ).decode()
    return {
        "privateKeyOpenssh": openssh,
        "privateKeyPem": pem,
        "publicKeyOpenssh": public + "\n",
        "algorithm": algorithm,
    }
