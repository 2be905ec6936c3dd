"""Where things live on the machines and how they reach each other.

The one source for the paths, ports and names that the program and the machine payloads share.
The program passes these to the bootstrap scripts as arguments and to the hub in its settings
file; no payload hard-codes them. docs/machines.md describes the same layout for people.
"""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The login user of Debian's AMIs; pulumi-command connects as this user and uses sudo.
LOGIN_USER = "admin"

# Each machine's SSH host key, made by the program (infra/host_key.py): the private half waits
# for the machine in SSM, at <parameters>/<instance id>, and sshd offers only it.
HOST_KEY_PARAMETERS = "/camphub/host-keys"
HOST_KEY_FILE = "/etc/ssh/camphub_host_ed25519_key"

# Delivered by CopyToRemote (scripts/, nginx/, images/<name>/; see infra/payload.py), owned by
# the login user.
PAYLOAD_DIR = "/opt/camphub"

# Hub configuration on the hub machine, mounted read-only into the hub container.
HUB_ETC_DIR = "/etc/camphub"
HUB_SETTINGS_FILE = f"{HUB_ETC_DIR}/hub-settings.json"
USERLIST_FILE = f"{HUB_ETC_DIR}/userlist.json"
SECRETS_DIR = f"{HUB_ETC_DIR}/secrets"
# The hub's own volume (infra/hub.py), which a replaced hub instance finds as its predecessor left
# it: JupyterHub's state (its sqlite database), nginx's self-signed certificate, and certbot's
# directory (accounts and certificates), linked from where certbot and nginx look for it.
HUB_VOLUME_DIR = "/var/lib/camphub"
HUB_STATE_DIR = f"{HUB_VOLUME_DIR}/hub"
HUB_TLS_DIR = f"{HUB_VOLUME_DIR}/tls"
LETSENCRYPT_DIR = "/etc/letsencrypt"  # certbot's default, where its timer and configure-nginx look

# Student homes: the NFS server's data volume, and where every other node mounts it.
NFS_EXPORT_DIR = "/srv/nfs/homes"
HOMES_MOUNT_DIR = "/srv/camphub/homes"
STUDENT_UID = 1000
STUDENT_GID = 100

# Course files beside the homes on the same volume, so every node that mounts the homes sees
# them. The names start with '.', which no home can: a home's name is an escaped username made
# of a-z, 0-9 and '-' only.
MATERIALS_DIRNAME = ".camphub-materials"
SHARED_DATA_DIRNAME = ".camphub-shared-data"
# Where a student's container sees them, read-only; the NFS server (scripts/nfs-homes) also
# copies the materials into <home>/materials, file by file, only where the student has no such file.
MATERIALS_CONTAINER_DIR = "/srv/camp/materials"
SHARED_DATA_CONTAINER_DIR = "/srv/camp/data"
MATERIALS_HOME_SUBDIR = "materials"
# Beside the homes too, made by scripts/nfs-homes: <dirname>/<home> holds that home's read-only
# snapshots, and its usage.json (bytes used and the limit). Each student's container mounts only
# its own, read-only, at the container dir; ~/snapshots links to SNAPSHOTS_CONTAINER_DIR.
SNAPSHOTS_DIRNAME = ".camphub-snapshots"
USAGE_DIRNAME = ".camphub-usage"
SNAPSHOTS_CONTAINER_DIR = "/srv/camp/snapshots"
USAGE_CONTAINER_DIR = "/srv/camp/usage"
# With camphub:materialsRepo, the NFS server keeps the repository here, on its root disk, and
# publishes the work tree instead of the delivered materials/ folder.
MATERIALS_REPO_GIT_DIR = "/var/lib/camphub/materials-repo.git"
MATERIALS_REPO_WORK_TREE = "/var/lib/camphub/materials-repo"

# The camp's own network (infra/network.py): its VPC, and the one subnet every machine is in.
# Private (RFC 1918), and clear of the swarm's overlay below and of Docker's bridges on the
# machines (172.17.0.0/16 and up); AWS's default VPCs are 172.31.0.0/16. A /24 holds the hub,
# the NFS server and the most workers a camp may have (infra/config_keys.py) many times over.
VPC_CIDR = "10.192.0.0/16"
SUBNET_CIDR = "10.192.0.0/24"

# The swarm and the hub.
OVERLAY_NETWORK = "camphub"
# The overlay's addresses. Tasks and nodes get theirs from the automatic range; the hub and the
# proxy have fixed ones below it, so a student's server always finds the hub at the same address,
# however often the hub container is recreated (a name would do only as well as every DNS cache
# on the way: the servers' resolver keeps Docker's answers for their 600 s TTL). Must not overlap
# the VPC or Docker's bridges (172.17.0.0/16 and up).
OVERLAY_SUBNET = "10.213.0.0/22"
OVERLAY_AUTOMATIC_RANGE = "10.213.2.0/23"
HUB_OVERLAY_ADDRESS = "10.213.0.2"
PROXY_OVERLAY_ADDRESS = "10.213.0.3"
HUB_CONTAINER = "camphub-hub"
# configurable-http-proxy, in a container of its own that outlives the hub's (scripts/start-hub).
PROXY_CONTAINER = "camphub-proxy"
HUB_PORT = 8000  # the proxy's public port, published on 127.0.0.1 only; nginx is the way in
PROXY_API_PORT = 8001  # on the proxy's overlay address, for the hub
HUB_API_PORT = 8081  # on the overlay network, for the students' servers

# The images the hub builds for the workers (the notebook image), as archives that the hub's nginx
# serves on its private address to the cluster's machines only (scripts/serve-images); each worker
# loads the one it runs from there (scripts/fetch-image). On the hub's root disk: it is a cache,
# built again by a new hub.
IMAGES_DIR = "/var/cache/camphub/images"
IMAGES_PORT = 8090

# The camp's landing pages on the hub (publish-site): each version in a folder of its own, and
# `current` pointing at the one nginx serves at LANDING_PAGE_PATH, beside the hub.
LANDING_PAGES_DIR = "/var/lib/camphub/landing-pages"
LANDING_PAGE_PATH = "/camp/"

# Ports the security groups open (swarm mode and NFSv4).
SWARM_MANAGER_PORT = 2377
SWARM_GOSSIP_PORT = 7946
SWARM_VXLAN_PORT = 4789
NFS_PORT = 2049
HTTP_PORT = 80
HTTPS_PORT = 443
SSH_PORT = 22

# The students' firewall, installed on every machine by cloud-init (cloud-init/files/...).
STUDENT_WALL_COMMAND = "/usr/local/sbin/camphub-wall"
