"""camphub's JupyterHub configuration: every value comes from files written at bootstrap.

Sources, read once when the hub starts:

1. The settings file (non-secret JSON, written by the Pulumi program) at $CAMPHUB_SETTINGS,
   default /etc/camphub/hub-settings.json. Its shape, what each key means and which are optional
   is camphub_settings.py, beside this file: read through it, a missing or mistyped key stops the
   hub with a SettingsError naming it (`notebook.image`).
2. The class list, at the settings' paths.userlist.
3. The secrets, one file each in the settings' paths.secrets_dir (camphub_settings.SECRET_NAMES).

Usernames are the full lower-cased Google email (`Alice@Example.org` signs in as
`alice@example.org`). Docker names and paths cannot hold '@' or '.', so a student's service and
home directory use DockerSpawner's escaped form of the username: lower-case letters and digits
kept, every other character written as '-' plus its hex code ('-' itself too), so
`alice@example.org` becomes `alice-40example-2eorg`: service `jupyter-alice-40example-2eorg`,
home `<homes.host_dir>/alice-40example-2eorg`. The escaping is injective, so two students can
never share a home, nor see each other's snapshots or usage.

A missing or malformed file stops the hub with a SettingsError naming it.
`configure(c, settings)` applies one `configure_*` function per section; the file is also
importable, which is how the tests drive it.
"""

import os
import sys
from pathlib import Path

# Beside this file in the image (on PYTHONPATH there; on pytest's pythonpath in the tests).
import camphub_settings
from camphub_settings import (
    COOKIE_SECRET,
    OAUTH_CLIENT_SECRET,
    PROXY_AUTH_TOKEN,
    USERLIST_SYNC_TOKEN,
    SettingsError,
    read_json,
)

DEFAULT_SETTINGS_FILE = "/etc/camphub/hub-settings.json"

# Where the notebook image (images/notebook/Dockerfile) keeps jovyan's home.
NOTEBOOK_HOME = "/home/jovyan"

# SwarmSpawner with a process limit per container, the swarm's word on which servers run, a fast
# "no room" and routing to the running task (camphub_spawner.py, beside this file).
SPAWNER_CLASS = "camphub_spawner.CamphubSwarmSpawner"

# How often the hub checks the proxy's routes (and the servers' activity), in seconds.
ROUTES_CHECK_SECONDS = 60

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


def load_settings(path=None):
    """The settings from `path`, else from $CAMPHUB_SETTINGS, else the default location."""
    return camphub_settings.load(
        path or os.environ.get("CAMPHUB_SETTINGS") or DEFAULT_SETTINGS_FILE
    )


def load_class_list(settings):
    """The class list as {username: is_admin}, usernames lower-cased full emails."""
    path = settings.paths.userlist
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


def read_secret(settings, name):
    """The content of secret file `name` in the secrets directory, surrounding space removed."""
    path = settings.paths.secret_file(name)
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
    state_dir = Path(settings.hub.state_dir)
    api_port = settings.swarm.hub_api_port
    c.JupyterHub.public_url = settings.public_url
    if settings.user_subdomains:
        # A page a student serves runs on their own origin, never the hub's (README, security).
        # Routes then carry a host: the proxy runs with --host-routing (start-hub).
        c.JupyterHub.subdomain_host = settings.public_url
    # nginx on the host terminates TLS and reaches the proxy's port, published on 127.0.0.1 only.
    c.JupyterHub.bind_url = f"http://0.0.0.0:{settings.hub.port}"
    # Students' servers on the overlay network call the hub API at the hub's fixed address there,
    # the same after every restart of the hub container (infra/layout.py says why not its name).
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{api_port}"
    c.JupyterHub.hub_connect_url = f"http://{settings.swarm.hub_address}:{api_port}"
    c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(settings.paths.secret_file(COOKIE_SECRET))
    # Restarting the hub (a new image, a rebooted machine) must not stop students' servers.
    c.JupyterHub.cleanup_servers = False
    # ...and it answers only once it has checked the servers it finds running. By default it
    # answers after 10 s and checks on, and meanwhile stopping a server it is still checking (the
    # class-list sync, the organizer) fails with HTTP 500: JupyterHub refuses to stop a server
    # "pending check". A check takes up to the spawner's http_timeout; start-hub waits longer.
    c.JupyterHub.init_spawners_timeout = -1
    c.JupyterHub.concurrent_spawn_limit = settings.hub.concurrent_spawn_limit
    c.JupyterHub.active_server_limit = settings.hub.active_server_limit
    # /hub/metrics only for tokens with read:metrics, which the admin role holds.
    c.JupyterHub.authenticate_prometheus = True


