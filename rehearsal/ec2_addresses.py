"""Elastic IPs as the rehearsal plays them: a fixed address on the stack's public network
(rehearsal/docker_networks.py), which the instance it is associated with joins at that address.
"""

import secrets

from rehearsal.ec2_instances import INSTANCE
from rehearsal.environment import Environment, Handler
from rehearsal.state import Record

EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"


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


HANDLERS = {
    EIP: Handler(_eip),
    EIP_ASSOCIATION: Handler(_eip_association, delete=_disassociate),
}
