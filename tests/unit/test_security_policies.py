"""Security properties that must hold for every resource the program declares, whatever the
configuration. Each rule reads one declared resource, like a pulumi-policy resource validation."""

import json

import pytest
from program import FAKE_HOST_KEY, FAKE_JOIN_TOKEN, FAKE_PRIVATE_KEY, deploy

from infra.layout import SSH_PORT
from infra.policy_rules import violations
from infra.userdata import uncompressed_user_data

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INSTANCE = "aws:ec2/instance:Instance"
COMMAND = "command:remote:Command"
PARAMETER = "aws:ssm/parameter:Parameter"
OAUTH_SECRET = "google-oauth-secret-value"

CONFIGS = {
    "defaults": {},
    "one worker, two admin ranges": {
        "workers": {"count": 1},
        "sshAllowedCidrs": ["84.17.41.0/24", "2a01:4f8::/48"],
    },
    "domain and five workers": {
        "workers": {"count": 5},
        "domain": "jupyter.camp.test",
        "letsEncryptEmail": "organizer@camp.test",
        "hostedZone": "camp.test",
    },
}


@pytest.fixture(params=list(CONFIGS), scope="module")
def deployed(request, tmp_path_factory):
    class_list = tmp_path_factory.mktemp("class") / "userlist.txt"
    class_list.write_text("teacher@camp.example.org admin\nada@camp.example.org\n")
    config = {
        "oauthClientId": "1234-camp.apps.googleusercontent.com",
        "oauthClientSecret": OAUTH_SECRET,
        "sshAllowedCidrs": ["84.17.40.7/32"],
        "userlistFile": str(class_list),
        **CONFIGS[request.param],
    }
    return config, deploy(config)


def test_every_resource_passes_the_security_rules(deployed):
    _, deployment = deployed
    found = {r.urn: violations(r.type, r.inputs) for r in deployment.resources}
    assert {urn: v for urn, v in found.items() if v} == {}


def test_ssh_from_addresses_only_from_the_allowed_cidrs(deployed):
    config, deployment = deployed
    for rule in deployment.of_type(INGRESS):
        cidr = rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6")
        if rule.inputs["fromPort"] <= SSH_PORT <= rule.inputs["toPort"] and cidr:
            assert cidr in config["sshAllowedCidrs"], rule.urn
    admin_rules = [r for r in deployment.of_type(INGRESS) if "ssh-admin" in r.name]
    assert sorted(r.inputs.get("cidrIpv4") or r.inputs["cidrIpv6"] for r in admin_rules) == sorted(
        config["sshAllowedCidrs"]
    )


def test_the_homes_volume_survives_destroy(deployed):
    _, deployment = deployed
    homes = deployment.named("nfs-homes", "aws:ebs/volume:Volume")
    assert homes.retain_on_delete, "pulumi destroy would delete the students' homes"


def test_only_the_hub_has_a_public_address_or_world_facing_group(deployed):
    _, deployment = deployed
    hub_group = deployment.named("camphub-hub", typ="aws:ec2/securityGroup:SecurityGroup")
    for instance in deployment.of_type(INSTANCE):
        in_hub_group = hub_group.id in instance.inputs["vpcSecurityGroupIds"]
        assert in_hub_group == (instance.name == "hub"), instance.urn
    (association,) = deployment.of_type("aws:ec2/eipAssociation:EipAssociation")
    assert deployment.depends_on(association, deployment.named("hub"))


def _every_string(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _every_string(item)
    elif isinstance(value, list):
        for item in value:
            yield from _every_string(item)


SECRET_VALUES = (
    OAUTH_SECRET,
    FAKE_JOIN_TOKEN.strip(),
    "fake-admin-key",
    FAKE_HOST_KEY,
    "fake-password",
)


def test_secrets_never_appear_in_user_data_or_command_text(deployed):
    _, deployment = deployed
    for resource in deployment.resources:
        visible = dict(resource.inputs)
        if "userDataBase64" in visible:  # what EC2 shows, unpacked
            visible["userDataBase64"] = uncompressed_user_data(visible["userDataBase64"])
        # Secret-carrying inputs, checked below (a parameter's value too).
        carriers = ["stdin", "triggers", "connection"] + (
            ["value"] if resource.type == PARAMETER else []
        )
        for key in carriers:
            visible.pop(key, None)
        for text in _every_string(visible):
            for secret in SECRET_VALUES:
                assert secret not in text, f"{resource.urn} shows a secret in plain text"


def test_secret_inputs_are_marked_secret(deployed):
    _, deployment = deployed
    for command in deployment.of_type(COMMAND):
        stdin = command.inputs.get("stdin", "")
        if any(s in stdin for s in SECRET_VALUES):
            assert command.is_secret("stdin"), f"{command.urn} passes a secret on stdin unmarked"
        if FAKE_PRIVATE_KEY in json.dumps(command.inputs.get("connection", {})):
            assert command.is_secret("connection"), command.urn
    for parameter in deployment.of_type(PARAMETER):
        assert parameter.inputs["type"] == "SecureString", parameter.urn
        assert parameter.is_secret("value"), f"{parameter.urn} holds a secret unmarked"


def test_commands_whose_output_is_secret_hide_it(deployed):
    _, deployment = deployed
    token = [c for c in deployment.of_type(COMMAND) if c.name.endswith("swarm-join-token")]
    assert len(token) == 1
    assert set(token[0].additional_secret_outputs) >= {"stdout", "stderr"}
    assert token[0].inputs["logging"] == "none"


def test_plain_outputs_hold_no_secret(deployed):
    _, deployment = deployed
    for name, value in deployment.outputs.items():
        if deployment.output_is_secret(name):
            continue
        for text in _every_string(value):
            for secret in SECRET_VALUES:
                assert secret not in text, f"output {name} shows a secret"
    assert deployment.output_is_secret("adminSshKey")
