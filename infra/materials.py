"""Course materials and the shared data directory: published on the homes volume by the NFS server.

The materials folder (camphub:materialsDir, the repository's materials/ unless set; or, with
camphub:materialsRepo, a public git repository at a pinned ref) reaches the NFS server, which
mirrors it onto the homes volume next to the homes, where every node that mounts the homes sees
it. The hub mounts it read-only into every student's container (images/hub/jupyterhub_config.py),
and the NFS server copies what a student lacks into their home, as the student, whenever it makes
the homes (scripts/nfs-homes). A changed folder or ref is published again on the next
`pulumi up`; students' own copies are never overwritten.
"""

import pulumi

from infra import layout
from infra.config import CampConfig, MaterialsRepo
from infra.payload import materials_payload
from infra.remote import Step, StepTarget, run_step, script_line


def publish_course_files(
    machine: StepTarget, config: CampConfig, after: pulumi.Resource, parent: pulumi.Resource
) -> pulumi.Resource:
    """Mirrors the materials (and creates the shared data directory) once the homes are exported.

    The source is the delivered materials folder, or with camphub:materialsRepo the repository's
    files at its ref, checked out on the NFS server first.
    """
    source, fetched = materials_payload(config.materials_dir).remote_dir, after
    if config.materials_repo:
        fetched = _fetch_repo(machine, config.materials_repo, after, parent)
        source = layout.MATERIALS_REPO_WORK_TREE
    shared = (
        ["--shared-data-name", layout.SHARED_DATA_DIRNAME, "--shared-data-owner", layout.LOGIN_USER]
        if config.shared_data
        else []
    )
    return run_step(
        machine,
        Step(
            "publish-materials",
            script_line(
                "publish-materials",
                "--source",
                source,
                "--homes-dir",
                layout.NFS_EXPORT_DIR,
                "--materials-name",
                layout.MATERIALS_DIRNAME,
                *shared,
            ),
            # The command line stays the same when only the files change: rerun on their version.
            triggers=[materials_version(config)],
            depends_on=[after, fetched],
        ),
        parent=parent,
    )


def materials_version(config: CampConfig) -> str:
    """Changes exactly when the materials do: the folder's content, or the repository's ref."""
    if config.materials_repo:
        return f"{config.materials_repo.url}@{config.materials_repo.ref}"
    return materials_payload(config.materials_dir).content_hash()


def _fetch_repo(
    machine: StepTarget, repo: MaterialsRepo, after: pulumi.Resource, parent: pulumi.Resource
) -> pulumi.Resource:
    return run_step(
        machine,
        Step(
            "fetch-materials-repo",
            script_line(
                "fetch-materials-repo",
                "--url",
                repo.url,
                "--ref",
                repo.ref,
                "--git-dir",
                layout.MATERIALS_REPO_GIT_DIR,
                "--work-tree",
                layout.MATERIALS_REPO_WORK_TREE,
            ),
            depends_on=[after],
        ),
        parent=parent,
    )
