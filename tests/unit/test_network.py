"""Network alone: three security groups that reference each other; and the admin key beside it."""

import pytest
from components import base_of, deploy_component
from cryptography.hazmat.primitives.asymmetric import ed25519
from program import GET_SUBNET, INVOKES, OWN_SUBNET_ID, CampMocks, RecordingMonitor, deploy
from ssh_keys import openssh_private_text, openssh_public_text

from infra import layout
from infra.errors import ConfigError

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


def test_three_groups_in_the_camps_own_vpc(network):
    groups = network.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sorted(g.name for g in groups) == ["camphub-cluster", "camphub-hub", "camphub-nfs"]
    assert {g.inputs["vpcId"] for g in groups} == {network.named("camphub-vpc").id}


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


def test_ipv6_admin_ranges_become_ipv6_rules(base_config, caplog):
    deployment = deploy_component({**base_config, "sshAllowedCidrs": ["2a01:4f8::/48"]}, base_of)
    ssh = [r for r in deployment.of_type(INGRESS) if "ssh-admin" in r.name]
    assert [(r.inputs.get("cidrIpv6"), r.inputs.get("cidrIpv4")) for r in ssh] == [
        ("2a01:4f8::/48", None)
    ]
    # Which matter only in a kept subnet with IPv6: the camp's own network is IPv4 only.
    assert (
        "camphub:sshAllowedCidrs: 2a01:4f8::/48 is IPv6, and the camp's own network is IPv4 only"
        in caplog.text
    )


def test_the_organizers_own_key_replaces_the_generated_one(base_config):
    private_key = ed25519.Ed25519PrivateKey.generate()
    private_text = openssh_private_text(private_key)
    deployment = deploy({**base_config, "adminSshPrivateKey": private_text})
    assert admin_keys(deployment) == []
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
    assert [key.urn for key in admin_keys(deployment)] == (
        [] if own_key else [f"{UNDER_NETWORK}tls:index/privateKey:PrivateKey::camphub-admin-ssh"]
    )


def admin_keys(deployment) -> list:
    """The key pairs the program makes but the machines' host keys (tests/unit/test_host_key.py)."""
    keys = deployment.of_type("tls:index/privateKey:PrivateKey")
    return [key for key in keys if not key.name.endswith("-host-key")]


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


# The camp's own network.

# {name: type}: what the program declares of it, each under the Network.
OWN_NETWORK = {
    "camphub-vpc": "aws:ec2/vpc:Vpc",
    "camphub-subnet": "aws:ec2/subnet:Subnet",
    "camphub-gateway": "aws:ec2/internetGateway:InternetGateway",
    "camphub-routes": "aws:ec2/routeTable:RouteTable",
    "camphub-internet": "aws:ec2/route:Route",
    "camphub-subnet-routes": "aws:ec2/routeTableAssociation:RouteTableAssociation",
}
NETWORK_TYPES = set(OWN_NETWORK.values())
INSTANCE = "aws:ec2/instance:Instance"
DEFAULT_SUBNET = INVOKES[GET_SUBNET]["id"]  # the default VPC's, in us-east-1a


class NoDefaultVpcMocks(CampMocks):
    """An account without a default VPC: looking one up fails, as the provider says it."""

    def __init__(self):
        self.asked: list[str] = []

    def call(self, args):
        self.asked.append(args.token)
        if args.token == "aws:ec2/getVpc:getVpc":
            raise Exception("no matching EC2 VPC found")
        return super().call(args)


def test_an_account_without_a_default_vpc_deploys_the_camps_own_network(base_config):
    mocks = NoDefaultVpcMocks()
    deployment = deploy(base_config, mocks=mocks)
    assert "aws:ec2/getVpc:getVpc" not in mocks.asked
    assert {r.name: r.type for r in deployment.resources if r.type in NETWORK_TYPES} == OWN_NETWORK
    assert len(deployment.of_type(INSTANCE)) == 4


