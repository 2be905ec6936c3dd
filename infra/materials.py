"""Course materials and the shared data directory: published on the homes volume by the NFS server.

The repository's materials/ folder is delivered to the NFS server and mirrored onto the homes
volume next to the homes, where every node that mounts the homes sees it. The hub mounts it
read-only into every student's container and copies what a student lacks into their home when
their server starts (images/hub/jupyterhub_config.py). A changed folder is published again on the
next `pulumi up`; students' own copies are never overwritten.
"""

import pulumi

from infra import layout
from infra.payload import MATERIALS
from infra.remote import Machine, Step, run_step, script_line


def publish_course_files(
    machine: Machine, shared_data: bool, after: pulumi.Resource, parent: pulumi.Resource
) -> pulumi.Resource:
    """Mirrors the materials (and creates the shared data directory) once the homes are exported."""
    shared = (
        ["--shared-data-name", layout.SHARED_DATA_DIRNAME, "--shared-data-owner", layout.LOGIN_USER]
        if shared_data
        else []
    )
    return run_step(
        machine,
        Step(
            "publish-materials",
            script_line(
                "publish-materials",
                "--source",
                MATERIALS.remote_dir,
                "--homes-dir",
                layout.NFS_EXPORT_DIR,
                "--materials-name",
                layout.MATERIALS_DIRNAME,
                *shared,
            ),
            # The command line stays the same when only the files change: rerun on their hash.
            triggers=[MATERIALS.content_hash()],
            depends_on=[after],
        ),
        parent=parent,
    )


def course_files_settings(shared_data: bool) -> dict:
    """The hub settings' `materials` and `shared_data` sections (paths on the hub and workers)."""
    homes = layout.HOMES_MOUNT_DIR
    return {
        "materials": {
            "host_dir": f"{homes}/{layout.MATERIALS_DIRNAME}",
            "container_dir": layout.MATERIALS_CONTAINER_DIR,
            "home_subdir": layout.MATERIALS_HOME_SUBDIR,
        },
        "shared_data": {
            "host_dir": f"{homes}/{layout.SHARED_DATA_DIRNAME}",
            "container_dir": layout.SHARED_DATA_CONTAINER_DIR,
        }
        if shared_data
        else None,
    }
