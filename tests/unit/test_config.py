"""Stack configuration: defaults sized for a camp, and a clear error for every bad value before
anything is declared."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from program import deploy
from ssh_keys import openssh_private_text

from infra.config import DEFAULTS, OAuthEndpoints
from infra.errors import ConfigError


def config_error(config: dict) -> ConfigError:
    """The error the program stops with; and proof that nothing was declared first."""
    declared = []
    with pytest.raises(ConfigError) as error:
        declared.append(deploy(config))
    assert declared == []
    return error.value


STAND_IN_ENDPOINTS = {
    "authorizeUrl": "http://10.0.0.1:8000/oauth2/authorize",
    "tokenUrl": "http://10.0.0.1:8000/oauth2/token",
    "userdataUrl": "http://10.0.0.1:8000/userinfo",
}

BAD_CONFIGS = [
    ({"oauthClientId": None}, "camphub:oauthClientId: required"),
    ({"oauthClientId": "1234 abcd.apps.googleusercontent.com"}, "contains spaces"),
    ({"oauthClientSecret": None}, "camphub:oauthClientSecret: required"),
    ({"adminSshPrivateKey": "ssh-ed25519 AAAA... me@laptop"}, "not a usable OpenSSH private key"),
    ({"sshAllowedCidrs": None}, "camphub:sshAllowedCidrs: required"),
    ({"sshAllowedCidrs": []}, "camphub:sshAllowedCidrs: required"),
    ({"sshAllowedCidrs": ["10.0.0.300/32"]}, "sshAllowedCidrs[0]: '10.0.0.300/32' is not a CIDR"),
    ({"sshAllowedCidrs": ["203.0.113.7/24"]}, "Did you mean 203.0.113.0/24?"),
    ({"sshAllowedCidrs": ["0.0.0.0/0"]}, "whole internet"),
    ({"sshAllowedCidrs": ["203.0.113.7/32", "::/0"]}, "sshAllowedCidrs[1]: ::/0 would let"),
    ({"userlistFile": "/nonexistent/class.txt"}, "camphub:userlistFile: the class list"),
    ({"userlistFile": "nowhere.txt"}, "(`cp userlist.example.txt nowhere.txt`)"),
    ({"availabilityZone": "us-east-1"}, "camphub:availabilityZone: 'us-east-1' is not an avail"),
    ({"subnetId": "subnet-xyz"}, "camphub:subnetId: 'subnet-xyz' is not a subnet id like subnet-"),
    ({"workers": {"count": 0}}, "camphub:workers.count: 0 is not a whole number from 1 to 50"),
    ({"workers": {"count": -2}}, "camphub:workers.count: -2 is not a whole number"),
    ({"workers": {"count": 500}}, "camphub:workers.count: 500 is not a whole number"),
    ({"workers": {"count": "three"}}, "camphub:workers.count: 'three'"),
    ({"workers": {"count": 2.5}}, "camphub:workers.count: 2.5"),
    ({"workers": {"cout": 3}}, "camphub:workers.cout: unknown setting"),
    ({"workers": {"instanceType": "large"}}, "workers.instanceType: 'large' is not an EC2"),
    ({"notebook": {"memLimit": "2 gigs"}}, "notebook.memLimit: '2 gigs' is not a size"),
    ({"notebook": {"memGuarantee": "3G"}}, "notebook.memGuarantee: 3G is above notebook.memLimit"),
    ({"notebook": {"cpuGuarantee": 2}}, "notebook.cpuGuarantee: 2 is above notebook.cpuLimit"),
    ({"notebook": {"cpuLimit": -1}}, "notebook.cpuLimit: -1 is not a number"),
    ({"notebook": {"idleCullMinutes": -5}}, "notebook.idleCullMinutes: -5"),
    ({"notebook": {"internet": "sometimes"}}, "notebook.internet: 'sometimes' is not true or"),
    (
        {"workers": {"instanceType": "t3.medium"}, "notebook": {"memLimit": "6G"}},
        "notebook.memLimit: 6G does not fit on a t3.medium worker",
    ),
    ({"notebook": {"cpuLimit": 8}}, "notebook.cpuLimit: 8 is more than a t3.xlarge"),
    ({"nfs": {"volumeSizeGb": 0}}, "nfs.volumeSizeGb: 0 is not a whole number from 1 to 16384"),
    ({"nfs": {"homeQuotaGb": 0}}, "camphub:nfs.homeQuotaGb: 0 is not a whole number from 1"),
    ({"nfs": {"homeQuotaGb": -10}}, "camphub:nfs.homeQuotaGb: -10 is not a whole number"),
    ({"nfs": {"homeQuotaGb": 2.5}}, "camphub:nfs.homeQuotaGb: 2.5 is not a whole number"),
    ({"nfs": {"homeQuotaGb": "ten"}}, "camphub:nfs.homeQuotaGb: 'ten' is not a whole number"),
    (
        {"nfs": {"homeQuotaGb": 101}},
        "camphub:nfs.homeQuotaGb: 101 GiB per home is more than the whole homes volume "
        "(nfs.volumeSizeGb: 100); lower it or enlarge the volume",
    ),
    (
        {"nfs": {"volumeSizeGb": 8}},  # the default 10 GiB no longer fits
        "camphub:nfs.homeQuotaGb: 10 GiB per home is more than the whole homes volume",
    ),
    ({"nfs": {"snapshotEveryMinutes": 2}}, "nfs.snapshotEveryMinutes: 2 is too often; give 0"),
    ({"nfs": {"snapshotEveryMinutes": -1}}, "nfs.snapshotEveryMinutes: -1 is not a whole number"),
    ({"nfs": {"snapshotEveryMinutes": 1441}}, "snapshotEveryMinutes: 1441 is not a whole number"),
    ({"nfs": {"snapshotKeepHourly": 0}}, "nfs.snapshotKeepHourly: 0 is not a whole number from 1"),
    ({"nfs": {"snapshotKeepDaily": "a week"}}, "nfs.snapshotKeepDaily: 'a week' is not a whole"),
    ({"nfs": {"backupKeepDays": -1}}, "nfs.backupKeepDays: -1 is not a whole number from 0 to 365"),
    ({"camp": {"name": ""}}, "camphub:camp.name: '' is not a name for the landing page"),
    ({"camp": {"name": "Camp\n<script>"}}, "camphub:camp.name: 'Camp\\n<script>' is not a name"),
    ({"camp": {"firstDay": "5 July"}}, "camphub:camp.firstDay: '5 July' is not a date; write it"),
    (
        {"camp": {"firstDay": "2027-07-05"}},
        "camphub:camp.firstDay: set camp.firstDay and camp.last",
    ),
    (
        {"camp": {"firstDay": "2027-07-09", "lastDay": "2027-07-05"}},
        "camphub:camp.lastDay: 2027-07-05 is before camp.firstDay 2027-07-09; swap them",
    ),
    ({"camp": {"days": 5}}, "camphub:camp.days: unknown setting"),
    ({"siteDir": "no-such-folder"}, "camphub:siteDir: 'no-such-folder' is not a folder"),
    ({"nfs": {"backupKeepDays": 400}}, "nfs.backupKeepDays: 400 is not a whole number"),
    ({"nfs": {"homeQuota": 20}}, "camphub:nfs.homeQuota: unknown setting"),
    ({"hub": "t3.large"}, "camphub:hub: expected an object"),
    ({"domain": "jupyter.camp.example.org"}, "camphub:letsEncryptEmail: required with"),
    ({"domain": "jupyter camp", "letsEncryptEmail": "a@b.org"}, "'jupyter camp' is not a hostname"),
    ({"domain": "j.camp.org", "letsEncryptEmail": "not-an-email"}, "letsEncryptEmail: 'not-an"),
    ({"letsEncryptEmail": "a@b.org"}, "camphub:letsEncryptEmail: is set but camphub:domain"),
    (
        {"domain": "j.camp.org", "letsEncryptEmail": "a@b.org", "hostedZone": "other.org"},
        "camphub:hostedZone: j.camp.org is not inside the zone other.org",
    ),
    ({"letsEncryptStaging": True}, "camphub:letsEncryptStaging: is set but camphub:domain"),
    (
        {"domain": "j.camp.org", "letsEncryptEmail": "a@b.org", "letsEncryptStaging": "yes"},
        "camphub:letsEncryptStaging: 'yes' is not true or false",
    ),
    ({"googleHostedDomains": ["school.org"]}, "ada@camp.example.org is on the class list but"),
    ({"googleHostedDomains": ["not a domain"]}, "googleHostedDomains[0]: 'not a domain'"),
    ({"ami": "ubuntu-latest"}, "camphub:ami: 'ubuntu-latest' is not an AMI id"),
    ({"workerCount": 3}, "camphub:workerCount: unknown setting"),
    (
        {"oauthEndpoints": {"authorizeUrl": "http://10.0.0.1:8000/oauth2/authorize"}},
        "camphub:oauthEndpoints: expected all three of authorizeUrl, tokenUrl and userdataUrl",
    ),
    ({"oauthEndpoints": "http://10.0.0.1:8000"}, "camphub:oauthEndpoints: expected all three"),
    (
        {"oauthEndpoints": {**STAND_IN_ENDPOINTS, "tokenUrl": "/oauth2/token"}},
        "camphub:oauthEndpoints.tokenUrl: '/oauth2/token' is not an absolute http:// or https://",
    ),
    (
        {"oauthEndpoints": {**STAND_IN_ENDPOINTS, "userdataUrl": "ftp://10.0.0.1/userinfo"}},
        "camphub:oauthEndpoints.userdataUrl: 'ftp://10.0.0.1/userinfo' is not an absolute",
    ),
]


@pytest.mark.parametrize(("change", "expected"), BAD_CONFIGS)
def test_bad_value_stops_before_anything_is_declared(base_config, change, expected):
    config = {**base_config, **change}
    config = {k: v for k, v in config.items() if v is not None}
    assert expected in str(config_error(config))


def test_secret_stored_in_plain_text_is_refused(base_config, monkeypatch):
    import program

    monkeypatch.setattr(program, "config_for", _without_secret_keys(program.config_for))
    error = config_error(base_config)
    assert "camphub:oauthClientSecret: is stored in plain text" in str(error)


def test_admin_key_stored_in_plain_text_is_refused(base_config, monkeypatch):
    import program

    monkeypatch.setattr(program, "config_for", _only_secret_keys(program.config_for))
    key = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    error = config_error({**base_config, "adminSshPrivateKey": key})
    assert "camphub:adminSshPrivateKey: is stored in plain text" in str(error)


def test_admin_key_of_a_kind_ec2_refuses_is_named(base_config):
    key = openssh_private_text(ec.generate_private_key(ec.SECP256R1()))
    error = config_error({**base_config, "adminSshPrivateKey": key})
    assert "EC2 key pairs take only ed25519 and RSA keys" in str(error)


def _only_secret_keys(config_for, keys=("oauthClientSecret",)):
    def partly_plain(values, secret_keys=()):
        return config_for(values, secret_keys=keys)

    return partly_plain


def _without_secret_keys(config_for):
    def plain(values, secret_keys=()):
        return config_for(values, secret_keys=())

    return plain


def test_every_problem_is_reported_in_one_message(base_config):
    config = {**base_config, "workers": {"count": 0}, "sshAllowedCidrs": ["nope"]}
    error = config_error(config)
    assert "2 problems in the stack configuration" in str(error)
    assert len(error.problems) == 2


def test_class_list_problem_names_the_file_and_line(base_config, class_list_file):
    class_list_file.write_text("teacher@camp.example.org admin\nada@camp\n")
    assert "line 2: 'ada@camp' is not an email" in str(config_error(base_config))


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ("quota=150", "line 2: quota=150 is more than the whole homes volume (100 GiB, camphub:"),
        ("quota=0", "line 2: quota=0 would leave the home no room at all"),
        ("quota=-5", "line 2: quota=-5 is not a size in GiB"),
    ],
)
def test_a_bad_class_list_quota_stops_the_program_naming_its_line(
    base_config, class_list_file, quota, expected
):
    class_list_file.write_text(f"teacher@camp.example.org admin quota=100\nada@camp.org {quota}\n")
    error = config_error({**base_config, "nfs": {"volumeSizeGb": 100}})
    assert str(error).startswith(f"{class_list_file} {expected}")


def _loaded(config: dict):
    from infra.config import load_config

    captured = {}
    deploy(config, body=lambda: captured.setdefault("config", load_config()))
    return captured["config"]


def test_homes_get_10_gib_hourly_snapshots_and_daily_backups_by_default(base_config):
    nfs = _loaded(base_config).nfs
    assert (nfs.home_quota_gb, nfs.volume_size_gb) == (10, 100)
    assert (nfs.snapshot_every_minutes, nfs.snapshot_keep_hourly, nfs.snapshot_keep_daily) == (
        60,
        24,
        7,
    )
    assert nfs.backup_keep_days == 7


def test_zero_turns_snapshots_and_backups_off(base_config):
    off = {"snapshotEveryMinutes": 0, "snapshotKeepDaily": 0, "backupKeepDays": 0}
    nfs = _loaded({**base_config, "nfs": off}).nfs
    assert (nfs.snapshot_every_minutes, nfs.snapshot_keep_daily, nfs.backup_keep_days) == (0, 0, 0)


def test_defaults_fit_25_students_at_their_guarantee():
    from infra.config import bytes_of
    from infra.instance_types import shape_of

    workers, notebook = DEFAULTS["workers"], DEFAULTS["notebook"]
    shape = shape_of(workers["instanceType"])
    usable = workers["count"] * shape.usable_memory_gib * 1024**3
    assert usable >= 25 * bytes_of(notebook["memGuarantee"])
    assert workers["count"] * shape.vcpus >= 25 * notebook["cpuGuarantee"]


@pytest.mark.parametrize(("given", "expected"), [(None, True), (False, False), ("false", False)])
def test_students_have_the_internet_unless_the_stack_turns_it_off(base_config, given, expected):
    notebook = {} if given is None else {"internet": given}
    config = {**base_config, "notebook": notebook} if notebook else base_config
    assert _loaded(config).notebook.internet is expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        (
            STAND_IN_ENDPOINTS,
            OAuthEndpoints(
                authorize_url="http://10.0.0.1:8000/oauth2/authorize",
                token_url="http://10.0.0.1:8000/oauth2/token",
                userdata_url="http://10.0.0.1:8000/userinfo",
            ),
        ),
    ],
)
def test_sign_in_goes_to_google_unless_the_stack_names_a_stand_in(base_config, given, expected):
    config = base_config if given is None else {**base_config, "oauthEndpoints": given}
    assert _loaded(config).oauth_endpoints == expected


EXAMPLE_VALUES = [
    (
        {"oauthClientId": "000000000000-camp.apps.googleusercontent.com"},
        "camphub:oauthClientId: 000000000000-camp.apps.googleusercontent.com is the example's "
        "placeholder. Copy the client ID of your Google OAuth client: `pulumi config set",
    ),
    *(
        (
            {"sshAllowedCidrs": [cidr]},
            f"camphub:sshAllowedCidrs: {cidr} is an example range, nobody's address. Give the "
            "public address of the network you run `pulumi up` from",
        )
        for cidr in ("192.0.2.7/32", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/48")
    ),
    (
        {"sshAllowedCidrs": ["84.17.40.7/32", "192.168.1.23/32"]},
        "camphub:sshAllowedCidrs: 192.168.1.23/32 is a private range; AWS sees your network's "
        "public address instead.",
    ),
    (
        {"domain": "jupyter.camp.example.org", "letsEncryptEmail": "o@camp.test"},
        "camphub:domain: jupyter.camp.example.org is an example name, reserved for documentation. "
        "Set the hub's host name in your own domain",
    ),
    (
        {
            "domain": "jupyter.example.com",
            "letsEncryptEmail": "o@camp.test",
            "hostedZone": "example.com",
        },
        "camphub:hostedZone: example.com is an example name, reserved for documentation. Set the "
        "Route 53 zone that holds your domain",
    ),
    (
        {"domain": "jupyter.camp.test", "letsEncryptEmail": "organizer@camp.example.org"},
        "camphub:letsEncryptEmail: camp.example.org is an example name, reserved for "
        "documentation. Let's Encrypt sends its certificate notices there",
    ),
]


@pytest.mark.parametrize(("change", "expected"), EXAMPLE_VALUES)
def test_an_example_value_is_refused_naming_the_key_and_the_fix(base_config, change, expected):
    assert expected in str(config_error({**base_config, **change}))


@pytest.mark.parametrize(("change", "expected"), EXAMPLE_VALUES)
def test_a_stand_in_provider_keeps_example_values(base_config, change, expected):
    """The rehearsal's rule: sign-in goes to a stand-in there (oauthEndpoints), and its names
    and address ranges are examples on purpose."""
    deploy({**base_config, **change, "oauthEndpoints": STAND_IN_ENDPOINTS})


def test_the_camp_stack_file_of_before_is_refused_with_every_example_named(base_config):
    shipped = {
        "oauthClientId": "000000000000-camp.apps.googleusercontent.com",
        "sshAllowedCidrs": ["203.0.113.0/24"],
        "domain": "jupyter.camp.example.org",
        "letsEncryptEmail": "organizer@camp.example.org",
        "hostedZone": "camp.example.org",
    }
    error = config_error({**base_config, **shipped})
    assert len(error.problems) == 5
    named = {problem.split(":")[1] for problem in error.problems}
    assert named == {"oauthClientId", "sshAllowedCidrs", "domain", "letsEncryptEmail", "hostedZone"}


def _site(folder, files: dict[str, bytes]):
    folder.mkdir()
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def test_a_landing_page_folder_without_index_html_is_refused(base_config, tmp_path):
    site = _site(tmp_path / "site", {"about.html": b"<p>about</p>"})
    error = config_error({**base_config, "siteDir": str(site)})
    assert f"camphub:siteDir: {site}/index.html is missing" in str(error)


def test_a_symbolic_link_in_the_landing_pages_is_refused_naming_it(base_config, tmp_path):
    site = _site(tmp_path / "site", {"index.html": b"<h1>Camp</h1>"})
    (site / "keys").symlink_to(tmp_path.parent)
    error = config_error({**base_config, "siteDir": str(site)})
    assert "camphub:siteDir: keys is a symbolic link; put the file itself in the folder" in str(
        error
    )


def test_a_landing_page_file_over_the_size_limit_is_refused_naming_it(base_config, tmp_path):
    big = b"x" * (10 * 1024**2 + 1)
    site = _site(tmp_path / "site", {"index.html": b"<h1>Camp</h1>", "media/talk.mp4": big})
    error = config_error({**base_config, "siteDir": str(site)})
    assert "camphub:siteDir: media/talk.mp4 is 10.0 MiB, over the 10 MiB" in str(error)
