"""Homes that survive a real class, on the local cloud: a student who fills their home is stopped
at their own limit while a classmate saves; the limit raised on the class list lets them go on
with nothing restarted; a deleted notebook comes back from a snapshot through the paths the
student sees, and nobody sees another's snapshots; all of it still holds after the NFS server
machine restarts mid-class. Everything a student does goes through their own kernel or their
server's contents API, through nginx and the hub. Shares the session's rehearsed camp.
"""

import re
import subprocess

import pytest
from e2e_support import in_kernel, signed_in
from waiting import wait_for

from infra import layout
from infra.config import DEFAULTS
from infra.userlist import escaped_username
from rehearsal import ssh

pytestmark = pytest.mark.live

FILLER, CLASSMATE = "filler@camp.example.org", "mate@camp.example.org"
GIB = 1024**3
SNAPSHOT_UNIT = "camphub-home-snapshots.service"
USAGE_UNIT = "camphub-home-usage.service"
NOTEBOOK = {
    "type": "notebook",
    "content": {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "my week's work"}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
}

# Writes 64 MiB chunks, each on disk before the next (unbuffered: nothing is left to flush once
# the kernel refuses), until `limit` more bytes or a refusal; leaves {"written": bytes,
# "error": errno name or None} in `answer`.
FILL = """
import errno, os
chunk, written, error = bytes(64 << 20), 0, None
descriptor = os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
try:
    while written < {limit}:
        written += os.write(descriptor, chunk)
        os.fsync(descriptor)
except OSError as refused:
    error = errno.errorcode[refused.errno]
finally:
    os.close(descriptor)
answer = {{"written": written, "error": error}}
"""


def set_class_list_quota(camp, user: str, gib: int | None) -> None:
    lines = [line for line in camp.userlist.read_text().splitlines() if line.split()[:1] != [user]]
    lines.append(f"{user} quota={gib}" if gib else user)
    camp.userlist.write_text("\n".join(lines) + "\n")


def nfs_run(camp, command: str) -> str:
    return camp.run(command, host=camp.outputs["nfsPrivateIp"])


def take_snapshots(camp) -> None:
    """One round of the NFS server's snapshot timer, now rather than at the top of the hour."""
    nfs_run(camp, f"sudo systemctl start {SNAPSHOT_UNIT}")


def save_notebook(client, owner: str, path: str) -> int:
    """JupyterLab's save: the notebook PUT through the contents API (the server started first)."""
    client.start_server_and_wait_until_it_answers(owner)
    return client.server_api(owner, "PUT", f"/contents/{path}", json=NOTEBOOK).status_code


@pytest.fixture(scope="module")
def enrolled(camp):
    """The filler with a 1 GiB limit on the class list, the classmate with the stack's default.
    Afterwards the filler's big file goes, so the end-of-week archive stays small."""
    original = camp.userlist.read_text()
    set_class_list_quota(camp, FILLER, 1)
    set_class_list_quota(camp, CLASSMATE, None)
    camp.up()
    yield
    remove_runaway_file(camp)
    camp.userlist.write_text(original)


filler = signed_in(FILLER)
classmate = signed_in(CLASSMATE)


def remove_runaway_file(camp) -> None:
    home = f"{layout.NFS_EXPORT_DIR}/{escaped_username(FILLER)}"
    nfs_run(camp, f"sudo rm -f {home}/runaway.bin")


@pytest.fixture(scope="module")
def filled(camp, filler):
    """The filler's runaway loop, run until the kernel refuses it."""
    remove_runaway_file(camp)
    return in_kernel(filler, FILLER, FILL.format(path="runaway.bin", limit=3 * GIB))


def test_a_student_at_their_limit_is_refused_while_a_classmate_saves(filled, classmate):
    assert filled["error"] == "EDQUOT", filled
    assert 0.9 * GIB <= filled["written"] <= GIB
    assert save_notebook(classmate, CLASSMATE, "saved-while-full.ipynb") in (200, 201)


