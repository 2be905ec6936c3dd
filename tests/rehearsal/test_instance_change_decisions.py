"""How the local cloud applies a changed EC2 instance, without Docker: the decision
(rehearsal.ec2_instance_changes.instance_change: in place, stop and start, or replace, as the
AWS provider has EC2 apply each input) and the engine keeping an input the resource names in
`ignore_changes`, as Pulumi's engine does. tests/rehearsal/test_instance_restart.py plays the
decisions on real containers."""

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import resource_pb2
from test_engine import SECURITY_GROUP, environment

from rehearsal import engine
from rehearsal.ec2_instance_changes import (
    IN_PLACE,
    REPLACE,
    STOP_AND_START,
    InstanceChange,
    instance_change,
)

# An instance's inputs as the program declares them (infra/machine.py), as the state keeps them.
MADE = {
    "ami": "ami-0fedcba9876543210",
    "iamInstanceProfile": None,
    "instanceType": "t3.xlarge",
    "keyName": "camphub-admin",
    "metadataOptions": {
        "httpEndpoint": "enabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    },
    "rootBlockDevice": {
        "deleteOnTermination": True,
        "encrypted": True,
        "volumeSize": 40,
        "volumeType": "gp3",
    },
    "subnetId": "subnet-0aaaaaaaaaaaaaaaa",
    "tags": {"Name": "workers-0", "camphub:role": "worker"},
    "userData": "#cloud-config\npackages: [docker.io]\n",
    "userDataReplaceOnChange": False,
    "vpcSecurityGroupIds": ["sg-cluster"],
}


def changed(**inputs) -> InstanceChange:
    return instance_change(MADE, {**MADE, **inputs})


def test_the_same_inputs_are_no_change():
    assert instance_change(MADE, dict(MADE)) == InstanceChange(None, ())


def test_a_changed_instance_type_stops_and_starts_the_machine():
    assert changed(instanceType="t3.2xlarge") == InstanceChange(STOP_AND_START, ("instanceType",))


def test_a_changed_user_data_stops_and_starts_it_unless_it_is_to_replace_it():
    new = "#cloud-config\npackages: [docker.io, jq]\n"
    assert changed(userData=new) == InstanceChange(STOP_AND_START, ("userData",))
    assert changed(userData=new, userDataReplaceOnChange=True).how == REPLACE


@pytest.mark.parametrize("name", ["ami", "subnetId", "keyName"])
def test_a_new_image_subnet_or_key_pair_replaces_the_machine(name):
    assert changed(**{name: "other"}) == InstanceChange(REPLACE, (name,))


@pytest.mark.parametrize(
    "inputs",
    [
        {"iamInstanceProfile": "camphub-nfs-archive"},
        {"metadataOptions": {**MADE["metadataOptions"], "httpPutResponseHopLimit": 2}},
        {"tags": {"Name": "workers-0"}},
        {"vpcSecurityGroupIds": ["sg-cluster", "sg-hub"]},
    ],
)
def test_a_new_profile_metadata_setting_tag_or_group_applies_to_the_running_machine(inputs):
    assert changed(**inputs) == InstanceChange(IN_PLACE, tuple(inputs))


def test_a_root_volume_grows_in_place_but_is_not_encrypted_afterwards():
    volume = MADE["rootBlockDevice"]
    grown = changed(rootBlockDevice={**volume, "volumeSize": 80})
    assert grown == InstanceChange(IN_PLACE, ("rootBlockDevice.volumeSize",))
    plain = changed(rootBlockDevice={**volume, "encrypted": False})
    assert plain == InstanceChange(REPLACE, ("rootBlockDevice.encrypted",))


def test_several_changes_are_applied_the_most_disruptive_way_and_all_named():
    change = changed(tags={}, instanceType="t3.large", keyName="other")
    assert change == InstanceChange(REPLACE, ("instanceType", "keyName", "tags"))


def test_an_input_whose_way_is_unknown_stops_the_rehearsal_rather_than_guess():
    with pytest.raises(LookupError, match="'capacityReservationSpecification'"):
        changed(capacityReservationSpecification={"capacityReservationPreference": "none"})


def register(env, name: str, inputs: dict, ignore_changes: list[str]) -> tuple[str, dict]:
    """Registers a resource with the rehearsal's monitor as the runtime does; returns its id
    and state."""
    monitor = engine.RehearsalMonitor(engine.RehearsalMocks(env))
    declared = struct_pb2.Struct()
    declared.update(inputs)
    request = resource_pb2.RegisterResourceRequest(
        type=SECURITY_GROUP, name=name, custom=True, object=declared, ignoreChanges=ignore_changes
    )
    response = monitor.RegisterResource(request)
    return response.id, json_format.MessageToDict(response.object)


def test_an_ignored_input_keeps_its_recorded_value_and_changes_nothing(tmp_path):
    made = register(environment(tmp_path), "hub", {"description": "made"}, ["description"])
    again = register(environment(tmp_path), "hub", {"description": "new"}, ["description"])
    assert again == made


def test_an_input_not_ignored_takes_the_programs_value(tmp_path):
    made_id, _ = register(environment(tmp_path), "hub", {"description": "made"}, [])
    again_id, state = register(environment(tmp_path), "hub", {"description": "new"}, ["name"])
    assert (again_id, state["description"]) == (made_id, "new")


def test_an_ignored_input_counts_when_the_resource_is_made(tmp_path):
    _, state = register(environment(tmp_path), "hub", {"description": "made"}, ["description"])
    assert state["description"] == "made"
