"""Every role's rendered user-data passes Debian 13's own `cloud-init schema`.

The host may run an older Debian, so the check runs in the payload checker image, which has
trixie's cloud-init. A deliberately broken document proves the checker does reject.
"""

import subprocess
from pathlib import Path

import payload_checker
import pytest
import yaml

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
def test_sshd_refuses_passwords_and_root_even_if_cloud_init_allows_them(
    role, checker_image, tmp_path
):
    """sshd keeps the first value it reads; the camphub drop-in must win over cloud-init's."""
    files = yaml.safe_load(render_user_data(role))["write_files"]
    drop_in = next(entry for entry in files if entry["path"] == SSHD_DROP_IN)
    (tmp_path / "camphub.conf").write_text(drop_in["content"])
    effective = payload_checker.docker(
        "run", "--rm", "--name", payload_checker.unique_name("sshd"),
        "-v", f"{tmp_path / 'camphub.conf'}:{SSHD_DROP_IN}:ro", "--entrypoint", "sh", checker_image,
        "-c", f"echo 'PasswordAuthentication yes' > {CLOUD_INIT_SSHD_DROP_IN}"
        " && mkdir -p /run/sshd && sshd -T",
    ).stdout.splitlines()  # fmt: skip
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert "permitrootlogin no" in effective
