"""Every `camphub:` setting, once: its name, kind, default, meaning and the check that words its
error. `infra/config.py` reads its defaults, required and secret keys and known names from here;
a unit test holds README.md's Settings table and the stack files to it.

A dotted name (`workers.count`) is a member of an object set with `pulumi config set --path`.
"""

import json
from dataclasses import dataclass
from typing import Any

MAX_WORKERS = 50
MAX_VOLUME_GB = 16384  # EBS gp3's upper bound
MAX_IDLE_CULL_MINUTES = 7 * 24 * 60
MIN_SNAPSHOT_MINUTES = 5  # more often, the snapshots of 200 homes would never rest
MAX_SNAPSHOT_MINUTES = 24 * 60
MAX_SNAPSHOTS_KEPT = 7 * 24  # per home and kind: a week of hourly snapshots
MAX_BACKUP_DAYS = 365
MAX_CPUS = 64
CAMP_NAME = "Data science camp"
MAX_CAMP_NAME_CHARACTERS = 100
MAX_SITE_FILE_MIB = 10  # a page, a picture, a PDF of the timetable: not datasets
MAX_SITE_MIB = 50


@dataclass(frozen=True)
class Setting:
    name: str  # as after `camphub:`; dotted for an object's member
    kind: str  # what the value is; "whole number" and "number" are checked against `bounds`
    meaning: str
    check: str  # the function of infra/config.py that checks it and words the error
    default: Any = None  # None: `unset` says what happens without it
    unset: str = "none"  # "required", or what stands in when it is not set
    secret: bool = False  # must be set with `pulumi config set --secret`
    bounds: tuple[float, float] | None = None  # a number's lowest and highest value

    @property
    def required(self) -> bool:
        return self.unset == "required"

    @property
    def top_level(self) -> str:
        """The key in the stack file: the object's name for a member."""
        return self.name.split(".")[0]

    @property
    def readme_default(self) -> str:
        """The default as README.md's Settings table shows it."""
        shown = self.unset if self.default is None else f"`{_shown(self.default)}`"
        return f"{shown}, secret" if self.secret else shown


def _shown(value: Any) -> str:
    """A value as written in a stack file: true, [], 0.25, 1 (for 1.0)."""
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


