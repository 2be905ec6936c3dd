"""NfsServer alone: the homes on their own encrypted volume, exported to the cluster."""

import json

import pytest
from components import base_of, deploy_component, hub_of, nfs_of

from infra import layout
from infra.remote import machine_warnings


def build_nfs(config):
    base = base_of(config)
    return nfs_of(config, base, hub_of(config, base))


@pytest.fixture
def nfs(base_config):
    return deploy_component(base_config, build_nfs)


def test_the_homes_volume_sits_beside_the_server(nfs):
    volume = nfs.named("nfs-homes", "aws:ebs/volume:Volume")
    assert volume.inputs["availabilityZone"] == "us-east-1a"
    assert volume.inputs["size"] == 100
    assert volume.inputs["type"] == "gp3"
    attachment = nfs.named("nfs-homes", "aws:ec2/volumeAttachment:VolumeAttachment")
    assert attachment.inputs["volumeId"] == volume.id
    assert attachment.inputs["instanceId"] == nfs.named("nfs").id
    # A replaced server's new instance gets the volume once the old one has let it go.
    assert attachment.delete_before_replace


def test_a_moved_subnet_never_swaps_the_homes_for_an_empty_volume(nfs):
    volume = nfs.named("nfs-homes", "aws:ebs/volume:Volume")
    assert volume.retain_on_delete
    assert "availabilityZone" in volume.ignore_changes


def test_the_server_is_reached_through_the_hub(nfs):
    connection = nfs.named("nfs-cloud-init").inputs["connection"]
    assert connection["host"].startswith("10.192.0.")
    assert connection["proxy"]["host"] == "203.0.113.10"


def test_the_export_names_the_volume_and_the_subnet_and_trusts_no_client_as_root(nfs):
    create = nfs.named("nfs-export-homes").inputs["create"]
    volume = nfs.named("nfs-homes", "aws:ebs/volume:Volume")
    assert f"--volume-id {volume.id}" in create
    assert "--export-dir /srv/nfs/homes" in create
    assert f"--client {layout.SUBNET_CIDR}" in create
    assert "--root-client" not in create


def test_every_listed_student_gets_a_home_with_their_own_limit_or_the_default(nfs):
    step = nfs.named("nfs-make-homes")
    homes = {home["user"]: home for home in json.loads(step.inputs["stdin"])["homes"]}
    assert homes["ada@camp.example.org"] == {
        "user": "ada@camp.example.org",
        "dir": "ada-40camp-2eexample-2eorg",
        "limit_bytes": 10 * 1024**3,
    }
    assert (
        "--snapshots-name .camphub-snapshots --usage-name .camphub-usage" in (step.inputs["create"])
    )
    assert "--snapshots-link /srv/camp/snapshots" in step.inputs["create"]


def test_changed_materials_make_the_homes_step_copy_them_in(base_config, tmp_path):
    def triggers(materials):
        (materials / "week1.ipynb").write_text(materials.name)
        config = {**base_config, "camphub:materialsDir": str(materials)}
        return deploy_component(config, build_nfs).named("nfs-make-homes").inputs["triggers"]

    first, second = (tmp_path / "a", tmp_path / "b")
    first.mkdir(), second.mkdir()
    assert triggers(first) != triggers(second)


def test_the_snapshot_schedule_follows_the_settings(base_config):
    config = {**base_config, "camphub:nfs": json.dumps({"snapshotEveryMinutes": 15})}
    step = deploy_component(config, build_nfs).named("nfs-schedule-home-snapshots")
    assert "--every-minutes 15 --keep-hourly 24 --keep-daily 7" in step.inputs["create"]


def test_a_machine_warning_in_a_step_report_reaches_the_organizer():
    report = (
        "nfs-export: mounted /dev/xvdf on /srv/nfs/homes; WARNING: the homes volume is ext4 from "
        "an earlier camphub: homes have no limits; exports updated"
    )
    assert machine_warnings(report) == [
        "WARNING: the homes volume is ext4 from an earlier camphub: homes have no limits"
    ]
    assert machine_warnings("nfs-homes: 3 homes; nothing changed") == []
