"""A running camp is never moved into a network of its own by surprise.

A camp deployed before the program made its own network lives in a subnet of the default VPC.
Without `camphub:subnetId`, `pulumi up` would now declare a VPC of the camp's own and move every
machine there: each one replaced, the hub unreachable and every student's server stopped (the
homes volume is zonal, in no VPC: it would be attached to the new NFS server). So before
anything is declared, the program looks for this stack's running camp: the machine that holds
its homes volume (tagged with the stack, infra/nfs.py). If that machine's subnet is not the
camp's own (the program tags its subnet with the stack), the camp is refused with the command
that keeps it where it runs. A new camp, a destroyed one, and one in its own network pass.
"""

import pulumi_aws as aws

from infra.adoption import homes_volumes_in_use
from infra.config import STACK_TAG, SUBNET_KEY, CampConfig
from infra.errors import ConfigError
from infra.machine import ROLE_TAG

# Every state of an instance that still holds its volumes.
HOLDING_STATES = ["pending", "running", "stopping", "stopped"]


def refuse_to_move_a_running_camp(config: CampConfig) -> None:
    """Raises ConfigError when this stack's camp runs in a subnet the program did not make and
    camphub:subnetId does not keep it there."""
    if config.subnet_id is not None:
        return
    for subnet_id in sorted(running_camp_subnets(config.stack)):
        subnet = aws.ec2.get_subnet(id=subnet_id)
        if (subnet.tags or {}).get(STACK_TAG) == config.stack:
            continue  # the camp's own
        raise ConfigError(
            f"{SUBNET_KEY}: this camp runs in {subnet_id} (VPC {subnet.vpc_id}), a subnet "
            "camphub did not make, and without the setting the program makes the camp a VPC "
            "of its own, which would replace every machine (homes kept, every server stopped). "
            f"Keep the camp where it runs: `pulumi config set {SUBNET_KEY} {subnet_id}`, then "
            '`pulumi up` (README.md, "Upgrading a running camp").'
        )


def running_camp_subnets(stack: str) -> set[str]:
    """The subnets of the NFS servers that hold this stack's homes volumes (none: no camp
    runs)."""
    subnets = set()
    for volume_id in homes_volumes_in_use(stack):
        holders = aws.ec2.get_instances(
            filters=[
                aws.ec2.GetInstancesFilterArgs(
                    name="block-device-mapping.volume-id", values=[volume_id]
                )
            ],
            instance_tags={ROLE_TAG: "nfs"},
            instance_state_names=HOLDING_STATES,
        )
        for instance_id in holders.ids or []:
            subnets.add(aws.ec2.get_instance(instance_id=instance_id).subnet_id)
    return subnets
