"""The bootstrap scripts: static checks by the real tools, and each script run for real.

Scripts that only touch files run on this host (as root, like on a machine); the ones that need a
machine (systemd, a block device, a swarm) run in payload checker containers; build-image uses
the local Docker engine (start-hub, with the real hub and proxy images, is test_hub_bootstrap.py's).
Each script is run twice to prove the second run changes nothing.
"""

import json
import os
import py_compile
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import payload_checker
import pytest
import yaml
from payload_checker import DOCKER_FLAGS, address_of, load_base_image, run_script
from waiting import wait_for

from infra import layout
from infra.userdata import render_user_data
from infra.userlist import escaped_username

SCRIPTS_DIR = payload_checker.PROJECT_DIR / "scripts"
CLOUD_INIT_FILES = payload_checker.PROJECT_DIR / "cloud-init" / "files"
IMAGES_DIR = payload_checker.PROJECT_DIR / "images"


def is_python(path: Path) -> bool:
    return path.read_text().startswith("#!/usr/bin/env python3")


def is_shell(path: Path) -> bool:
    first_line = path.read_text().split("\n", 1)[0]
    return first_line.endswith("bash") or first_line == "# shellcheck shell=bash"


SCRIPTS = sorted(p for p in SCRIPTS_DIR.iterdir() if p.is_file())
SHELL_FILES = [p for p in SCRIPTS if is_shell(p)] + [
    p
    for tree in (CLOUD_INIT_FILES, IMAGES_DIR)
    for p in sorted(tree.rglob("*"))
    if p.is_file() and is_shell(p)
]
PYTHON_SCRIPTS = [p for p in SCRIPTS if is_python(p)] + [
    p for p in sorted(CLOUD_INIT_FILES.rglob("*")) if p.is_file() and is_python(p)
]
requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="the scripts run as root")


