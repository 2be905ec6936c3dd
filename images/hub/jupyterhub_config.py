"""camphub's JupyterHub configuration: every value comes from files written at bootstrap.

Sources, read once when the hub starts:

1. The settings file (non-secret JSON, written by the Pulumi program): its path is the
   environment variable CAMPHUB_SETTINGS, default /etc/camphub/hub-settings.json. Every key
   below is required unless marked optional; an optional key may be absent or null::

    {"public_url": "https://camp.example.org",
     "oauth": {"client_id": "...",
               "callback_url": "https://camp.example.org/hub/oauth_callback",
               "hosted_domains": [],             # optional; empty: any Google account
               "authorize_url": null,            # optional; null: Google's own endpoints.
               "token_url": null,                #   Set only where a test OpenID Connect
               "userdata_url": null},            #   provider stands in for Google.
     "notebook": {"image": "camphub/notebook:<hash>",
                  "mem_limit": "2G", "mem_guarantee": "1G",
                  "cpu_limit": 1.0, "cpu_guarantee": 0.25,
                  "idle_timeout_seconds": 3600,  # 0: no idle culler
                  "start_timeout_seconds": 600,
                  "http_timeout_seconds": 120,   # optional, default 120
                  "pids_limit": 1024},           # optional, default 1024; 0: no limit
     "swarm": {"network": "camphub", "placement_constraints": ["node.role == worker"],
               "hub_hostname": "camphub-hub", "hub_api_port": 8081},
     "homes": {"host_dir": "/srv/camphub/homes",
               "snapshots_dirname": ".camphub-snapshots",
               "snapshots_container_dir": "/srv/camp/snapshots",
               "usage_dirname": ".camphub-usage",
               "usage_container_dir": "/srv/camp/usage"},
     "hub": {"port": 8000, "state_dir": "/var/lib/camphub/hub",
             "concurrent_spawn_limit": 30, "active_server_limit": 0},
     "paths": {"userlist": "/etc/camphub/userlist.json",
               "secrets_dir": "/etc/camphub/secrets"},
     "materials": {"host_dir": "/srv/camphub/homes/.camphub-materials",   # optional
                   "container_dir": "/srv/camp/materials"},
     "shared_data": {"host_dir": "/srv/camphub/homes/.camphub-shared-data",  # optional
                     "container_dir": "/srv/camp/data"}}

   hub.state_dir is the host's state directory, mounted into the hub container at the same
   path: the sqlite database lives there, so a restarted or replaced hub container loses
   nothing.

   The hub never touches the homes (the NFS export squashes its root like every client's): the
   NFS server makes every home, with its limit, its snapshots and usage directories, and copies
   into it the materials a student lacks (scripts/nfs-homes). The hub only mounts them: a
   student's home read-write at the notebook image's home, and read-only
   <host_dir>/<snapshots_dirname>/<home> at snapshots_container_dir and
   <host_dir>/<usage_dirname>/<home> at usage_container_dir, that student's own only.

   materials and shared_data are directories beside the homes, on the same volume, published by
   the NFS server: each is mounted read-only into every student's container at its
   container_dir.

2. The class list, at paths.userlist:
   {"users": [{"name": "alice@example.org", "admin": false}, ...]}.

3. The secrets, one file each in paths.secrets_dir (0600, root): oauth_client_secret,
   cookie_secret (hex), proxy_auth_token, userlist_sync_token (8 to 64 characters: JupyterHub
   rejects longer tokens).

Usernames are the full lower-cased Google email (`Alice@Example.org` signs in as
`alice@example.org`). Docker names and paths cannot hold '@' or '.', so a student's service and
home directory use DockerSpawner's escaped form of the username: lower-case letters and digits
kept, every other character written as '-' plus its hex code ('-' itself too), so
`alice@example.org` becomes `alice-40example-2eorg`: service `jupyter-alice-40example-2eorg`,
home `<homes.host_dir>/alice-40example-2eorg`. The escaping is injective, so two students can
never share a home, nor see each other's snapshots or usage.

A missing or mistyped key, or a missing file, stops the hub with a SettingsError naming it.
`configure(c, settings)` applies one `configure_*` function per section; the file is also
importable, which is how the tests drive it.
"""

import json
import os
import sys
from pathlib import Path

DEFAULT_SETTINGS_FILE = "/etc/camphub/hub-settings.json"

# Where the notebook image (images/notebook/Dockerfile) keeps jovyan's home.
NOTEBOOK_HOME = "/home/jovyan"

# SwarmSpawner with a process limit per container and routing to the running task
# (camphub_spawner.py, beside this file).
SPAWNER_CLASS = "camphub_spawner.CamphubSwarmSpawner"
# Processes and threads in one student's container: several kernels with their math libraries'
# thread pools fit many times over; a fork bomb does not.
DEFAULT_PIDS_LIMIT = 1024

