"""What a student sees of their home and their limits in the notebook image (issue 15).

A real server of the image (`jupyter server`, which reads the same settings and extensions as
jupyterhub-singleuser) runs on a bind-mounted home as on a worker, with the spawner's MEM_LIMIT
and the NFS server's usage file, and is asked through the APIs JupyterLab itself calls.
"""

import json
import os
import py_compile
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket
from jupyter_api import execute_in_kernel
from test_images import NOTEBOOK_DIR, notebook_of
from waiting import wait_for

from infra import layout

MEM_LIMIT = 2 * 1024**3  # what the spawner sets in MEM_LIMIT for notebook.memLimit 2G
GIB = 1024**3
SQLITE_MAGIC = b"SQLite format 3\0"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", "-journal", "-wal", "-shm")
# The files the image adds to configure a student's server, each one checked by Python itself.
PYTHON_FILES = sorted(NOTEBOOK_DIR.rglob("*.py"))


@dataclass(frozen=True)
class StudentServer:
    url: str
    token: str

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/api{path}", headers=headers, timeout=60,
                                **kwargs)  # fmt: skip

    def run(self, kernel_id: str, code: str) -> str:
        """What `code` prints in the running kernel, over the websocket JupyterLab uses."""
        connection = websocket.create_connection(
            f"{self.url.replace('http://', 'ws://', 1)}/api/kernels/{kernel_id}/channels",
            header=[f"Authorization: token {self.token}"],
            timeout=60,
        )
        try:
            return execute_in_kernel(connection, code)
        finally:
            connection.close()


def student_home(parent: Path) -> Path:
    """An empty home owned by the student, as the NFS server makes it."""
    home = parent / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(home, layout.STUDENT_UID, layout.STUDENT_GID)
    return home


def usage_directory(parent: Path) -> Path:
    """Where the NFS server publishes the usage file: readable by the student, not writable."""
    usage_dir = parent / "usage"
    usage_dir.mkdir(mode=0o755)
    usage_dir.chmod(0o755)
    return usage_dir


def write_usage(usage_dir: Path, usage: dict | None) -> None:
    """Publish (None: withdraw) the usage file as the NFS server does: whole, by a rename."""
    target = usage_dir / "usage.json"
    if usage is None:
        target.unlink(missing_ok=True)
        return
    part = usage_dir / ".usage.json.part"
    part.write_text(json.dumps(usage))
    part.chmod(0o644)
    part.replace(target)


