"""EC2 instances as the rehearsal plays them, on the local cloud's instance containers
(rehearsal/instance_containers.py), with their key pairs and where their types are offered.

An instance boots a systemd container whose cloud-init reads its user-data and key pair from a
NoCloud seed; an instance with an instance profile gets its role's credentials from moto, as
from the metadata service (rehearsal/ec2_instance_roles.py). A key pair is recorded (its public
key goes to the instances that name it).

A changed instance is changed as the AWS provider has EC2 change it
(rehearsal/ec2_instance_changes.py): in place, or by stopping and starting the machine (its
container restarts; cloud-init does not run again), or by replacing it (a new container and
instance id, which the resources that name the instance follow in the program's order). Each
change is recorded in the instance's `made`.
"""

import base64
import secrets
from typing import Any

from infra.machine import ROLE_TAG
from rehearsal import acme_stand_in
from rehearsal.ec2_instance_changes import REPLACE, STOP_AND_START, InstanceChange, instance_change
from rehearsal.ec2_instance_roles import (
    grant_role,
    install_credentials,
    revoke_role,
    role_credentials,
)
from rehearsal.environment import ZONE, Environment, Handler
from rehearsal.moto_server import ACCOUNT_ID, REGION
from rehearsal.state import Record, plain
from rehearsal.substitutions import IMAGE_BUILDING_ROLES

INSTANCE = "aws:ec2/instance:Instance"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"


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


def _instance(env: Environment, args, previous):
    if previous is None:
        return _launch(env, args, changes=[])
    if not env.cloud.exists(previous.made["resource"]):  # gone: a new one, as after a refresh
        revoke_role(env, previous.made)
        return _launch(env, args, previous.made.get("changes", []))
    change = instance_change(previous.inputs, plain(args.inputs))
    if change.how is None:  # the same inputs, the machine not running: as it is
        return previous.id, previous.outputs, previous.made
    changes = [*previous.made.get("changes", []), _change_record(change, previous.id)]
    if change.how == REPLACE:
        # The container is the machine, named after the resource: the old one goes first.
        launched = _launch(env, args, changes)
        _release_instance(env, previous)
        return launched
    made = {**previous.made, "changes": changes}
    if change.how == STOP_AND_START:
        env.cloud.stop_and_start(args.name, _user_data(args.inputs), made["address"])
    grant_role(env, args.inputs, made)  # a changed instance profile applies in place
    _trust_acme_stand_in(env, made)
    return previous.id, previous.outputs, made


def _change_record(change: InstanceChange, instance_id: str) -> dict[str, Any]:
    """What the state keeps of a change of instance `instance_id`, for whoever asks how the
    local cloud applied it (the tests)."""
    return {"how": change.how, "inputs": list(change.inputs), "instance": instance_id}


def _user_data(inputs: dict[str, Any]) -> bytes:
    """The user-data as EC2 hands it to the instance (gzipped or not: cloud-init unpacks it)."""
    if inputs.get("userDataBase64"):
        return base64.b64decode(inputs["userDataBase64"])
    return (inputs.get("userData") or "").encode()


def _launch(env: Environment, args, changes: list[dict[str, Any]]):
    """A new instance, booted from the resource's inputs."""
    instance_id = "i-" + secrets.token_hex(9)[:17]
    public_keys = _public_keys(env, args.inputs.get("keyName"))
    # Asked for before the boot, which takes the old machine's place: a refused key leaves the
    # old machine running, as a launch EC2 refuses does.
    role, credentials = role_credentials(env, args.inputs, {})
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
    install_credentials(env, made, role, credentials)
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
    grant_role(env, record.inputs, record.made)
    _trust_acme_stand_in(env, record.made)
    return True


def _remove_instance(env: Environment, record: Record) -> None:
    env.cloud.remove(record.made["resource"])
    revoke_role(env, record.made)


def _release_instance(env: Environment, record: Record) -> None:
    """A machine replaced in its container: its role's key goes with it (revoke_role)."""
    revoke_role(env, record.made)


def _trust_acme_stand_in(env: Environment, made: dict[str, Any]) -> None:
    """What an EC2 machine has of Let's Encrypt, the local cloud's ACME stand-in gives the
    instance, if the rehearsal has one (a stack with a domain): its CA trusted, certbot pointed
    at it. At every launch, and on every `up` for machines launched before it existed."""
    stand_in = acme_stand_in.recorded(env.cloud)
    if stand_in is not None:
        stand_in.trust_on(made["container"])


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


HANDLERS = {
    INSTANCE: Handler(
        _instance,
        still_there=_instance_still_there,
        delete=_remove_instance,
        release=_release_instance,
    ),
    KEY_PAIR: Handler(_key_pair),
}
