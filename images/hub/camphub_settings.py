"""The hub's settings: the one description of hub-settings.json and of the secret files beside it.

The Pulumi program builds a `HubSettings` and writes it with `to_json` (infra/hub_settings.py,
which loads this very file from the image's build context); the hub reads it with `load`
(jupyterhub_config.py, beside this file in the image); the tests import it too. Nothing secret
goes in the settings: secrets are root-only files of their own, named in SECRET_NAMES.

Each section is a frozen dataclass; each field's meaning is its `doc` metadata. A field without a
default is required: absent or null, it stops the hub with a SettingsError naming the dotted key
(`notebook.image`). A field with a default is optional: absent or null, it takes the default.
The hub image has Python's standard library only, so this file does too.
"""

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

# The secret files, one each in paths.secrets_dir (0600, root), written by install-secrets.
OAUTH_CLIENT_SECRET = "oauth_client_secret"  # Google's OAuth client secret
COOKIE_SECRET = "cookie_secret"  # hex; signs the hub's cookies
PROXY_AUTH_TOKEN = "proxy_auth_token"  # between the hub and configurable-http-proxy
USERLIST_SYNC_TOKEN = "userlist_sync_token"  # the userlist sync's API token, 8 to 64 characters
SECRET_NAMES = (OAUTH_CLIENT_SECRET, COOKIE_SECRET, PROXY_AUTH_TOKEN, USERLIST_SYNC_TOKEN)

# Processes and threads in one student's container: several kernels with their math libraries'
# thread pools fit many times over; a fork bomb does not.
DEFAULT_PIDS_LIMIT = 1024
# JupyterHub's own default for how long a started server may take to answer.
DEFAULT_HTTP_TIMEOUT_SECONDS = 120


class SettingsError(Exception):
    """The settings, the class list or a secret file is missing or malformed."""


def required(doc):
    return field(metadata={"doc": doc})


def optional(default, doc, *, written_at_default=True):
    """`written_at_default=False`: left out of the file while it holds its default, for a knob
    the program never turns (writing it would change the file, and so restart every hub)."""
    return field(default=default, metadata={"doc": doc, "written_at_default": written_at_default})


@dataclass(frozen=True)
class OAuth:
    """Google sign-in."""

    client_id: str = required("The OAuth client's id.")
    callback_url: str = required("<public_url>/hub/oauth_callback.")
    hosted_domains: tuple[str, ...] = optional((), "Google Workspace domains; empty: any account.")
    # Set only where a test OpenID Connect provider stands in for Google.
    authorize_url: str | None = optional(None, "None: Google's own authorize endpoint.")
    token_url: str | None = optional(None, "None: Google's own token endpoint.")
    userdata_url: str | None = optional(None, "None: Google's own user info endpoint.")


@dataclass(frozen=True)
class Notebook:
    """Every student's server: one swarm service on a worker."""

    image: str = required("The notebook image, built on every worker: camphub/notebook:<hash>.")
    mem_limit: str = required("Memory a server may use, as Docker writes it: '2G'.")
    mem_guarantee: str = required("Memory reserved on the worker, which decides placement.")
    cpu_limit: float = required("CPUs a server may use.")
    cpu_guarantee: float = required("CPUs reserved on the worker, which decides placement.")
    idle_timeout_seconds: int = field(
        metadata={"doc": "An idle server stops after this long; 0: no idle culler.", "minimum": 0}
    )
    start_timeout_seconds: int = required("How long a server may take to start.")
    http_timeout_seconds: int = optional(
        DEFAULT_HTTP_TIMEOUT_SECONDS,
        "How long a started server may take to answer (the program always sets its own).",
    )
    pids_limit: int = optional(
        DEFAULT_PIDS_LIMIT,
        "Processes and threads in one server's container; 0: no limit.",
        written_at_default=False,
    )


@dataclass(frozen=True)
class Swarm:
    """Where students' servers run and how they call the hub back."""

    network: str = required("The overlay network the hub and every server join.")
    placement_constraints: tuple[str, ...] = required("Swarm constraints: on the workers.")
    hub_address: str = required("The hub's fixed address on the overlay: servers call it there.")
    hub_api_port: int = required("The hub API's port on the overlay network.")
    proxy_address: str = required("The proxy's fixed address on the overlay.")


@dataclass(frozen=True)
class Homes:
    """The homes volume, made and filled by the NFS server (scripts/nfs-homes), mounted by the hub
    at the same path. The hub never touches a home: it mounts a student's home read-write at the
    notebook image's home, and that student's own <host_dir>/<snapshots_dirname>/<home> and
    <host_dir>/<usage_dirname>/<home> read-only."""

    host_dir: str = required("Where the homes are, on the hub and every worker.")
    snapshots_dirname: str = required("The snapshots' directory beside the homes.")
    snapshots_container_dir: str = required("Where a student sees their own snapshots.")
    usage_dirname: str = required("The usage reports' directory beside the homes.")
    usage_container_dir: str = required("Where a student sees their own usage.")