def test_the_camps_own_vpc_has_one_subnet_in_the_camps_zone_and_a_way_out(network):
    vpc = network.named("camphub-vpc")
    assert vpc.inputs["cidrBlock"] == layout.VPC_CIDR == "10.192.0.0/16"
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"]
    assert "assignGeneratedIpv6CidrBlock" not in vpc.inputs  # IPv4 only
    subnet = network.named("camphub-subnet")
    assert subnet.inputs["vpcId"] == vpc.id
    assert subnet.inputs["cidrBlock"] == layout.SUBNET_CIDR
    assert subnet.inputs["availabilityZone"] == "us-east-1a"  # the first zone offering every type
    # Public addresses, as a default subnet gives them: no NAT gateway to pay for.
    assert subnet.inputs["mapPublicIpOnLaunch"] is True
    gateway = network.named("camphub-gateway")
    assert gateway.inputs["vpcId"] == vpc.id
    table = network.named("camphub-routes")
    assert table.inputs["vpcId"] == vpc.id
    route = network.named("camphub-internet")
    assert route.inputs == {
        "routeTableId": table.id,
        "destinationCidrBlock": "0.0.0.0/0",
        "gatewayId": gateway.id,
    }
    association = network.named("camphub-subnet-routes")
    assert association.inputs == {"subnetId": subnet.id, "routeTableId": table.id}


def test_the_camps_network_is_named_and_tagged_like_the_rest_and_stays_where_it_is(network):
    parent = network.named("camphub", typ="camphub:index:Network").urn
    assert {r.name: r.type for r in network.resources if r.type in NETWORK_TYPES} == OWN_NETWORK
    for name, typ in OWN_NETWORK.items():
        resource = network.named(name, typ=typ)
        assert resource.urn == f"{UNDER_NETWORK}{typ}::{name}"
        assert resource.parent == parent
        if resource.type.endswith(("Vpc", "Subnet", "InternetGateway", "RouteTable")):
            assert resource.inputs["tags"] == {"Name": name, "camphub:stack": "test"}


def test_every_machine_is_in_the_camps_subnet_and_waits_for_its_way_out(deployment):
    subnet = deployment.named("camphub-subnet")
    route, association = (
        deployment.named("camphub-internet"),
        deployment.named("camphub-subnet-routes"),
    )
    instances = deployment.of_type(INSTANCE)
    assert len(instances) == 4
    for instance in instances:
        assert instance.inputs["subnetId"] == subnet.id
        assert deployment.depends_on(instance, route), instance.name
        assert deployment.depends_on(instance, association), instance.name
    assert deployment.outputs["subnetId"] == subnet.id
    assert deployment.outputs["vpcId"] == deployment.named("camphub-vpc").id
    assert f"--client {layout.SUBNET_CIDR}" in deployment.named("nfs-export-homes").inputs["create"]


def test_a_kept_subnet_is_used_and_no_network_is_declared(base_config):
    deployment = deploy({**base_config, "subnetId": DEFAULT_SUBNET})
    assert [r.type for r in deployment.resources if r.type in NETWORK_TYPES] == []
    groups = deployment.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert {g.inputs["vpcId"] for g in groups} == {INVOKES[GET_SUBNET]["vpcId"]}
    assert {i.inputs["subnetId"] for i in deployment.of_type(INSTANCE)} == {DEFAULT_SUBNET}
    assert deployment.outputs["subnetId"] == DEFAULT_SUBNET
    assert "--client 172.31.0.0/20" in deployment.named("nfs-export-homes").inputs["create"]
    assert deployment.outputs["availabilityZone"] == "us-east-1a"


def refused(config: dict, mocks=None) -> str:
    """The error the program stops with; and proof that nothing was declared before it."""
    recorded = []

    def monitor(mocks, deployment):
        recorded.append(deployment)
        return RecordingMonitor(mocks, deployment)

    with pytest.raises(ConfigError) as error:
        deploy(config, mocks=mocks, monitor=monitor)
    assert recorded[0].resources == []
    return str(error.value)


