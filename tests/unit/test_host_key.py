"""Bootstrap trusts only its own machines (infra/host_key.py): each machine has its own role and
a host key the program made; the private half waits in SSM for that machine's role alone, and
every step's connection, and the jump host it goes through, pins the machine's public half."""

import json

import pytest
from program import FAKE_HOST_KEY

from infra import layout

INSTANCE = "aws:ec2/instance:Instance"
STEP_TYPES = ("command:remote:Command", "command:remote:CopyToRemote")
PARAMETER = "aws:ssm/parameter:Parameter"
MACHINES = ("hub", "workers-0", "nfs")


@pytest.fixture
def host_keys(deployment) -> dict[str, str]:
    """Each machine's public host key, by machine name."""
    names = [instance.name for instance in deployment.of_type(INSTANCE)]
    return {m: deployment.named(f"{m}-host-key").outputs["publicKeyOpenssh"] for m in names}


def machine_at(deployment, address: str) -> str:
    """The machine a connection dials: the hub at its elastic address, the others at their
    private ones."""
    if address == deployment.named("hub-address", "aws:ec2/eip:Eip").outputs["publicIp"]:
        return "hub"
    (instance,) = [i for i in deployment.of_type(INSTANCE) if i.outputs["privateIp"] == address]
    return instance.name


@pytest.mark.parametrize("machine", MACHINES)
def test_every_machine_runs_as_its_own_role_with_its_own_ed25519_host_key(deployment, machine):
    role = deployment.named(f"{machine}-role")
    profile = deployment.named(f"{machine}-profile")
    assert profile.inputs["role"] == role.id
    assert deployment.named(machine, INSTANCE).inputs["iamInstanceProfile"] == profile.id
    assert deployment.named(f"{machine}-host-key").inputs["algorithm"] == "ED25519"


@pytest.mark.parametrize("machine", MACHINES)
def test_the_private_half_waits_in_ssm_for_that_machine_alone(deployment, machine):
    instance = deployment.named(machine, INSTANCE)
    parameter = deployment.named(f"{machine}-host-key-parameter")
    assert parameter.inputs["name"] == f"{layout.HOST_KEY_PARAMETERS}/{instance.id}"
    assert parameter.inputs["type"] == "SecureString"
    assert parameter.is_secret("value")
    assert f"{FAKE_HOST_KEY}-of-{machine}-host-key" in parameter.inputs["value"]
    reader = deployment.named(f"{machine}-host-key-reader")
    assert reader.inputs["role"] == deployment.named(f"{machine}-role").id
    (statement,) = json.loads(reader.inputs["policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": parameter.outputs["arn"],
    }


def test_no_two_machines_share_a_host_key(host_keys):
    assert len(host_keys) > len(MACHINES)  # two workers by default
    assert len(set(host_keys.values())) == len(host_keys)


def test_every_step_pins_the_key_of_the_machine_it_dials_and_of_the_hub_it_goes_through(
    deployment, host_keys
):
    steps = [step for t in STEP_TYPES for step in deployment.of_type(t)]
    assert steps
    for step in steps:
        connection = step.inputs["connection"]
        dialled = machine_at(deployment, connection["host"])
        assert connection["hostKey"] == host_keys[dialled], step.name
        proxy = connection.get("proxy")
        if dialled == "hub":
            assert proxy is None, step.name
        else:
            assert machine_at(deployment, proxy["host"]) == "hub", step.name
            assert proxy["hostKey"] == host_keys["hub"], step.name


@pytest.mark.parametrize("machine", MACHINES)
def test_first_contact_dials_once_the_key_is_there_for_the_machine_to_fetch(deployment, machine):
    first_contact = deployment.named(f"{machine}-cloud-init")
    for handed_over in (
        deployment.named(f"{machine}-host-key-parameter"),
        deployment.named(f"{machine}-host-key-reader"),
    ):
        assert deployment.depends_on(first_contact, handed_over), handed_over.urn