# Inside the hub container's own filesystem, gone with the container (see configure_hub).
PROXY_PID_FILE = "/run/jupyterhub-proxy.pid"

# Hub-managed and external services; the names appear in logs and in the admin panel.
IDLE_CULLER = "idle-culler"
USERLIST_SYNC = "userlist-sync"

# The least the culler needs: it reads activity and stops servers; it never culls users.
IDLE_CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
# The userlist sync adds, deletes, promotes and demotes users. JupyterHub lets only an admin
# grant or revoke admin (even with admin:users, its API answers 403), so the sync is in the
# built-in admin role. Its token lives in a root-only file on the hub machine, where root
# already commands the whole swarm through docker.sock, so this widens nobody's reach.
ADMIN_ROLE = "admin"

# JupyterHub compares at most this many characters of a token (jupyterhub.utils).
TOKEN_LENGTHS = range(8, 65)

# Requests to Google (token, user info) in flight at once: a whole class signing in together.
SIGN_IN_REQUESTS_AT_ONCE = 200
# How long one of them may take. Past tornado's default of 20 s the student's sign-in ends in an
# error page and starts over: when 100 signed in at once on the benchmark's 2 cores, 16 of the
# provider's answers took longer (bench/RESULTS.md). A slow answer is better than none.
SIGN_IN_REQUEST_TIMEOUT_SECONDS = 60


class SettingsError(Exception):
    """The settings, the class list or a secret file is missing or malformed."""


class Settings:
    """The parsed settings file, read through dotted keys so errors can name the key."""

    def __init__(self, values, source):
        self.values = values
        self.source = source

    def require(self, key, kind):
        """The value at dotted `key`, which must be present, non-null and of type `kind`."""
        value = self._lookup(key)
        if value is None:
            raise SettingsError(f"{self.source}: required setting {key!r} is missing")
        return self._checked(key, value, kind)

    def optional(self, key, kind, default=None):
        """The value at dotted `key`, or `default` when it is absent or null."""
        value = self._lookup(key)
        if value is None:
            return default
        return self._checked(key, value, kind)

    def _lookup(self, key):
        node = self.values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def _checked(self, key, value, kind):
        # bool is an int in Python; a limit of `true` is a typo, not a number.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise SettingsError(
                f"{self.source}: setting {key!r} must be {_kind_names(kind)}, "
                f"got {type(value).__name__} {value!r}"
            )
        return value


def _kinds(kind):
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_names(kind):
    return " or ".join(k.__name__ for k in _kinds(kind))


