"""The stack configuration, read once into a typed object and checked before anything is declared.

Every component receives the `CampConfig` built here; none reads Pulumi config itself. Every key,
its default and the check that words its error are in `infra/config_keys.py`; a stack file sets
only what differs. Every problem found is reported at once, naming the key (or the class list's
line) and what is expected.

Example values (the shipped stack files' kind: example.org names, the address ranges reserved for
documentation, an all-zero OAuth client ID) are refused when the camp signs in with Google: there
they can only be a value the organizer has not replaced yet. A stack that sets `oauthEndpoints`
signs in with a stand-in provider instead (the rehearsal), where such values are the point.
"""

import datetime
import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from infra.config_keys import (
    BY_NAME,
    DEFAULTS,
    MAX_CAMP_NAME_CHARACTERS,
    MAX_SITE_FILE_MIB,
    MAX_SITE_MIB,
    MAX_SNAPSHOT_MINUTES,
    MIN_SNAPSHOT_MINUTES,
    TOP_LEVEL,
    members,
)
from infra.errors import ConfigError
from infra.instance_types import shape_of
from infra.layout import PROJECT_DIR
from infra.payload import PROGRAM_PAYLOAD
from infra.userlist import ClassList, is_email, read_class_list

NAMESPACE = "camphub"
# The tag naming the stack a resource belongs to: the homes volume (infra/adoption.py), the
# camp's own subnet (infra/network.py), the hub's volume, the archive, the backups.
STACK_TAG = f"{NAMESPACE}:stack"
# The setting that brings a destroyed camp's homes back (infra/adoption.py).
ADOPT_KEY = f"{NAMESPACE}:nfs.adoptHomesVolume"
ADOPT_RUNBOOK = 'README.md, "Bring back a destroyed camp"'
# The setting that keeps the camp in an existing subnet instead of a network of its own.
SUBNET_KEY = f"{NAMESPACE}:subnetId"

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT])$")
_SIZE_FACTORS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_HOSTNAME_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_GIT_REF = re.compile(r"^[A-Za-z0-9._/][A-Za-z0-9._/-]*$")
_VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_ZONE = re.compile(r"^[a-z]{2}(?:-[a-z0-9]+)+[a-z]$")
# RFC 2606: names for documentation; RFC 5737 and RFC 3849: address ranges for documentation.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org", "example")
_EXAMPLE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_EXAMPLE_CLIENT_ID = re.compile(r"^0+-")


@dataclass(frozen=True)
class MachineSpec:
    instance_type: str


@dataclass(frozen=True)
class WorkerPoolSpec:
    count: int
    instance_type: str


@dataclass(frozen=True)
class NfsSpec:
    instance_type: str
    volume_size_gb: int
    home_quota_gb: int  # a class list line's quota= overrides it
    snapshot_every_minutes: int  # 0: no snapshots of the homes
    snapshot_keep_hourly: int  # the newest N snapshots are kept
    snapshot_keep_daily: int  # and the newest of each of the last N days
    backup_keep_days: int  # daily EBS snapshots of the homes volume kept (0: none taken)
    # A kept homes volume to attach instead of a new one (None: a new, empty volume).
    adopt_homes_volume: str | None = None


@dataclass(frozen=True)
class NotebookSpec:
    """Per-student server limits; sizes in JupyterHub's notation (K, M, G, T = powers of 1024)."""

    mem_limit: str
    mem_guarantee: str
    cpu_limit: float
    cpu_guarantee: float
    idle_cull_minutes: int  # 0 turns the idle culler off
    internet: bool = True  # False: exam mode, no internet from the students' servers


@dataclass(frozen=True)
class DomainSpec:
    """A real hostname for the hub, with its Let's Encrypt certificate."""

    name: str
    lets_encrypt_email: str
    hosted_zone: str | None  # create the A record in this Route 53 zone; None: the organizer does
    lets_encrypt_staging: bool = False  # Let's Encrypt's staging CA: untrusted, but no limits

    @property
    def user_subdomains(self) -> bool:
        """Each student's server on its own origin (<them>.<name>): only where the program can
        make the wildcard record and prove the zone to Let's Encrypt for a wildcard certificate."""
        return self.hosted_zone is not None


