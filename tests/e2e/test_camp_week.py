"""The camp week as its organizer runs it, end to end on the local cloud.

The class list edited and `up` again (promotions and demotions through the hub's API, nothing
restarted), the course materials updated during the week (a student's edit survives), the worker
pool scaled down (the removed worker drained before its machine goes) and the end-of-week archive
run exactly as `pulumi destroy` runs it, against moto standing in for S3 and EC2 (every file of
every home in it, byte for byte). Shares the session's rehearsed camp (conftest.py).
"""

import hashlib
import io
import json
import secrets
import shlex
import tarfile
from contextlib import contextmanager

import pytest
from e2e_support import escaped
from waiting import wait_for

from infra import layout
from infra.archive import archive_prefix
from infra.notebook_image import publication
from infra.payload import NOTEBOOK_IMAGE, image_tag
from rehearsal.engine import run_delete
from rehearsal.environment import Environment
from rehearsal.state import State

pytestmark = pytest.mark.live

SPAWN_SECONDS = 600
TEACHER, ADA = "teacher@camp.example.org", "ada@camp.example.org"
SURVIVORS = {"workers-0", "workers-1"}

# Prints the sha256 of every regular file of every home under argv[1] as JSON,
# {home: {path: digest}} (a home: a directory named like an escaped username, as archive-homes
# finds them).
HOMES_DIGESTS = """
import hashlib, json, os, re, sys
homes = sys.argv[1]
found = {}
for home in sorted(os.listdir(homes)):
    top = os.path.join(homes, home)
    if not re.fullmatch(r"[a-z0-9-]+", home) or os.path.islink(top) or not os.path.isdir(top):
        continue
    found[home] = {}
    for directory, _, files in os.walk(top):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as data:
                    digest = hashlib.sha256(data.read()).hexdigest()
                found[home][os.path.relpath(path, top)] = digest
print(json.dumps(found))
"""


# Class-list sync.


@pytest.fixture
def class_list_restored(camp):
    original = camp.userlist.read_text()
    yield
    camp.userlist.write_text(original)
    camp.up(workers=2)


def admin_flags(camp) -> dict[str, bool]:
    return {user["name"]: user["admin"] for user in camp.hub_api("/users")}


def test_sync_promotes_and_demotes_through_the_api_and_restarts_nothing(camp, class_list_restored):
    instances = {r.name: r.id for r in camp.records()}
    hub_started = camp.hub_container_started_at()
    assert admin_flags(camp)[TEACHER] and not admin_flags(camp)[ADA]
    lines = camp.userlist.read_text().splitlines()
    swapped = {f"{TEACHER} admin": TEACHER, ADA: f"{ADA} admin"}
    camp.userlist.write_text("\n".join(swapped.get(line, line) for line in lines) + "\n")
    camp.up(workers=2)
    flags = admin_flags(camp)
    assert flags[ADA] and not flags[TEACHER]
    report = camp.step("hub-sync-userlist").outputs["stdout"]
    assert f"promoted {ADA}" in report and f"demoted {TEACHER}" in report, report
    assert {r.name: r.id for r in camp.records()} == instances
    assert camp.hub_container_started_at() == hub_started


# Course materials.


def restart_server(camp, user: str) -> str:
    camp.hub_api(f"/users/{user}/server", method="DELETE")
    wait_for(
        lambda: not camp.server_node(user), timeout=120, what=f"{user}'s server stopped", interval=1
    )
    return camp.start_server(user)


def test_materials_update_reaches_students_and_keeps_their_edits(camp):
    student = f"reader-{secrets.token_hex(3)}@camp.example.org"
    exercise = camp.materials_dir / "day1" / "exercise.py"
    exercise.parent.mkdir(exist_ok=True)
    exercise.write_text("print('version 1')\n")
    with camp.userlist.open("a") as userlist:
        userlist.write(f"{student}\n")
    camp.up(workers=2)
    camp.start_server(student)
    in_home = "~/materials/day1/exercise.py"
    assert camp.in_server(student, f"sh -c 'cat {in_home}'") == "print('version 1')"
    camp.in_server(student, f"sh -c 'echo \"# my answer\" >> {in_home}'")

    exercise.write_text("print('version 2')\n")
    (camp.materials_dir / "day2").mkdir(exist_ok=True)
    (camp.materials_dir / "day2" / "new.py").write_text("print('day 2')\n")
    camp.up(workers=2)
    read_only = f"{layout.MATERIALS_CONTAINER_DIR}/day1/exercise.py"
    # The published copy is updated in place: the running server sees it at once.
    assert camp.in_server(student, f"cat {read_only}") == "print('version 2')"
    restart_server(camp, student)
    assert camp.in_server(student, f"sh -c 'cat {in_home}'") == "print('version 1')\n# my answer"
    assert camp.in_server(student, "sh -c 'cat ~/materials/day2/new.py'") == "print('day 2')"
    assert camp.in_server(student, f"cat {read_only}") == "print('version 2')"
    touched = camp.in_server(student, f"sh -c 'touch {read_only} 2>/dev/null && echo yes || true'")
    assert touched == "", "a student can write to the published materials"


