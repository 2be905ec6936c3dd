"""Mounting the students' homes from the NFS server, the same way on the hub and every worker."""

import pulumi

from infra import layout
from infra.nfs import HomesShare
from infra.remote import Machine, Step, run_step, script_line


def mount_homes(machine: Machine, share: HomesShare, parent: pulumi.Resource) -> pulumi.Resource:
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
