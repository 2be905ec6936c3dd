"""Network alone: three security groups that reference each other; and the admin key beside it."""

import pytest
from components import base_of, deploy_component
from cryptography.hazmat.primitives.asymmetric import ed25519
from program import deploy
from ssh_keys import openssh_private_text, openssh_public_text

from infra import layout

# The URN prefix of the network's children (stack "test" under the mocks).
UNDER_NETWORK = "urn:pulumi:test::camphub::camphub:index:Network$"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@pytest.fixture
def network(base_config):
    return deploy_component(base_config, base_of)


def rules_into(deployment, group: str) -> dict[str, dict]:
    target = deployment.named(f"camphub-{group}", typ="aws:ec2/securityGroup:SecurityGroup").id
    return {
        r.name: r.inputs
        for r in deployment.of_type(INGRESS)
        if r.inputs["securityGroupId"] == target
    }


def group_id(deployment, group: str) -> str:
    return deployment.named(f"camphub-{group}", typ="aws:ec2/securityGroup:SecurityGroup").id


def test_three_groups_in_the_default_vpc(network):
    groups = network.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sorted(g.name for g in groups) == ["camphub-cluster", "camphub-hub", "camphub-nfs"]
    assert {g.inputs["vpcId"] for g in groups} == {"vpc-0123456789abcdef0"}


def test_hub_takes_web_from_anywhere_and_ssh_from_admins(network):
    rules = rules_into(network, "hub")
    ports = sorted(
        (r["fromPort"], r.get("cidrIpv4") or r.get("cidrIpv6"))
        for r in rules.values()
        if not r.get("referencedSecurityGroupId")
    )
    assert ports == [
        (22, "84.17.40.7/32"),
        (80, "0.0.0.0/0"),
        (80, "::/0"),
        (443, "0.0.0.0/0"),
        (443, "::/0"),
    ]


def test_swarm_ports_open_only_among_cluster_members(network):
    cluster = group_id(network, "cluster")
    swarm = {
        (r["fromPort"], r["ipProtocol"]): r["referencedSecurityGroupId"]
        for r in rules_into(network, "cluster").values()
        if r["fromPort"] != 22
    }
    assert swarm == {
        (2377, "tcp"): cluster,
        (7946, "tcp"): cluster,
        (7946, "udp"): cluster,
        (4789, "udp"): cluster,
    }


def test_the_hubs_image_archives_are_reachable_only_from_the_cluster(network):
    images = [r for r in network.of_type(INGRESS) if r.inputs["fromPort"] == layout.IMAGES_PORT]
    assert [(r.inputs["securityGroupId"], r.inputs["ipProtocol"]) for r in images] == [
        (group_id(network, "hub"), "tcp")
    ]
    (rule,) = images
    assert rule.inputs["toPort"] == layout.IMAGES_PORT
    assert rule.inputs["referencedSecurityGroupId"] == group_id(network, "cluster")
    assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_workers_and_nfs_take_ssh_only_from_the_hub(network):
    hub = group_id(network, "hub")
    for group in ("cluster", "nfs"):
        ssh = [r for r in rules_into(network, group).values() if r["fromPort"] == 22]
        assert [r.get("referencedSecurityGroupId") for r in ssh] == [hub]


def test_nfs_is_reachable_only_from_the_cluster(network):
    rules = list(rules_into(network, "nfs").values())
    nfs = [r for r in rules if r["fromPort"] == 2049]
    assert [r["referencedSecurityGroupId"] for r in nfs] == [group_id(network, "cluster")]


def test_an_ed25519_admin_key_is_generated_and_registered(network):
    (key,) = network.of_type("tls:index/privateKey:PrivateKey")
    assert key.inputs["algorithm"] == "ED25519"
    (pair,) = network.of_type("aws:ec2/keyPair:KeyPair")
    assert pair.inputs["publicKey"].startswith("ssh-ed25519 ")


def test_ipv6_admin_ranges_become_ipv6_rules(base_config):
    deployment = deploy_component({**base_config, "sshAllowedCidrs": ["2a01:4f8::/48"]}, base_of)
    ssh = [r for r in deployment.of_type(INGRESS) if "ssh-admin" in r.name]
    assert [(r.inputs.get("cidrIpv6"), r.inputs.get("cidrIpv4")) for r in ssh] == [
        ("2a01:4f8::/48", None)
    ]


def test_the_organizers_own_key_replaces_the_generated_one(base_config):
    private_key = ed25519.Ed25519PrivateKey.generate()
    private_text = openssh_private_text(private_key)
    deployment = deploy({**base_config, "adminSshPrivateKey": private_text})
    assert deployment.of_type("tls:index/privateKey:PrivateKey") == []
    (pair,) = deployment.of_type("aws:ec2/keyPair:KeyPair")
    assert pair.inputs["publicKey"] == openssh_public_text(private_key)
    assert deployment.outputs["adminSshKey"] == private_text
    assert deployment.output_is_secret("adminSshKey")


@pytest.mark.parametrize("own_key", [False, True], ids=["generated", "organizers"])
def test_the_admin_key_keeps_its_place_under_the_network(base_config, own_key):
    # Its owner is infra/admin_key.py; in the stack's tree it stays where it was, so the deployed
    # key pair (and the instances launched with it) are neither moved nor replaced.
    config = base_config
    if own_key:
        private_text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
        config = {**base_config, "adminSshPrivateKey": private_text}
    deployment = deploy(config)
    network = deployment.named("camphub", typ="camphub:index:Network")
    pair = deployment.named("camphub-admin")
    assert pair.urn == f"{UNDER_NETWORK}aws:ec2/keyPair:KeyPair::camphub-admin"
    assert pair.parent == network.urn
    for instance in deployment.of_type("aws:ec2/instance:Instance"):
        assert instance.inputs["keyName"] == "camphub-admin-key", instance.name
    generated = deployment.of_type("tls:index/privateKey:PrivateKey")
    assert [key.urn for key in generated] == (
        [] if own_key else [f"{UNDER_NETWORK}tls:index/privateKey:PrivateKey::camphub-admin-ssh"]
    )


STEP_TYPES = ("command:remote:Command", "command:remote:CopyToRemote")


def ssh_rules(deployment) -> list:
    """What lets SSH through: from the organizer's addresses to the hub, and from the hub on."""
    return [
        r
        for r in deployment.of_type(INGRESS)
        if r.inputs["fromPort"] == 22 and r.inputs["toPort"] == 22
    ]


def test_every_step_dials_only_after_the_rules_that_let_ssh_through(base_config):
    """A changed sshAllowedCidrs (here: a second address) holds before any step dials."""
    deployment = deploy({**base_config, "sshAllowedCidrs": ["84.17.40.7/32", "84.17.41.0/24"]})
    rules = ssh_rules(deployment)
    assert sorted(r.name for r in rules) == [
        "camphub-cluster-ssh-from-hub",
        "camphub-hub-ssh-admin-0",
        "camphub-hub-ssh-admin-1",
        "camphub-nfs-ssh-from-hub",
    ]
    steps = [s for t in STEP_TYPES for s in deployment.of_type(t)]
    assert len(steps) > 20
    for step in steps:
        for rule in rules:
            assert deployment.depends_on(step, rule), f"{step.name} may dial before {rule.name}"
