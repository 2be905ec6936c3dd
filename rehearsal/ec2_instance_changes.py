"""How EC2 applies a changed instance, as the rehearsal decides it (`instance_change`): in
place, or by stopping and starting the machine, or by replacing it, after the AWS provider.
rehearsal/ec2_instances.py carries the decision out on the local cloud.
"""

from dataclasses import dataclass
from typing import Any

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
        "add it to rehearsal/ec2_instance_changes.py, after the AWS provider"
    )
