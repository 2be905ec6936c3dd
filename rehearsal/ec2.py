"""EC2 as the rehearsal plays it, on the local cloud (rehearsal/cloud.py).

An instance boots a systemd container whose cloud-init reads its user-data and key pair from a
NoCloud seed; an instance with an instance profile gets its role's credentials from moto, as
from the metadata service; an EBS volume is a volume in moto's EC2 (its id) and a loop device
attached by creating its node in the instance; an Elastic IP is a fixed address on the stack's
public network. A key pair is recorded (its public key goes to the instances that name it).

A changed instance is changed as the AWS provider has EC2 change it (`instance_change`): in
place, or by stopping and starting the machine (its container restarts; cloud-init does not run
again), or by replacing it (a new container and instance id, which the resources that name the
instance follow in the program's order). Each change is recorded in the instance's `made`.
"""

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from infra.machine import ROLE_TAG
from rehearsal import acme_stand_in
from rehearsal.cloud import Instance
from rehearsal.environment import ZONE, Environment, Handler, short
from rehearsal.moto_stand_in import ACCOUNT_ID, REGION, Credentials
from rehearsal.state import Record, plain
from rehearsal.substitutions import IMAGE_BUILDING_ROLES

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
VOLUME_ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"
EBS_VOLUMES = "aws:ebs/getEbsVolumes:getEbsVolumes"
GET_VOLUME = "aws:ebs/getVolume:getVolume"
GET_INSTANCES = "aws:ec2/getInstances:getInstances"
# Where an instance with an instance profile finds its role's credentials (the SDK's shared
# files of the root user, who runs the bootstrap steps), in place of the metadata service.
ROLE_CREDENTIALS_DIR = "/root/.aws"

DEFAULT_VOLUME_GB = 8


# How EC2 applies a changed input of an instance, least disruptive first.
IN_PLACE = "in place"
STOP_AND_START = "stop and start"
REPLACE = "replace"
DISRUPTION = (IN_PLACE, STOP_AND_START, REPLACE)

# After the AWS provider (terraform-provider-aws, resource aws_instance): what its update stops
# and starts the instance for (modifyInstanceAttributeWithStopStart), what its schema marks
# ForceNew, and what it modifies on the running instance. A changed user-data replaces the
# instance instead when userDataReplaceOnChange is set.
STOPPED_FOR = frozenset({"instanceType", "userData", "userDataBase64"})
REPLACED_FOR = frozenset(
    {
        "ami",
        "associatePublicIpAddress",
        "availabilityZone",
        "cpuOptions",
        "ebsBlockDevices",
        "ebsOptimized",
        "enclaveOptions",
        "ephemeralBlockDevices",
        "hibernation",
        "hostId",
        "ipv6AddressCount",
        "ipv6Addresses",
        "keyName",
        "launchTemplate",
        "networkInterfaces",
        "placementGroup",
        "placementPartitionNumber",
        "privateDnsNameOptions",
        "privateIp",
        "rootBlockDevice.encrypted",
        "rootBlockDevice.kmsKeyId",
        "securityGroups",
        "subnetId",
        "tenancy",
    }
)
CHANGED_IN_PLACE = frozenset(
    {
        "creditSpecification",
        "disableApiStop",
        "disableApiTermination",
        "iamInstanceProfile",
        "instanceInitiatedShutdownBehavior",
        "maintenanceOptions",
        "metadataOptions",
        "monitoring",
        "rootBlockDevice.deleteOnTermination",
        "rootBlockDevice.iops",
        "rootBlockDevice.tags",
        "rootBlockDevice.throughput",
        "rootBlockDevice.volumeSize",
        "rootBlockDevice.volumeType",
        "secondaryPrivateIps",
        "sourceDestCheck",
        "tags",
        "userDataReplaceOnChange",
        "volumeTags",
        "vpcSecurityGroupIds",
    }
)
# Inputs whose fields differ in how they are applied: compared field by field.
BY_FIELD = frozenset({"rootBlockDevice"})


@dataclass(frozen=True)
class InstanceChange:
    """How EC2 applies the change from one set of an instance's inputs to another: the most
    disruptive way any changed input needs (None when nothing changed), and those inputs."""

    how: str | None
    inputs: tuple[str, ...]


def offerings(args: dict[str, Any]) -> dict[str, Any]:
    """The look-up of where instance types are offered: the local cloud's one zone offers
    every type asked about (a container is any type)."""
    asked = [
        v for f in args.get("filters") or [] if f["name"] == "instance-type" for v in f["values"]
    ]
    return {
        "id": REGION,
        "locations": [ZONE] * len(asked),
        "instanceTypes": asked,
        "locationTypes": [args.get("locationType", "availability-zone")] * len(asked),
    }


