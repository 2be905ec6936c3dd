"""The camp's names in its Route 53 zone (infra/hub_dns.py): with a hosted zone the hub's name and
the wildcard of students' servers point at the hub, the hub may answer Let's Encrypt's DNS
challenge for both and change nothing else, and every part of the camp knows the servers are on
subdomains. Without a zone none of it exists and the outputs say what one origin means."""

import json

import pytest
from program import deploy

from infra.hub_dns import dns_challenge_policy

RECORD = "aws:route53/record:Record"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ZONE_ID = "Z0123456789ABCDEFGHIJ"  # what the mocks answer for any zone (tests/unit/program.py)
ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE_ID}"
DOMAIN = "jupyter.camp.test"
EIP = "203.0.113.10"
OUTSIDE_ROUTE_53 = {"domain": DOMAIN, "letsEncryptEmail": "organizer@camp.test"}
IN_OUR_ZONE = {**OUTSIDE_ROUTE_53, "hostedZone": "camp.test"}


@pytest.fixture
def in_our_zone(base_config):
    return deploy({**base_config, **IN_OUR_ZONE})


def challenge_grant(deployment):
    return deployment.named("hub-dns-challenge", ROLE_POLICY)


def test_the_hub_name_and_every_name_under_it_point_at_the_hubs_address(in_our_zone):
    records = {r.inputs["name"]: r.inputs for r in in_our_zone.of_type(RECORD)}
    assert set(records) == {DOMAIN, f"*.{DOMAIN}"}
    for record in records.values():
        assert (record["type"], record["records"], record["zoneId"]) == ("A", [EIP], ZONE_ID)


def test_certbot_runs_once_both_names_resolve_and_the_hub_may_answer_the_challenge(in_our_zone):
    nginx = in_our_zone.named("hub-configure-nginx")
    for needed in (*in_our_zone.of_type(RECORD), challenge_grant(in_our_zone)):
        assert in_our_zone.depends_on(nginx, needed), needed.name
    assert "--user-subdomains" in nginx.inputs["create"].split()


def test_the_challenge_permission_is_the_hubs_alone(in_our_zone):
    grants = [g for g in in_our_zone.of_type(ROLE_POLICY) if "route53" in g.inputs["policy"]]
    assert [g.inputs["role"] for g in grants] == [in_our_zone.named("hub-role").id]


def route53_statements(policy: str) -> list[dict]:
    statements = json.loads(policy)["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    return statements


def test_the_hub_may_write_only_the_challenges_txt_record_in_that_zone():
    policy = dns_challenge_policy(ZONE_ID, DOMAIN)
    writes = [s for s in route53_statements(policy) if "Change" in str(s["Action"])]
    (write,) = [s for s in writes if s["Action"] != "route53:GetChange"]
    assert write["Action"] == "route53:ChangeResourceRecordSets"
    assert write["Resource"] == ZONE_ARN
    # Every name and type in a change must be these (ForAllValues), whatever else it holds.
    assert write["Condition"] == {
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{DOMAIN}"],
            "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
        }
    }


def test_beyond_that_record_the_hub_may_only_find_the_zone_and_wait_for_its_change():
    others = {
        s["Action"]: s["Resource"]
        for s in route53_statements(dns_challenge_policy(ZONE_ID, DOMAIN))
        if s["Action"] != "route53:ChangeResourceRecordSets"
    }
    assert others == {
        "route53:ListHostedZones": "*",
        "route53:GetChange": "arn:aws:route53:::change/*",
    }


def test_the_challenge_name_is_as_aws_compares_it_lower_case_without_the_final_dot():
    (write, *_) = route53_statements(dns_challenge_policy(ZONE_ID, "Jupyter.Camp.Test."))
    names = write["Condition"]["ForAllValues:StringEquals"]
    assert names["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [
        f"_acme-challenge.{DOMAIN}"
    ]


def test_the_hub_and_its_proxy_route_by_host(in_our_zone):
    settings = json.loads(in_our_zone.named("hub-start-hub").inputs["stdin"])
    assert settings["user_subdomains"] is True
    assert settings["public_url"] == f"https://{DOMAIN}"


def test_the_outputs_name_the_servers_host_pattern(in_our_zone):
    assert in_our_zone.outputs["userServerUrl"] == f"https://<user>.{DOMAIN}/user/<user>/"
    assert in_our_zone.outputs["userServerOrigin"].startswith("its own")


@pytest.mark.parametrize("extra", [{}, OUTSIDE_ROUTE_53], ids=["no domain", "no hosted zone"])
def test_without_a_zone_the_servers_share_the_hubs_origin_and_the_outputs_say_so(
    base_config, extra
):
    deployment = deploy({**base_config, **extra})
    assert [r.inputs["name"] for r in deployment.of_type(RECORD)] == []
    assert not [g for g in deployment.of_type(ROLE_POLICY) if "route53" in g.inputs["policy"]]
    assert "--user-subdomains" not in deployment.named("hub-configure-nginx").inputs["create"]
    settings = json.loads(deployment.named("hub-start-hub").inputs["stdin"])
    assert "user_subdomains" not in settings  # left out at its default: no hub restarts for it
    hub_url = deployment.outputs["hubUrl"]
    assert deployment.outputs["userServerUrl"] == f"{hub_url}/user/<user>/"
    origin = deployment.outputs["userServerOrigin"]
    assert origin.startswith("the hub's") and "camphub:hostedZone" in origin