@dataclass(frozen=True)
class MaterialsRepo:
    """A public git repository whose files at `ref` are the course materials."""

    url: str
    ref: str  # a tag or commit; a branch is fetched again only when url or ref change


@dataclass(frozen=True)
class CampSpec:
    """What the landing page says of the camp."""

    name: str = DEFAULTS["camp"]["name"]
    first_day: datetime.date | None = None  # None: no dates on the page (then last_day too)
    last_day: datetime.date | None = None


@dataclass(frozen=True)
class OAuthEndpoints:
    """Where sign-in goes instead of Google: a test provider standing in for it."""

    authorize_url: str
    token_url: str
    userdata_url: str


@dataclass(frozen=True)
class AdminSshKey:
    """The organizer's own SSH key for the machines, instead of one the program generates."""

    private_key: pulumi.Output[str]  # secret, OpenSSH format
    public_key: str  # OpenSSH format, as EC2 key pairs take it


@dataclass(frozen=True)
class CampConfig:
    stack: str
    oauth_client_id: str
    oauth_client_secret: pulumi.Output[str]
    ssh_allowed_cidrs: tuple[str, ...]
    class_list: ClassList
    domain: DomainSpec | None  # None: served on the Elastic IP with a self-signed certificate
    google_hosted_domains: tuple[str, ...]
    hub: MachineSpec
    workers: WorkerPoolSpec
    nfs: NfsSpec
    notebook: NotebookSpec
    shared_data: bool
    materials_dir: Path
    materials_repo: MaterialsRepo | None  # None: the materials_dir folder
    ami: str | None  # None: the newest Debian 13 AMI, looked up once (instances ignore later ones)
    oauth_endpoints: OAuthEndpoints | None  # None: Google's own endpoints
    admin_ssh_key: AdminSshKey | None  # None: the program generates one
    availability_zone: str | None  # None: the first zone that offers every instance type
    subnet_id: str | None = None  # None: the camp's own VPC and subnet (infra/network.py)
    camp: CampSpec = CampSpec()
    site_dir: Path | None = None  # None: camphub's landing page for `camp`

    @property
    def instance_types(self) -> dict[str, str]:
        """Each machine's instance type, by the setting that chose it."""
        return {
            "hub.instanceType": self.hub.instance_type,
            "workers.instanceType": self.workers.instance_type,
            "nfs.instanceType": self.nfs.instance_type,
        }

    @property
    def user_subdomains(self) -> bool:
        """Whether each student's server is on a subdomain of its own (DomainSpec says when)."""
        return self.domain is not None and self.domain.user_subdomains


def load_config() -> CampConfig:
    """Reads this stack's `camphub:` configuration; raises ConfigError naming every problem."""
    reader = _PulumiConfigReader(pulumi.Config(NAMESPACE))
    return parse_config(reader, stack=pulumi.get_stack(), project_dir=PROJECT_DIR)


class _PulumiConfigReader:
    """The raw values of the stack configuration, as set with `pulumi config set`."""

    def __init__(self, config: pulumi.Config):
        self._config = config

    def value(self, key: str) -> Any:
        """A list or object as such (set with --path or as JSON), anything else as text."""
        try:
            return self._config.get_object(key)
        except pulumi.ConfigTypeError:
            return self._config.get(key)

    def secret(self, key: str) -> pulumi.Output[str] | None:
        return self._config.get_secret(key)

    def is_secret(self, key: str) -> bool:
        return pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}")

    def keys(self) -> set[str]:
        # The CLI hands the program its config through the runtime's config map; the mock
        # runtime and older CLIs through the PULUMI_CONFIG environment variable.
        configured = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
        prefix = f"{NAMESPACE}:"
        return {k.removeprefix(prefix) for k in configured if k.startswith(prefix)}


