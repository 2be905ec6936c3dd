"""The rehearsal's engine (rehearsal/engine.py) without Docker: which handler plays which
resource type, and the lifecycle of resources that need no machine (generated values, recorded
ones)."""

import pulumi
import pytest

from rehearsal import (
    commands,
    ec2_addresses,
    ec2_instances,
    ec2_volumes,
    engine,
    random_tls,
    route53,
    s3_iam,
    ssm_parameters,
    vpc,
)
from rehearsal.cloud import LocalCloud
from rehearsal.environment import Environment, Handler, plausible_id
from rehearsal.state import Record, State, record_key

UUID = "random:index/randomUuid:RandomUuid"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
MACHINE = "test:index:Machine"  # played by a handler of the test's own


def environment(work_dir) -> Environment:
    return Environment(
        cloud=LocalCloud("test", work_dir),
        state=State(work_dir / "state.json"),
        instance_image="",
        vpc_cidr="10.0.0.0/16",
        log_dir=work_dir / "logs",
    )


def declare(env: Environment, type_: str, name: str, inputs: dict, mocks=None) -> tuple[str, dict]:
    """Declares a resource as the runtime does, to a run's `mocks` (a fresh run's by default)."""
    args = pulumi.runtime.MockResourceArgs(type_, name, inputs, None, None, True)
    return (mocks or engine.RehearsalMocks(env)).new_resource(args)


def test_each_resource_type_is_played_by_one_handler_module():
    modules = (
        ec2_instances,
        ec2_volumes,
        ec2_addresses,
        s3_iam,
        commands,
        random_tls,
        route53,
        ssm_parameters,
        vpc,
    )
    assert sum(len(module.HANDLERS) for module in modules) == len(engine.HANDLERS)
    played = {
        ec2_instances.INSTANCE,
        s3_iam.BUCKET,
        ssm_parameters.PARAMETER,
        commands.COMMAND,
        UUID,
        route53.RECORD,
    }
    assert played <= engine.HANDLERS.keys()


def test_an_unchanged_resource_gets_its_recorded_outputs_back_in_the_next_run(tmp_path):
    first = declare(environment(tmp_path), UUID, "hub-secret", {})
    again = declare(environment(tmp_path), UUID, "hub-secret", {})
    assert again == first


def test_a_resource_no_handler_plays_is_recorded_and_its_deletion_does_nothing(tmp_path):
    env = environment(tmp_path)
    resource_id, state = declare(env, SECURITY_GROUP, "hub", {"description": "hub"})
    assert resource_id.startswith("securitygroup-")
    assert state == {"description": "hub", "arn": "arn:aws:rehearsal:::hub"}
    (record,) = env.state.records()
    engine.run_delete(env, record)


def replacing(env: Environment, *keys: str) -> engine.RehearsalMocks:
    """A run of `pulumi up --replace` of the resources with these `type::name` keys."""
    return engine.RehearsalMocks(env, replace=set(keys))


def test_a_replaced_resource_is_made_anew_and_its_old_record_deleted_after_the_run(tmp_path):
    first = environment(tmp_path)
    old_id, _ = declare(first, UUID, "hub-secret", {})
    group_id, _ = declare(first, SECURITY_GROUP, "hub", {"description": "hub"})
    second = environment(tmp_path)
    mocks = replacing(second, record_key(UUID, "hub-secret"))
    new_id, _ = declare(second, UUID, "hub-secret", {}, mocks)
    assert new_id != old_id
    assert declare(second, SECURITY_GROUP, "hub", {"description": "hub"}, mocks)[0] == group_id
    (old,) = mocks.left_behind()
    assert old.id == old_id
    engine.run_delete(second, old)
    second.state.forget(old)
    assert {r.id for r in State(tmp_path / "state.json").records()} == {new_id, group_id}