# Worker scaling.


@contextmanager
def only_worker_taking_servers(camp, worker: str):
    """New servers go to `worker` only: the others are paused (running tasks stay)."""
    others = sorted(camp.worker_names() - {worker})

    def set_availability(availability: str) -> None:
        for node in others:
            camp.run(f"sudo docker node update --availability {availability} {node} >/dev/null")

    set_availability("pause")
    try:
        yield
    finally:
        set_availability("active")


def task_states(camp, user: str) -> list[str]:
    """Each task of `user`'s server as "<node> <desired state> <current state>" lines."""
    template = "{{.Node}} {{.DesiredState}} {{.CurrentState}}"
    listing = camp.run(f"sudo docker service ps --format '{template}' jupyter-{escaped(user)}")
    return listing.splitlines()


def published_image(camp) -> tuple[str, str]:
    """The tag and the ID of the notebook image the hub last published."""
    publish = camp.step("hub-publish-notebook-image")
    words = shlex.split(publish.inputs["create"])
    return words[words.index("--tag") + 1], publication(publish.outputs["stdout"])[0]


def notebook_steps_last_run(camp) -> dict[str, float]:
    """When each step of the notebook image (build, publish, each worker's load) last ran."""
    names = ["hub-notebook-image", "hub-publish-notebook-image"]
    names += [f"{worker}-notebook-image" for worker in sorted(SURVIVORS)]
    return {name: camp.step_log(name).stat().st_mtime for name in names}


def test_scaling_workers_up_and_back_down_drains_the_removed_worker_first(camp):
    student = "grace@camp.example.org"
    before = notebook_steps_last_run(camp)
    camp.up(workers=3)
    assert camp.worker_names() == {*SURVIVORS, "workers-2"}
    # The new worker loaded the hub's build, as the others did; nothing of the image ran again.
    assert notebook_steps_last_run(camp) == before
    assert set(camp.notebook_image_ids().values()) == {published_image(camp)[1]}
    new_worker = camp.outputs["workerPrivateIps"][2]
    loaded = camp.step("workers-2-notebook-image").outputs["stdout"]
    assert loaded.startswith("fetch-image: loaded camphub/notebook:"), loaded
    # It could not have built it: no build context, no base image to build on.
    assert camp.run(f"test -e {NOTEBOOK_IMAGE.remote_dir} || echo none", host=new_worker) == "none"
    assert camp.run("sudo docker image ls --quiet debian", host=new_worker) == ""
    camp.hub_api(f"/users/{student}/server", method="DELETE")
    wait_for(
        lambda: not camp.server_node(student),
        timeout=120,
        what=f"{student}'s server stopped",
        interval=1,
    )
    with only_worker_taking_servers(camp, "workers-2"):
        assert camp.start_server(student) == "workers-2"
    camp.in_server(student, "sh -c 'echo kept > ~/before-scale-down.txt'")

    camp.up(workers=2)
    assert camp.worker_names() == SURVIVORS
    assert not camp.rehearsal.cloud.exists("workers-2")
    states = task_states(camp, student)
    # Drained: the swarm shut the task down itself, rather than losing it with its node.
    assert any(line.split()[1:3] == ["Shutdown", "Shutdown"] for line in states), states

    def settled() -> str:
        server = camp.hub_api(f"/users/{student}")["servers"].get("")
        node = camp.server_node(student)
        if node in SURVIVORS and server and server.get("ready"):
            return "moved"
        return "stopped" if not node and server is None else ""

    outcome = wait_for(
        settled, timeout=300, what=f"{student}'s server moved or stopped", interval=3
    )
    if outcome == "moved":
        assert camp.in_server(student, "sh -c 'cat ~/before-scale-down.txt'") == "kept"