@dataclass(frozen=True)
class Hub:
    """The hub itself."""

    port: int = required("The proxy's public port nginx reaches (published on 127.0.0.1 only).")
    proxy_api_port: int = required("The proxy's API port, on its overlay address, for the hub.")
    state_dir: str = required(
        "The host's state directory, mounted at the same path: the sqlite database lives there, "
        "so a restarted or replaced hub container loses nothing."
    )
    concurrent_spawn_limit: int = required("Starts in progress at once; 0: no limit.")
    active_server_limit: int = required("Servers running at once; 0: no limit.")


@dataclass(frozen=True)
class Paths:
    """Files beside the settings, on the hub machine and at the same paths in the container."""

    userlist: str = required('The class list: {"users": [{"name": email, "admin": bool}]}.')
    secrets_dir: str = required("The directory of the secret files named in SECRET_NAMES.")

    def secret_file(self, name):
        return Path(self.secrets_dir) / name


@dataclass(frozen=True)
class CourseFiles:
    """A directory beside the homes, on the same volume, published by the NFS server and mounted
    read-only into every student's container."""

    host_dir: str = required("Where it is on the hub and every worker.")
    container_dir: str = required("Where a student sees it.")


@dataclass(frozen=True)
class HubSettings:
    """Everything jupyterhub_config.py needs beyond the class list and the secrets."""

    public_url: str = required("The hub's address, as students type it: https://camp.example.org.")
    oauth: OAuth = required("Google sign-in.")
    notebook: Notebook = required("Every student's server.")
    swarm: Swarm = required("Where servers run.")
    homes: Homes = required("The homes volume.")
    hub: Hub = required("The hub itself.")
    paths: Paths = required("The class list and the secrets.")
    materials: CourseFiles | None = optional(None, "The course materials; None: none mounted.")
    shared_data: CourseFiles | None = optional(None, "The shared data; None: none mounted.")
    user_subdomains: bool = optional(
        False,
        "Each student's server on a host of its own under public_url's, its own origin.",
        written_at_default=False,
    )


def load(path):
    """The settings in the JSON file at `path`, validated."""
    return parse(read_json(path, "hub settings file"), path)


def read_json(path, what):
    """A JSON file's content, or a SettingsError saying which file and what is wrong."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise SettingsError(f"{what} {path} cannot be read: {error}") from None


def parse(values, source):
    """`values` (the file's JSON) as HubSettings; `source` names the file in errors."""
    if not isinstance(values, dict):
        raise SettingsError(f"hub settings file {source} must hold a JSON object")
    return _section(HubSettings, values, "", source)


def as_dict(settings):
    """The JSON-ready form of `settings`: every field, but for knobs left at their default."""
    written = {}
    for setting in dataclasses.fields(settings):
        value = getattr(settings, setting.name)
        if not setting.metadata.get("written_at_default", True) and value == setting.default:
            continue
        if dataclasses.is_dataclass(value):
            value = as_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        written[setting.name] = value
    return written


def to_json(settings):
    """The settings file's content, exactly as the program writes it: start-hub restarts the hub
    when a byte of it changes."""
    return json.dumps(as_dict(settings), indent=2, sort_keys=True)


def _section(kind, values, prefix, source):
    hints = typing.get_type_hints(kind)
    given = {}
    for setting in dataclasses.fields(kind):
        key = prefix + setting.name
        value = values.get(setting.name)
        if value is None:
            if setting.default is dataclasses.MISSING:
                raise SettingsError(f"{source}: required setting {key!r} is missing")
            continue
        given[setting.name] = _value(hints[setting.name], value, key, source)
        minimum = setting.metadata.get("minimum")
        if minimum is not None and given[setting.name] < minimum:
            raise SettingsError(f"{source}: {key!r} must be >= {minimum}")
    return kind(**given)


def _value(kind, value, key, source):
    """`value` checked against the annotation `kind` (None already handled by the caller)."""
    kind = _without_none(kind)
    if dataclasses.is_dataclass(kind):
        return _section(kind, _checked(key, value, dict, source), key + ".", source)
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        items = _checked(key, value, list, source)
        return tuple(_value(item, v, f"{key}[{i}]", source) for i, v in enumerate(items))
    if kind is float:
        return float(_checked(key, value, (int, float), source))
    return _checked(key, value, kind, source)


def _without_none(kind):
    """X from `X | None`."""
    if isinstance(kind, types.UnionType):
        (kind,) = (k for k in typing.get_args(kind) if k is not type(None))
    return kind


def _checked(key, value, kind, source):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a limit of `true` is a typo, not a number.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise SettingsError(
            f"{source}: setting {key!r} must be {names}, got {type(value).__name__} {value!r}"
        )
    return value