def configure_proxy(c, settings):
    """configurable-http-proxy runs in a container of its own, started by start-hub before the
    hub and never by it: the routes to students' servers outlive a hub restart, and the hub
    reconciles them with its database when it starts."""
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = (
        f"http://{settings.swarm.proxy_address}:{settings.hub.proxy_api_port}"
    )
    c.ConfigurableHTTPProxy.auth_token = read_secret(settings, PROXY_AUTH_TOKEN)
    # The routes live in the proxy's memory. Should Docker restart the proxy on its own (it
    # crashed), the hub puts them back at its next check, which comes with each look at the
    # servers' activity: every minute rather than JupyterHub's five.
    c.JupyterHub.last_activity_interval = ROUTES_CHECK_SECONDS


def configure_authenticator(c, settings, class_list):
    """Google sign-in for the class list only; the username is the full lower-cased email."""
    c.JupyterHub.authenticator_class = "oauthenticator.google.GoogleOAuthenticator"
    google = c.GoogleOAuthenticator
    google.client_id = settings.oauth.client_id
    google.client_secret = read_secret(settings, OAUTH_CLIENT_SECRET)
    google.oauth_callback_url = settings.oauth.callback_url
    google.hosted_domain = list(settings.oauth.hosted_domains)
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
        url = getattr(settings.oauth, trait)
        if url:
            setattr(google, trait, url)


def student_mounts(settings):
    """The student's own snapshots and usage, read-only: the NFS server makes and fills them."""
    homes = settings.homes
    return {
        f"{homes.host_dir}/{homes.snapshots_dirname}/{{username}}": homes.snapshots_container_dir,
        f"{homes.host_dir}/{homes.usage_dirname}/{{username}}": homes.usage_container_dir,
    }


def course_files_mounts(settings):
    """Materials and shared data, read-only in every container, each when its section is set."""
    sections = (settings.shared_data, settings.materials)
    return {section.host_dir: section.container_dir for section in sections if section}


def configure_spawner(c, settings):
    """One swarm service per student on a worker: the student's home, their snapshots and usage,
    the course files, and nothing else."""
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    notebook = settings.notebook
    c.CamphubSwarmSpawner.pids_limit = notebook.pids_limit
    spawner = c.SwarmSpawner
    spawner.image = notebook.image
    # Set, so the hub does not inspect the image on the manager, where it is never built.
    spawner.cmd = ["jupyterhub-singleuser"]
    # Every worker has loaded the hub's build (fetch-image); there is no registry to pull from.
    spawner.pull_policy = "skip"
    # A student's own ~/.jupyter cannot reconfigure the server the hub and their teachers talk
    # to (its headers, its extensions, its auth): the server reads the image's settings only.
    spawner.disable_user_config = True
    spawner.network_name = settings.swarm.network
    # Servers are reached at their task's address on the overlay (camphub_spawner.py); dnsrr
    # because nothing may rely on IPVS VIPs.
    spawner.use_internal_ip = True
    spawner.extra_endpoint_spec = {"mode": "dnsrr"}
    # The server runs as jovyan and needs no Linux capability; dropping them all also leaves
    # the image's setuid programs powerless.
    spawner.extra_container_spec = {"cap_drop": ["ALL"]}
    spawner.extra_placement_spec = {"constraints": list(settings.swarm.placement_constraints)}
    # Guarantees become swarm reservations, which decide which worker has room for a student.
    spawner.mem_limit = notebook.mem_limit
    spawner.mem_guarantee = notebook.mem_guarantee
    spawner.cpu_limit = notebook.cpu_limit
    spawner.cpu_guarantee = notebook.cpu_guarantee
    spawner.start_timeout = notebook.start_timeout_seconds
    spawner.http_timeout = notebook.http_timeout_seconds
    host_dir = settings.homes.host_dir
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
    token = read_api_token(settings, USERLIST_SYNC_TOKEN)
    # Naming the admin role's services adds them; its scopes and admin_users stay JupyterHub's.
    role = {"name": ADMIN_ROLE, "services": [USERLIST_SYNC]}
    return {"name": USERLIST_SYNC, "api_token": token}, role


def configure_services(c, settings):
    """The userlist sync, and the idle culler unless the idle timeout is 0."""
    timeout = settings.notebook.idle_timeout_seconds
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