def test_a_subnet_id_of_another_form_is_refused_naming_the_key_and_the_fix(base_config):
    message = refused({**base_config, "subnetId": "my-subnet"})
    assert message.startswith("camphub:subnetId: 'my-subnet' is not a subnet id like subnet-0")
    assert "aws ec2 describe-subnets" in message
    assert "pulumi config rm camphub:subnetId" in message


def test_a_subnet_that_does_not_exist_is_refused_naming_the_key(base_config):
    class NoSuchSubnet(CampMocks):
        def call(self, args):
            if args.token == "aws:ec2/getSubnets:getSubnets":
                assert args.args["filters"] == [
                    {"name": "subnet-id", "values": ["subnet-0fffffffffffffff0"]}
                ]
                return {"ids": []}
            assert args.token != GET_SUBNET, "only a subnet that exists is described"
            return super().call(args)

    message = refused({**base_config, "subnetId": "subnet-0fffffffffffffff0"}, NoSuchSubnet())
    assert message.startswith(
        "camphub:subnetId: there is no subnet subnet-0fffffffffffffff0 in this account and region."
    )
    assert "pulumi config rm camphub:subnetId" in message


def test_the_camps_own_subnet_is_not_kept_as_if_it_were_anothers(base_config):
    # Kept, the program would no longer declare it, and Pulumi would delete the camp's network.
    message = refused({**base_config, "subnetId": OWN_SUBNET_ID})
    assert message == (
        f"camphub:subnetId: {OWN_SUBNET_ID} is this camp's own subnet, which the program makes "
        "with its VPC; `pulumi config rm camphub:subnetId`."
    )


# Upgrading: a camp that runs in the default VPC is never moved into a VPC of its own.


class RunningCampMocks(CampMocks):
    """This stack's camp runs: its NFS server holds the homes volume, in `subnet`."""

    def __init__(self, subnet: str):
        self.subnet = subnet

    def call(self, args):
        filters = {f["name"]: f["values"] for f in args.args.get("filters") or []}
        if args.token == "aws:ebs/getEbsVolumes:getEbsVolumes":
            assert filters == {
                "tag:Name": ["camphub-homes"],
                "tag:camphub:stack": ["test"],
                "status": ["in-use"],
            }
            return {"ids": ["vol-0123456789abcdef0"]}
        if args.token == "aws:ec2/getInstances:getInstances":
            assert filters == {"block-device-mapping.volume-id": ["vol-0123456789abcdef0"]}
            assert args.args["instanceTags"] == {"camphub:role": "nfs"}
            return {"ids": ["i-0123456789abcdef0"]}
        if args.token == "aws:ec2/getInstance:getInstance":
            assert args.args["instanceId"] == "i-0123456789abcdef0"
            return {"id": "i-0123456789abcdef0", "subnetId": self.subnet}
        return super().call(args)


def test_a_camp_running_in_the_default_vpc_is_refused_with_the_command_that_keeps_it(
    base_config,
):
    message = refused(base_config, RunningCampMocks(DEFAULT_SUBNET))
    assert message.startswith(
        f"camphub:subnetId: this camp runs in {DEFAULT_SUBNET} (VPC vpc-0123456789abcdef0), a "
        "subnet camphub did not make"
    )
    assert f"`pulumi config set camphub:subnetId {DEFAULT_SUBNET}`" in message


def test_that_camp_kept_in_its_subnet_stays_there(base_config):
    deployment = deploy(
        {**base_config, "subnetId": DEFAULT_SUBNET}, mocks=RunningCampMocks(DEFAULT_SUBNET)
    )
    assert {i.inputs["subnetId"] for i in deployment.of_type(INSTANCE)} == {DEFAULT_SUBNET}


def test_a_camp_running_in_its_own_network_is_updated(base_config):
    deployment = deploy(base_config, mocks=RunningCampMocks(OWN_SUBNET_ID))
    assert deployment.named("camphub-subnet").id == OWN_SUBNET_ID
