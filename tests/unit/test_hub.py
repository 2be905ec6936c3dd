"""Hub alone: a Debian 13 instance behind an Elastic IP, the swarm manager and jump host."""

import pytest
from components import AMI, base_of, deploy_component, hub_of

from infra import layout
from infra.userdata import render_user_data, uncompressed_user_data

VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"


@pytest.fixture
def hub(base_config):
    return deploy_component(base_config, lambda c: hub_of(c, base_of(c)))


def test_the_hub_instance_runs_the_hub_role(hub):
    instance = hub.named("hub")
    assert instance.inputs["ami"] == AMI
    assert instance.inputs["instanceType"] == "t3.medium"
    assert uncompressed_user_data(instance.inputs["userDataBase64"]) == render_user_data("hub")


def test_the_elastic_ip_is_attached_to_the_hub(hub):
    (association,) = hub.of_type("aws:ec2/eipAssociation:EipAssociation")
    assert association.inputs["instanceId"] == hub.named("hub").id


def test_the_hub_is_reached_on_its_elastic_ip(hub):
    boot = hub.named("hub-cloud-init")
    assert boot.inputs["connection"]["host"] == "203.0.113.10"
    assert boot.inputs["connection"]["user"] == "admin"
    assert "proxy" not in boot.inputs["connection"]


def test_the_hub_receives_the_scripts_the_nginx_sites_and_every_image_it_builds(hub):
    copies = {c.name: c.inputs["remotePath"] for c in hub.of_type("command:remote:CopyToRemote")}
    assert copies == {
        "hub-payload-scripts": "/opt/camphub",
        "hub-payload-nginx": "/opt/camphub",
        "hub-payload-venv-builder": "/opt/camphub",
        "hub-payload-hub": "/opt/camphub",
        "hub-payload-proxy": "/opt/camphub",
        "hub-payload-notebook": "/opt/camphub",
    }


def test_the_swarm_is_initialised_on_the_private_address(hub):
    init = hub.named("hub-swarm-init")
    assert "swarm-init --advertise-addr 10.192.0." in init.inputs["create"]
    assert "--network camphub" in init.inputs["create"]


def test_the_hub_keeps_its_state_on_a_small_encrypted_volume_of_its_own(hub):
    volume = hub.named("hub-state", VOLUME)
    assert volume.inputs["encrypted"] is True
    assert volume.inputs["size"] == 1
    assert volume.inputs["availabilityZone"] == "us-east-1a"
    assert "availabilityZone" in volume.ignore_changes
    attachment = hub.named("hub-state", ATTACHMENT)
    assert attachment.inputs["volumeId"] == volume.id
    assert attachment.inputs["instanceId"] == hub.named("hub").id
    assert attachment.inputs["stopInstanceBeforeDetaching"] is True
    # A replaced hub's new instance gets the volume once the old one has let it go.
    assert attachment.delete_before_replace


def test_the_volume_is_mounted_with_certbots_directory_linked_onto_it(hub):
    mount = hub.named("hub-mount-state")
    create = mount.inputs["create"]
    assert f"mount-hub-state --volume-id {hub.named('hub-state', VOLUME).id} " in create
    assert f"--mount-point {layout.HUB_VOLUME_DIR} --link {layout.LETSENCRYPT_DIR}" in create
    assert hub.depends_on(mount, hub.named("hub-state", ATTACHMENT))


def test_what_the_hub_keeps_lies_on_its_volume():
    for kept in (layout.HUB_STATE_DIR, layout.HUB_TLS_DIR):
        assert kept.startswith(f"{layout.HUB_VOLUME_DIR}/")
