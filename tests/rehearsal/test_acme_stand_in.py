"""Let's Encrypt's stand-in on the local cloud (rehearsal/acme_stand_in.py), for real: Pebble and
challtestsrv on a rehearsal's public network; the Route 53 record the engine plays lands in that
DNS and leaves it; an instance the engine launches trusts Pebble's HTTPS and has certbot pointed
at it; Pebble can be made unreachable and reachable again; a second `ensure` changes nothing.
(Issuing a certificate with the real certbot and configure-nginx: tests/payload/
test_certificates.py; on a rehearsed camp: tests/e2e/test_lets_encrypt_stand_in.py.)"""

import subprocess

import pulumi
import pytest
from waiting import wait_for

from rehearsal import acme_pebble_files, acme_stand_in, acme_trust, cloud, engine, local_images
from rehearsal.ec2_instances import INSTANCE
from rehearsal.environment import Environment
from rehearsal.route53 import RECORD
from rehearsal.state import State
from rehearsal.substitutions import ACME_SUBDIR

pytestmark = pytest.mark.live

LOCAL_CLOUD = "test-acme"  # the name of its local cloud (conftest.py); the stand-in's containers
# carry its label, so they go with it
DOMAIN = "hub.camp.rehearsal.test"
PEBBLE_TIMEOUT_SECONDS = 30
INSTANCE_INPUTS = {"instanceType": "t3.small", "subnetId": "subnet-a", "tags": {}, "userData": ""}


@pytest.fixture(scope="module")
def stand_in(local_cloud):
    made = acme_stand_in.AcmeStandIn(local_cloud).ensure()
    wait_for(made.answers, timeout=PEBBLE_TIMEOUT_SECONDS, what="Pebble answering")
    return made


class Runs:
    """The engine's runs of one test, each with the state the last one left."""

    def __init__(self, local: cloud.LocalCloud, work_dir):
        self.local = local
        self.work_dir = work_dir

    @property
    def env(self) -> Environment:
        state = State(self.work_dir / "state.json")
        image = local_images.ensure_instance_image()
        return Environment(self.local, state, image, "", self.work_dir / "logs")

    def declare(self, type_: str, name: str, inputs: dict) -> None:
        """The resource declared with `inputs` in a new run of the engine."""
        args = pulumi.runtime.MockResourceArgs(type_, name, inputs, None, None, True)
        engine.RehearsalMocks(self.env).new_resource(args)


@pytest.fixture
def runs(local_cloud, tmp_path):
    return Runs(local_cloud, tmp_path)


def record_inputs(*addresses: str) -> dict:
    """The hub's record as infra/hub.py declares it."""
    return {"zoneId": "Z0REHEARSAL", "name": DOMAIN, "type": "A", "ttl": 300, "records": addresses}


def test_a_name_nobody_recorded_has_no_address(stand_in):
    assert stand_in.resolve("nowhere.rehearsal.test") == []


def test_a_route53_record_is_the_dns_answer_until_it_is_deleted(stand_in, runs, local_cloud):
    address = local_cloud.allocate_address("eipalloc-test")  # an Elastic IP
    runs.declare(RECORD, "hub-dns", record_inputs(address))
    assert stand_in.resolve(DOMAIN) == [address]

    moved = local_cloud.allocate_address("eipalloc-test-2")
    runs.declare(RECORD, "hub-dns", record_inputs(moved))
    assert stand_in.resolve(DOMAIN) == [moved]

    env = runs.env
    (record,) = env.state.records()
    engine.run_delete(env, record)
    assert stand_in.resolve(DOMAIN) == []


def test_an_unchanged_record_is_set_again_when_the_dns_forgot_it(stand_in, runs, local_cloud):
    address = local_cloud.allocate_address("eipalloc-test")
    runs.declare(RECORD, "hub-dns", record_inputs(address))
    stand_in.clear_a(DOMAIN)  # as a restarted DNS server, which keeps records in memory
    runs.declare(RECORD, "hub-dns", record_inputs(address))
    assert stand_in.resolve(DOMAIN) == [address]


def in_instance(local_cloud, name: str, *command: str) -> subprocess.CompletedProcess:
    container = local_cloud.container_name(name)
    return subprocess.run(
        ["docker", "exec", container, *command], capture_output=True, text=True, check=False
    )


def test_a_launched_instance_trusts_pebble_and_points_certbot_at_it(stand_in, runs, local_cloud):
    runs.declare(INSTANCE, "machine", INSTANCE_INPUTS)
    # On the internet's side, as the hub is once its Elastic IP is associated.
    local_cloud.associate_address("machine", local_cloud.allocate_address("eipalloc-machine"))

    directory = acme_pebble_files.directory_url()
    fetched = in_instance(local_cloud, "machine", "curl", "-sf", directory)
    assert fetched.returncode == 0, fetched.stderr
    assert '"newOrder"' in fetched.stdout  # Pebble's directory, over HTTPS the system trusts
    settings = in_instance(local_cloud, "machine", "cat", acme_trust.CERTBOT_SETTINGS).stdout
    assert f"server = {directory}" in settings.splitlines()
    wrapper = in_instance(local_cloud, "machine", "cat", "/usr/bin/certbot").stdout
    assert (
        f'staging_server="{acme_pebble_files.directory_url(acme_pebble_files.STAGING_HOST)}"'
        in wrapper
    )
    diversions = in_instance(local_cloud, "machine", "dpkg-divert", "--list", "/usr/bin/certbot")
    assert "certbot.distrib" in diversions.stdout


def test_trusting_again_changes_nothing(stand_in, runs, local_cloud):
    runs.declare(INSTANCE, "machine-again", INSTANCE_INPUTS)
    files = (acme_trust.TRUSTED_CA, acme_trust.CERTBOT_SETTINGS, "/usr/bin/certbot",
             "/etc/ssl/certs/ca-certificates.crt")  # fmt: skip
    before = in_instance(local_cloud, "machine-again", "stat", "-c", "%n %Y.%y", *files).stdout
    stand_in.trust_on(local_cloud.container_name("machine-again"))
    after = in_instance(local_cloud, "machine-again", "stat", "-c", "%n %Y.%y", *files).stdout
    assert after == before


def test_a_stopped_pebble_is_unreachable_until_started_and_stays_stopped_through_ensure(
    stand_in, local_cloud
):
    shared = local_cloud.shared_dir / ACME_SUBDIR / "ca.crt"
    ca_before = shared.read_text()
    stand_in.stop()
    try:
        assert not stand_in.answers()
        acme_stand_in.AcmeStandIn(local_cloud).ensure()  # another `up`
        assert not stand_in.answers()
        assert shared.read_text() == ca_before  # the machines' trust is unchanged
    finally:
        stand_in.start()
    wait_for(stand_in.answers, timeout=PEBBLE_TIMEOUT_SECONDS, what="Pebble answering again")
    assert "BEGIN CERTIFICATE" in stand_in.root_certificate()
    assert stand_in.issued_count() == 0