@contextmanager
def student_server(image: str, home: Path, usage_dir: Path) -> Iterator[StudentServer]:
    """The image's server on `home`, with `usage_dir` read-only at /srv/camp/usage, as the
    spawner mounts them; stopped (SIGTERM, so it writes what it holds) on the way out."""
    name = f"h1-home-{secrets.token_hex(4)}"
    token = secrets.token_hex(16)
    subprocess.run(
        ["docker", "run", "--detach", f"--name={name}", "--publish=127.0.0.1::8888",
         f"--volume={home}:/home/jovyan", f"--volume={usage_dir}:/srv/camp/usage:ro",
         f"--env=MEM_LIMIT={MEM_LIMIT}", image,
         "jupyter", "server", "--ip=0.0.0.0", "--port=8888", "--no-browser",
         f"--IdentityProvider.token={token}"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    try:
        published = subprocess.run(
            ["docker", "port", name, "8888/tcp"], check=True, capture_output=True, text=True
        )
        port = published.stdout.split(":")[-1].strip()
        server = StudentServer(f"http://127.0.0.1:{port}", token)

        def answering() -> bool:
            state = subprocess.run(["docker", "inspect", "--format={{.State.Running}}", name],
                                   capture_output=True, text=True, check=True)  # fmt: skip
            assert state.stdout.strip() == "true", "the student's server exited"
            return server.api("GET", "/status").ok

        wait_for(answering, timeout=120, what="student server")
        yield server
    except BaseException:
        # The server's log, shown with the failure.
        subprocess.run(["docker", "logs", name], check=False)
        raise
    finally:
        subprocess.run(["docker", "stop", "--time=20", name], capture_output=True, check=False)
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(NOTEBOOK_DIR)))
def test_the_images_python_files_compile(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


# The status bar: memory and disk against the limits.


@pytest.fixture(scope="module")
def usage_dir(tmp_path_factory) -> Path:
    return usage_directory(tmp_path_factory.mktemp("s"))


@pytest.fixture(scope="module")
def server(notebook_image, usage_dir, tmp_path_factory) -> Iterator[StudentServer]:
    with student_server(notebook_image, student_home(tmp_path_factory.mktemp("s")), usage_dir) as s:
        yield s


def metrics(server: StudentServer) -> dict:
    """What JupyterLab's resource-usage status bar item polls."""
    response = server.api("GET", "/metrics/v1")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.live
def test_the_status_bar_shows_memory_against_the_spawners_mem_limit(server):
    memory = metrics(server)["limits"]["memory"]
    assert memory["rss"] == MEM_LIMIT


@pytest.mark.live
def test_the_status_bar_shows_the_homes_use_against_its_limit_from_the_nfs_servers_file(
    server, usage_dir
):
    write_usage(usage_dir, {"used_bytes": 3 * GIB, "limit_bytes": 10 * GIB,
                            "updated": "2026-12-03T13:00:00Z"})  # fmt: skip
    shown = metrics(server)
    assert (shown["disk_used"], shown["disk_total"]) == (3 * GIB, 10 * GIB)
    assert shown["limits"]["disk"] == {"disk": 10 * GIB, "warn": False}
    # Every poll reads the file the NFS server rewrites each minute; near the limit, it warns.
    write_usage(usage_dir, {"used_bytes": int(9.5 * GIB), "limit_bytes": 10 * GIB,
                            "updated": "2026-12-03T13:01:00Z"})  # fmt: skip
    shown = metrics(server)
    assert shown["disk_used"] == int(9.5 * GIB)
    assert shown["limits"]["disk"] == {"disk": 10 * GIB, "warn": True}


@pytest.mark.live
@pytest.mark.parametrize(
    "usage",
    [None, {"used_bytes": GIB, "limit_bytes": None, "updated": "2026-12-03T13:00:00Z"}, "{"],
    ids=["no file (a home made before limits)", "no limit", "unreadable file"],
)
def test_without_a_limit_the_status_bar_shows_no_disk_figure_and_memory_still(
    server, usage_dir, usage
):
    if isinstance(usage, str):
        write_usage(usage_dir, None)
        (usage_dir / "usage.json").write_text(usage)
    else:
        write_usage(usage_dir, usage)
    shown = metrics(server)
    # Not the statvfs of the home either: that is the whole NFS volume, not the student's.
    assert "disk_total" not in shown and "disk" not in shown["limits"]
    assert shown["limits"]["memory"]["rss"] == MEM_LIMIT


@pytest.mark.live
def test_jupyterlab_has_the_status_bar_item(notebook_image):
    listed = subprocess.run(
        ["docker", "run", "--rm", notebook_image, "jupyter", "labextension", "list"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    # It colours its words even without a terminal.
    lines = [" ".join(re.sub(r"\x1b\[[0-9;]*m", "", line).split())
             for line in (listed.stdout + listed.stderr).splitlines()]  # fmt: skip
    assert any(line.startswith("@jupyter-server/resource-usage v") and " enabled OK " in line
               for line in lines), lines  # fmt: skip


# No SQLite database on the NFS home.


def sqlite_files(home: Path) -> list[str]:
    """Every SQLite database or journal under `home`, by name or by its header."""
    found = []
    for path in home.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as file:
            header = file.read(len(SQLITE_MAGIC))
        if path.name.endswith(SQLITE_SUFFIXES) or header == SQLITE_MAGIC:
            found.append(str(path.relative_to(home)))
    return sorted(found)


@pytest.mark.live
def test_a_kernel_and_a_saved_notebook_leave_no_sqlite_database_in_the_home(
    notebook_image, tmp_path
):
    home = student_home(tmp_path)
    usage_dir = usage_directory(tmp_path)
    with student_server(notebook_image, home, usage_dir) as server:
        response = server.api("POST", "/kernels", json={"name": "python3"})
        assert response.status_code == 201, response.text
        kernel_id = response.json()["id"]
        history = server.run(kernel_id, "print(get_ipython().history_manager.hist_file)")
        saved = server.api("PUT", "/contents/day1.ipynb",
                           json={"type": "notebook", "content": notebook_of("1 + 1")})  # fmt: skip
        assert saved.status_code == 201, saved.text
        # Opening a notebook checks its signature against the notary's database.
        assert server.api("GET", "/contents/day1.ipynb").status_code == 200
        assert server.api("DELETE", f"/kernels/{kernel_id}").status_code == 204
    # The server did write to this home (else the check would prove nothing).
    assert (home / "day1.ipynb").is_file() and (home / ".ipython").is_dir()
    assert sqlite_files(home) == []
    assert not history.strip().startswith("/home/"), history


# A save refused for the limit says so in JupyterLab.


def host_run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


@pytest.fixture
def limited_home(tmp_path) -> Iterator[Path]:
    """A home as on the NFS server: a btrfs subvolume with a 50M qgroup limit, on a loop file."""
    if os.geteuid() != 0 or not shutil.which("mkfs.btrfs"):
        pytest.skip("needs root and btrfs-progs (apt-get install btrfs-progs)")
    image, mount = tmp_path / "homes.img", tmp_path / "homes"
    mount.mkdir()
    with image.open("wb") as file:
        file.truncate(300 * 1024**2)
    host_run("mkfs.btrfs", "--quiet", str(image))
    host_run("mount", "-o", "loop", str(image), str(mount))  # autoclear frees the loop device
    try:
        host_run("btrfs", "quota", "enable", str(mount))
        host_run("btrfs", "subvolume", "create", str(mount / "home"))
        host_run("btrfs", "qgroup", "limit", "50M", str(mount / "home"))
        yield student_home(mount)
    finally:
        host_run("umount", str(mount))


def write_mib(path: Path, mib: int) -> None:
    """Write `mib` MiB to the student's file `path` (root is held to a qgroup's limit too)."""
    chunk = bytes(1024**2)
    # Unbuffered, so a refusal comes from the write itself and nothing is left to flush.
    with path.open("wb", buffering=0) as file:
        shutil.chown(path, layout.STUDENT_UID, layout.STUDENT_GID)
        for _ in range(mib):
            file.write(chunk)


def fill(home: Path) -> None:
    """Write to `home` until the kernel refuses for its limit."""
    with pytest.raises(OSError, match="Disk quota exceeded"):
        write_mib(home / "big-dataset.bin", 1000)  # far past the 50M limit


@pytest.mark.live
def test_a_save_refused_for_the_limit_says_disk_quota_exceeded(notebook_image, limited_home,
                                                               tmp_path):  # fmt: skip
    usage_dir = usage_directory(tmp_path)
    with student_server(notebook_image, limited_home, usage_dir) as server:
        before = server.api("PUT", "/contents/day1.ipynb",
                            json={"type": "notebook", "content": notebook_of("1 + 1")})  # fmt: skip
        assert before.status_code == 201, before.text
        fill(limited_home)
        changed = {"type": "notebook", "content": notebook_of("2 + 2")}
        refused = server.api("PUT", "/contents/day1.ipynb", json=changed)
    assert refused.status_code == 500
    # JupyterLab's save-error dialog shows the answer's "message".
    assert "Disk quota exceeded" in refused.json()["message"], refused.text
    # The refused save left the last good version in place.
    assert "1 + 1" in (limited_home / "day1.ipynb").read_text()


@pytest.mark.live
def test_a_file_the_student_deletes_frees_its_space(notebook_image, limited_home, tmp_path):
    with student_server(notebook_image, limited_home, usage_directory(tmp_path)) as server:
        write_mib(limited_home / "first.bin", 30)
        assert server.api("DELETE", "/contents/first.bin").status_code == 204
        # 60M in all under the 50M limit: only if the first file left the home, not for a trash.
        write_mib(limited_home / "second.bin", 30)


@pytest.mark.live
def test_on_a_home_at_its_limit_the_server_starts_and_runs_a_kernel(notebook_image, limited_home,
                                                                    tmp_path):  # fmt: skip
    usage_dir = usage_directory(tmp_path)
    # A home in use: what a server and a kernel make there. It takes two starts: the second
    # writes ~/.jupyter/migrated once ~/.ipython exists (jupyter_core); a home filled before
    # that keeps a server or a kernel from starting (known, not fixed in the image).
    for _ in range(2):
        with student_server(notebook_image, limited_home, usage_dir) as server:
            response = server.api("POST", "/kernels", json={"name": "python3"})
            assert server.run(response.json()["id"], "print(1)") == "1\n"
    fill(limited_home)
    with student_server(notebook_image, limited_home, usage_dir) as server:
        response = server.api("POST", "/kernels", json={"name": "python3"})
        assert response.status_code == 201, response.text
        assert server.run(response.json()["id"], "print(6 * 7)") == "42\n"
