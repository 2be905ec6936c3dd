"""The one rehearsed camp every end-to-end module of the real program shares: deploying it is
the slow part, so it is made once per session and each module drives it as an organizer would."""

import os
import shutil

import pytest
from e2e_support import Camp

from rehearsal.camp import class_list
from rehearsal.run import PROJECT_DIR, Rehearsal


@pytest.fixture(scope="session")
def camp():
    """The dev stack rehearsed with two workers and a copy of the sample class list. With
    CAMPHUB_E2E_KEEP=1 it stays up afterwards and the next run starts from it (`up` brings it
    back to the sample list), which saves the cold start while working on these tests;
    CAMPHUB_E2E_NAME gives it another name, so that two runs on one engine never meet."""
    name = os.environ.get("CAMPHUB_E2E_NAME", "e2e-camp")
    work_dir = PROJECT_DIR / ".work" / "rehearsal" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    userlist = work_dir / "userlist.txt"
    shutil.copy(class_list("dev")[0], userlist)
    rehearsal = Rehearsal(PROJECT_DIR, "dev", work_dir=work_dir / "state", name=name)
    camp = Camp(rehearsal, userlist)
    camp.up(workers=2)
    yield camp
    if os.environ.get("CAMPHUB_E2E_KEEP") != "1":
        rehearsal.down()
        assert rehearsal.cloud.containers() == []
