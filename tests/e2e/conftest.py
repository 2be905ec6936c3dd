"""The one rehearsed camp every end-to-end module of the real program shares: deploying it is
the slow part, so it is made once per session and each module drives it as an organizer would."""

import datetime
import json
import os
import shutil

import pytest
from e2e_support import Camp

from rehearsal.camp import class_list
from rehearsal.run import PROJECT_DIR, Rehearsal

# Modules that leave the shared camp unlike they found it run last, in this order:
# test_instance_changes.py leaves the workers on another instance type (putting it back would stop
# and start them again, minutes for nothing), and test_bring_back.py, which destroys the camp
# first, brings it back as configured; running last, a failure there leaves no module without a
# camp.
LAST = ("test_instance_changes.py", "test_bring_back.py")


def pytest_collection_modifyitems(items):
    # Stable: the order otherwise kept.
    items.sort(key=lambda item: LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)


@pytest.fixture(scope="session")
def camp():
    """The dev stack rehearsed with two workers and copies of the sample class list and of the
    course materials. With CAMPHUB_E2E_KEEP=1 it stays up afterwards and the next run starts
    from it (`up` brings it back to the sample list and materials), which saves the cold start
    while working on these tests; CAMPHUB_E2E_NAME gives it another name, so that two runs on
    one engine never meet. Otherwise it is torn down as `pulumi destroy` would, which archives
    every home first: the archive must have succeeded."""
    name = os.environ.get("CAMPHUB_E2E_NAME", "e2e-camp")
    work_dir = PROJECT_DIR / ".work" / "rehearsal" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    userlist = work_dir / "userlist.txt"
    shutil.copy(class_list("dev")[0], userlist)
    materials = work_dir / "materials"
    shutil.rmtree(materials, ignore_errors=True)
    shutil.copytree(PROJECT_DIR / "materials", materials)
    rehearsal = Rehearsal(PROJECT_DIR, "dev", work_dir=work_dir / "state", name=name)
    camp = Camp(rehearsal, userlist, materials)
    camp.up(workers=2)
    yield camp
    if os.environ.get("CAMPHUB_E2E_KEEP") != "1":
        began = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        shutil.rmtree(rehearsal.archive_dir, ignore_errors=True)
        rehearsal.down()  # stops, deleting nothing, if the archive fails
        assert rehearsal.cloud.containers() == []
        # One archive bucket per life of the camp (test_bring_back.py destroys it and brings
        # it back; the first bucket stays, as on AWS): the newest archive is `down`'s.
        created = [
            datetime.datetime.fromisoformat(json.loads(manifest.read_text())["created"])
            for manifest in rehearsal.archive_dir.glob("*/homes/dev/MANIFEST.json")
        ]
        assert created, "`down` saved no archive"
        assert max(created) >= began, "the archive saved is not the one `down` made"


@pytest.fixture(scope="module")
def ca_file(camp, tmp_path_factory):
    """The certificate nginx serves at hubUrl (self-signed on the dev stack), read on the hub, so
    a module's API clients check the hub they talk to."""
    return camp.hub_certificate(tmp_path_factory.mktemp("hub") / "hub.crt")
