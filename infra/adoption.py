"""Adopting a kept homes volume: how a destroyed camp comes back with every home.

`pulumi destroy` keeps the homes volume (retain_on_delete) and the archive's final snapshot. With
`nfs.adoptHomesVolume` set to that volume's id (the homesVolumeId output), or to a volume made
from the snapshot, `pulumi up` attaches it to the new NFS server instead of making an empty one:
nfs-export finds its filesystem and never formats it, and nfs-homes keeps every home on it, a
student no longer on the class list included (it never deletes a home).

The program never declares the adopted volume as a resource of its own, so no later `pulumi
destroy` can delete it: it stays in the account, as the volume the program made does.

Looked up and checked before anything is declared: a volume that does not exist, is not a camphub
homes volume, is not encrypted, is used by another machine, or whose size is not
nfs.volumeSizeGb is refused, each with the fix, and so is a camp that still runs on another homes
volume. Its zone becomes the camp's (infra/network.py). Once adopted, keep the setting: without
it `pulumi up` makes a new, empty volume for the camp again.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi_aws as aws

from infra.config import ADOPT_KEY, ADOPT_RUNBOOK, NAMESPACE, STACK_TAG, CampConfig
from infra.errors import ConfigError
from infra.machine import ROLE_TAG

# The Name tag of every homes volume camphub makes (infra/nfs.py), and what adoption asks for.
HOMES_VOLUME_NAME = "camphub-homes"
AVAILABLE = "available"
IN_USE = "in-use"
SIZE_KEY = f"{NAMESPACE}:nfs.volumeSizeGb"


@dataclass(frozen=True)
class KeptVolume:
    """What EC2 says of the volume to adopt."""

    id: str
    zone: str
    size_gb: int
    encrypted: bool
    tags: Mapping[str, str]
    state: str  # available, in-use, or another of EC2's (creating, deleting, error)
    attached_to_an_nfs_server: bool  # in use by a machine tagged as a camphub NFS server


def adopted_homes_volume(config: CampConfig) -> KeptVolume | None:
    """The volume `nfs.adoptHomesVolume` names, looked up and checked (None when unset);
    raises ConfigError naming every problem, before anything is declared."""
    volume_id = config.nfs.adopt_homes_volume
    if volume_id is None:
        return None
    volume = look_up(volume_id)
    if volume is None:
        raise ConfigError(
            f"{ADOPT_KEY}: there is no volume {volume_id} in this account and region. Give the "
            "homesVolumeId output of the destroyed camp; `aws ec2 describe-volumes --filters "
            f"Name=tag:Name,Values={HOMES_VOLUME_NAME}` lists the kept ones."
        )
    problems = adoption_problems(volume, config)
    problems += running_camp_problems(volume_id, homes_volumes_in_use(config.stack))
    if problems:
        raise ConfigError(*problems)
    return volume


def look_up(volume_id: str) -> KeptVolume | None:
    by_id = [aws.ebs.GetEbsVolumesFilterArgs(name="volume-id", values=[volume_id])]
    if not aws.ebs.get_ebs_volumes(filters=by_id).ids:
        return None
    volume = aws.ebs.get_volume(
        filters=[aws.ebs.GetVolumeFilterArgs(name="volume-id", values=[volume_id])]
    )
    state = _state(volume_id)
    return KeptVolume(
        id=volume_id,
        zone=volume.availability_zone,
        size_gb=int(volume.size),
        encrypted=bool(volume.encrypted),
        tags=dict(volume.tags or {}),
        state=state,
        attached_to_an_nfs_server=state == IN_USE and _attached_to_an_nfs_server(volume_id),
    )


def _state(volume_id: str) -> str:
    """EC2's state of the volume; get_volume does not say it, a filter on it does."""
    for state in (AVAILABLE, IN_USE):
        filters = [
            aws.ebs.GetEbsVolumesFilterArgs(name="volume-id", values=[volume_id]),
            aws.ebs.GetEbsVolumesFilterArgs(name="status", values=[state]),
        ]
        if aws.ebs.get_ebs_volumes(filters=filters).ids:
            return state
    return "creating, deleting or in error"