def parse_config(reader: Any, *, stack: str, project_dir: Path) -> CampConfig:
    problems = _Problems()
    _check_known_keys(reader.keys(), problems)
    client_id = _oauth_client_id(reader, problems)
    client_secret = _oauth_client_secret(reader, problems)
    cidrs = _ssh_allowed_cidrs(reader.value("sshAllowedCidrs"), problems)
    hosted_domains = _google_hosted_domains(reader, problems)
    domain = _domain(reader, problems)
    workers = _worker_pool(_section(reader, "workers", problems), problems)
    notebook = _notebook(_section(reader, "notebook", problems), problems)
    _check_notebook_fits_worker(notebook, workers, problems)
    nfs = _nfs(_section(reader, "nfs", problems), problems)
    config = CampConfig(
        stack=stack,
        oauth_client_id=client_id,
        oauth_client_secret=client_secret,
        ssh_allowed_cidrs=cidrs,
        class_list=_class_list(reader, project_dir, nfs.volume_size_gb, problems),
        domain=domain,
        google_hosted_domains=hosted_domains,
        hub=MachineSpec(_instance_type(_section(reader, "hub", problems), "hub", problems)),
        workers=workers,
        nfs=nfs,
        notebook=notebook,
        shared_data=_flag(reader, "sharedData", problems),
        materials_dir=_materials_dir(reader, project_dir, problems),
        materials_repo=_materials_repo(reader.value("materialsRepo"), problems),
        ami=_ami(reader.value("ami"), problems),
        oauth_endpoints=_oauth_endpoints(reader.value("oauthEndpoints"), problems),
        admin_ssh_key=_admin_ssh_key(reader, problems),
        availability_zone=_availability_zone(reader.value("availabilityZone"), problems),
        subnet_id=_subnet_id(reader.value("subnetId"), problems),
        camp=_camp(_section(reader, "camp", problems), problems),
        site_dir=_site_dir(reader, project_dir, problems),
    )
    _check_class_list_in_hosted_domains(config, problems)
    if config.oauth_endpoints is None:
        _check_no_example_values(config, problems)
    problems.raise_if_any()
    return config


class _Problems:
    """Collects every problem so the organizer fixes them all in one go."""

    def __init__(self):
        self.messages: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.messages.append(f"{NAMESPACE}:{key}: {message}")

    def add_error(self, error: ConfigError) -> None:
        self.messages.extend(error.problems)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ConfigError(*self.messages)


def _check_known_keys(keys: set[str], problems: _Problems) -> None:
    known = set(TOP_LEVEL)
    for key in sorted(keys - known):
        problems.add(key, f"unknown setting. Known settings: {', '.join(sorted(known))}.")


def _section(reader: Any, name: str, problems: _Problems) -> dict[str, Any]:
    """A `--path` object merged over its defaults; unknown members are reported."""
    defaults = DEFAULTS[name]
    given = reader.value(name)
    if given is None:
        return dict(defaults)
    if not isinstance(given, Mapping):
        problems.add(name, f"expected an object set with `pulumi config set --path {name}.<key>`.")
        return dict(defaults)
    known = members(name)
    for key in sorted(set(given) - set(known)):
        problems.add(f"{name}.{key}", f"unknown setting. Known: {', '.join(sorted(known))}.")
    return {**defaults, **given}


def _oauth_client_id(reader: Any, problems: _Problems) -> str:
    value = reader.value("oauthClientId")
    if not isinstance(value, str) or not value.strip():
        problems.add(
            "oauthClientId",
            "required: the client ID of your Google OAuth client "
            "(`pulumi config set camphub:oauthClientId <id>.apps.googleusercontent.com`).",
        )
        return ""
    if any(c.isspace() for c in value):
        problems.add("oauthClientId", f"{value!r} contains spaces; paste the client ID alone.")
    return value.strip()


def _oauth_client_secret(reader: Any, problems: _Problems) -> pulumi.Output[str]:
    key = "oauthClientSecret"
    secret = reader.secret(key)
    if secret is None:
        problems.add(key, f"required: `pulumi config set --secret {NAMESPACE}:{key} <secret>`.")
        return pulumi.Output.secret("")
    _check_stored_as_secret(reader, key, "<secret>", problems)
    return secret


def _check_stored_as_secret(reader: Any, key: str, value_hint: str, problems: _Problems) -> None:
    if not reader.is_secret(key):
        problems.add(
            key,
            "is stored in plain text in the stack file. Set it again with "
            f"`pulumi config set --secret {NAMESPACE}:{key} {value_hint}`.",
        )


