"""The whole program, once per stack file in the repository, and what it gives the organizer."""

import logging
import warnings
from pathlib import Path

import pytest
from program import ORGANIZER_SETS, EchoMocks, deploy, organizer_config

from infra.capacity import pool_capacity
from infra.config import load_config
from infra.config_keys import REQUIRED
from infra.layout import PROJECT_DIR
from infra.outputs import host_keys_by_address

STACK_FILES = sorted(PROJECT_DIR.glob("Pulumi.*.yaml"))
INSTANCE = "aws:ec2/instance:Instance"


def test_the_repository_has_the_dev_and_camp_stacks():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.dev.yaml", "Pulumi.camp.yaml"}


def test_the_organizer_sets_every_required_value_and_the_class_list():
    assert set(ORGANIZER_SETS) == {*REQUIRED, "userlistFile"}


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_each_stack_file_deploys_once_the_required_values_are_set(stack_file: Path):
    """As shipped: no example value of the file's own stops it (they are refused, see
    test_config.py), and the example class list is one the program reads."""
    config = organizer_config(stack_file)
    deployment = deploy(config)
    workers = [i for i in deployment.of_type(INSTANCE) if i.name.startswith("workers-")]
    assert len(workers) == config.get("workers", {}).get("count", 2)
    assert deployment.outputs["hubUrl"].startswith("https://")


def test_the_camp_stack_holds_25_students_at_their_guarantees(tmp_path):
    """One story of the worker count: the README's 25 students, the camp stack and the default
    pool of two agree."""
    class_list = tmp_path / "userlist.txt"
    students = "".join(f"student{i}@school.org\n" for i in range(25))
    class_list.write_text(f"teacher@school.org admin\n{students}")
    config = {**organizer_config(PROJECT_DIR / "Pulumi.camp.yaml"), "userlistFile": str(class_list)}
    captured = {}
    deploy(config, body=lambda: captured.setdefault("config", load_config()))
    assert captured["config"].workers.count == 2
    assert pool_capacity(captured["config"]) >= 25


def test_outputs_tell_the_organizer_where_everything_is(deployment):
    outputs = deployment.outputs
    assert outputs["hubUrl"] == "https://203.0.113.10"
    assert outputs["oauthCallbackUrl"] == "https://203.0.113.10/hub/oauth_callback"
    assert outputs["hubPublicIp"] == "203.0.113.10"
    assert outputs["availabilityZone"] == "us-east-1a"
    assert outputs["hubPrivateIp"].startswith("10.192.0.")
    assert outputs["hubPrivateIp"] not in [*outputs["workerPrivateIps"], outputs["nfsPrivateIp"]]
    assert len(outputs["workerPrivateIps"]) == 2
    assert outputs["nfsPrivateIp"].startswith("10.192.0.")
    assert "ssh -F camphub.ssh_config camphub-hub" in outputs["sshCommand"]
    ssh_config = outputs["sshConfig"]
    assert "Host camphub-hub\n  HostName 203.0.113.10\n  User admin" in ssh_config
    aliases = ["camphub-worker-0", "camphub-worker-1", "camphub-nfs"]
    for alias, address in zip(
        aliases, [*outputs["workerPrivateIps"], outputs["nfsPrivateIp"]], strict=True
    ):
        assert (
            f"Host {alias}\n  HostName {address}\n  User admin\n"
            "  IdentityFile ~/.ssh/camphub-test.key\n"
            f"  HostKeyAlias {alias}\n  UserKnownHostsFile camphub.known_hosts\n"
            "  StrictHostKeyChecking yes\n  ProxyJump camphub-hub" in ssh_config
        )


def test_ssh_knows_each_machine_by_the_host_key_the_program_made_for_it(deployment):
    outputs = deployment.outputs
    assert "sshKnownHosts > camphub.known_hosts" in outputs["sshCommand"]
    known = dict(line.split(" ", 1) for line in outputs["sshKnownHosts"].splitlines())
    machines = {
        "camphub-hub": "hub",
        "camphub-worker-0": "workers-0",
        "camphub-worker-1": "workers-1",
        "camphub-nfs": "nfs",
    }
    assert known == {
        alias: deployment.named(f"{machine}-host-key").outputs["publicKeyOpenssh"].strip()
        for alias, machine in machines.items()
    }
    assert not deployment.output_is_secret("sshKnownHosts")


def test_the_local_cloud_finds_each_machines_key_by_any_address_it_dials(deployment):
    outputs = deployment.outputs
    known = dict(line.split(" ", 1) for line in outputs["sshKnownHosts"].splitlines())
    workers = {ip: known[f"camphub-worker-{i}"] for i, ip in enumerate(outputs["workerPrivateIps"])}
    assert host_keys_by_address(outputs) == {
        outputs["hubPublicIp"]: known["camphub-hub"],
        outputs["hubPrivateIp"]: known["camphub-hub"],
        outputs["nfsPrivateIp"]: known["camphub-nfs"],
        **workers,
    }


