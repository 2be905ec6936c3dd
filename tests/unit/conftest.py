import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from program import deploy

CLASS_LIST = """\
# a small class
teacher@camp.example.org admin
Ada@Camp.Example.org
grace@camp.example.org
"""


@pytest.fixture
def class_list_file(tmp_path) -> Path:
    path = tmp_path / "userlist.txt"
    path.write_text(CLASS_LIST)
    return path


@pytest.fixture
def base_config(class_list_file) -> dict:
    """The smallest valid stack config: everything else takes its default."""
    return {
        "oauthClientId": "1234-camp.apps.googleusercontent.com",
        "oauthClientSecret": "google-oauth-secret-value",
        "sshAllowedCidrs": ["84.17.40.7/32"],
        "userlistFile": str(class_list_file),
    }


@pytest.fixture
def deployment(base_config):
    return deploy(base_config)


@pytest.fixture
def camp_config(base_config):
    """The validated CampConfig of `base_config`, as every component receives it."""
    from infra.config import load_config

    captured = {}
    deploy(base_config, body=lambda: captured.setdefault("config", load_config()))
    return captured["config"]
