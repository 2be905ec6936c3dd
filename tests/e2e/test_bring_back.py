"""A destroyed camp brought back with every home, on the local cloud. `pulumi destroy` archives
the homes and keeps the homes volume; `pulumi up` with nfs.adoptHomesVolume set to it makes every
machine anew around that volume, never formats it, and a student finds the file they had through
their own server; a student no longer on the class list still has their home.

Shares the session's rehearsed camp rather than making a small one: a second camp could not run
beside it on this machine, and bringing this one back costs one `up` where a camp of its own would
cost two more. It runs at the end of the camp's life (conftest.py's LAST), so a failure here
leaves no other module without a camp; the session's teardown then destroys the brought-back
camp and checks its archive. The setting stays for any later `up` (as `pulumi config set` keeps
it in the stack). Every machine is new, the hub among them: this module reads its certificate
again.
"""

import secrets

import pytest

from infra import layout
from infra.userlist import escaped_username
from rehearsal.ec2_volumes import VOLUME

pytestmark = pytest.mark.live

STUDENT = "grace@camp.example.org"  # on the class list
DEPARTED = "departed@camp.example.org"  # has a home on the volume, not on the class list
FILE = "brought-back.txt"


def home_of(user: str) -> str:
    return f"{layout.NFS_EXPORT_DIR}/{escaped_username(user)}"


def nfs_run(camp, command: str, stdin: str | None = None) -> str:
    return camp.run(command, host=camp.outputs["nfsPrivateIp"], stdin=stdin)


def write_as_owner(camp, path: str, text: str) -> None:
    """Writes `text` to `path` on the NFS server as the students' uid, as their server would."""
    writer = f"--reuid={layout.STUDENT_UID} --regid={layout.STUDENT_GID} --clear-groups"
    nfs_run(camp, f"sudo setpriv {writer} sh -c 'cat > {path}'", stdin=text)


@pytest.fixture(scope="module")
def before(camp):
    """What the camp held before the destroy: the volume's id, and what each home holds (new
    text every run, so a file left by an earlier run cannot pass)."""
    written = {STUDENT: secrets.token_hex(16), DEPARTED: secrets.token_hex(16)}
    nfs_run(camp, f"sudo install -d -o {layout.STUDENT_UID} -g {layout.STUDENT_GID} "
                  f"-m 0700 {home_of(DEPARTED)}")  # fmt: skip
    for user, text in written.items():
        write_as_owner(camp, f"{home_of(user)}/{FILE}", text)
    return {"volume": camp.outputs["homesVolumeId"], "written": written}


@pytest.fixture(scope="module")
def destroyed(camp, before):
    camp.destroy()
    return camp.records()  # the machines the stack still holds


@pytest.fixture(scope="module")
def brought_back(camp, before, destroyed):
    camp.configure("nfs", {"adoptHomesVolume": before["volume"]})
    return camp.up()


def test_destroy_archives_the_homes_and_keeps_the_volume(camp, before, destroyed):
    assert destroyed == [], "every machine is gone"
    backing = camp.rehearsal.cloud.volumes_dir / f"{before['volume']}.img"
    assert backing.exists(), "the homes volume's data is kept"
    s3 = camp.rehearsal.aws.client("s3")
    archived = [
        item["Key"]
        for bucket in s3.list_buckets()["Buckets"]
        for item in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
    ]
    for user in before["written"]:
        assert f"homes/dev/{escaped_username(user)}.tar.gz" in archived, user


def test_the_camp_comes_back_on_the_kept_volume(camp, before, brought_back):
    assert brought_back["homesVolumeId"] == before["volume"]
    declared = [record.id for record in camp.records(VOLUME)]  # the hub's own volume
    assert before["volume"] not in declared, "the adopted volume is not the program's to delete"
    export = camp.step("nfs-export-homes").outputs["stdout"]
    assert "formatted" not in export, export


def test_a_student_finds_their_file_through_their_own_server(
    camp, before, brought_back, tmp_path_factory
):
    ca_file = camp.hub_certificate(tmp_path_factory.mktemp("new-hub") / "hub.crt")
    with camp.as_student(STUDENT, ca_file) as client:
        client.start_server_and_wait_until_it_answers(STUDENT)
        response = client.server_api(STUDENT, "GET", f"/contents/{FILE}")
        assert response.status_code == 200, response.text
        assert response.json()["content"] == before["written"][STUDENT]
        client.stop_server(STUDENT)


def test_a_home_no_longer_on_the_class_list_is_kept(camp, before, brought_back):
    kept = nfs_run(camp, f"sudo cat {home_of(DEPARTED)}/{FILE}")
    assert kept == before["written"][DEPARTED]
