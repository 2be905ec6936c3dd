"""NfsServer alone: the homes on their own encrypted volume, exported to the cluster."""

import pytest
from components import deploy_component, hub_of, network_of, nfs_of


@pytest.fixture
def nfs(base_config):
    def build(config):
        network = network_of(config)
        return nfs_of(config, network, hub_of(config, network))

    return deploy_component(base_config, build)


def test_the_homes_volume_sits_beside_the_server(nfs):
    (volume,) = nfs.of_type("aws:ebs/volume:Volume")
    assert volume.inputs["availabilityZone"] == "us-east-1a"
    assert volume.inputs["size"] == 100
    assert volume.inputs["type"] == "gp3"
    (attachment,) = nfs.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
    assert attachment.inputs["volumeId"] == volume.id
    assert attachment.inputs["instanceId"] == nfs.named("nfs").id


def test_a_moved_subnet_never_swaps_the_homes_for_an_empty_volume(nfs):
    (volume,) = nfs.of_type("aws:ebs/volume:Volume")
    assert volume.retain_on_delete
    assert "availabilityZone" in volume.ignore_changes


def test_the_server_is_reached_through_the_hub(nfs):
    connection = nfs.named("nfs-cloud-init").inputs["connection"]
    assert connection["host"].startswith("172.31.")
    assert connection["proxy"]["host"] == "203.0.113.10"


def test_the_export_names_the_volume_and_the_subnet_and_trusts_no_client_as_root(nfs):
    create = nfs.named("nfs-export-homes").inputs["create"]
    (volume,) = nfs.of_type("aws:ebs/volume:Volume")
    assert f"--volume-id {volume.id}" in create
    assert "--export-dir /srv/nfs/homes" in create
    assert "--client 172.31.0.0/20" in create
    assert "--root-client" not in create
