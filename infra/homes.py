"""The students' homes: made on the NFS server with their limits and snapshots, mounted elsewhere.

Each home is a btrfs subvolume on the homes volume with a quota-group limit, made by the NFS
server itself (scripts/nfs-homes) for everyone on the class list before the hub lets them sign
in; no other machine needs root on the homes. The NFS server also snapshots every home on a
timer and publishes each home's usage; the hub mounts both read-only into the student's
container (infra/hub_settings.py). The hub and every worker mount the export at the same path.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from infra import layout
from infra.config import CampConfig
from infra.remote import Step, StepTarget, run_step, script_line


@dataclass(frozen=True)
class HomesShare:
    """What a client needs to mount the homes, and the step after which they are exported."""

    server_ip: pulumi.Output[str]
    export_dir: str
    exported: pulumi.Resource


@dataclass(frozen=True)
class ClassHomes:
    """The homes as JupyterHub sees them: the share it mounts, and the step after which every
    listed student's home exists, with its limit and materials (so they may sign in)."""

    share: HomesShare
    made: pulumi.Resource


@dataclass(frozen=True)
class HomesServer:
    """The machine that holds the homes, as work on the homes volume itself sees it (the archive):
    a step runner on that machine, the volume, the steps after which the homes are in place there
    (the volume attached, the export made), and the machine's own role, which others may grant
    permissions to."""

    machine: StepTarget
    volume_id: pulumi.Output[str]
    in_place: Sequence[pulumi.Resource]
    role_id: pulumi.Output[str]


def homes_list(config: CampConfig) -> str:
    """What nfs-homes reads: every student's home directory and limit, in class-list order."""
    return json.dumps(config.class_list.as_homes_json(config.nfs.home_quota_gb), indent=2)


def make_homes(
    machine: StepTarget,
    config: CampConfig,
    materials_version: str,
    after: pulumi.Resource,
    parent: pulumi.Resource,
) -> pulumi.Resource:
    """Every listed student's home with its limit, and the materials it lacks (a changed class
    list or changed materials rerun it; it never deletes a home or touches a student's file)."""
    return run_step(
        machine,
        Step(
            "make-homes",
            script_line(
                "nfs-homes",
                "make",
                *_home_locations(),
                "--uid",
                str(layout.STUDENT_UID),
                "--gid",
                str(layout.STUDENT_GID),
                "--snapshots-link",
                layout.SNAPSHOTS_CONTAINER_DIR,
                "--materials-name",
                layout.MATERIALS_DIRNAME,
                "--materials-subdir",
                layout.MATERIALS_HOME_SUBDIR,
            ),
            stdin=homes_list(config),
            triggers=[materials_version],
            depends_on=[after],
        ),
        parent=parent,
    )


def schedule_snapshots(
    machine: StepTarget, config: CampConfig, after: pulumi.Resource, parent: pulumi.Resource
) -> pulumi.Resource:
    """The NFS server's timers: every home snapshotted read-only, its usage published."""
    nfs = config.nfs
    return run_step(
        machine,
        Step(
            "schedule-home-snapshots",
            script_line(
                "schedule-home-snapshots",
                *_home_locations(),
                "--every-minutes",
                str(nfs.snapshot_every_minutes),
                "--keep-hourly",
                str(nfs.snapshot_keep_hourly),
                "--keep-daily",
                str(nfs.snapshot_keep_daily),
            ),
            depends_on=[after],
        ),
        parent=parent,
    )


def _home_locations() -> list[str]:
    return [
        "--homes-dir",
        layout.NFS_EXPORT_DIR,
        "--snapshots-name",
        layout.SNAPSHOTS_DIRNAME,
        "--usage-name",
        layout.USAGE_DIRNAME,
    ]


def mount_homes(machine: StepTarget, share: HomesShare, parent: pulumi.Resource) -> pulumi.Resource:
    return run_step(
        machine,
        Step(
            "mount-homes",
            script_line(
                "mount-homes",
                "--server",
                share.server_ip,
                "--export",
                share.export_dir,
                "--mount-point",
                layout.HOMES_MOUNT_DIR,
            ),
            depends_on=[share.exported],
        ),
        parent=parent,
    )
