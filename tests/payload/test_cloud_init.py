"""Every role's rendered user-data passes Debian 13's own `cloud-init schema`.

The host may run an older Debian, so the check runs in the payload checker image, which has
trixie's cloud-init. A deliberately broken document proves the checker does reject.
"""

import subprocess
from pathlib import Path

import payload_checker
import pytest
import yaml

from infra import layout
from infra.userdata import ROLES, render_user_data

pytestmark = pytest.mark.live

# A cloud-config that is valid YAML but not a valid cloud-config: runcmd must be a list.
BROKEN_CLOUD_CONFIG = "#cloud-config\nruncmd: 42\n"
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-camphub.conf"
# What cloud-init writes when an image or a user-data enables password logins.
CLOUD_INIT_SSHD_DROP_IN = "/etc/ssh/sshd_config.d/50-cloud-init.conf"


@pytest.fixture(scope="module")
def checker_image() -> str:
    return payload_checker.build_image()


def cloud_init_schema(image: str, directory: Path, name: str) -> subprocess.CompletedProcess:
    return payload_checker.docker(
        "run", "--rm", "--name", payload_checker.unique_name("schema"),
        "-v", f"{directory}:/user-data:ro", "--entrypoint", "cloud-init",
        image, "schema", "--config-file", f"/user-data/{name}",
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_rendered_user_data_is_a_valid_cloud_config(role, checker_image, tmp_path):
    (tmp_path / f"{role}.yaml").write_text(render_user_data(role))
    result = cloud_init_schema(checker_image, tmp_path, f"{role}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid schema" in result.stdout


def test_the_schema_check_rejects_a_broken_cloud_config(checker_image, tmp_path):
    (tmp_path / "broken.yaml").write_text(BROKEN_CLOUD_CONFIG)
    result = cloud_init_schema(checker_image, tmp_path, "broken.yaml")
    assert result.returncode != 0
    assert "runcmd" in result.stdout + result.stderr


@pytest.mark.parametrize("role", ROLES)
def sshd_test_mode(
    checker_image: str, role: str, directory: Path, setup: str
) -> subprocess.CompletedProcess:
    """`sshd -T` with the role's drop-in in place, after `setup` ran."""
    files = yaml.safe_load(render_user_data(role))["write_files"]
    drop_in = next(entry for entry in files if entry["path"] == SSHD_DROP_IN)
    (directory / "camphub.conf").write_text(drop_in["content"])
    return payload_checker.docker(
        "run", "--rm", "--name", payload_checker.unique_name("sshd"),
        "-v", f"{directory / 'camphub.conf'}:{SSHD_DROP_IN}:ro", "--entrypoint", "sh",
        checker_image, "-c", f"{setup} && mkdir -p /run/sshd && sshd -T", check=False,
    )  # fmt: skip


def effective_sshd_config(checker_image: str, role: str, directory: Path, setup: str) -> list[str]:
    tested = sshd_test_mode(checker_image, role, directory, setup)
    assert tested.returncode == 0, tested.stderr
    return tested.stdout.splitlines()


def with_the_program_host_key(setup: str) -> str:
    return f"{setup} && ssh-keygen -q -t ed25519 -N '' -f {layout.HOST_KEY_FILE}"


@pytest.mark.parametrize("role", ROLES)
def test_sshd_refuses_passwords_and_root_even_if_cloud_init_allows_them(
    role, checker_image, tmp_path
):
    """sshd keeps the first value it reads; the camphub drop-in must win over cloud-init's."""
    enable_passwords = f"echo 'PasswordAuthentication yes' > {CLOUD_INIT_SSHD_DROP_IN}"
    effective = effective_sshd_config(
        checker_image, role, tmp_path, with_the_program_host_key(enable_passwords)
    )
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert "permitrootlogin no" in effective


@pytest.mark.parametrize("role", ROLES)
def test_sshd_shows_only_the_host_key_the_program_made(role, checker_image, tmp_path):
    """Debian's own keys are there too, as on a fresh AMI; sshd offers none of them."""
    effective = effective_sshd_config(
        checker_image, role, tmp_path, with_the_program_host_key("ssh-keygen -A")
    )
    assert [line for line in effective if line.startswith("hostkey ")] == [
        f"hostkey {layout.HOST_KEY_FILE}"
    ]


def test_sshd_does_not_start_before_the_program_host_key_is_there(checker_image, tmp_path):
    tested = sshd_test_mode(checker_image, "worker", tmp_path, "ssh-keygen -A")
    assert tested.returncode != 0
    assert "no hostkeys available" in tested.stderr