# Sized for 25 students, TLJH-style: concurrent users x per-user memory guarantee plus headroom
# (25 x 1 GiB + 20% = 30 GiB) fits 2 x t3.xlarge (32 GiB, 8 vCPUs for 25 x 0.25 CPU guaranteed).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "oauthClientId", "text", "the Google OAuth client ID", "_oauth_client_id", unset="required"
    ),
    Setting(
        "oauthClientSecret",
        "text",
        "the Google OAuth client secret",
        "_oauth_client_secret",
        unset="required",
        secret=True,
    ),
    Setting(
        "sshAllowedCidrs",
        "list of CIDR blocks",
        "who may SSH to the hub",
        "_ssh_allowed_cidrs",
        unset="required",
    ),
    Setting(
        "adminSshPrivateKey",
        "OpenSSH private key",
        "the organizer's own key for the machines instead of a generated one",
        "_admin_ssh_key",
        unset="none (generated)",
        secret=True,
    ),
    Setting(
        "userlistFile",
        "path",
        "the class list, relative to the project or absolute",
        "_class_list",
        default="userlist.txt",
    ),
    Setting("domain", "hostname", "the hub's host name; without it, its Elastic IP", "_domain"),
    Setting(
        "letsEncryptEmail",
        "email",
        "for Let's Encrypt's certificate notices",
        "_domain",
        unset="required with `domain`",
    ),
    Setting(
        "letsEncryptStaging",
        "boolean",
        "certificates from Let's Encrypt's staging CA (untrusted by browsers), for rehearsals "
        "with the real domain that must not spend its limit of 5 certificates a week",
        "_domain",
        default=False,
    ),
    Setting(
        "hostedZone",
        "hostname",
        "a Route 53 zone for the hub's A record; without it, `pulumi up` prints the record "
        "to create (output `dnsRecordToCreate`)",
        "_domain",
    ),
    Setting(
        "googleHostedDomains",
        "list of domains",
        "only accounts of these Google Workspace domains may sign in",
        "_google_hosted_domains",
        default=[],
    ),
    *(
        Setting(
            f"oauthEndpoints.{member}",
            "http(s) URL",
            f"the {what} of a test provider standing in for Google (all three or none)",
            "_oauth_endpoints",
            unset="none (Google)",
        )
        for member, what in (
            ("authorizeUrl", "sign-in page"),
            ("tokenUrl", "token endpoint"),
            ("userdataUrl", "user info endpoint"),
        )
    ),
    Setting(
        "hub.instanceType", "EC2 instance type", "the hub's machine", "_instance_type", "t3.medium"
    ),
    Setting(
        "workers.count",
        "whole number",
        "how many worker machines",
        "_number",
        default=2,
        bounds=(1, MAX_WORKERS),
    ),
    Setting(
        "workers.instanceType",
        "EC2 instance type",
        "each worker's machine",
        "_instance_type",
        default="t3.xlarge",
    ),
    Setting(
        "nfs.instanceType",
        "EC2 instance type",
        "the NFS server's machine",
        "_instance_type",
        default="t3.small",
    ),
    Setting(
        "nfs.volumeSizeGb",
        "whole number",
        "the homes volume in GiB",
        "_number",
        default=100,
        bounds=(1, MAX_VOLUME_GB),
    ),
    # Zero to JupyterHub's default home size, 10Gi. A week's notebooks, data sets and a few
    # `pip install --user` fit; a student who fills it stops only themselves.
    Setting(
        "nfs.homeQuotaGb",
        "whole number",
        "each student's home limit in GiB (a class list line's quota= overrides it)",
        "_number",
        default=10,
        bounds=(1, MAX_VOLUME_GB),
    ),
    Setting(
        "nfs.snapshotEveryMinutes",
        "whole number",
        "read-only snapshots of every home, browsed in ~/snapshots (0: none)",
        "_number",
        default=60,
        bounds=(0, MAX_SNAPSHOT_MINUTES),
    ),
    Setting(
        "nfs.snapshotKeepHourly",
        "whole number",
        "the newest N snapshots are kept",
        "_number",
        default=24,
        bounds=(1, MAX_SNAPSHOTS_KEPT),
    ),
    Setting(
        "nfs.snapshotKeepDaily",
        "whole number",
        "and the newest of each of the last N days",
        "_number",
        default=7,
        bounds=(0, MAX_SNAPSHOTS_KEPT),
    ),
    Setting(
        "nfs.backupKeepDays",
        "whole number",
        "daily EBS snapshots of the homes volume by AWS Data Lifecycle Manager (0: none)",
        "_number",
        default=7,
        bounds=(0, MAX_BACKUP_DAYS),
    ),
    # After `pulumi destroy` (which keeps the homes volume): the camp comes back with every home.
    Setting(
        "nfs.adoptHomesVolume",
        "EBS volume id",
        "attach this kept homes volume (a destroyed camp's) instead of a new, empty one",
        "_nfs",
        unset="none (a new volume)",
    ),
    Setting("notebook.memLimit", "size", "each student's memory limit", "_byte_size", "2G"),
    Setting("notebook.memGuarantee", "size", "each student's memory guarantee", "_byte_size", "1G"),
    Setting(
        "notebook.cpuLimit",
        "number",
        "each student's CPU limit",
        "_number",
        default=1.0,
        bounds=(0.01, MAX_CPUS),
    ),
    Setting(
        "notebook.cpuGuarantee",
        "number",
        "each student's CPU guarantee",
        "_number",
        default=0.25,
        bounds=(0.01, MAX_CPUS),
    ),
    Setting(
        "notebook.idleCullMinutes",
        "whole number",
        "stop servers idle this long (0: never)",
        "_number",
        default=60,
        bounds=(0, MAX_IDLE_CULL_MINUTES),
    ),
    # false: exam mode, the students' servers reach the hub and nothing on the internet
    # (camphub-wall on every worker; image builds keep theirs).
    Setting(
        "notebook.internet",
        "boolean",
        "false: exam mode, the students' servers reach the hub, not the internet",
        "_boolean",
        default=True,
    ),
    Setting("ami", "AMI id", "pin an AMI", "_ami", unset="newest Debian 13"),
    # Every machine and the homes volume in one zone (infra/zones.py chooses it); pinned, a later
    # change of instance type can never move the camp to another zone.
    Setting(
        "availabilityZone",
        "availability zone",
        "pin the camp's zone, e.g. us-east-1b",
        "_availability_zone",
        unset="the first that offers every instance type",
    ),
    # Without it the camp has a VPC of its own (infra/network.py); a camp deployed before that
    # lives in the default VPC and keeps its subnet with this (README.md, "Upgrading").
    Setting(
        "subnetId",
        "subnet id",
        "put the camp in this existing subnet (its zone becomes the camp's) instead of a VPC of "
        "its own",
        "_subnet_id",
        unset="none (a VPC of its own)",
    ),
    # The organizer fills it over SSH; big data sets shared rather than copied into each home.
    Setting(
        "sharedData",
        "boolean",
        "a read-only data directory on the NFS server in every student's container",
        "_boolean",
        default=False,
    ),
    Setting(
        "materialsDir",
        "path",
        "the course materials' folder, relative to the project or absolute",
        "_materials_dir",
        default="materials",
    ),
    Setting(
        "materialsRepo.url",
        "https URL",
        "a public git repository of the course materials, instead of the folder",
        "_materials_repo",
    ),
    Setting("materialsRepo.ref", "git ref", "its tag or commit", "_materials_repo"),
    Setting(
        "camp.name", "text", "the camp's name, on its landing page", "_camp", default=CAMP_NAME
    ),
    Setting(
        "camp.firstDay", "date (YYYY-MM-DD)", "the camp's first day, on its landing page", "_camp"
    ),
    Setting("camp.lastDay", "date (YYYY-MM-DD)", "its last day (with firstDay)", "_camp"),
    Setting(
        "siteDir",
        "path",
        "the camp's own landing pages (an index.html and what it links to), served at the hub's "
        "address; relative to the project or absolute",
        "_site_dir",
        unset="none (a page with the camp's name, dates and sign-in)",
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def members(top_level: str) -> tuple[str, ...]:
    """An object's member names, in the table's order."""
    return tuple(s.name.split(".")[1] for s in SETTINGS if s.name.startswith(f"{top_level}."))


def _defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for s in SETTINGS:
        if s.default is None:
            continue
        if "." in s.name:
            top, member = s.name.split(".")
            defaults.setdefault(top, {})[member] = s.default
        else:
            defaults[s.name] = s.default
    return defaults


DEFAULTS: dict[str, Any] = _defaults()  # objects as {member: default}
TOP_LEVEL: tuple[str, ...] = tuple(dict.fromkeys(s.top_level for s in SETTINGS))
REQUIRED = tuple(s.name for s in SETTINGS if s.required)
OPTIONAL = tuple(k for k in TOP_LEVEL if k not in DEFAULTS and k not in REQUIRED)
SECRET_KEYS = tuple(s.name for s in SETTINGS if s.secret)
