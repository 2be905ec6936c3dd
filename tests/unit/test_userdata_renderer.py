"""The user-data renderer (infra/userdata.py, from cloud-init/): merge rules, file contents,
layout values, determinism, size."""

import base64
import gzip

import pytest
import yaml

from infra import layout, userdata
from infra.userdata import UserDataError, merge_configs, render_user_data


def rendered(role: str) -> dict:
    return yaml.safe_load(render_user_data(role))


def package_list(role: str) -> list[str]:
    return rendered(role)["packages"]


def file_paths(role: str) -> list[str]:
    return [entry["path"] for entry in rendered(role)["write_files"]]


def written_content(entry: dict) -> str:
    """What cloud-init writes for a write_files entry."""
    return entry["content"]


@pytest.mark.parametrize("role", userdata.ROLES)
def test_starts_with_the_cloud_config_header(role):
    assert render_user_data(role).startswith("#cloud-config\n")


@pytest.mark.parametrize("role", userdata.ROLES)
def test_same_sources_give_the_same_bytes(role):
    assert render_user_data(role).encode() == render_user_data(role).encode()


@pytest.mark.parametrize("role", userdata.ROLES)
def test_fits_ec2_user_data_limit_with_room_to_spare(role):
    # A quarter of the limit free, as EC2 counts it: the bytes before base64.
    given = base64.b64decode(userdata.compressed_user_data(render_user_data(role)))
    assert len(given) < userdata.EC2_USER_DATA_LIMIT * 3 // 4


@pytest.mark.parametrize("role", userdata.ROLES)
def test_the_gzipped_document_is_the_same_bytes_every_time_and_unpacks_to_it(role):
    document = render_user_data(role)
    given = userdata.compressed_user_data(document)
    assert given == userdata.compressed_user_data(render_user_data(role))
    assert gzip.decompress(base64.b64decode(given)).decode() == document


@pytest.mark.parametrize("role", userdata.ROLES)
def test_common_packages_come_first_then_the_roles(role):
    common = yaml.safe_load((userdata.CLOUD_INIT_DIR / "common.yaml").read_text())["packages"]
    own = yaml.safe_load((userdata.CLOUD_INIT_DIR / f"{role}.yaml").read_text())["packages"]
    assert package_list(role) == common + own


@pytest.mark.parametrize("role", userdata.ROLES)
def test_every_file_has_the_content_of_its_mirror_in_the_files_tree(role):
    for entry in rendered(role)["write_files"]:
        source = userdata.FILES_DIR / entry["path"].lstrip("/")
        expected = userdata.substitute_layout(source.read_text(), str(source))
        assert written_content(entry) == expected, entry["path"]


@pytest.mark.parametrize("role", userdata.ROLES)
def test_every_machine_gets_the_sshd_hardening_and_the_payload_dir(role):
    config = rendered(role)
    assert "/etc/ssh/sshd_config.d/10-camphub.conf" in file_paths(role)
    assert config["ssh_pwauth"] is False
    payload_dir_step = next(step for step in config["runcmd"] if layout.PAYLOAD_DIR in step)
    assert payload_dir_step[payload_dir_step.index("-o") + 1] == layout.LOGIN_USER


@pytest.mark.parametrize("role", userdata.ROLES)
def test_no_layout_placeholder_is_left(role):
    assert "{{" not in render_user_data(role)


def test_docker_runs_on_hub_and_workers_only():
    assert "docker.io" in package_list("hub")
    assert "docker.io" in package_list("worker")
    assert "docker.io" not in package_list("nfs")
    assert "/etc/docker/daemon.json" not in file_paths("nfs")


def test_docker_logs_rotate_and_live_restore_is_off_for_swarm():
    daemon = next(e for e in rendered("worker")["write_files"] if e["path"].endswith("daemon.json"))
    settings = yaml.safe_load(daemon["content"])
    assert settings["log-driver"] == "json-file"
    assert set(settings["log-opts"]) == {"max-size", "max-file"}
    assert settings["live-restore"] is False