def _attached_to_an_nfs_server(volume_id: str) -> bool:
    machines = aws.ec2.get_instances(
        filters=[
            aws.ec2.GetInstancesFilterArgs(
                name="block-device-mapping.volume-id", values=[volume_id]
            )
        ],
        instance_tags={ROLE_TAG: "nfs"},
    )
    return bool(machines.ids)


def homes_volumes_in_use(stack: str) -> list[str]:
    """The ids of this stack's homes volumes that a machine holds: the volume of a camp that
    runs (or the adopted one, after the `pulumi up` that adopted it)."""
    filters = [
        aws.ebs.GetEbsVolumesFilterArgs(name="tag:Name", values=[HOMES_VOLUME_NAME]),
        aws.ebs.GetEbsVolumesFilterArgs(name=f"tag:{STACK_TAG}", values=[stack]),
        aws.ebs.GetEbsVolumesFilterArgs(name="status", values=[IN_USE]),
    ]
    return list(aws.ebs.get_ebs_volumes(filters=filters).ids or [])


def running_camp_problems(volume_id: str, in_use: list[str]) -> list[str]:
    """A camp that runs on another homes volume is not swapped onto this one: its server holds
    that volume, and the swap would detach it under the students (README: restore into a
    running camp by copying, or destroy the camp first)."""
    others = sorted(set(in_use) - {volume_id})
    if not others:
        return []
    return [
        f"{ADOPT_KEY}: this camp runs on its homes volume {', '.join(others)}; a volume is "
        f"adopted only by a destroyed camp. `pulumi destroy` first, or remove the setting and "
        f'copy the homes back into the running camp (README.md, "Restore the whole homes '
        f'volume from a daily EBS snapshot, the camp running").'
    ]


def adoption_problems(volume: KeptVolume, config: CampConfig) -> list[str]:
    """Why `volume` cannot hold this camp's homes, each with its fix (empty: it can)."""
    problems = []
    name = volume.tags.get("Name")
    if name != HOMES_VOLUME_NAME:
        problems.append(
            f"{ADOPT_KEY}: {volume.id} is not a camphub homes volume (its Name tag is {name!r}, "
            f"not {HOMES_VOLUME_NAME!r}). Give the homesVolumeId output of the destroyed camp, or "
            f"tag a volume made from its final snapshot as {ADOPT_RUNBOOK} shows."
        )
    if not volume.encrypted:
        problems.append(
            f"{ADOPT_KEY}: {volume.id} is not encrypted, and students' homes are kept only on "
            f"encrypted volumes. Make an encrypted copy from its snapshot ({ADOPT_RUNBOOK})."
        )
    if volume.size_gb != config.nfs.volume_size_gb:
        problems.append(
            f"{ADOPT_KEY}: {volume.id} holds {volume.size_gb} GiB but {SIZE_KEY} is "
            f"{config.nfs.volume_size_gb}: the camp is sized (and the class list's limits "
            f"checked) by the volume it has. `pulumi config set --path {SIZE_KEY} "
            f"{volume.size_gb}`."
        )
    problems.extend(_state_problems(volume, config.stack))
    return problems


def _state_problems(volume: KeptVolume, stack: str) -> list[str]:
    if volume.state == AVAILABLE:
        return []
    # This camp's own NFS server has it attached: a `pulumi up` after the one that adopted it.
    if volume.attached_to_an_nfs_server and volume.tags.get(STACK_TAG) == stack:
        return []
    if volume.state == IN_USE:
        return [
            f"{ADOPT_KEY}: {volume.id} is attached to another machine (a camp still running?). "
            f"Destroy that camp first, or detach it: `aws ec2 detach-volume --volume-id "
            f"{volume.id}` once its server is stopped."
        ]
    return [
        f"{ADOPT_KEY}: {volume.id} is {volume.state}, not available. Wait until `aws ec2 "
        f"describe-volumes --volume-ids {volume.id}` says available, then `pulumi up` again."
    ]