def _admin_ssh_key(reader: Any, problems: _Problems) -> AdminSshKey | None:
    """Checked here, in plain text, so a bad key stops the program before anything exists."""
    key = "adminSshPrivateKey"
    text = reader.value(key)
    if text is None:
        return None
    _check_stored_as_secret(reader, key, "< <key file>", problems)
    fix = (
        "Give an unencrypted ed25519 or RSA key: "
        "`ssh-keygen -t ed25519 -N '' -f ~/.ssh/camphub-admin`."
    )
    try:
        private_key = serialization.load_ssh_private_key(str(text).encode(), password=None)
    except (ValueError, TypeError) as error:
        problems.add(key, f"is not a usable OpenSSH private key ({error}). {fix}")
        return None
    if not isinstance(private_key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        problems.add(key, f"EC2 key pairs take only ed25519 and RSA keys. {fix}")
        return None
    public_key = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return AdminSshKey(pulumi.Output.secret(str(text)), public_key.decode())


def _ssh_allowed_cidrs(value: Any, problems: _Problems) -> tuple[str, ...]:
    key = "sshAllowedCidrs"
    if value is None or value == []:
        problems.add(
            key,
            "required: the addresses allowed to SSH to the hub, e.g. "
            "`pulumi config set --path 'camphub:sshAllowedCidrs[0]' 203.0.113.7/32`.",
        )
        return ()
    value = _listed(key, value, "CIDR blocks such as 203.0.113.7/32", problems)
    return tuple(c for i, c in enumerate(value) if _check_cidr(f"{key}[{i}]", c, problems))


def _listed(key: str, value: Any, expected: str, problems: _Problems) -> list:
    """`value` as a list, one string standing for a list of itself; anything else is reported
    ("expected a list of <expected>.") and read as no items."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        problems.add(key, f"expected a list of {expected}.")
        return []
    return value


def _check_cidr(key: str, text: Any, problems: _Problems) -> bool:
    try:
        network = ipaddress.ip_network(str(text), strict=True)
    except ValueError as error:
        hint = ""
        if "host bits set" in str(error):
            hint = f" Did you mean {ipaddress.ip_network(str(text), strict=False)}?"
        problems.add(key, f"{text!r} is not a CIDR block like 203.0.113.7/32 ({error}).{hint}")
        return False
    if network.prefixlen == 0:
        problems.add(
            key,
            f"{text} would let the whole internet try to SSH to the hub; "
            "give your own address, e.g. 203.0.113.7/32.",
        )
        return False
    return True


def _google_hosted_domains(reader: Any, problems: _Problems) -> tuple[str, ...]:
    key = "googleHostedDomains"
    value = reader.value(key)
    if value is None:
        return ()
    value = _listed(key, value, "domains such as school.org", problems)
    domains = []
    for index, domain in enumerate(value):
        name = str(domain).lower()
        if not _is_hostname(name):
            problems.add(f"{key}[{index}]", f"{domain!r} is not a domain like school.org.")
        else:
            domains.append(name)
    return tuple(domains)


def _domain(reader: Any, problems: _Problems) -> DomainSpec | None:
    keys = ("domain", "letsEncryptEmail", "hostedZone", "letsEncryptStaging")
    name, email, zone, staging = (reader.value(k) for k in keys)
    if name is None:
        for key, value in zip(keys[1:], (email, zone, staging), strict=True):
            if value is not None:
                problems.add(key, "is set but camphub:domain is not; set the domain or remove it.")
        return None
    name = str(name).lower().rstrip(".")
    if not _is_hostname(name):
        problems.add("domain", f"{name!r} is not a hostname like jupyter.school.org.")
    if email is None:
        problems.add(
            "letsEncryptEmail",
            f"required with camphub:domain ({name}): Let's Encrypt needs an email for its "
            "certificate notices. Or remove camphub:domain to use a self-signed certificate.",
        )
    elif not is_email(str(email).lower()):
        problems.add("letsEncryptEmail", f"{email!r} is not an email address.")
    if zone is not None:
        zone = str(zone).lower().rstrip(".")
        if not (name == zone or name.endswith(f".{zone}")):
            problems.add("hostedZone", f"{name} is not inside the zone {zone}.")
    return DomainSpec(
        name=name,
        lets_encrypt_email=str(email),
        hosted_zone=zone,
        lets_encrypt_staging=_flag(reader, "letsEncryptStaging", problems),
    )


def _is_hostname(name: str) -> bool:
    labels = name.split(".")
    return len(labels) >= 2 and all(_HOSTNAME_LABEL.match(label) for label in labels)


def _class_list(
    reader: Any, project_dir: Path, volume_size_gb: int, problems: _Problems
) -> ClassList:
    """The class list file, whose quota= marks must each fit the homes volume."""
    shown = str(reader.value("userlistFile") or DEFAULTS["userlistFile"])
    path = _in_project(shown, project_dir)
    try:
        return read_class_list(path, shown, max_quota_gb=volume_size_gb)
    except ConfigError as error:
        problems.add_error(error)
        return ClassList(())


def _materials_dir(reader: Any, project_dir: Path, problems: _Problems) -> Path:
    shown = str(reader.value("materialsDir") or DEFAULTS["materialsDir"])
    path = _in_project(shown, project_dir)
    if not path.is_dir():
        problems.add(
            "materialsDir",
            f"{shown!r} is not a folder: create it (it may stay empty) or set materialsDir to "
            "the folder that holds the course materials.",
        )
    else:
        _check_name_is_free("materialsDir", path, problems)
    return path


def _in_project(shown: str, project_dir: Path) -> Path:
    """A path setting as the organizer wrote it: absolute, or relative to the project."""
    return Path(shown) if Path(shown).is_absolute() else project_dir / shown


def _check_name_is_free(key: str, folder: Path, problems: _Problems) -> None:
    """A folder delivered beside the program's own files must not take one of their names."""
    if folder.name in {tree.name for tree in PROGRAM_PAYLOAD}:
        problems.add(
            key,
            f"the folder's name {folder.name!r} is taken by the program's own files on the "
            "machines; rename the folder.",
        )


def _camp(section: Mapping[str, Any], problems: _Problems) -> CampSpec:
    name = str(section["name"]).strip()
    if not name or len(name) > MAX_CAMP_NAME_CHARACTERS or not name.isprintable():
        problems.add(
            "camp.name",
            f"{section['name']!r} is not a name for the landing page: one line of at most "
            f"{MAX_CAMP_NAME_CHARACTERS} characters, e.g. `Data science camp 2027`.",
        )
    given = [key for key in ("firstDay", "lastDay") if section.get(key) is not None]
    days = [_day(section[key], f"camp.{key}", problems) for key in given]
    if None in days:
        return CampSpec(name)  # a day that is not a date: said by _day
    if len(given) == 1:
        problems.add(f"camp.{given[0]}", "set camp.firstDay and camp.lastDay both, or neither.")
        return CampSpec(name)
    first, last = days or (None, None)
    if first and last and last < first:
        problems.add("camp.lastDay", f"{last} is before camp.firstDay {first}; swap them.")
    return CampSpec(name, first, last)


def _day(value: Any, key: str, problems: _Problems) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        problems.add(key, f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-07-05.")
        return None


def _site_dir(reader: Any, project_dir: Path, problems: _Problems) -> Path | None:
    """The landing pages' folder, checked file by file before anything is created."""
    shown = reader.value("siteDir")
    if shown is None:
        return None
    path = _in_project(str(shown), project_dir)
    if not path.is_dir():
        problems.add("siteDir", f"{shown!r} is not a folder: create it, with an index.html.")
        return path
    _check_name_is_free("siteDir", path, problems)
    for problem in site_problems(path):
        problems.add("siteDir", problem)
    return path


def site_problems(folder: Path) -> list[str]:
    """What keeps `folder` from being published as the landing pages, each naming its file."""
    problems = []
    if not (folder / "index.html").is_file():
        problems.append(f"{folder}/index.html is missing: the landing page starts there.")
    total = 0
    for path in sorted(folder.rglob("*")):
        shown = path.relative_to(folder)
        if path.is_symlink():
            problems.append(
                f"{shown} is a symbolic link; put the file itself in the folder (a link could "
                "publish a file from outside it)."
            )
        elif path.is_file():
            size = path.stat().st_size
            total += size
            if size > MAX_SITE_FILE_MIB * 1024**2:
                problems.append(
                    f"{shown} is {size / 1024**2:.1f} MiB, over the {MAX_SITE_FILE_MIB} MiB a "
                    "landing page's file may have; link to large files elsewhere (course "
                    "materials: materialsDir)."
                )
    if total > MAX_SITE_MIB * 1024**2:
        problems.append(
            f"the folder holds {total / 1024**2:.1f} MiB, over the {MAX_SITE_MIB} MiB the landing "
            "pages may have together."
        )
    return problems


def _check_class_list_in_hosted_domains(config: CampConfig, problems: _Problems) -> None:
    """A student outside the allowed Google domains could never sign in: say so now."""
    if not config.google_hosted_domains:
        return
    for member in config.class_list.members:
        if member.domain not in config.google_hosted_domains:
            problems.add(
                "googleHostedDomains",
                f"{member.name} is on the class list but {member.domain} is not an allowed "
                "domain, so they could not sign in. Add the domain or fix the email.",
            )


def _instance_type(section: Mapping[str, Any], name: str, problems: _Problems) -> str:
    value = str(section["instanceType"])
    if not _INSTANCE_TYPE.match(value):
        problems.add(
            f"{name}.instanceType", f"{value!r} is not an EC2 instance type like t3.large."
        )
    return value


def _worker_pool(section: Mapping[str, Any], problems: _Problems) -> WorkerPoolSpec:
    count = _number(section, "workers", "count", problems)
    return WorkerPoolSpec(count=count, instance_type=_instance_type(section, "workers", problems))


def _nfs(section: Mapping[str, Any], problems: _Problems) -> NfsSpec:
    def whole(key: str) -> int:
        return _number(section, "nfs", key, problems)

    spec = NfsSpec(
        instance_type=_instance_type(section, "nfs", problems),
        volume_size_gb=whole("volumeSizeGb"),
        home_quota_gb=whole("homeQuotaGb"),
        snapshot_every_minutes=whole("snapshotEveryMinutes"),
        snapshot_keep_hourly=whole("snapshotKeepHourly"),
        snapshot_keep_daily=whole("snapshotKeepDaily"),
        backup_keep_days=whole("backupKeepDays"),
        adopt_homes_volume=_of_form(
            section.get("adoptHomesVolume"),
            _VOLUME_ID,
            "nfs.adoptHomesVolume",
            "an EBS volume id like vol-0123456789abcdef0 (the homesVolumeId output)",
            problems,
        ),
    )
    if spec.home_quota_gb > spec.volume_size_gb:
        problems.add(
            "nfs.homeQuotaGb",
            f"{spec.home_quota_gb} GiB per home is more than the whole homes volume "
            f"(nfs.volumeSizeGb: {spec.volume_size_gb}); lower it or enlarge the volume.",
        )
    if 0 < spec.snapshot_every_minutes < MIN_SNAPSHOT_MINUTES:
        problems.add(
            "nfs.snapshotEveryMinutes",
            f"{spec.snapshot_every_minutes} is too often; give 0 (no snapshots) or a whole "
            f"number of minutes from {MIN_SNAPSHOT_MINUTES} to {MAX_SNAPSHOT_MINUTES}.",
        )
    return spec


def _notebook(section: Mapping[str, Any], problems: _Problems) -> NotebookSpec:
    def size(key: str) -> str:
        return _byte_size(section[key], f"notebook.{key}", problems)

    def number(key: str) -> Any:
        return _number(section, "notebook", key, problems)

    spec = NotebookSpec(
        mem_limit=size("memLimit"),
        mem_guarantee=size("memGuarantee"),
        cpu_limit=number("cpuLimit"),
        cpu_guarantee=number("cpuGuarantee"),
        idle_cull_minutes=number("idleCullMinutes"),
        internet=_boolean(section["internet"], "notebook.internet", True, problems),
    )
    if bytes_of(spec.mem_guarantee) > bytes_of(spec.mem_limit):
        problems.add(
            "notebook.memGuarantee",
            f"{spec.mem_guarantee} is above notebook.memLimit ({spec.mem_limit}); "
            "a guarantee must not exceed its limit.",
        )
    if spec.cpu_guarantee > spec.cpu_limit:
        problems.add(
            "notebook.cpuGuarantee",
            f"{spec.cpu_guarantee:g} is above notebook.cpuLimit ({spec.cpu_limit:g}); "
            "a guarantee must not exceed its limit.",
        )
    return spec


def _check_notebook_fits_worker(
    notebook: NotebookSpec, workers: WorkerPoolSpec, problems: _Problems
) -> None:
    shape = shape_of(workers.instance_type)
    if shape is None:
        return
    usable_gib = shape.usable_memory_gib
    if bytes_of(notebook.mem_limit) > usable_gib * 1024**3:
        problems.add(
            "notebook.memLimit",
            f"{notebook.mem_limit} does not fit on a {workers.instance_type} worker "
            f"({usable_gib:g} GiB usable); lower it or choose a larger workers.instanceType.",
        )
    if notebook.cpu_limit > shape.vcpus:
        problems.add(
            "notebook.cpuLimit",
            f"{notebook.cpu_limit:g} is more than a {workers.instance_type} worker's "
            f"{shape.vcpus} vCPUs.",
        )


def _number(section: Mapping[str, Any], name: str, key: str, problems: _Problems) -> Any:
    """A whole number or a number within the bounds of its row in the table of settings."""
    setting = BY_NAME[f"{name}.{key}"]
    kind: Callable[[Any], Any] = int if setting.kind == "whole number" else float
    low, high = setting.bounds
    raw = section[key]
    try:
        value = kind(raw) if not isinstance(raw, bool) else None
        if kind is int and float(raw) != value:
            value = None
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        problems.add(f"{name}.{key}", f"{raw!r} is not a {setting.kind} from {low:g} to {high:g}.")
        return kind(setting.default)
    return value


def _byte_size(raw: Any, key: str, problems: _Problems) -> str:
    text = str(raw).strip().upper().removesuffix("B").removesuffix("I")
    match = _SIZE.match(text)
    if not match or float(match.group(1)) <= 0:
        problems.add(key, f"{raw!r} is not a size like 512M or 2G (K, M, G, T = powers of 1024).")
        return BY_NAME[key].default
    return text


def bytes_of(size: str) -> int:
    """512M -> 536870912; sizes are already checked."""
    match = _SIZE.match(size)
    return int(float(match.group(1)) * _SIZE_FACTORS[match.group(2)])


def _flag(reader: Any, key: str, problems: _Problems) -> bool:
    value = reader.value(key)
    return DEFAULTS[key] if value is None else _boolean(value, key, DEFAULTS[key], problems)


def _boolean(value: Any, key: str, default: bool, problems: _Problems) -> bool:
    """true or false, also as the text `pulumi config set` stores."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    problems.add(key, f"{value!r} is not true or false.")
    return default


def _materials_repo(value: Any, problems: _Problems) -> MaterialsRepo | None:
    if value is None:
        return None
    key = "materialsRepo"
    if not isinstance(value, Mapping) or set(value) != set(members(key)):
        problems.add(
            key,
            "expected url and ref: `pulumi config set --path camphub:materialsRepo.url "
            "https://github.com/org/course.git` and `... materialsRepo.ref v1.0`.",
        )
        return None
    url, ref = str(value["url"]), str(value["ref"])
    parsed = urllib.parse.urlsplit(url)
    # Checked first, and the URL not repeated: it would show the credentials.
    if parsed.username or parsed.password:
        problems.add(
            f"{key}.url",
            "holds credentials, which would be stored in plain text and shown in the logs; "
            "use a public repository.",
        )
    elif parsed.scheme != "https" or not parsed.hostname:
        problems.add(f"{key}.url", f"{url!r} is not an https:// URL of a git repository.")
    if not _GIT_REF.match(ref):
        problems.add(f"{key}.ref", f"{ref!r} is not a tag, branch or commit.")
    return MaterialsRepo(url=url, ref=ref)


def _oauth_endpoints(value: Any, problems: _Problems) -> OAuthEndpoints | None:
    if value is None:
        return None
    key = "oauthEndpoints"
    names = members(key)
    if not isinstance(value, Mapping) or set(value) != set(names):
        problems.add(
            key,
            "expected all three of authorizeUrl, tokenUrl and userdataUrl "
            "(`pulumi config set --path camphub:oauthEndpoints.authorizeUrl http://...`), "
            "or none of them to sign in with Google.",
        )
        return None
    for name in names:
        url = str(value[name])
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            problems.add(f"{key}.{name}", f"{url!r} is not an absolute http:// or https:// URL.")
    authorize, token, userdata = (str(value[name]) for name in names)
    return OAuthEndpoints(authorize_url=authorize, token_url=token, userdata_url=userdata)


def _availability_zone(value: Any, problems: _Problems) -> str | None:
    """Its form only; whether the region has it and it offers the instance types is asked of
    AWS (infra/zones.py)."""
    like = "an availability zone like us-east-1b"
    return _of_form(value, _ZONE, "availabilityZone", like, problems)


def _subnet_id(value: Any, problems: _Problems) -> str | None:
    """Its form only; whether the subnet exists and its zone serves the camp is asked of AWS
    (infra/network.py)."""
    like = (
        "a subnet id like subnet-0123456789abcdef0: give one of `aws ec2 describe-subnets "
        "--query 'Subnets[].SubnetId'`, or remove the setting "
        "(`pulumi config rm camphub:subnetId`) for a network of the camp's own"
    )
    return _of_form(value, _SUBNET_ID, "subnetId", like, problems)


def _check_no_example_values(config: CampConfig, problems: _Problems) -> None:
    """The example values the stack files and the README show, which only a stand-in provider
    (a rehearsal) may keep: with Google they would fail later and obscurely (Google refuses the
    client, Route 53 has no such zone, SSH never gets through)."""
    if _EXAMPLE_CLIENT_ID.match(config.oauth_client_id):
        problems.add(
            "oauthClientId",
            f"{config.oauth_client_id} is the example's placeholder. Copy the client ID of your "
            "Google OAuth client: `pulumi config set camphub:oauthClientId "
            '<id>.apps.googleusercontent.com` (README.md, "Before the first `pulumi up`").',
        )
    for cidr in config.ssh_allowed_cidrs:
        _check_real_address(cidr, problems)
    domain = config.domain
    if domain is None:
        return
    fixes = {
        "domain": (
            domain.name,
            "Set the hub's host name in your own domain (`pulumi config set camphub:domain "
            "jupyter.<your domain>`), or `pulumi config rm camphub:domain` to serve the hub on "
            "its IP address (Google signs in only to a host name).",
        ),
        "hostedZone": (
            domain.hosted_zone,
            "Set the Route 53 zone that holds your domain (`pulumi config set camphub:hostedZone "
            "<your domain>`), or `pulumi config rm camphub:hostedZone` if Route 53 does not "
            "host it.",
        ),
        "letsEncryptEmail": (
            domain.lets_encrypt_email.rpartition("@")[2],
            "Let's Encrypt sends its certificate notices there: `pulumi config set "
            "camphub:letsEncryptEmail <you>@<your domain>`.",
        ),
    }
    for key, (name, fix) in fixes.items():
        if name and _is_example_domain(name):
            problems.add(key, f"{name} is an example name, reserved for documentation. {fix}")


def _check_real_address(cidr: str, problems: _Problems) -> None:
    """AWS sees the organizer's public address: an example or private range never matches it."""
    network = ipaddress.ip_network(cidr)
    fix = (
        "Give the public address of the network you run `pulumi up` from "
        "(`curl https://checkip.amazonaws.com` prints it): "
        "`pulumi config set --path 'camphub:sshAllowedCidrs[0]' <that address>/32`."
    )
    if any(network.subnet_of(n) for n in _EXAMPLE_NETWORKS if n.version == network.version):
        problems.add("sshAllowedCidrs", f"{cidr} is an example range, nobody's address. {fix}")
    elif not network.is_global:
        problems.add(
            "sshAllowedCidrs",
            f"{cidr} is a private range; AWS sees your network's public address instead. {fix}",
        )


def _is_example_domain(name: str) -> bool:
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith(f".{d}") for d in _EXAMPLE_DOMAINS)


def _ami(value: Any, problems: _Problems) -> str | None:
    return _of_form(value, _AMI_ID, "ami", "an AMI id like ami-0123456789abcdef0", problems)


def _of_form(value: Any, form: re.Pattern, key: str, like: str, problems: _Problems) -> str | None:
    """An optional text setting that must match `form` (None when unset or not matching)."""
    if value is None:
        return None
    if not form.match(str(value)):
        problems.add(key, f"{value!r} is not {like}.")
        return None
    return str(value)
