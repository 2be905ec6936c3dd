"""The rehearsal's engine (rehearsal/engine.py) without Docker: which handler plays which
resource type, and the lifecycle of resources that need no machine (generated values, recorded
ones)."""

import pulumi

from rehearsal import commands, ec2, engine, random_tls, s3_iam
from rehearsal.cloud import LocalCloud
from rehearsal.environment import Environment
from rehearsal.state import State

UUID = "random:index/randomUuid:RandomUuid"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"


def environment(work_dir) -> Environment:
    return Environment(
        cloud=LocalCloud("test", work_dir),
        state=State(work_dir / "state.json"),
        instance_image="",
        vpc_cidr="10.0.0.0/16",
        log_dir=work_dir / "logs",
    )


def declare(env: Environment, type_: str, name: str, inputs: dict) -> tuple[str, dict]:
    args = pulumi.runtime.MockResourceArgs(type_, name, inputs, None, None, True)
    return engine.RehearsalMocks(env).new_resource(args)


def test_each_resource_type_is_played_by_one_handler_module():
    modules = (ec2, s3_iam, commands, random_tls)
    assert sum(len(module.HANDLERS) for module in modules) == len(engine.HANDLERS)
    assert {ec2.INSTANCE, s3_iam.BUCKET, commands.COMMAND, UUID} <= engine.HANDLERS.keys()


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
