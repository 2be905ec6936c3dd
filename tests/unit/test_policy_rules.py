"""Each security rule catches what it is for, and the policy pack carries every rule."""

import sys
from types import SimpleNamespace

import pytest

from infra import layout, policy_rules
from infra.policy_rules import INGRESS_RULE, INSTANCE, SECURITY_GROUP, VOLUME, violations

GOOD_INSTANCE = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
    "rootBlockDevice": {"encrypted": True},
}


def ingress(port: int, **source) -> dict:
    return {"ipProtocol": "tcp", "fromPort": port, "toPort": port, **source}


@pytest.mark.parametrize(
    ("resource_type", "props", "finding"),
    [
        (INGRESS_RULE, ingress(22, cidrIpv4="0.0.0.0/0"), "world-reaches-only-web"),
        (INGRESS_RULE, ingress(8000, cidrIpv6="::/0"), "world-reaches-only-web"),
        (
            INGRESS_RULE,
            {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv4": "0.0.0.0/0"},
            "world-reaches-only-web",
        ),
        (INGRESS_RULE, ingress(22), "ingress-one-source"),
        (INGRESS_RULE, {**ingress(22, cidrIpv4="10.0.0.0/8"), "ipProtocol": "-1"}, "ingress-one"),
        (SECURITY_GROUP, {"ingress": [{"fromPort": 22}]}, "no-inline-rules"),
        (INGRESS_RULE, ingress(2375, referencedSecurityGroupId="sg-1"), "no-docker-api"),
        (INSTANCE, {**GOOD_INSTANCE, "metadataOptions": {"httpTokens": "optional"}}, "imdsv2"),
        (
            INSTANCE,
            {
                **GOOD_INSTANCE,
                "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
            },
            "imdsv2",
        ),
        (INSTANCE, {**GOOD_INSTANCE, "rootBlockDevice": {}}, "encrypted-storage"),
        (VOLUME, {"encrypted": False}, "encrypted-storage"),
    ],
)
def test_each_rule_catches_its_violation(resource_type, props, finding):
    assert any(v.startswith(finding) for v in violations(resource_type, props))


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (INGRESS_RULE, ingress(layout.HTTPS_PORT, cidrIpv4="0.0.0.0/0")),
        (INGRESS_RULE, ingress(layout.SSH_PORT, cidrIpv4="203.0.113.7/32")),
        (INSTANCE, GOOD_INSTANCE),
        (VOLUME, {"encrypted": True}),
    ],
)
def test_compliant_resources_pass(resource_type, props):
    assert violations(resource_type, props) == []


def test_the_policy_pack_reports_every_rule(monkeypatch):
    monkeypatch.syspath_prepend(str(layout.PROJECT_DIR / "policy"))
    sys.modules.pop("camphub_policies", None)
    from camphub_policies import POLICIES

    assert [p.name for p in POLICIES] == [r.name for r in policy_rules.RULES]
    reported = []
    bad = SimpleNamespace(resource_type=VOLUME, props={"encrypted": False})
    for policy in POLICIES:
        policy.validate(bad, reported.append)
    assert reported == ["volume must be encrypted"]