def read_json(path, what):
    """A JSON file's content, or a SettingsError saying which file and what is wrong."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise SettingsError(f"{what} {path} cannot be read: {error}") from None


def load_settings(path=None):
    """The settings from `path`, else from $CAMPHUB_SETTINGS, else the default location."""
    path = path or os.environ.get("CAMPHUB_SETTINGS") or DEFAULT_SETTINGS_FILE
    values = read_json(path, "hub settings file")
    if not isinstance(values, dict):
        raise SettingsError(f"hub settings file {path} must hold a JSON object")
    return Settings(values, path)


def load_class_list(settings):
    """The class list as {username: is_admin}, usernames lower-cased full emails."""
    path = settings.require("paths.userlist", str)
    content = read_json(path, "class list")
    users = content.get("users") if isinstance(content, dict) else None
    if not isinstance(users, list):
        raise SettingsError(f"class list {path} must be an object with a 'users' list")
    class_list = {}
    for position, entry in enumerate(users, start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "@" not in name:
            raise SettingsError(f"class list {path}: entry {position} has no email 'name'")
        class_list[name.strip().lower()] = entry.get("admin") is True
    return class_list


def secret_path(settings, name):
    """Where secret file `name` lives: the secrets directory is a setting."""
    return Path(settings.require("paths.secrets_dir", str)) / name


def read_secret(settings, name):
    """The content of secret file `name` in the secrets directory, surrounding space removed."""
    path = secret_path(settings, name)
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        raise SettingsError(f"secret file {path} does not exist") from None
    except OSError as error:
        raise SettingsError(f"secret file {path} cannot be read: {error}") from None
    if not value:
        raise SettingsError(f"secret file {path} is empty")
    return value


def read_api_token(settings, name):
    """A secret used as a JupyterHub API token, whose length JupyterHub bounds."""
    token = read_secret(settings, name)
    if len(token) not in TOKEN_LENGTHS:
        raise SettingsError(
            f"secret file {name} must hold {TOKEN_LENGTHS.start} to {TOKEN_LENGTHS.stop - 1} "
            f"characters, it holds {len(token)}"
        )
    return token


def configure_hub(c, settings):
    """Where the hub listens, where it keeps its state, and how much it takes on at once."""
    state_dir = Path(settings.require("hub.state_dir", str))
    api_port = settings.require("swarm.hub_api_port", int)
    hub_hostname = settings.require("swarm.hub_hostname", str)
    c.JupyterHub.public_url = settings.require("public_url", str)
    # nginx on the host terminates TLS; the port is published on 127.0.0.1 only.
    c.JupyterHub.bind_url = f"http://0.0.0.0:{settings.require('hub.port', int)}"
    # Students' servers on the overlay network call the hub API by the hub container's name.
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{api_port}"
    c.JupyterHub.hub_connect_url = f"http://{hub_hostname}:{api_port}"
    c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
    # The proxy lives and dies with this container. A pid file kept in the state directory would
    # outlive it, and the next container's hub would try to stop whatever process now has that
    # pid, and refuse to start when it cannot.
    c.ConfigurableHTTPProxy.pid_file = PROXY_PID_FILE
    c.JupyterHub.cookie_secret_file = str(secret_path(settings, "cookie_secret"))
    # Restarting the hub (a new image, a rebooted machine) must not stop students' servers.
    c.JupyterHub.cleanup_servers = False
    # ...and it answers only once it has checked the servers it finds running. By default it
    # answers after 10 s and checks on, and meanwhile stopping a server it is still checking (the
    # class-list sync, the organizer) fails with HTTP 500: JupyterHub refuses to stop a server
    # "pending check". A check takes up to the spawner's http_timeout; start-hub waits longer.
    c.JupyterHub.init_spawners_timeout = -1
    c.JupyterHub.concurrent_spawn_limit = settings.require("hub.concurrent_spawn_limit", int)
    c.JupyterHub.active_server_limit = settings.require("hub.active_server_limit", int)
    # /hub/metrics only for tokens with read:metrics, which the admin role holds.
    c.JupyterHub.authenticate_prometheus = True


def configure_proxy(c, settings):
    """configurable-http-proxy runs inside the hub container, started by the hub."""
    c.ConfigurableHTTPProxy.auth_token = read_secret(settings, "proxy_auth_token")


def configure_authenticator(c, settings, class_list):
    """Google sign-in for the class list only; the username is the full lower-cased email."""
    c.JupyterHub.authenticator_class = "oauthenticator.google.GoogleOAuthenticator"
    google = c.GoogleOAuthenticator
    google.client_id = settings.require("oauth.client_id", str)
    google.client_secret = read_secret(settings, "oauth_client_secret")
    google.oauth_callback_url = settings.require("oauth.callback_url", str)
    google.hosted_domain = settings.optional("oauth.hosted_domains", list, [])
    # GoogleOAuthenticator strips "@domain" when one hosted domain is set; camphub never does,
    # so usernames stay unique across domains. The email claim is lower-cased by
    # Authenticator.normalize_username.
    google.strip_domain = False
    google.username_claim = "email"
    google.allowed_users = set(class_list)
    google.admin_users = {name for name, is_admin in class_list.items() if is_admin}
    # Students added later through the API (the userlist sync) can sign in without a restart.
    google.allow_existing_users = True
    google.allow_all = False
    google.http_request_kwargs = {"request_timeout": SIGN_IN_REQUEST_TIMEOUT_SECONDS}
    for trait in ("authorize_url", "token_url", "userdata_url"):
        url = settings.optional(f"oauth.{trait}", str)
        if url:
            setattr(google, trait, url)


def student_mounts(settings):
    """The student's own snapshots and usage, read-only: the NFS server makes and fills them."""
    homes = settings.require("homes.host_dir", str)
    mounts = {}
    for kind in ("snapshots", "usage"):
        dirname = settings.require(f"homes.{kind}_dirname", str)
        container_dir = settings.require(f"homes.{kind}_container_dir", str)
        mounts[f"{homes}/{dirname}/{{username}}"] = container_dir
    return mounts


def course_files_mounts(settings):
    """Materials and shared data, read-only in every container, each when its section is set."""
    mounts = {}
    for section in ("shared_data", "materials"):
        if settings.optional(section, dict):
            host_dir = settings.require(f"{section}.host_dir", str)
            mounts[host_dir] = settings.require(f"{section}.container_dir", str)
    return mounts


