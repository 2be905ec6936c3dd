"""moto's Route 53 as the internet's DNS for TXT records (rehearsal/moto_route53.py), for
real: the rehearsal's moto server and the ACME stand-in's challtestsrv on a local cloud. A DNS-01
challenge set as certbot's Route 53 plugin sets it (the zone found by name, the TXT record
upserted, replaced, deleted, with the key of a role holding the program's policy, in the SDK's
shared files) is what challtestsrv answers as soon as the call returns; without a stand-in moto
alone records it; a stand-in that does not answer fails the call. Finding the zone and waiting
for the change are signed GETs, which moto alone refuses. The program's zone look-up answers
with moto's zone."""

import boto3
import botocore.session
import dns.exception
import pulumi
import pytest
from botocore.exceptions import ClientError
from waiting import wait_for

from infra.hub_dns import CHALLENGE_LABEL, dns_challenge_policy
from rehearsal import acme_dns, acme_stand_in, engine, route53
from rehearsal.detached import free_port
from rehearsal.docker_cli import CloudError
from rehearsal.environment import Environment
from rehearsal.moto_stand_in import AwsStandIn
from rehearsal.state import State

pytestmark = pytest.mark.live

LOCAL_CLOUD = "test-route53-dns"  # the name of its local cloud (conftest.py)
ZONE = "camp.rehearsal.test"
DOMAIN = f"jupyter.{ZONE}"
CHALLENGE = f"{CHALLENGE_LABEL}.{DOMAIN}"
HUB_ROLE = "camphub-hub"
DNS_TIMEOUT_SECONDS = 30
LOOPBACK = "127.0.0.1"


def challtestsrv_answers(stand_in: acme_stand_in.AcmeStandIn) -> bool:
    """Whether its management API and its DNS both answer (a new container takes a moment)."""
    try:
        acme_dns.set_txt(stand_in.management_url, "ready.rehearsal.test", [])
        return txt(stand_in, "ready.rehearsal.test") == []
    except (CloudError, dns.exception.DNSException, OSError):
        return False


@pytest.fixture(scope="module")
def stand_in(local_cloud):
    made = acme_stand_in.AcmeStandIn(local_cloud).ensure()
    wait_for(lambda: challtestsrv_answers(made), timeout=DNS_TIMEOUT_SECONDS, what="challtestsrv")
    return made


@pytest.fixture(scope="module")
def aws(local_cloud):
    """The rehearsal's moto server, told where the ACME stand-in writes its DNS's address."""
    server = AwsStandIn(local_cloud.work_dir / "aws")
    challenge_dns = acme_stand_in.AcmeStandIn(local_cloud).management_url_file
    server.ensure_running(LOOPBACK, free_port(LOOPBACK), challenge_dns=challenge_dns)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def zone_id(aws) -> str:
    return aws.hosted_zone(ZONE)


@pytest.fixture(scope="module")
def hub_route53(aws, zone_id, tmp_path_factory):
    """Route 53 as the hub's certbot reaches it: its role's key and moto's endpoint in the SDK's
    shared files (rehearsal/ec2_instance_roles.py), the role holding the program's policy."""
    aws.put_role_policy(HUB_ROLE, "dns-challenge", dns_challenge_policy(zone_id, DOMAIN))
    files = tmp_path_factory.mktemp("aws-files")
    for name, text in aws.aws_files(aws.role_credentials(HUB_ROLE)).items():
        (files / name).write_text(text)
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(files / "config"))
    core.set_config_variable("credentials_file", str(files / "credentials"))
    return boto3.Session(botocore_session=core).client("route53")


def txt(stand_in: acme_stand_in.AcmeStandIn, host: str) -> list[str]:
    """The TXT values challtestsrv answers for `host`, asked as Pebble asks it."""
    return sorted(acme_dns.query_txt(stand_in.address, acme_dns.DNS_PORT, host))