def test_a_limit_raised_on_the_class_list_lets_the_writes_go_on_with_nothing_restarted(
    camp, filler, filled
):
    instances = {record.name: record.id for record in camp.records()}
    hub_started = camp.hub_container_started_at()
    task = camp.running_task(FILLER)
    set_class_list_quota(camp, FILLER, 2)
    camp.up()
    assert (
        "limit of filler@camp.example.org set to 2 GiB"
        in camp.step("nfs-make-homes").outputs["stdout"]
    )
    more = in_kernel(filler, FILLER, FILL.format(path="runaway.bin", limit=GIB // 2))
    assert more == {"written": GIB // 2, "error": None}
    assert {record.name: record.id for record in camp.records()} == instances
    assert camp.hub_container_started_at() == hub_started
    assert camp.running_task(FILLER) == task


def snapshot_names(client, owner: str) -> list[str]:
    response = client.server_api(owner, "GET", "/contents/snapshots")
    response.raise_for_status()
    return sorted(entry["name"] for entry in response.json()["content"])


def test_a_deleted_notebook_comes_back_from_a_snapshot_in_the_file_browser(camp, classmate):
    assert save_notebook(classmate, CLASSMATE, "week.ipynb") in (200, 201)
    take_snapshots(camp)
    newest = snapshot_names(classmate, CLASSMATE)[-1]
    deleted = classmate.server_api(CLASSMATE, "DELETE", "/contents/week.ipynb")
    assert deleted.status_code == 204
    # What JupyterLab's file browser sends for "copy" in the snapshot and "paste" in the home.
    restored = classmate.server_api(
        CLASSMATE, "POST", "/contents", json={"copy_from": f"snapshots/{newest}/week.ipynb"}
    )
    assert restored.status_code == 201, restored.text
    assert restored.json()["path"] == "week.ipynb"
    back = classmate.server_api(CLASSMATE, "GET", "/contents/week.ipynb").json()
    assert back["content"]["cells"][0]["source"] == "my week's work"


SNAPSHOTS_SEEN = """
import os
root = {root!r}
files = sorted(
    os.path.relpath(os.path.join(directory, name), root)
    for directory, _, names in os.walk(root) for name in names
)
try:
    open(os.path.join(root, os.listdir(root)[-1], "planted.txt"), "w")
    refused = None
except OSError as error:
    refused = error.strerror
answer = {{"files": files, "refused": refused}}
"""


def test_a_student_sees_only_their_own_snapshots_read_only(camp, classmate, filled):
    take_snapshots(camp)
    seen = in_kernel(
        classmate, CLASSMATE, SNAPSHOTS_SEEN.format(root=layout.SNAPSHOTS_CONTAINER_DIR)
    )
    assert any(path.endswith("/week.ipynb") for path in seen["files"])
    assert not any("runaway" in path for path in seen["files"])
    assert seen["refused"] == "Read-only file system"


def nfs_machine_answers(camp) -> bool:
    try:
        nfs_run(camp, f"systemctl is-active --quiet {SNAPSHOT_UNIT.replace('service', 'timer')}")
    except (AssertionError, ssh.RemoteError, OSError):
        return False
    return True


@pytest.fixture(scope="module")
def nfs_restarted(camp, classmate, filled):
    """The NFS server machine restarted while the classmate's kernel is running."""
    classmate.start_server_and_wait_until_it_answers(CLASSMATE)
    response = classmate.server_api(CLASSMATE, "POST", "/kernels", json={"name": "python3"})
    response.raise_for_status()
    kernel = response.json()["id"]
    classmate.run_in_kernel(CLASSMATE, kernel, "before = 6 * 7")
    subprocess.run(
        ["docker", "restart", camp.rehearsal.cloud.container_name("nfs")],
        check=True,
        capture_output=True,
    )
    wait_for(
        lambda: nfs_machine_answers(camp),
        timeout=300,
        what="the NFS server is back with its timers",
        interval=3,
    )
    return kernel


def test_after_the_nfs_server_restarts_kernels_saves_limits_and_snapshots_all_still_hold(
    camp, classmate, filler, nfs_restarted
):
    assert classmate.run_in_kernel(CLASSMATE, nfs_restarted, "print(before)").strip() == "42"
    assert save_notebook(classmate, CLASSMATE, "after-restart.ipynb") in (200, 201)
    over = in_kernel(filler, FILLER, FILL.format(path="runaway.bin", limit=2 * GIB))
    assert over["error"] == "EDQUOT", over
    # The server mounted its homes volume again at boot, from fstab, and its timers work on it.
    fstype = nfs_run(camp, f"findmnt -n -o FSTYPE {layout.NFS_EXPORT_DIR}").strip()
    assert fstype == "btrfs"
    now = nfs_run(camp, "date -u +%Y-%m-%d_%H-%M").strip()
    take_snapshots(camp)
    assert now in snapshot_names(classmate, CLASSMATE)
    nfs_run(camp, f"sudo systemctl start {USAGE_UNIT}")
    report = nfs_run(camp, f"sudo journalctl -b -u {USAGE_UNIT} -o cat --no-pager")
    assert re.search(r"usage of [1-9]\d* homes written", report), report
    usage = in_kernel(
        classmate,
        CLASSMATE,
        f"import json; answer = json.load(open('{layout.USAGE_CONTAINER_DIR}/usage.json'))",
    )
    assert usage["limit_bytes"] == DEFAULTS["nfs"]["homeQuotaGb"] * GIB
    assert usage["used_bytes"] > 0