def configure_spawner(c, settings):
    """One swarm service per student on a worker: the student's home, their snapshots and usage,
    the course files, and nothing else."""
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    c.CamphubSwarmSpawner.pids_limit = settings.optional(
        "notebook.pids_limit", int, DEFAULT_PIDS_LIMIT
    )
    spawner = c.SwarmSpawner
    spawner.image = settings.require("notebook.image", str)
    # Set, so the hub does not inspect the image on the manager, where it is never built.
    spawner.cmd = ["jupyterhub-singleuser"]
    # Images are built on every worker; there is no registry to pull from.
    spawner.pull_policy = "skip"
    spawner.network_name = settings.require("swarm.network", str)
    # Servers are reached at their task's address on the overlay (camphub_spawner.py); dnsrr
    # because nothing may rely on IPVS VIPs.
    spawner.use_internal_ip = True
    spawner.extra_endpoint_spec = {"mode": "dnsrr"}
    # The server runs as jovyan and needs no Linux capability; dropping them all also leaves
    # the image's setuid programs powerless.
    spawner.extra_container_spec = {"cap_drop": ["ALL"]}
    spawner.extra_placement_spec = {
        "constraints": settings.require("swarm.placement_constraints", list)
    }
    # Guarantees become swarm reservations, which decide which worker has room for a student.
    spawner.mem_limit = settings.require("notebook.mem_limit", str)
    spawner.mem_guarantee = settings.require("notebook.mem_guarantee", str)
    spawner.cpu_limit = float(settings.require("notebook.cpu_limit", (int, float)))
    spawner.cpu_guarantee = float(settings.require("notebook.cpu_guarantee", (int, float)))
    spawner.start_timeout = settings.require("notebook.start_timeout_seconds", int)
    spawner.http_timeout = settings.optional("notebook.http_timeout_seconds", int, 120)
    host_dir = settings.require("homes.host_dir", str)
    # {username} is the escaped username (see the module docstring). Stopping a server removes
    # its service (SwarmSpawner always does); the home stays on the homes volume.
    spawner.volumes = {f"{host_dir}/{{username}}": NOTEBOOK_HOME}
    # DockerSpawner 14 formats read_only_volumes' host paths exactly like volumes' (both through
    # _volumes_to_binds and format_volume_name), so {username} is the escaped name here too.
    spawner.read_only_volumes = {**student_mounts(settings), **course_files_mounts(settings)}
    spawner.notebook_dir = NOTEBOOK_HOME
    spawner.default_url = "/lab"


def idle_culler(timeout):
    """The hub-managed idle culler service and its role, for an idle timeout in seconds."""
    # Look twice per timeout so a server goes within 1.5 timeouts, but at most every 5 minutes.
    cull_every = max(1, min(timeout // 2, 300))
    command = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={timeout}",
        f"--cull-every={cull_every}",
    ]
    role = {"name": IDLE_CULLER, "scopes": IDLE_CULLER_SCOPES, "services": [IDLE_CULLER]}
    return {"name": IDLE_CULLER, "command": command}, role


def userlist_sync(settings):
    """The userlist sync: an external service known by its token, and its admin role."""
    token = read_api_token(settings, "userlist_sync_token")
    # Naming the admin role's services adds them; its scopes and admin_users stay JupyterHub's.
    role = {"name": ADMIN_ROLE, "services": [USERLIST_SYNC]}
    return {"name": USERLIST_SYNC, "api_token": token}, role


def configure_services(c, settings):
    """The userlist sync, and the idle culler unless the idle timeout is 0."""
    timeout = settings.require("notebook.idle_timeout_seconds", int)
    if timeout < 0:
        raise SettingsError(f"{settings.source}: 'notebook.idle_timeout_seconds' must be >= 0")
    pairs = [userlist_sync(settings)] + ([idle_culler(timeout)] if timeout else [])
    c.JupyterHub.services = [service for service, _ in pairs]
    c.JupyterHub.load_roles = [role for _, role in pairs]


def configure(c, settings):
    """Apply every section of `settings` (and the files it names) to the config object `c`."""
    configure_hub(c, settings)
    configure_proxy(c, settings)
    configure_authenticator(c, settings, load_class_list(settings))
    configure_spawner(c, settings)
    configure_services(c, settings)


def allow_a_class_of_sign_ins_at_once():
    """GoogleOAuthenticator fetches each student's token and user info with tornado's shared
    HTTP client, 10 requests at a time by default: when the whole class signs in at 9:00 the
    rest queue, and past 20 s fail with "599 Timeout in request queue" (bench/RESULTS.md)."""
    from tornado.httpclient import AsyncHTTPClient  # the hub's; this file's checks need stdlib

    AsyncHTTPClient.configure(None, max_clients=SIGN_IN_REQUESTS_AT_ONCE)


# JupyterHub executes this file with get_config() in its namespace; a test imports it instead.
if "get_config" in globals():
    allow_a_class_of_sign_ins_at_once()
    configure(globals()["get_config"](), load_settings())
