"""Nothing secret in the repository: the class list (students' emails) and every key stay out of
git, an example class list is tracked instead, and the SSH command the stack prints saves the admin
key outside the project."""

import subprocess

import pytest

from infra.layout import PROJECT_DIR
from infra.userlist import EXAMPLE_CLASS_LIST


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True)


def test_the_class_list_is_not_tracked_and_its_example_is():
    assert git("ls-files", "--error-unmatch", "userlist.txt").returncode != 0
    assert git("ls-files", "--error-unmatch", EXAMPLE_CLASS_LIST).returncode == 0


@pytest.mark.parametrize(
    "path",
    [
        "userlist.txt",
        "camphub.key",
        "camphub-camp.key",
        "tls.pem",
        "camphub-admin",
        "camphub-admin.pub",
        "camphub.ssh_config",
    ],
)
def test_git_ignores_what_must_never_be_published(path):
    assert git("check-ignore", "--no-index", "--quiet", path).returncode == 0, path


def test_git_still_sees_the_example_class_list():
    assert git("check-ignore", "--no-index", "--quiet", EXAMPLE_CLASS_LIST).returncode == 1


def test_the_ssh_command_saves_the_key_outside_the_project_readable_by_its_owner(deployment):
    command = deployment.outputs["sshCommand"]
    assert (
        "(umask 077 && mkdir -p ~/.ssh && pulumi stack output --stack test --show-secrets "
        "adminSshKey "
        "> ~/.ssh/camphub-test.key)" in command
    )
    assert "IdentityFile ~/.ssh/camphub-test.key" in deployment.outputs["sshConfig"]