def test_what_the_local_cloud_made_in_the_old_ones_place_is_not_deleted_after(
    tmp_path, monkeypatch
):
    # An instance's container is named after its resource: the new one took the old one's place.
    def boot(env, args, previous):
        return plausible_id(args.typ, args.name), {}, {"resource": args.name}

    monkeypatch.setitem(engine.HANDLERS, MACHINE, Handler(boot))
    old_id, _ = declare(environment(tmp_path), MACHINE, "hub", {})
    second = environment(tmp_path)
    mocks = replacing(second, record_key(MACHINE, "hub"))
    new_id, _ = declare(second, MACHINE, "hub", {}, mocks)
    assert new_id != old_id
    assert mocks.left_behind() == []


def test_the_camps_network_is_recorded_with_awss_ids_its_subnet_the_private_networks_range(
    tmp_path,
):
    env = environment(tmp_path)
    mocks = engine.RehearsalMocks(env)
    vpc_id, vpc_state = declare(env, vpc.VPC, "camphub-vpc", {"cidrBlock": "10.192.0.0/16"}, mocks)
    assert vpc_id.startswith("vpc-") and len(vpc_id) == len("vpc-") + 17
    assert vpc_state["cidrBlock"] == "10.192.0.0/16"
    assert vpc_state["mainRouteTableId"].startswith("rtb-")
    subnet = {"vpcId": vpc_id, "cidrBlock": env.vpc_cidr, "availabilityZone": "us-east-1a"}
    subnet_id, subnet_state = declare(env, vpc.SUBNET, "camphub-subnet", subnet, mocks)
    assert subnet_id.startswith("subnet-")
    assert subnet_state["availabilityZone"] == "us-east-1a"
    assert subnet_state["arn"].endswith(f":subnet/{subnet_id}")
    table_id, _ = declare(env, vpc.ROUTE_TABLE, "camphub-routes", {"vpcId": vpc_id}, mocks)
    route = {"routeTableId": table_id, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-0"}
    route_id, route_state = declare(env, vpc.ROUTE, "camphub-internet", route, mocks)
    assert route_id.startswith(f"r-{table_id}") and route_state["state"] == "active"
    # Unchanged, the next run gets them back as they were.
    assert declare(environment(tmp_path), vpc.SUBNET, "camphub-subnet", subnet)[0] == subnet_id


def test_a_subnet_outside_the_private_networks_range_fails(tmp_path):
    env = environment(tmp_path)
    subnet = {"vpcId": "vpc-0", "cidrBlock": "10.192.0.0/24", "availabilityZone": "us-east-1a"}
    with pytest.raises(ValueError, match="the rehearsal's private network, which plays it"):
        declare(env, vpc.SUBNET, "camphub-subnet", subnet)


def test_where_a_camp_runs_is_looked_up_in_the_records(tmp_path):
    env = environment(tmp_path)
    mocks = engine.RehearsalMocks(env)
    tags = {"Name": "camphub-subnet", "camphub:stack": "dev"}
    subnet = {"cidrBlock": env.vpc_cidr, "availabilityZone": "us-east-1a", "tags": tags}
    subnet_id, _ = declare(env, vpc.SUBNET, "camphub-subnet", subnet, mocks)
    env.state.put(
        Record(ec2_instances.INSTANCE, "nfs", "i-0nfs", "", {"subnetId": subnet_id}, {}, {})
    )
    found = mocks.call(_call(vpc.GET_INSTANCE, {"instanceId": "i-0nfs"}))
    assert found["subnetId"] == subnet_id
    own = mocks.call(_call(vpc.GET_SUBNET, {"id": subnet_id}))
    assert own["tags"] == tags and own["cidrBlock"] == env.vpc_cidr
    # Any other subnet (camphub:subnetId) is a default VPC's, untagged.
    kept = mocks.call(_call(vpc.GET_SUBNET, {"id": vpc.DEFAULT_SUBNET}))
    assert kept["tags"] == {} and kept["vpcId"] == vpc.DEFAULT_VPC


def _call(token: str, args: dict) -> pulumi.runtime.MockCallArgs:
    return pulumi.runtime.MockCallArgs(token, args, None)