def test_only_the_hub_gets_nginx_and_certbot():
    assert {"nginx", "certbot"} <= set(package_list("hub"))
    assert not {"nginx", "certbot"} & set(package_list("worker") + package_list("nfs"))


def test_only_the_nfs_server_gets_the_nfs_server():
    assert "nfs-kernel-server" in package_list("nfs")
    assert "nfs-common" in package_list("worker")
    assert "nfs-kernel-server" not in package_list("hub")


def test_maps_merge_lists_append_and_scalars_take_the_override():
    base = {"a": 1, "lst": [1], "m": {"x": 1, "keep": True}}
    override = {"a": 2, "lst": [2], "m": {"x": 3}, "new": "n"}
    assert merge_configs(base, override) == {
        "a": 2,
        "lst": [1, 2],
        "m": {"x": 3, "keep": True},
        "new": "n",
    }
    assert base == {"a": 1, "lst": [1], "m": {"x": 1, "keep": True}}


def test_unknown_role_is_refused():
    with pytest.raises(UserDataError, match="unknown role 'manager'"):
        render_user_data("manager")


WRITES_X_CONF = "#cloud-config\nwrite_files:\n  - path: /etc/x.conf\n"


@pytest.fixture
def cloud_init_tree(tmp_path, monkeypatch):
    """A throwaway cloud-init/ tree the renderer reads instead of the real one."""
    monkeypatch.setattr(userdata, "CLOUD_INIT_DIR", tmp_path)
    monkeypatch.setattr(userdata, "FILES_DIR", tmp_path / "files")
    (tmp_path / "common.yaml").write_text("#cloud-config\npackages: [jq]\n")
    return tmp_path


def test_a_missing_file_names_the_path_it_looked_for(cloud_init_tree):
    (cloud_init_tree / "hub.yaml").write_text(WRITES_X_CONF)
    with pytest.raises(UserDataError, match=r"files/etc/x\.conf does not exist"):
        render_user_data("hub")


def test_an_unknown_layout_name_is_refused(cloud_init_tree):
    (cloud_init_tree / "hub.yaml").write_text("#cloud-config\nruncmd:\n  - [ls, '{{ NOPE }}']\n")
    with pytest.raises(UserDataError, match="NOPE"):
        render_user_data("hub")


def test_a_file_without_the_header_is_refused(cloud_init_tree):
    (cloud_init_tree / "hub.yaml").write_text("packages: [nginx]\n")
    with pytest.raises(UserDataError, match="must start with '#cloud-config'"):
        render_user_data("hub")


def test_layout_names_are_filled_in_file_contents_too(cloud_init_tree):
    (cloud_init_tree / "files" / "etc").mkdir(parents=True)
    (cloud_init_tree / "files" / "etc" / "x.conf").write_text("dir={{ HUB_ETC_DIR }}\n")
    (cloud_init_tree / "hub.yaml").write_text(WRITES_X_CONF)
    assert rendered("hub")["write_files"][0]["content"] == f"dir={layout.HUB_ETC_DIR}\n"


@pytest.mark.parametrize("role", userdata.ROLES)
def test_every_machine_loads_the_wall_before_docker(role):
    config = rendered(role)
    assert "nftables" in config["packages"]
    assert {
        "/usr/local/share/camphub-wall/student-wall.nft",
        "/usr/local/sbin/camphub-wall",
        "/etc/systemd/system/camphub-wall.service",
    } <= set(file_paths(role))
    enable_wall = ["systemctl", "enable", "--now", "camphub-wall.service"]
    assert enable_wall in config["runcmd"]
    enable_docker = ["systemctl", "enable", "--now", "docker.service"]
    if enable_docker in config["runcmd"]:
        assert config["runcmd"].index(enable_wall) < config["runcmd"].index(enable_docker)