def test_every_script_is_checked_as_shell_or_python():
    unchecked = [p.name for p in SCRIPTS if not (is_shell(p) or is_python(p))]
    assert not unchecked


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(path):
    result = subprocess.run(
        ["shellcheck", "--external-sources", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "path", [p for p in SHELL_FILES if p.name != "lib.sh"], ids=lambda p: p.name
)
def test_shell_scripts_are_strict(path):
    assert "set -euo pipefail" in path.read_text()


@pytest.mark.parametrize("path", PYTHON_SCRIPTS, ids=lambda p: p.name)
def test_python_scripts_compile_and_pass_ruff(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)
    ruff = Path(sys.executable).with_name("ruff")
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run([str(ruff), *command, str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.name != "lib.sh"], ids=lambda p: p.name)
def test_scripts_are_executable(path):
    assert os.access(path, os.X_OK)


# install-secrets: files only, so it runs on this host.

SECRETS = {"cookie_secret": "c0ffee" * 8, "proxy_auth_token": "multi\nline value"}


@requires_root
class TestInstallSecrets:
    def install(self, directory: Path, secrets: object, check: bool = True):
        return run_script(
            "install-secrets", "--secrets-dir", str(directory), stdin=json.dumps(secrets),
            check=check,
        )  # fmt: skip

    def test_writes_root_only_files_in_a_private_directory(self, tmp_path):
        directory = tmp_path / "secrets"
        output = self.install(directory, SECRETS).stdout
        assert output == "install-secrets: changed cookie_secret, proxy_auth_token\n"
        assert directory.stat().st_mode & 0o777 == 0o700
        for name, value in SECRETS.items():
            status = (directory / name).stat()
            assert (status.st_mode & 0o777, status.st_uid) == (0o600, 0)
            assert (directory / name).read_text() == value

    def test_a_second_run_changes_nothing_and_keeps_the_files(self, tmp_path):
        directory = tmp_path / "secrets"
        self.install(directory, SECRETS)
        inode = (directory / "cookie_secret").stat().st_ino
        assert self.install(directory, SECRETS).stdout == "install-secrets: nothing changed\n"
        assert (directory / "cookie_secret").stat().st_ino == inode

    def test_only_a_changed_secret_is_rewritten(self, tmp_path):
        directory = tmp_path / "secrets"
        self.install(directory, SECRETS)
        changed = {**SECRETS, "cookie_secret": "beef" * 16}
        assert self.install(directory, changed).stdout == "install-secrets: changed cookie_secret\n"
        assert (directory / "cookie_secret").read_text() == "beef" * 16

    def test_loose_modes_are_tightened(self, tmp_path):
        directory = tmp_path / "secrets"
        self.install(directory, SECRETS)
        directory.chmod(0o755)
        (directory / "cookie_secret").chmod(0o644)
        assert "changed cookie_secret" in self.install(directory, SECRETS).stdout
        assert directory.stat().st_mode & 0o777 == 0o700
        assert (directory / "cookie_secret").stat().st_mode & 0o777 == 0o600

    @pytest.mark.parametrize(
        ("secrets", "message"),
        [
            ({"../escape": "x"}, "is not a secret name"),
            ({"cookie_secret": ""}, "must be a non-empty string"),
            ({"cookie_secret": 42}, "must be a non-empty string"),
            (["cookie_secret"], "must be a non-empty JSON object"),
        ],
    )
    def test_bad_input_is_refused_without_writing(self, tmp_path, secrets, message):
        result = self.install(tmp_path / "secrets", secrets, check=False)
        assert result.returncode != 0
        assert message in result.stderr
        assert not (tmp_path / "secrets").exists()

    def test_values_never_reach_the_output(self, tmp_path):
        result = self.install(tmp_path / "secrets", SECRETS)
        for value in SECRETS.values():
            assert value not in result.stdout + result.stderr


# build-image: the local Docker engine.


@pytest.mark.live
@requires_root
def test_build_image_builds_once_then_is_a_no_op(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL camphub.test=build-image\n"
    )
    tag = f"{payload_checker.NAME_PREFIX}build-image:{uuid.uuid4().hex[:8]}"
    args = (
        "--context",
        str(tmp_path),
        "--tag",
        tag,
        "--build-arg",
        "BASE_IMAGE=debian:trixie-slim",
    )
    try:
        assert run_script("build-image", *args).stdout == f"build-image: built {tag}\n"
        assert run_script("build-image", *args).stdout == f"build-image: {tag} already built\n"
        label = payload_checker.docker(
            "image", "inspect", "--format", '{{index .Config.Labels "camphub.test"}}', tag
        )
        assert label.stdout.strip() == "build-image"
    finally:
        payload_checker.docker("rmi", "-f", tag, check=False)


@requires_root
def test_build_image_builds_the_builder_first_and_names_it_to_the_image(tmp_path):
    builder, image = tmp_path / "builder", tmp_path / "image"
    builder.mkdir()
    image.mkdir()
    (builder / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo from-the-builder > /made-by\n"
    )
    (image / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nARG BUILDER_IMAGE\nFROM ${BUILDER_IMAGE} AS built\n"
        "FROM ${BASE_IMAGE}\nCOPY --from=built /made-by /made-by\n"
    )
    suffix = uuid.uuid4().hex[:8]
    builder_tag = f"{payload_checker.NAME_PREFIX}builder:{suffix}"
    tag = f"{payload_checker.NAME_PREFIX}built-on-builder:{suffix}"
    try:
        run_script(
            "build-image", "--context", str(image), "--tag", tag,
            "--builder-context", str(builder), "--builder-tag", builder_tag,
            "--build-arg", "BASE_IMAGE=debian:trixie-slim",
        )  # fmt: skip
        made_by = payload_checker.docker("run", "--rm", tag, "cat", "/made-by")
        assert made_by.stdout.strip() == "from-the-builder"
    finally:
        payload_checker.docker("rmi", "-f", tag, builder_tag, check=False)


def test_build_image_refuses_a_builder_context_without_its_tag(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = run_script(
        "build-image", "--context", str(tmp_path), "--tag", "camphub/x:1",
        "--builder-context", str(tmp_path), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "missing --builder-tag" in result.stderr


def published(pages: Path) -> dict[str, str]:
    """The published version's files and their content, by path."""
    current = pages / "current"
    return {
        str(path.relative_to(current)): path.read_text()
        for path in sorted(current.rglob("*"))
        if path.is_file()
    }


@requires_root
def test_publish_site_swaps_in_a_folder_keeps_one_version_and_is_idempotent(tmp_path):
    pages, site = tmp_path / "pages", tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_text("v1")
    (site / "img" / "map.svg").write_text("<svg/>")
    first = run_script("publish-site", "--dir", str(pages), "--from", str(site))
    assert first.stdout.endswith(" published\n")
    assert published(pages) == {"index.html": "v1", "img/map.svg": "<svg/>"}
    assert oct((pages / "current" / "img" / "map.svg").stat().st_mode & 0o777) == "0o644"
    again = run_script("publish-site", "--dir", str(pages), "--from", str(site))
    version = os.readlink(pages / "current")
    assert again.stdout == f"publish-site: nothing changed (landing pages {version})\n"
    (site / "index.html").write_text("v2")
    run_script("publish-site", "--dir", str(pages), "--from", str(site))
    assert published(pages)["index.html"] == "v2"
    versions = [p.name for p in pages.iterdir() if p.is_dir() and not p.is_symlink()]
    assert versions == [os.readlink(pages / "current")]


@requires_root
def test_publish_site_takes_one_page_from_stdin(tmp_path):
    pages = tmp_path / "pages"
    run_script("publish-site", "--dir", str(pages), "--index-from-stdin", stdin="<h1>Camp</h1>")
    assert published(pages) == {"index.html": "<h1>Camp</h1>"}


@requires_root
def test_publish_site_refuses_a_symbolic_link_and_keeps_what_is_published(tmp_path):
    pages, site = tmp_path / "pages", tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("v1")
    run_script("publish-site", "--dir", str(pages), "--from", str(site))
    (site / "secrets").symlink_to("/etc")
    refused = run_script("publish-site", "--dir", str(pages), "--from", str(site), check=False)
    assert refused.returncode != 0 and "symbolic link" in refused.stderr
    assert published(pages) == {"index.html": "v1"}


def test_build_image_refuses_a_context_without_dockerfile(tmp_path):
    result = run_script("build-image", "--context", str(tmp_path), "--tag", "x:y", check=False)
    assert result.returncode != 0
    assert "no Dockerfile in build context" in result.stderr


# nfs-export: a checker machine with a loop device standing in for the EBS volume.

VOLUME_ID = "vol-0123456789abcdef0"
WORKER_IPS = ("10.0.2.20", "10.0.2.21")
LOOP_FLAGS = ("--device", "/dev/loop-control", "--device-cgroup-rule", "b 7:* rmw")
# This machine's kernel has no NFS server: its unit (and the kernel-facing ones it requires) is
# replaced by one that only stays active. exportfs, reading and checking the exports, is real.
NFSD_STANDIN = (
    "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
    "[Install]\nWantedBy=multi-user.target\n"
)
NFSD_STANDIN_PATH = "/etc/systemd/system/nfs-server.service"
MAKE_LOOP_NODES = "for n in $(seq 0 63); do [ -e /dev/loop$n ] || mknod /dev/loop$n b 7 $n; done"


@pytest.fixture
def nfs_machine():
    """A checker machine with a 256 MB blank loop device; yields (machine, device)."""
    payload_checker.build_image()
    with payload_checker.machine("nfs", LOOP_FLAGS) as machine:
        machine.write(NFSD_STANDIN_PATH, NFSD_STANDIN)
        machine.run("systemctl", "daemon-reload")
        # btrfs needs a little over 100 MB; the file is sparse.
        machine.run("truncate", "-s", "256M", "/var/tmp/ebs.img")
        # The container's /dev has no loop nodes; make some, then let losetup pick a free one.
        machine.run("sh", "-c", MAKE_LOOP_NODES)
        device = machine.run("losetup", "--find", "--show", "/var/tmp/ebs.img").stdout.strip()
        try:
            yield machine, device
        finally:
            machine.run("umount", layout.NFS_EXPORT_DIR, check=False)
            machine.run("losetup", "-d", device, check=False)


def nfs_export(machine, device: str, check: bool = True):
    clients = [arg for ip in WORKER_IPS for arg in ("--client", ip)]
    return machine.script(
        "nfs-export", "--volume-id", VOLUME_ID, "--device", device,
        "--export-dir", layout.NFS_EXPORT_DIR, *clients,
        "--wait-seconds", "5", check=check,
    )  # fmt: skip


@pytest.mark.live
class TestNfsExport:
    def test_formats_a_blank_volume_btrfs_with_quotas_mounts_and_exports_it(self, nfs_machine):
        machine, device = nfs_machine
        output = nfs_export(machine, device).stdout
        assert f"formatted {device} btrfs" in output and "quotas enabled" in output
        assert machine.run("findmnt", "-n", "-o", "SOURCE", layout.NFS_EXPORT_DIR).stdout.strip()
        assert machine.run("btrfs", "qgroup", "show", layout.NFS_EXPORT_DIR).returncode == 0
        uuid_ = machine.run("blkid", "-s", "UUID", "-o", "value", device).stdout.strip()
        fstab = machine.read("/etc/fstab")
        assert fstab.count(f" {layout.NFS_EXPORT_DIR} ") == 1
        assert f"UUID={uuid_} {layout.NFS_EXPORT_DIR} btrfs" in fstab
        exports = machine.run("exportfs", "-v").stdout
        for ip in WORKER_IPS:
            assert f"{ip}(" in exports
        # No client is root on the homes: they are made on this machine.
        assert "no_root_squash" not in exports
        etab = machine.read("/var/lib/nfs/etab")
        assert sum("root_squash" in line for line in etab.splitlines()) == len(WORKER_IPS)

    def test_a_volume_an_earlier_camphub_formatted_ext4_keeps_working_with_a_warning(
        self, nfs_machine
    ):
        machine, device = nfs_machine
        machine.run("mkfs.ext4", "-q", device)
        output = nfs_export(machine, device).stdout
        assert "formatted" not in output
        assert "WARNING: the homes volume is ext4" in output and "no limits" in output
        assert f" {layout.NFS_EXPORT_DIR} ext4 " in machine.read("/etc/fstab")

    def test_a_second_run_keeps_the_data_and_changes_nothing(self, nfs_machine):
        machine, device = nfs_machine
        nfs_export(machine, device)
        machine.write(f"{layout.NFS_EXPORT_DIR}/alice/notebook.ipynb", "{}\n")
        assert nfs_export(machine, device).stdout == "nfs-export: nothing changed\n"
        machine.run("umount", layout.NFS_EXPORT_DIR)
        output = nfs_export(machine, device).stdout
        assert "formatted" not in output and "mounted" in output
        assert machine.read(f"{layout.NFS_EXPORT_DIR}/alice/notebook.ipynb") == "{}\n"

    def test_a_volume_with_another_filesystem_is_never_touched(self, nfs_machine):
        machine, device = nfs_machine
        machine.run("mkfs.ext2", "-q", "-L", "precious", device)
        result = nfs_export(machine, device, check=False)
        assert result.returncode != 0
        assert "holds ext2, not btrfs or ext4; refusing to touch it" in result.stderr
        label = machine.run("blkid", "-s", "LABEL", "-o", "value", device).stdout.strip()
        assert label == "precious"

    def test_a_volume_that_never_appears_fails_after_the_deadline(self, nfs_machine):
        machine, _ = nfs_machine
        result = nfs_export(machine, "/dev/sdz", check=False)
        assert result.returncode != 0
        assert f"gave up after 5s waiting for the block device of {VOLUME_ID}" in result.stderr


# mount-hub-state: hub machines taking turns with one loop device standing in for its volume.

HUB_VOLUME_ID = "vol-0fedcba9876543210"
# Where a Nitro instance finds the volume (infra/hub.py attaches it; the script looks it up).
HUB_VOLUME_LINK = (
    f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{HUB_VOLUME_ID.replace('-', '')}"
)
RENEWAL_HOOK = f"{layout.LETSENCRYPT_DIR}/renewal-hooks/deploy/camphub-reload-nginx"
CERTIFICATE = f"{layout.LETSENCRYPT_DIR}/live/camp.example.org/fullchain.pem"
DATABASE = f"{layout.HUB_STATE_DIR}/jupyterhub.sqlite"


@contextmanager
def hub_machine(device: str | None = None, extra_flags: tuple[str, ...] = ()):
    """A fresh hub machine, as cloud-init leaves it (certbot's renewal hook in place), with the
    hub's volume attached: `device` if given (the volume another hub had), else a new blank
    one. Yields (machine, device)."""
    payload_checker.build_image()
    with payload_checker.machine("hub", (*LOOP_FLAGS, *extra_flags)) as machine:
        machine.run("sh", "-c", MAKE_LOOP_NODES)
        made_here = device is None
        if made_here:
            machine.run("truncate", "-s", "64M", "/var/tmp/hub-state.img")
            device = machine.run("losetup", "--find", "--show", "/var/tmp/hub-state.img").stdout
            device = device.strip()
        machine.run("mkdir", "-p", "/dev/disk/by-id")
        machine.run("ln", "-sfn", device, HUB_VOLUME_LINK)
        machine.write(RENEWAL_HOOK, "#!/bin/sh\nsystemctl reload nginx\n")
        try:
            yield machine, device
        finally:
            machine.run("umount", layout.HUB_VOLUME_DIR, check=False)
            if made_here:
                machine.run("losetup", "-d", device, check=False)


def mount_hub_state(machine, check: bool = True):
    return machine.script(
        "mount-hub-state", "--volume-id", HUB_VOLUME_ID, "--mount-point", layout.HUB_VOLUME_DIR,
        "--link", layout.LETSENCRYPT_DIR, "--wait-seconds", "5", check=check,
    )  # fmt: skip


@pytest.mark.live
class TestMountHubState:
    def test_a_blank_volume_is_formatted_mounted_and_holds_certbots_directory(self):
        with hub_machine() as (machine, device):
            output = mount_hub_state(machine).stdout
            assert f"formatted {device} ext4" in output
            source = machine.run("findmnt", "-n", "-o", "SOURCE", layout.HUB_VOLUME_DIR).stdout
            assert source.strip() == device
            fstab = machine.read("/etc/fstab")
            assert fstab.count(f" {layout.HUB_VOLUME_DIR} ") == 1
            assert "nofail,x-systemd.before=docker.service,x-systemd.before=nginx.service" in fstab
            kept = f"{layout.HUB_VOLUME_DIR}/letsencrypt"
            assert machine.run("readlink", layout.LETSENCRYPT_DIR).stdout.strip() == kept
            assert "systemctl reload nginx" in machine.read(
                f"{kept}/renewal-hooks/deploy/camphub-reload-nginx"
            )
            assert mount_hub_state(machine).stdout == "mount-hub-state: nothing changed\n"

    def test_a_new_hub_instance_finds_the_certificate_and_the_database_its_predecessor_left(self):
        with hub_machine() as (old_hub, device):
            mount_hub_state(old_hub)
            old_hub.write(CERTIFICATE, "the certificate Let's Encrypt issued\n")
            old_hub.write(DATABASE, "jupyterhub's users\n")
            # Stopped before the volume is detached (infra/hub.py).
            old_hub.run("umount", layout.HUB_VOLUME_DIR)
            with hub_machine(device) as (new_hub, _):
                output = mount_hub_state(new_hub).stdout
                assert "formatted" not in output and "mounted" in output
                assert new_hub.read(CERTIFICATE) == "the certificate Let's Encrypt issued\n"
                assert new_hub.read(DATABASE) == "jupyterhub's users\n"
                assert "systemctl reload nginx" in new_hub.read(RENEWAL_HOOK)

    def test_a_hub_that_kept_its_state_on_the_root_disk_moves_it_onto_the_volume(self):
        with hub_machine(extra_flags=DOCKER_FLAGS) as (machine, _):
            machine.write(CERTIFICATE, "issued before the volume existed\n")
            machine.write(DATABASE, "users from before\n")
            machine.run("systemctl", "start", "docker.service")
            load_base_image(machine)
            state = f"{layout.HUB_STATE_DIR}:{layout.HUB_STATE_DIR}"
            machine.run(
                "docker", "run", "--detach", "--stop-timeout", "1", "--name", "hub",
                "-v", state, "debian:trixie-slim", "sleep", "inf",
            )  # fmt: skip
            output = mount_hub_state(machine).stdout
            assert f"stopped 1 containers that used {layout.HUB_VOLUME_DIR}" in output
            assert f"what {layout.HUB_VOLUME_DIR} held copied onto the volume" in output
            assert machine.run("mountpoint", "-q", layout.HUB_VOLUME_DIR).returncode == 0
            assert machine.read(DATABASE) == "users from before\n"
            assert machine.read(CERTIFICATE) == "issued before the volume existed\n"
            # Started again (start-hub), the hub works on the volume's copy.
            machine.run("docker", "start", "hub")
            machine.run("docker", "exec", "hub", "sh", "-c", f"echo added >> {DATABASE}")
            assert machine.read(DATABASE) == "users from before\nadded\n"
            machine.run("docker", "rm", "--force", "hub")

    def test_a_volume_with_another_filesystem_is_never_touched(self):
        with hub_machine() as (machine, device):
            machine.run("mkfs.ext2", "-q", "-L", "precious", device)
            result = mount_hub_state(machine, check=False)
            assert result.returncode != 0
            assert "holds ext2, not ext4; refusing to touch it" in result.stderr
            label = machine.run("blkid", "-s", "LABEL", "-o", "value", device).stdout.strip()
            assert label == "precious"


# nfs-homes and its timers, on a real btrfs volume made by nfs-export.

STUDENTS = {"ada@camp.example.org": 64, "bo@camp.example.org": None}  # limit in MiB, None: none
MIB = 1024**2
SNAPSHOT_UNIT = "camphub-home-snapshots.service"
USAGE_UNIT = "camphub-home-usage.service"


def home_dir(user: str) -> str:
    return f"{layout.NFS_EXPORT_DIR}/{escaped_username(user)}"


def beside_homes(dirname: str, user: str) -> str:
    """A home's own directory among the snapshots or usage reports beside the homes."""
    return f"{layout.NFS_EXPORT_DIR}/{dirname}/{escaped_username(user)}"


def homes_json(limits_mib: dict[str, int | None]) -> str:
    homes = [
        {"user": user, "dir": escaped_username(user), "limit_bytes": mib and mib * MIB}
        for user, mib in limits_mib.items()
    ]
    return json.dumps({"homes": homes})


def make_homes(machine, limits_mib: dict[str, int | None]) -> str:
    return machine.script(
        "nfs-homes", "make", *HOME_LOCATIONS,
        "--uid", str(layout.STUDENT_UID), "--gid", str(layout.STUDENT_GID),
        "--snapshots-link", layout.SNAPSHOTS_CONTAINER_DIR,
        stdin=homes_json(limits_mib),
    ).stdout  # fmt: skip


def write_as_student(machine, path: str, mib: int, check: bool = True):
    return machine.run(
        "setpriv", f"--reuid={layout.STUDENT_UID}", f"--regid={layout.STUDENT_GID}",
        "--clear-groups", "dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}",
        "conv=fsync", check=check,
    )  # fmt: skip


HOME_LOCATIONS = (
    "--homes-dir", layout.NFS_EXPORT_DIR,
    "--snapshots-name", layout.SNAPSHOTS_DIRNAME,
    "--usage-name", layout.USAGE_DIRNAME,
)  # fmt: skip


@pytest.fixture
def homes_machine(nfs_machine):
    machine, device = nfs_machine
    nfs_export(machine, device)
    return machine


@pytest.mark.live
class TestHomesWithLimits:
    def test_each_home_is_a_private_subvolume_with_its_limit_and_a_second_run_changes_nothing(
        self, homes_machine
    ):
        machine = homes_machine
        output = make_homes(machine, STUDENTS)
        assert "made ada@camp.example.org's home" in output and "made bo@camp" in output
        ada = home_dir("ada@camp.example.org")
        assert machine.run("btrfs", "subvolume", "show", ada).returncode == 0
        owner = machine.run("stat", "-c", "%u:%g %a", ada).stdout.split()
        assert owner == [f"{layout.STUDENT_UID}:{layout.STUDENT_GID}", "700"]
        link = machine.run("readlink", f"{ada}/snapshots").stdout.strip()
        assert link == layout.SNAPSHOTS_CONTAINER_DIR
        assert make_homes(machine, STUDENTS).endswith("; nothing changed\n")

    def test_a_student_at_their_limit_is_refused_while_a_classmate_keeps_writing(
        self, homes_machine
    ):
        machine = homes_machine
        make_homes(machine, STUDENTS)
        ada, bo = home_dir("ada@camp.example.org"), home_dir("bo@camp.example.org")
        result = write_as_student(machine, f"{ada}/runaway", 100, check=False)
        assert result.returncode != 0 and "Disk quota exceeded" in result.stderr
        write_as_student(machine, f"{bo}/notebook.ipynb", 8)
        # Deleting frees the space at once.
        machine.run("rm", f"{ada}/runaway")
        write_as_student(machine, f"{ada}/notebook.ipynb", 32)

    def test_a_new_server_keeps_every_home_of_a_kept_volume_listed_or_not(self, nfs_machine):
        """A destroyed camp's volume adopted (nfs.adoptHomesVolume): the new server has none of
        the old one's setup, finds the filesystem, and every home stays as it was."""
        machine, device = nfs_machine
        nfs_export(machine, device)
        make_homes(machine, STUDENTS)
        ada, bo = home_dir("ada@camp.example.org"), home_dir("bo@camp.example.org")
        write_as_student(machine, f"{bo}/week.ipynb", 1)
        machine.run("umount", layout.NFS_EXPORT_DIR)
        machine.run("sed", "-i", rf"\| {layout.NFS_EXPORT_DIR} |d", "/etc/fstab")
        machine.run("rm", "/etc/exports.d/camphub.exports")
        output = nfs_export(machine, device).stdout
        assert "formatted" not in output and "fstab entry" in output and "mounted" in output
        make_homes(machine, {"ada@camp.example.org": 64})  # bo is no longer on the class list
        assert machine.run("stat", "-c", "%s", f"{bo}/week.ipynb").stdout.strip() == str(MIB)
        assert machine.run("btrfs", "subvolume", "show", bo).returncode == 0
        assert write_as_student(machine, f"{ada}/big", 100, check=False).returncode != 0

    def test_a_raised_limit_lets_the_writes_go_on_and_touches_no_file(self, homes_machine):
        machine = homes_machine
        make_homes(machine, STUDENTS)
        ada = home_dir("ada@camp.example.org")
        write_as_student(machine, f"{ada}/kept", 16)
        assert write_as_student(machine, f"{ada}/big", 80, check=False).returncode != 0
        output = make_homes(machine, {**STUDENTS, "ada@camp.example.org": 128})
        assert "limit of ada@camp.example.org set to 0.125 GiB" in output
        write_as_student(machine, f"{ada}/big", 80)
        assert machine.run("stat", "-c", "%s", f"{ada}/kept").stdout.strip() == str(16 * MIB)

    def test_snapshots_are_read_only_outside_the_limit_and_pruned_on_schedule(self, homes_machine):
        machine = homes_machine
        make_homes(machine, STUDENTS)
        ada = home_dir("ada@camp.example.org")
        write_as_student(machine, f"{ada}/notebook.ipynb", 40)
        output = machine.script(
            "schedule-home-snapshots", *HOME_LOCATIONS,
            "--every-minutes", "60", "--keep-hourly", "24", "--keep-daily", "7",
        ).stdout  # fmt: skip
        assert "camphub-home-snapshots.timer on" in output
        assert "camphub-home-usage.timer on" in output
        # Only the homes' units: the hub's certificate timer is configure-nginx's.
        installed = machine.run("ls", "/etc/systemd/system").stdout.split()
        assert [u for u in installed if u.startswith("camphub-")] == [
            "camphub-home-snapshots.service", "camphub-home-snapshots.timer",
            "camphub-home-snapshots.timer.d", "camphub-home-usage.service",
            "camphub-home-usage.timer",
        ]  # fmt: skip
        for unit in (SNAPSHOT_UNIT, USAGE_UNIT):
            machine.run("systemctl", "start", unit)
        snapshots = beside_homes(layout.SNAPSHOTS_DIRNAME, "ada@camp.example.org")
        (taken,) = machine.run("ls", snapshots).stdout.split()
        snapshot = f"{snapshots}/{taken}"
        properties = machine.run("btrfs", "property", "get", snapshot, "ro").stdout
        assert properties.strip() == "ro=true"
        # The snapshot holds the notebook; deleting it from the home and writing anew is not
        # held against the student's 64 MiB by the 40 MiB the snapshot keeps.
        machine.run("rm", f"{ada}/notebook.ipynb")
        write_as_student(machine, f"{ada}/again", 56)
        assert machine.run("stat", "-c", "%s", f"{snapshot}/notebook.ipynb").stdout.strip() == str(
            40 * MIB
        )
        usage_file = f"{beside_homes(layout.USAGE_DIRNAME, 'ada@camp.example.org')}/usage.json"
        usage = json.loads(machine.read(usage_file))
        assert usage["limit_bytes"] == 64 * MIB and usage["used_bytes"] > 0
        again = machine.script(
            "schedule-home-snapshots", *HOME_LOCATIONS,
            "--every-minutes", "0", "--keep-hourly", "24", "--keep-daily", "7",
        ).stdout  # fmt: skip
        assert "camphub-home-snapshots.timer off" in again
        assert machine.run("ls", snapshots).stdout.split() == [taken]


@pytest.mark.live
def test_a_volume_low_on_space_loses_its_oldest_snapshots_first_and_never_a_home(homes_machine):
    machine = homes_machine
    make_homes(machine, STUDENTS)
    bo, snapshots = (
        home_dir("bo@camp.example.org"),
        beside_homes(layout.SNAPSHOTS_DIRNAME, "bo@camp.example.org"),
    )
    for hour, name in (("10", "dropped"), ("11", "kept")):
        write_as_student(machine, f"{bo}/{name}", 40)
        machine.run("btrfs", "subvolume", "snapshot", "-r", bo, f"{snapshots}/2026-01-05_{hour}-00")
        if name == "dropped":
            machine.run("rm", f"{bo}/dropped")
    # Asking for more free space than the volume can ever have removes every snapshot, in order.
    result = machine.script(
        "nfs-homes", "snapshot", *HOME_LOCATIONS, "--keep-hourly", "24", "--keep-daily", "7",
        "--min-free-percent", "99",
    )  # fmt: skip
    removed = [
        line.rsplit(" ", 1)[1] for line in result.stderr.splitlines() if "low on space" in line
    ]
    # Bo's two old ones first, then this round's of both homes.
    assert removed[:2] == ["2026-01-05_10-00", "2026-01-05_11-00"] and len(removed) == 4
    assert machine.run("ls", snapshots).stdout.split() == []
    assert machine.run("stat", "-c", "%s", f"{bo}/kept").stdout.strip() == str(40 * MIB)


@pytest.mark.live
def test_every_snapshot_interval_makes_a_timer_systemd_accepts_and_arms(homes_machine):
    machine = homes_machine
    for minutes in ("5", "45", "60", "90", "180", "1440"):
        machine.script(
            "schedule-home-snapshots", *HOME_LOCATIONS,
            "--every-minutes", minutes, "--keep-hourly", "24", "--keep-daily", "7",
        )  # fmt: skip
        next_run = machine.run(
            "systemctl", "show", "-P", "NextElapseUSecRealtime", "camphub-home-snapshots.timer"
        ).stdout.strip()
        monotonic = machine.run(
            "systemctl", "show", "-P", "NextElapseUSecMonotonic", "camphub-home-snapshots.timer"
        ).stdout.strip()
        assert next_run or monotonic not in ("", "infinity"), minutes
        # The new interval is the one systemd runs: it read the changed drop-in.
        reload = machine.run(
            "systemctl", "show", "-P", "NeedDaemonReload", "camphub-home-snapshots.timer"
        ).stdout.strip()
        assert reload == "no", minutes
    verified = machine.run(
        "systemd-analyze", "verify", *(f"/etc/systemd/system/{unit}" for unit in (
            "camphub-home-snapshots.service", "camphub-home-snapshots.timer",
            "camphub-home-usage.service", "camphub-home-usage.timer",
        )), check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


# mount-homes: no NFS client in this kernel either, so only what precedes the mount is proven.


WORKER_DOCKER_DROP_IN = "/etc/systemd/system/docker.service.d/10-camphub-homes.conf"


@pytest.mark.live
def test_mount_homes_replaces_its_fstab_entry_and_docker_waits_for_the_mount():
    payload_checker.build_image()
    with payload_checker.machine("worker") as machine:
        files = yaml.safe_load(render_user_data("worker"))["write_files"]
        drop_in = next(entry for entry in files if entry["path"] == WORKER_DOCKER_DROP_IN)
        machine.write(WORKER_DOCKER_DROP_IN, drop_in["content"])
        # Another managed mount after this one: the entry is replaced where it stands, so neither
        # moves and a rerun of either script finds its entry unchanged.
        later_mount = "UUID=0000 /srv/later ext4 defaults 0 2"
        machine.write(
            "/etc/fstab", f"10.9.9.0:/gone {layout.HOMES_MOUNT_DIR} nfs4 hard 0 0\n{later_mount}\n"
        )
        for server in ("10.9.9.1", "10.9.9.2"):
            result = machine.script(
                "mount-homes", "--server", server, "--export", layout.NFS_EXPORT_DIR,
                "--mount-point", layout.HOMES_MOUNT_DIR, "--wait-seconds", "2", check=False,
            )  # fmt: skip
            # This kernel has no NFS client: only what precedes the mount can be proven here.
            assert result.returncode != 0
            assert "gave up after 2s waiting for" in result.stderr
        source = f"10.9.9.2:{layout.NFS_EXPORT_DIR}"
        assert machine.read("/etc/fstab").splitlines() == [
            f"{source} {layout.HOMES_MOUNT_DIR} nfs4 hard,_netdev,noatime 0 0",
            later_mount,
        ]
        mount_unit = machine.run(
            "systemd-escape", "--path", "--suffix=mount", layout.HOMES_MOUNT_DIR
        )
        requires = machine.run("systemctl", "show", "--property=Requires", "docker.service")
        assert mount_unit.stdout.strip() in requires.stdout.split("=", 1)[1].split()


# mount-homes moving to a replaced NFS server: mount.nfs played as the local cloud plays it (the
# rehearsal's shim mounts the volume a server "exports"), one loop device per server.

NFS_SHIM = (
    f"{payload_checker.PROJECT_MOUNT}/rehearsal/instance/files/usr/local/sbin/rehearsal-mount-nfs"
)
SHIM_EXPORTS_DIR = "/var/lib/rehearsal/shared/nfs"
OLD_SERVER, NEW_SERVER = "10.9.9.1", "10.9.9.2"


def export_a_volume(machine, server: str, notes: str) -> None:
    """A volume `server` exports, holding alice's notes."""
    image = f"/var/tmp/{server}.img"
    machine.run("truncate", "-s", "32M", image)
    device = machine.run("losetup", "--find", "--show", image).stdout.strip()
    machine.run("mkfs.ext4", "-q", device)
    machine.run("mount", device, "/mnt")
    machine.write("/mnt/alice/notes.txt", notes)
    machine.run("umount", "/mnt")
    number = machine.run("cat", f"/sys/block/{Path(device).name}/dev").stdout
    machine.write(f"{SHIM_EXPORTS_DIR}/{server}", number)


def mount_homes(machine, server: str) -> str:
    return machine.script(
        "mount-homes", "--server", server, "--export", layout.NFS_EXPORT_DIR,
        "--mount-point", layout.HOMES_MOUNT_DIR, "--wait-seconds", "5",
    ).stdout  # fmt: skip


def is_running(machine, container: str) -> bool:
    state = machine.run("docker", "inspect", "--format", "{{.State.Running}}", container).stdout
    return state.strip() == "true"


@pytest.mark.live
def test_mount_homes_moves_to_a_new_server_and_stops_the_containers_bound_to_the_old_one():
    payload_checker.build_image()
    with payload_checker.machine("worker", (*LOOP_FLAGS, *DOCKER_FLAGS)) as machine:
        machine.run("sh", "-c", MAKE_LOOP_NODES)
        for tool in ("mount.nfs", "mount.nfs4"):
            machine.run("ln", "-sf", NFS_SHIM, f"/usr/sbin/{tool}")
        export_a_volume(machine, OLD_SERVER, "written on the old server\n")
        export_a_volume(machine, NEW_SERVER, "the volume, now on the new server\n")
        machine.run("systemctl", "start", "docker.service")
        load_base_image(machine)
        assert "mounted" in mount_homes(machine, OLD_SERVER)
        run = ("docker", "run", "--detach", "--stop-timeout", "1")
        home = f"{layout.HOMES_MOUNT_DIR}/alice:/home/student"
        machine.run(*run, "--name", "student", "-v", home, "debian:trixie-slim", "sleep", "inf")
        machine.run(*run, "--name", "elsewhere", "debian:trixie-slim", "sleep", "inf")
        try:
            output = mount_homes(machine, NEW_SERVER)
            old, new = (f"{server}:{layout.NFS_EXPORT_DIR}" for server in (OLD_SERVER, NEW_SERVER))
            assert f"unmounted {old}" in output and f"mounted {new}" in output
            assert f"stopped 1 containers that bound the homes from {old}" in output
            source = machine.run("findmnt", "-n", "-o", "SOURCE", layout.HOMES_MOUNT_DIR).stdout
            assert source.strip() == new
            assert f"{new} {layout.HOMES_MOUNT_DIR} nfs4 " in machine.read("/etc/fstab")
            assert not is_running(machine, "student") and is_running(machine, "elsewhere")
            # Started again (as the swarm starts a student's task), it binds the new mount.
            machine.run("docker", "start", "student")
            notes = machine.run("docker", "exec", "student", "cat", "/home/student/notes.txt")
            assert notes.stdout == "the volume, now on the new server\n"
            assert mount_homes(machine, NEW_SERVER) == "mount-homes: nothing changed\n"
        finally:
            machine.run("docker", "rm", "--force", "student", "elsewhere", check=False)
            machine.run("umount", "--lazy", layout.HOMES_MOUNT_DIR, check=False)


# The swarm scripts: two checker machines, each with its own Docker engine.


@pytest.fixture(scope="module")
def swarm_machines():
    """A manager-to-be and a worker-to-be, each running dockerd; yields (manager, worker)."""
    with payload_checker.machines_with_docker("manager", "worker") as machines:
        yield machines


def swarm_init_args(manager) -> tuple[str, ...]:
    """swarm-init's arguments on `manager`, as the program passes them (infra/hub.py)."""
    return (
        "--advertise-addr", address_of(manager), "--network", layout.OVERLAY_NETWORK,
        "--subnet", layout.OVERLAY_SUBNET, "--ip-range", layout.OVERLAY_AUTOMATIC_RANGE,
    )  # fmt: skip


def swarm_join_args(manager, worker) -> tuple[str, ...]:
    """swarm-join's arguments on `worker`, as the program passes them (infra/workers.py)."""
    return (
        "--manager", address_of(manager), "--manager-port", str(layout.SWARM_MANAGER_PORT),
        "--advertise-addr", address_of(worker),
    )  # fmt: skip


@pytest.mark.live
class TestSwarm:
    """In file order: init, token, join, a student service on the worker, removal."""

    def test_init_creates_the_swarm_and_the_network_once(self, swarm_machines):
        manager, _ = swarm_machines
        args = swarm_init_args(manager)
        first = manager.script("swarm-init", *args).stdout
        assert "swarm initialised" in first and "created" in first
        assert "SWMTKN" not in first
        assert manager.script("swarm-init", *args).stdout == "swarm-init: nothing changed\n"
        shape = "{{.Driver}} {{.Attachable}} {{.Scope}}"
        addresses = "{{range .IPAM.Config}} {{.Subnet}} {{.IPRange}}{{end}}"
        network = manager.run(
            "docker", "network", "inspect", "--format", shape + addresses, layout.OVERLAY_NETWORK
        ).stdout.split()  # fmt: skip
        assert network == [
            "overlay", "true", "swarm", layout.OVERLAY_SUBNET, layout.OVERLAY_AUTOMATIC_RANGE
        ]  # fmt: skip

    def test_init_refuses_a_network_of_other_addresses_and_names_the_fix(self, swarm_machines):
        manager, _ = swarm_machines
        refused = manager.script(
            "swarm-init", "--advertise-addr", address_of(manager),
            "--network", layout.OVERLAY_NETWORK, "--subnet", "10.99.0.0/22",
            "--ip-range", "10.99.2.0/23", check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert f"docker network rm {layout.OVERLAY_NETWORK}" in refused.stderr

    def test_join_token_prints_the_token_alone(self, swarm_machines):
        manager, _ = swarm_machines
        token = manager.script("swarm-join-token").stdout
        assert token.startswith("SWMTKN-") and token.count("\n") == 1

    def test_join_takes_the_token_on_stdin_and_prints_the_node_id(self, swarm_machines):
        manager, worker = swarm_machines
        token = manager.script("swarm-join-token").stdout
        args = swarm_join_args(manager, worker)
        node_id = worker.script("swarm-join", *args, stdin=token).stdout.strip()
        nodes = manager.run("docker", "node", "ls", "--format", "{{.ID}} {{.Hostname}}").stdout
        assert f"{node_id} worker" in nodes
        assert worker.script("swarm-join", *args, stdin=token).stdout.strip() == node_id

    def test_join_refuses_stdin_without_a_token(self, swarm_machines):
        _, worker = swarm_machines
        result = worker.script(
            "swarm-join", "--manager", "10.0.0.1",
            "--manager-port", str(layout.SWARM_MANAGER_PORT), "--advertise-addr", "10.0.0.2",
            stdin="not a token\n", check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "stdin must carry a swarm join token" in result.stderr

    def test_join_requires_the_manager_port(self, swarm_machines):
        manager, worker = swarm_machines
        token = manager.script("swarm-join-token").stdout
        result = worker.script(
            "swarm-join", "--manager", address_of(manager), "--advertise-addr",
            address_of(worker), stdin=token, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "missing --manager-port" in result.stderr

    def test_join_leaves_a_replaced_hubs_swarm_for_the_new_one_at_the_same_address(
        self, swarm_machines
    ):
        # A new hub at its predecessor's address: a new swarm there, the worker still in the old.
        manager, worker = swarm_machines
        old_token = manager.script("swarm-join-token").stdout
        manager.run("docker", "swarm", "leave", "--force")
        manager.script("swarm-init", *swarm_init_args(manager))
        token = manager.script("swarm-join-token").stdout
        assert token != old_token
        args = swarm_join_args(manager, worker)
        joined = worker.script("swarm-join", *args, stdin=token)
        node_id = joined.stdout.strip()
        assert "left a swarm other than the one at" in joined.stderr
        nodes = manager.run("docker", "node", "ls", "--format", "{{.ID}} {{.Hostname}}").stdout
        assert f"{node_id} worker" in nodes
        again = worker.script("swarm-join", *args, stdin=token)
        assert again.stdout.strip() == node_id
        assert "left" not in again.stderr
        # What the new hub's servers need: the worker's containers reach the manager's over the
        # new swarm's overlay network.
        assert overlay_reaches(worker, manager)

    def test_remove_node_moves_the_tasks_off_then_removes_it(self, swarm_machines):
        manager, worker = swarm_machines
        worker_id = worker.run("docker", "info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        load_base_image(worker)
        manager.run(
            "docker", "service", "create", "--detach", "--name", "jupyter-test",
            "--constraint", "node.role==worker", "--no-resolve-image", "--endpoint-mode", "dnsrr",
            "--stop-grace-period", "2s", "debian:trixie-slim", "sleep", "infinity",
        )  # fmt: skip
        wait_for(
            lambda: worker.run("docker", "ps", "-q").stdout.strip(),
            timeout=60,
            what="the student service running on the worker",
        )
        output = manager.script("swarm-remove-node", "--node-id", worker_id).stdout
        assert output == f"swarm-remove-node: node {worker_id} drained and removed\n"
        assert worker.run("docker", "ps", "-q").stdout.strip() == ""
        assert worker_id not in manager.run("docker", "node", "ls", "-q").stdout
        again = manager.script("swarm-remove-node", "--node-id", worker_id).stdout
        assert again == f"swarm-remove-node: node {worker_id} is not in the swarm; nothing to do\n"

    def test_remove_node_ends_once_a_machine_gone_mid_drain_is_down(self, swarm_machines):
        # A worker AWS retired: its tasks' last reported states never change.
        manager, worker = swarm_machines
        worker.run("docker", "swarm", "leave", "--force")
        token = manager.script("swarm-join-token").stdout
        args = swarm_join_args(manager, worker)
        worker_id = worker.script("swarm-join", *args, stdin=token).stdout.strip()
        wait_for(
            lambda: worker.run("docker", "ps", "-q").stdout.strip(),
            timeout=60,
            what="the student service running on the worker again",
        )
        payload_checker.docker("pause", worker.name)
        try:
            removed = manager.script(
                "swarm-remove-node", "--node-id", worker_id, "--wait-seconds", "90", check=False
            )
        finally:
            payload_checker.docker("unpause", worker.name)
        assert removed.stdout == f"swarm-remove-node: node {worker_id} drained and removed\n", (
            removed.stderr
        )


def overlay_reaches(client, server) -> bool:
    """Whether a container on `client` reaches one on `server` over the overlay network: a
    connection to a closed port is refused at once by a reachable peer, and never answered
    through an overlay whose peers the engine does not know."""
    for machine in (client, server):
        load_base_image(machine)
    peer = server.run(
        "docker", "run", "--detach", "--rm", "--network", layout.OVERLAY_NETWORK,
        "debian:trixie-slim", "sleep", "120",
    ).stdout.strip()  # fmt: skip
    address = server.run(
        "docker", "inspect", "--format",
        f'{{{{(index .NetworkSettings.Networks "{layout.OVERLAY_NETWORK}").IPAddress}}}}', peer,
    ).stdout.strip()  # fmt: skip
    dialled = client.run(
        "docker", "run", "--rm", "--network", layout.OVERLAY_NETWORK, "debian:trixie-slim",
        "timeout", "10", "bash", "-c", f"echo > /dev/tcp/{address}/9", check=False,
    )  # fmt: skip
    server.run("docker", "rm", "--force", peer)
    return "Connection refused" in dialled.stderr