def test_a_domain_gives_its_url_and_dns_record(base_config):
    deployment = deploy(
        {
            **base_config,
            "domain": "jupyter.camp.test",
            "letsEncryptEmail": "organizer@camp.test",
            "hostedZone": "camp.test",
        }
    )
    assert deployment.outputs["hubUrl"] == "https://jupyter.camp.test"
    record = deployment.named("hub-dns", "aws:route53/record:Record")
    assert record.inputs["name"] == "jupyter.camp.test"
    assert record.inputs["records"] == ["203.0.113.10"]
    # certbot's challenge reaches the hub by that name: the record comes first (and the one of
    # students' servers: test_hub_dns.py).
    nginx = deployment.named("hub-configure-nginx")
    assert deployment.depends_on(nginx, record)


def test_a_domain_without_our_zone_creates_no_record(base_config):
    deployment = deploy({**base_config, "domain": "j.camp.test", "letsEncryptEmail": "o@camp.test"})
    assert deployment.of_type("aws:route53/record:Record") == []


def test_a_pinned_ami_is_used_and_otherwise_debian_13_is_looked_up(base_config, deployment):
    assert {i.inputs["ami"] for i in deployment.of_type(INSTANCE)} == {"ami-0fedcba9876543210"}
    pinned = deploy({**base_config, "ami": "ami-0123456789abcdef0"})
    assert {i.inputs["ami"] for i in pinned.of_type(INSTANCE)} == {"ami-0123456789abcdef0"}


def test_a_newer_upstream_ami_never_replaces_an_instance(deployment):
    for instance in deployment.of_type(INSTANCE):
        assert "ami" in instance.ignore_changes, instance.urn


def test_instance_types_come_from_the_config(base_config):
    deployment = deploy(
        {
            **base_config,
            "hub": {"instanceType": "t3.large"},
            "workers": {"count": 3, "instanceType": "m6i.2xlarge"},
            "nfs": {"instanceType": "t3.micro", "volumeSizeGb": 250},
        }
    )
    types = {i.name: i.inputs["instanceType"] for i in deployment.of_type(INSTANCE)}
    assert types == {
        "hub": "t3.large",
        "nfs": "t3.micro",
        "workers-0": "m6i.2xlarge",
        "workers-1": "m6i.2xlarge",
        "workers-2": "m6i.2xlarge",
    }
    homes = deployment.named("nfs-homes", "aws:ebs/volume:Volume")
    assert homes.inputs["size"] == 250


def test_the_program_runs_under_mocks_that_compute_nothing(base_config):
    deployment = deploy({**base_config, "workers": {"count": 3}}, mocks=EchoMocks())
    assert len(deployment.of_type(INSTANCE)) == 5
    assert deployment.outputs["hubUrl"].startswith("https://")


def test_the_program_calls_nothing_deprecated(base_config):
    # A first run imports the providers' modules, which warn about their own deprecated
    # resources at import whether or not the program uses them; the second run is the program's.
    deploy(base_config)
    with warnings.catch_warnings(record=True) as caught, _EngineLog() as logged:
        warnings.simplefilter("always")
        deploy(base_config)
    said = [str(w.message) for w in caught] + logged
    assert [m for m in said if "deprecat" in m.lower()] == []


class _EngineLog(logging.Handler):
    """What the program logs to the engine (`pulumi.warn`; under the mocks, the root logger)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> list[str]:
        logging.getLogger().addHandler(self)
        return self.messages

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self)


def test_the_weekly_cost_is_estimated_per_student(deployment):
    estimate = deployment.outputs["weeklyCostEstimate"]
    assert estimate["region"] == "us-east-1"
    assert estimate["pricesAsOf"]
    # hub t3.medium + 2 x t3.xlarge + nfs t3.small for 168 h; 100 (homes) + 1 (the hub's own)
    # + 30 + 2 x 40 + 10 GB gp3; 4 public IPv4 addresses.
    instances = (0.0416 + 2 * 0.1664 + 0.0208) * 168
    ebs = 221 * 0.08 * 168 / 730
    addresses = 4 * 0.005 * 168
    assert estimate["totalUsd"] == round(instances + ebs + addresses, 2)
    assert estimate["perStudentUsd"] == round(estimate["totalUsd"] / 3, 2)
    assert estimate["notPriced"] == []
    assert set(estimate["linesUsd"]) == {
        "hub instances",
        "worker instances",
        "nfs instances",
        "EBS volumes",
        "public IPv4 addresses",
    }


def test_the_outputs_repeat_what_google_must_know(base_config, deployment):
    reminder = deployment.outputs["googleSignIn"]
    assert "1234-camp.apps.googleusercontent.com (Web application) lists " in reminder
    assert "https://203.0.113.10/hub/oauth_callback as an authorized redirect URI" in reminder
    assert "consent screen (External; scopes openid and email only) is PUBLISHED" in reminder
    assert "Google takes no IP address as a redirect URI" in reminder
    named = deploy({**base_config, "domain": "j.camp.test", "letsEncryptEmail": "o@camp.test"})
    assert "https://j.camp.test/hub/oauth_callback" in named.outputs["googleSignIn"]
    assert "no IP address" not in named.outputs["googleSignIn"]


def test_a_stand_in_provider_needs_nothing_registered(base_config):
    endpoints = {
        "authorizeUrl": "http://10.0.0.1:8000/oauth2/authorize",
        "tokenUrl": "http://10.0.0.1:8000/oauth2/token",
        "userdataUrl": "http://10.0.0.1:8000/userinfo",
    }
    deployment = deploy({**base_config, "oauthEndpoints": endpoints})
    assert "nothing to register" in deployment.outputs["googleSignIn"]