# A changed notebook image, mid-week.

ROLLOUT_FILE = "etc/camphub-rollout-check"  # in the build context; in the image under /etc


@pytest.fixture
def notebook_image_changed(camp):
    """The notebook image's build context with one more file (a token), as an organizer's change
    of the Dockerfile or the requirements changes it; put back, and rolled back, afterwards."""
    added = NOTEBOOK_IMAGE.local_dir / ROLLOUT_FILE
    token = secrets.token_hex(8)
    added.write_text(f"{token}\n")
    try:
        yield token
    finally:
        added.unlink()
        camp.up(workers=2)


def test_a_changed_notebook_image_reaches_every_worker_in_one_up(camp, notebook_image_changed):
    old_tag, old_id = published_image(camp)
    camp.up(workers=2)
    new_tag, new_id = published_image(camp)
    assert new_tag == image_tag(NOTEBOOK_IMAGE) != old_tag
    assert new_id != old_id
    assert camp.notebook_image_ids() == dict.fromkeys(["hub", *sorted(SURVIVORS)], new_id)
    for address in camp.outputs["workerPrivateIps"]:
        shipped = camp.run(f"sudo docker run --rm {new_tag} cat /{ROLLOUT_FILE}", host=address)
        assert shipped == notebook_image_changed
    settings = json.loads(camp.step("hub-start-hub").inputs["stdin"])
    assert settings["notebook"]["image"] == new_tag


# The end-of-week archive.


def homes_digests(camp) -> dict[str, dict[str, str]]:
    command = f"sudo python3 - {layout.NFS_EXPORT_DIR}"
    return json.loads(camp.run(command, host=camp.outputs["nfsPrivateIp"], stdin=HOMES_DIGESTS))


def stop_every_server(camp) -> None:
    """What the organizer does before the archive (README: End of the week)."""
    for user in camp.hub_api("/users"):
        if user["servers"]:
            camp.hub_api(f"/users/{user['name']}/server", method="DELETE")
    wait_for(
        lambda: not camp.run("sudo docker service ls -q"),
        timeout=180,
        what="every server stopped",
        interval=1,
    )


def archived_digests(s3, bucket: str, key: str) -> dict[str, str]:
    """The sha256 of every regular file in the archive at `key`, by path inside the home."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    digests = {}
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member).read()
                digests[member.name.split("/", 1)[1]] = hashlib.sha256(data).hexdigest()
    return digests


def test_archive_holds_every_file_of_every_home_and_the_volume_is_snapshotted(camp):
    home = f"{layout.NFS_EXPORT_DIR}/{escaped(ADA)}"
    nfs = camp.outputs["nfsPrivateIp"]
    camp.run(
        f"sudo mkdir -p '{home}/week/deep dir' && head -c 3000000 /dev/urandom"
        f" | sudo tee '{home}/week/deep dir/random.bin' >/dev/null"
        f" && sudo touch '{home}/week/empty.txt'",
        host=nfs,
    )
    stop_every_server(camp)
    before = homes_digests(camp)
    assert before[escaped(ADA)]["week/deep dir/random.bin"]

    state = State(camp.rehearsal.work_dir / "state.json")
    env = Environment(camp.rehearsal.cloud, state, "", "", camp.rehearsal.work_dir / "logs")
    run_delete(env, camp.step("nfs-archive-homes"))  # as `pulumi destroy` runs it

    s3 = camp.rehearsal.aws.client("s3")
    bucket, prefix = camp.outputs["homesArchive"].removeprefix("s3://").split("/", 1)
    assert prefix.rstrip("/") == archive_prefix("dev")
    archived = {name: archived_digests(s3, bucket, f"{prefix}{name}.tar.gz") for name in before}
    assert archived == before
    assert homes_digests(camp) == before, "archiving changed the homes"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}MANIFEST.json")["Body"].read())
    assert sorted(entry["home"] for entry in manifest["homes"]) == sorted(before)
    ec2 = camp.rehearsal.aws.client("ec2")
    (snapshot,) = ec2.describe_snapshots(SnapshotIds=[manifest["snapshot_id"]])["Snapshots"]
    assert snapshot["VolumeId"] == camp.outputs["homesVolumeId"]


def test_archive_bucket_has_the_declared_settings(camp):
    s3 = camp.rehearsal.aws.client("s3")
    bucket = camp.outputs["homesArchive"].removeprefix("s3://").split("/", 1)[0]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
