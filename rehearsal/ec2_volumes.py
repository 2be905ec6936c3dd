"""EBS volumes as the rehearsal plays them: a volume in moto's EC2 (its id, size and tags) and
a loop device on the local cloud (rehearsal/loop_volumes.py), attached by creating its node in
the instance; and the program's look-ups of volumes and of the machines they are attached to.
"""

from typing import Any

from rehearsal.ec2_instances import INSTANCE
from rehearsal.environment import ZONE, Environment, Handler
from rehearsal.instance_containers import Instance
from rehearsal.moto_server import ACCOUNT_ID, REGION
from rehearsal.state import Record

VOLUME = "aws:ebs/volume:Volume"
VOLUME_ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
EBS_VOLUMES = "aws:ebs/getEbsVolumes:getEbsVolumes"
GET_VOLUME = "aws:ebs/getVolume:getVolume"
GET_INSTANCES = "aws:ec2/getInstances:getInstances"

DEFAULT_VOLUME_GB = 8


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


def _instance_by_id(env: Environment, instance_id: str) -> Instance:
    for record in env.state.records():
        if record.type == INSTANCE and record.id == instance_id:
            return Instance(record.made["container"], record.id, record.made["address"])
    raise LookupError(f"no instance {instance_id} in this rehearsal")


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
    VOLUME: Handler(_volume, delete=_delete_volume),
    VOLUME_ATTACHMENT: Handler(_volume_attachment, delete=_detach_volume),
}