def change(route53_client, zone_id: str, action: str, values: list[str], name=CHALLENGE) -> None:
    """A change of `name`'s TXT records as certbot's Route 53 plugin makes it, waited for as the
    plugin waits (GetChange until INSYNC: moto's changes are at once)."""
    records = [{"Value": f'"{value}"'} for value in values]
    record_set = {"Name": name, "Type": "TXT", "TTL": 10, "ResourceRecords": records}
    changed = route53_client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record_set}]},
    )
    status = route53_client.get_change(Id=changed["ChangeInfo"]["Id"])["ChangeInfo"]["Status"]
    assert status == "INSYNC"


def test_the_zone_look_up_answers_with_moto_zone_made_once(aws, local_cloud, tmp_path):
    env = Environment(local_cloud, State(tmp_path / "state.json"), "", "", tmp_path / "logs")
    name = "other.rehearsal.test"
    look_up = pulumi.runtime.MockCallArgs(route53.GET_ZONE, {"name": name}, None)

    found = engine.RehearsalMocks(env).call(look_up)
    again = engine.RehearsalMocks(env).call(look_up)

    zones = aws.client("route53").list_hosted_zones()["HostedZones"]
    (zone,) = [z for z in zones if z["Name"] == f"{name}."]
    assert zone["Id"] == f"/hostedzone/{found['zoneId']}"
    assert again == found and found["name"] == name
    assert zone["Config"]["PrivateZone"] is False  # certbot's plugin passes private zones over


def test_the_hub_finds_its_zone_by_name(hub_route53, zone_id):
    zones = hub_route53.list_hosted_zones()["HostedZones"]
    assert [z["Id"] for z in zones if z["Name"] == f"{ZONE}."] == [f"/hostedzone/{zone_id}"]


def test_a_challenge_set_in_route53_is_the_dns_answer_until_deleted(hub_route53, zone_id, stand_in):
    change(hub_route53, zone_id, "UPSERT", ["first"])
    assert txt(stand_in, CHALLENGE) == ["first"]
    # The name's own challenge and its wildcard's, both under the one name.
    change(hub_route53, zone_id, "UPSERT", ["second", "third"])
    assert txt(stand_in, CHALLENGE) == ["second", "third"]
    # One validated: the plugin upserts what is left.
    change(hub_route53, zone_id, "UPSERT", ["third"])
    assert txt(stand_in, CHALLENGE) == ["third"]
    change(hub_route53, zone_id, "DELETE", ["third"])
    assert txt(stand_in, CHALLENGE) == []


@pytest.fixture
def aws_told_of(tmp_path):
    """A moto server of the test's own, told of a challenge DNS file the test writes, or not."""
    server = AwsStandIn(tmp_path / "aws")
    challenge_dns = tmp_path / "dns-management-url"
    server.ensure_running(LOOPBACK, free_port(LOOPBACK), challenge_dns=challenge_dns)
    yield server, challenge_dns
    server.stop()


def test_without_a_stand_in_moto_alone_records_it_until_one_is_made(aws_told_of, stand_in):
    server, challenge_dns = aws_told_of
    route53_client, name = server.client("route53"), f"_acme-challenge.late.{ZONE}"
    zone_id = server.hosted_zone(ZONE)

    change(route53_client, zone_id, "UPSERT", ["unseen"], name)
    sets = route53_client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [s["ResourceRecords"] for s in sets if s["Name"] == f"{name}."] == [
        [{"Value": '"unseen"'}]
    ]
    assert txt(stand_in, name) == []

    challenge_dns.write_text(stand_in.management_url)  # the stand-in made after moto started
    change(route53_client, zone_id, "UPSERT", ["seen"], name)
    assert txt(stand_in, name) == ["seen"]
    change(route53_client, zone_id, "DELETE", ["seen"], name)


def test_a_stand_in_that_does_not_answer_fails_the_call(aws_told_of):
    server, challenge_dns = aws_told_of
    challenge_dns.write_text(f"http://{LOOPBACK}:{free_port(LOOPBACK)}")
    route53_client = server.client("route53")

    with pytest.raises(ClientError) as raised:
        change(route53_client, server.hosted_zone(ZONE), "UPSERT", ["lost"])

    error = raised.value.response["Error"]
    assert error["Code"] == "RehearsalChallengeDnsError"
    assert "the local cloud's DNS did not" in error["Message"]