# Look-ups of volumes and the machines they are attached to. A volume's attributes are moto's;
# whether it is attached is the local cloud's (its attachments are not made in moto, which
# holds no instances), from the attachments the state records.


def look_up(env: Environment, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """EC2's answer to a volume or instance look-up (None: not one of them)."""
    if token == EBS_VOLUMES:
        return {"id": REGION, "ids": [v["VolumeId"] for v in _volumes(env, args)]}
    if token == GET_VOLUME:
        volumes = _volumes(env, args)
        if not volumes:
            raise LookupError("Your query returned no results")  # as the provider says it
        return _volume_result(volumes[-1])
    if token == GET_INSTANCES:
        return {"id": REGION, "ids": _instances_holding(env, args)}
    return None


def _filters(args: dict[str, Any]) -> dict[str, list[str]]:
    return {f["name"]: list(f["values"]) for f in args.get("filters") or []}


def _volumes(env: Environment, args: dict[str, Any]) -> list[dict[str, Any]]:
    filters = _filters(args)
    states = filters.pop("status", None)
    found = env.aws.volumes([{"Name": k, "Values": v} for k, v in filters.items()])
    attached = {r.made["volume"] for r in env.state.records() if r.type == VOLUME_ATTACHMENT}
    return [
        v
        for v in found
        if states is None or ("in-use" if v["VolumeId"] in attached else "available") in states
    ]


def _volume_result(volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": volume["VolumeId"],
        "volumeId": volume["VolumeId"],
        "availabilityZone": volume["AvailabilityZone"],
        "size": volume["Size"],
        "encrypted": volume["Encrypted"],
        "volumeType": volume["VolumeType"],
        "tags": {t["Key"]: t["Value"] for t in volume.get("Tags", [])},
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:volume/{volume['VolumeId']}",
    }


def _instances_holding(env: Environment, args: dict[str, Any]) -> list[str]:
    """The instances the asked volumes are attached to, with every asked tag."""
    volumes = set(_filters(args).get("block-device-mapping.volume-id", []))
    wanted = (args.get("instanceTags") or {}).items()
    records = env.state.records()
    holding = {
        r.made["instance"]
        for r in records
        if r.type == VOLUME_ATTACHMENT and r.made["volume"] in volumes
    }
    return sorted(
        r.id
        for r in records
        if r.type == INSTANCE and r.id in holding and wanted <= (r.inputs.get("tags") or {}).items()
    )


def instance_change(old: dict[str, Any], new: dict[str, Any]) -> InstanceChange:
    """`old` and `new` as the state keeps inputs (rehearsal.state.plain)."""
    changed = changed_inputs(old, new)
    ways = [how_ec2_applies(name, new) for name in changed]
    return InstanceChange(max(ways, key=DISRUPTION.index, default=None), changed)


def changed_inputs(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """The names of the inputs that differ; `parent.field` for an input compared by field."""
    changed = []
    for name in _differing(old, new):
        if name in BY_FIELD:
            fields = _differing(old.get(name) or {}, new.get(name) or {})
            changed.extend(f"{name}.{field}" for field in fields)
        else:
            changed.append(name)
    return tuple(changed)


def _differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def how_ec2_applies(name: str, new: dict[str, Any]) -> str:
    if name in STOPPED_FOR:
        user_data = name != "instanceType"
        return REPLACE if user_data and new.get("userDataReplaceOnChange") else STOP_AND_START
    if name in REPLACED_FOR:
        return REPLACE
    if name in CHANGED_IN_PLACE:
        return IN_PLACE
    raise LookupError(
        f"the local cloud does not know how EC2 applies a changed instance input {name!r}: "
        "add it to rehearsal/ec2.py, after the AWS provider"
    )


def _instance(env: Environment, args, previous):
    if previous is None:
        return _launch(env, args, changes=[])
    if not env.cloud.exists(previous.made["resource"]):  # gone: a new one, as after a refresh
        _revoke_role(env, previous.made)
        return _launch(env, args, previous.made.get("changes", []))
    change = instance_change(previous.inputs, plain(args.inputs))
    if change.how is None:  # the same inputs, the machine not running: as it is
        return previous.id, previous.outputs, previous.made
    changes = [*previous.made.get("changes", []), _change_record(change, previous.id)]
    if change.how == REPLACE:
        # The container is the machine, named after the resource: the old one goes first.
        return _launch(env, args, changes)
    made = {**previous.made, "changes": changes}
    if change.how == STOP_AND_START:
        env.cloud.stop_and_start(args.name, _user_data(args.inputs), made["address"])
    _grant_role(env, args.inputs, made)  # a changed instance profile applies in place
    _trust_acme_stand_in(env, made)
    return previous.id, previous.outputs, made


def _change_record(change: InstanceChange, instance_id: str) -> dict[str, Any]:
    """What the state keeps of a change of instance `instance_id`, for whoever asks how the
    local cloud applied it (the tests)."""
    return {"how": change.how, "inputs": list(change.inputs), "instance": instance_id}


def _user_data(inputs: dict[str, Any]) -> str:
    if inputs.get("userDataBase64"):
        return base64.b64decode(inputs["userDataBase64"]).decode()
    return inputs.get("userData") or ""


def _launch(env: Environment, args, changes: list[dict[str, Any]]):
    """A new instance, booted from the resource's inputs."""
    instance_id = "i-" + secrets.token_hex(9)[:17]
    public_keys = _public_keys(env, args.inputs.get("keyName"))
    # Asked for before the boot, which takes the old machine's place: a refused key leaves the
    # old machine running, as a launch EC2 refuses does.
    role, credentials = _role_credentials(env, args.inputs, {})
    instance = env.cloud.boot(
        args.name,
        instance_id,
        _user_data(args.inputs),
        public_keys,
        env.instance_image,
        builds_images=(args.inputs.get("tags") or {}).get(ROLE_TAG) in IMAGE_BUILDING_ROLES,
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
    made = {
        "resource": args.name,
        "container": instance.container,
        "address": instance.address,
        "changes": changes,
    }
    _install_credentials(env, made, role, credentials)
    _trust_acme_stand_in(env, made)
    return instance_id, outputs, made


def _instance_still_there(env: Environment, record: Record) -> bool:
    """An unchanged instance is reused only if its container still exists (started if
    stopped, as an instance that was rebooted comes back; its role's credentials renewed
    if the AWS stand-in no longer knows them)."""
    container = record.made["resource"]
    if not env.cloud.is_running(container):
        try:
            env.cloud.start(container)
        except RuntimeError:
            return False
    _grant_role(env, record.inputs, record.made)
    _trust_acme_stand_in(env, record.made)
    return True


def _remove_instance(env: Environment, record: Record) -> None:
    env.cloud.remove(record.made["resource"])
    _revoke_role(env, record.made)


def _revoke_role(env: Environment, made: dict[str, Any]) -> None:
    """A terminated instance's role credentials are no longer served: its key goes with it
    (else a role's replaced machines would exhaust IAM's two keys per user)."""
    if "roleAccessKeyId" in made:
        env.aws.revoke_role_credentials(made["role"], made["roleAccessKeyId"])


def _grant_role(env: Environment, inputs: dict[str, Any], made: dict[str, Any]) -> None:
    """What EC2's metadata service gives an instance with an instance profile: its role's
    credentials (moto_stand_in.AwsStandIn.aws_files), renewed when no longer valid. The
    access key's id is kept in `made`."""
    _install_credentials(env, made, *_role_credentials(env, inputs, made))


def _role_credentials(
    env: Environment, inputs: dict[str, Any], made: dict[str, Any]
) -> tuple[str, Credentials | None]:
    """The instance profile's role, and a new key for it unless `made` holds a valid one."""
    profile = inputs.get("iamInstanceProfile")
    if not profile:
        return "", None
    role = _recorded(env, INSTANCE_PROFILE, profile).inputs["role"]
    return role, env.aws.role_credentials(role, made.get("roleAccessKeyId", ""))


def _install_credentials(
    env: Environment, made: dict[str, Any], role: str, credentials: Credentials | None
) -> None:
    if credentials is None:
        return
    files = env.aws.aws_files(credentials)
    env.cloud.put_private_files(made["resource"], ROLE_CREDENTIALS_DIR, files)
    made["role"] = role
    made["roleAccessKeyId"] = credentials.access_key_id


def _trust_acme_stand_in(env: Environment, made: dict[str, Any]) -> None:
    """What an EC2 machine has of Let's Encrypt, the local cloud's ACME stand-in gives the
    instance, if the rehearsal has one (a stack with a domain): its CA trusted, certbot pointed
    at it. At every launch, and on every `up` for machines launched before it existed."""
    stand_in = acme_stand_in.recorded(env.cloud)
    if stand_in is not None:
        stand_in.trust_on(made["container"])


def _recorded(env: Environment, type_: str, resource_id: str) -> Record:
    for record in env.state.records():
        if record.type == type_ and record.id == resource_id:
            return record
    raise LookupError(f"no {short(type_)} {resource_id} in this rehearsal")


def _key_pair(env: Environment, args, previous):
    key_name = args.inputs.get("keyName") or f"{args.name}-{secrets.token_hex(4)}"
    key_pair_id = previous.id if previous else "key-" + secrets.token_hex(8)
    return key_pair_id, {"keyName": key_name, "keyPairId": key_pair_id}, {}


def _public_keys(env: Environment, key_name: str | None) -> list[str]:
    """The key pair's public key, which EC2 serves to cloud-init for the login user."""
    if not key_name:
        return []
    for record in env.state.records():
        if record.type == KEY_PAIR and record.outputs.get("keyName") == key_name:
            return [record.inputs["publicKey"].strip()]
    raise LookupError(f"no key pair {key_name} in this rehearsal")


def _instance_by_id(env: Environment, instance_id: str) -> Instance:
    for record in env.state.records():
        if record.type == INSTANCE and record.id == instance_id:
            return Instance(record.made["container"], record.id, record.made["address"])
    raise LookupError(f"no instance {instance_id} in this rehearsal")


def _eip(env: Environment, args, previous):
    allocation = previous.id if previous else "eipalloc-" + secrets.token_hex(8)
    address = env.cloud.allocate_address(allocation)
    if args.inputs.get("instance"):
        _associate(env, args.inputs["instance"], address)
    outputs = {"publicIp": address, "allocationId": allocation, "publicDns": address}
    return allocation, outputs, {"address": address}


def _eip_association(env: Environment, args, previous):
    allocation = args.inputs.get("allocationId")
    address = args.inputs.get("publicIp") or env.cloud.allocate_address(allocation)
    resource = _associate(env, args.inputs["instanceId"], address)
    association = previous.id if previous else "eipassoc-" + secrets.token_hex(8)
    return association, {"publicIp": address}, {"resource": resource, "address": address}


def _associate(env: Environment, instance_id: str, address: str) -> str:
    """Gives the instance the public address; returns the instance's resource name."""
    for record in env.state.records():
        if record.type == INSTANCE and record.id == instance_id:
            env.cloud.associate_address(record.made["resource"], address)
            return record.made["resource"]
    raise LookupError(f"no instance {instance_id} in this rehearsal")


def _disassociate(env: Environment, record: Record) -> None:
    env.cloud.disassociate_address(record.made["resource"])


def _volume(env: Environment, args, previous):
    size = int(args.inputs.get("size") or DEFAULT_VOLUME_GB)
    volume_id = (
        previous.id
        if previous
        else env.aws.create_volume(
            args.inputs.get("availabilityZone") or ZONE,
            size,
            bool(args.inputs.get("encrypted")),
            args.inputs.get("tags"),
        )
    )
    env.cloud.create_volume(volume_id, size)
    return (
        volume_id,
        {"arn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:volume/{volume_id}"},
        {"volume": volume_id},
    )


def _delete_volume(env: Environment, record: Record) -> None:
    env.cloud.delete_volume(record.id)


def _volume_attachment(env: Environment, args, previous):
    instance = _instance_by_id(env, args.inputs["instanceId"])
    volume_id = args.inputs["volumeId"]
    loop = env.cloud.attach_volume(volume_id, instance, args.inputs["deviceName"], instance.address)
    attachment_id = f"vai-{volume_id}-{instance.instance_id}"
    made = {
        "volume": volume_id,
        "instance": instance.instance_id,
        "address": instance.address,
        "loop": loop,
    }
    return attachment_id, {}, made


def _detach_volume(env: Environment, record: Record) -> None:
    env.cloud.detach_volume(record.made["volume"], record.made["instance"], record.made["address"])


HANDLERS = {
    INSTANCE: Handler(_instance, still_there=_instance_still_there, delete=_remove_instance),
    VOLUME: Handler(_volume, delete=_delete_volume),
    VOLUME_ATTACHMENT: Handler(_volume_attachment, delete=_detach_volume),
    EIP: Handler(_eip),
    EIP_ASSOCIATION: Handler(_eip_association, delete=_disassociate),
    KEY_PAIR: Handler(_key_pair),
}
