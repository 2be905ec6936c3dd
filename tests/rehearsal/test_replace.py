"""`rehearse up --replace`: which resources of the last run a name, key or URN means (no Docker)."""

import pytest

from rehearsal.run import RehearsalError, replacement_keys
from rehearsal.state import Record

INSTANCE = "aws:ec2/instance:Instance"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
RECORDS = [
    Record(type_, name, f"id-{name}", "", {}, {})
    for type_, name in [
        (INSTANCE, "hub"),
        (EIP, "hub-address"),
        (EIP_ASSOCIATION, "hub-address"),
        (INSTANCE, "workers-0"),
    ]
]


def test_a_machine_is_named_by_its_resource_name():
    assert replacement_keys(RECORDS, ["hub", "workers-0"]) == [
        f"{INSTANCE}::hub",
        f"{INSTANCE}::workers-0",
    ]


def test_a_urn_names_its_resource_whatever_its_parents():
    urn = f"urn:pulumi:dev::camphub::camphub:index:Hub${INSTANCE}::hub"
    assert replacement_keys(RECORDS, [urn]) == [f"{INSTANCE}::hub"]


def test_a_name_two_resources_share_needs_their_type():
    with pytest.raises(RehearsalError, match="2 resources"):
        replacement_keys(RECORDS, ["hub-address"])
    key = f"{EIP_ASSOCIATION}::hub-address"
    assert replacement_keys(RECORDS, [key]) == [key]


def test_a_resource_the_last_run_did_not_make_is_refused():
    with pytest.raises(RehearsalError, match="--replace workers-7: no resource"):
        replacement_keys(RECORDS, ["workers-7"])
