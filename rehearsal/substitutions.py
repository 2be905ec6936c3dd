"""What the rehearsal substitutes because this machine cannot do it, listed once.

Everything else in a rehearsal is the real thing: the real program, its real user-data run by
cloud-init, its real bootstrap scripts over real SSH, real Docker swarm mode inside the instances.
Each substitution is the smallest piece that lets the real payload run unchanged; the README's
"Local cloud" section repeats this list (`rehearse substitutions` prints it).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Substitution:
    production: str
    rehearsal: str
    piece: str


SUBSTITUTIONS = (
    Substitution(
        production="EC2 instances booted from Debian's Debian 13 AMI, user-data via IMDS",
        rehearsal="Debian 13 containers running systemd, sshd and cloud-init; user-data in the "
        "NoCloud seed directory; the container's address is both private and public IP",
        piece="rehearsal/instance/Dockerfile, rehearsal/instance_containers.py, "
        "rehearsal/ec2_instances.py",
    ),
    Substitution(
        production="encrypted EBS data volumes attached to the NFS server (the homes) and to "
        "the hub (its own)",
        rehearsal="a sparse file on the host behind a loop device, its node created in the "
        "instance under the attachment's device name; at boot the same unit mounts fstab's "
        "entry for it (systemd skips fstab's block devices in a container)",
        piece="rehearsal/loop_volumes.py (attach_volume), rehearsal-attached-volumes.service",
    ),
    Substitution(
        production="a replaced EC2 instance (`pulumi up --replace`): the new one is made first "
        "and the old one terminated at the end of the update",
        rehearsal="the old instance's container is removed as the new one boots under the same "
        "name, as when AWS retired it: every step of the new one runs without the old machine",
        piece="rehearsal/instance_containers.py (boot), rehearsal/engine.py (replace)",
    ),
    Substitution(
        production="kernel NFS: nfs-kernel-server exports the volume, nodes `mount -t nfs`",
        rehearsal="mount.nfs is diverted to a shim that mounts the NFS server's attached volume "
        "itself (the same kernel shares one filesystem between all mounts)",
        piece="rehearsal/instance/files/usr/local/sbin/rehearsal-mount-nfs",
    ),
    Substitution(
        production="swarm VIPs and the ingress routing mesh (IPVS)",
        rehearsal="nothing: the kernel has no IPVS, and production uses neither (dnsrr endpoints, "
        "host-mode publishing)",
        piece="none",
    ),
    Substitution(
        production="base images pulled from a registry by the hub, which builds camphub's images",
        rehearsal="base images built locally from debootstrap (and, for `--prebuilt-images` and "
        "the end-to-end suite, camphub's images built here once), saved to the shared directory "
        "and loaded into the hub's Docker right after it starts; the workers get the notebook "
        "image from the hub, as on AWS",
        piece="rehearsal-load-images (docker.service drop-in in the instance image)",
    ),
    Substitution(
        production="Google sign-in",
        rehearsal="a local OpenID Connect test provider (oidc-provider-mock) answering in Google's "
        "userinfo shape, with the class list registered; the program's camphub:oauthEndpoints "
        "point the hub's unchanged GoogleOAuthenticator at it",
        piece="rehearsal/google_stand_in.py, started by `rehearse up` (rehearsal/camp.py)",
    ),
    Substitution(
        production="the end-of-week archive's AWS side: the S3 bucket and its settings, the "
        "homes volume's id and snapshot; each machine's host key in SSM; and every machine's "
        "instance role, whose credentials the machine gets from the instance metadata service "
        "(IMDS)",
        rehearsal="moto's server (S3, EC2, IAM, SSM, Route 53), started by the rehearsal on its "
        "network's gateway, checking every request's signature and permissions; the bucket, its "
        "versioning, encryption and public access block and the homes volume are made in it "
        "(moto's ids, the volume with its tags, so a kept volume is looked up there; whether "
        "it is attached is the local cloud's, from its recorded attachments, as moto holds no "
        "instances); each host key is a SecureString parameter made in it; the bucket's TLS-only "
        "policy is recorded, not applied (moto would apply its Deny without the condition, and "
        "speaks plain HTTP); in place of IMDS, every machine gets in /root/.aws the endpoint "
        "and the key of a moto user holding exactly the role's policies (EC2, SSM and Route 53 "
        "statements widened to '*': moto gives their actions no resource, so here a machine's "
        "role could read another's host key; nor does moto apply conditions, like the record "
        "names and types the hub's Route 53 statement is limited to: the unit tests hold the "
        "policies to them); "
        "`down` archives for real, stops when the archive fails, and saves the bucket's "
        "objects under <work dir>/archive (moto keeps them in memory only)",
        piece="rehearsal/moto_server.py, rehearsal/moto_stand_in.py, rehearsal/moto_roles.py, "
        "rehearsal/s3_iam.py, rehearsal/ssm_parameters.py, rehearsal/ec2_instance_roles.py",
    ),
    Substitution(
        production="Let's Encrypt (production and staging) and the internet's DNS, for a stack "
        "with a domain",
        rehearsal="Pebble, Let's Encrypt's ACME test server, and pebble-challtestsrv as the DNS "
        "Pebble asks, on the stack's public network, started by `up` (a Pebble stopped on "
        "purpose stays stopped) and removed by `down`; every instance trusts Pebble's HTTPS "
        "CA (made once per rehearsal) in its system store and has certbot's user settings "
        "(/root/.config/letsencrypt/cli.ini) name Pebble's directory; certbot is diverted to "
        "a wrapper that turns --test-cert (which refuses any server but Let's Encrypt's "
        "staging one) into Pebble's staging name. Pebble issues under a new root at every "
        "start",
        piece="rehearsal/acme_stand_in.py and its acme_*.py, rehearsal/acme/ (image, trust "
        "script, certbot wrapper), rehearsal/ec2_instances.py (at launch and every `up`)",
    ),
    Substitution(
        production="Route 53: the hub's A record in the camp's hosted zone, and the TXT records "
        "of certbot's DNS-01 challenge",
        rehearsal="the A record set in the ACME stand-in's DNS (challtestsrv), the Elastic IP "
        "being the hub's address on the public network, and cleared when the record is "
        "deleted; the zone looked up in moto's Route 53, made there if missing; a TXT record "
        "set in moto's Route 53 set in challtestsrv too by moto's server before it answers",
        piece="rehearsal/route53.py, rehearsal/moto_route53.py",
    ),
    Substitution(
        production="the camp's own VPC (layout.VPC_CIDR) with its one subnet (layout.SUBNET_CIDR), "
        "internet gateway, route table and default route",
        rehearsal="recorded with AWS's ids; the stack's private Docker network plays the subnet. "
        "Its range is a /24 of the VPC's range that no other network on the engine has (the "
        "first free one), and rehearsal/deploy.py gives it to the program as layout.SUBNET_CIDR, "
        "so every instance's private address is in the subnet the program declares. Not one "
        "fixed range for every rehearsal: Docker refuses overlapping networks on one engine, so "
        "two rehearsals could not run at once; nor a setting the program would read only here. "
        "A camphub:subnetId is looked up as a default VPC's subnet spanning the same range",
        piece="rehearsal/vpc.py, rehearsal/docker_networks.py, rehearsal/deploy.py",
    ),
    Substitution(
        production="security groups",
        rehearsal="enforced on inbound traffic by the host (an iptables chain per rehearsal, "
        "jumped to from DOCKER-USER, rebuilt as groups, rules, instances and Elastic IPs "
        "change): answers pass; a new connection to an instance's private address or Elastic IP "
        "passes only if its groups allow it, by protocol and port range, from an IPv4 CIDR or a "
        "referenced group's members' private addresses. Recorded only: IPv6 rules (the networks "
        "are IPv4), prefix lists, ICMP types, egress (the program allows all), and this "
        "machine's own connections to the instances (they leave by OUTPUT, not FORWARD)",
        piece="rehearsal/security_groups.py, rehearsal/engine.py (when it is rebuilt)",
    ),
    Substitution(
        production="IAM, Elastic IPs",
        rehearsal="recorded with plausible ids, not enforced; an Elastic IP is a fixed address on "
        "the stack's public network, connected to its instance's container",
        piece="rehearsal/engine.py (recorded), rehearsal/ec2_addresses.py (Elastic IPs)",
    ),
)

# Where the harness shares files into every instance (read-only), and what it puts there.
SHARED_DIR_IN_INSTANCE = "/var/lib/rehearsal/shared"
IMAGES_SUBDIR = "images"  # <name>.tar archives of locally built base images
# Where the instances that build images (the hub) see IMAGES_SUBDIR; no other instance does.
IMAGE_ARCHIVES_IN_INSTANCE = "/var/lib/rehearsal/images"
# The roles whose machines build images: infra/notebook_image.py and infra/jupyterhub.py build
# on the hub alone.
IMAGE_BUILDING_ROLES = ("hub",)
NFS_SUBDIR = "nfs"  # <server address>: "major:minor" of the volume that server exports
DEVICES_SUBDIR = "devices"  # <instance id>: "name major minor" lines of attached volumes
ACME_SUBDIR = "acme"  # the ACME stand-in's CA, certbot's settings and wrapper (acme_trust.py)

# Block devices played by loop devices (major 7) may be created and used inside instances.
LOOP_DEVICE_CGROUP_RULE = "b 7:* rmw"
