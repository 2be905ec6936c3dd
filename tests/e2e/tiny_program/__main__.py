"""Two instances, one reached through the other, a volume exported by one and mounted by both,
commands with stdin and a delete step, and a copied directory: the shapes the real program uses."""

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import yaml

config = pulumi.Config()
public_key = config.require("publicKey")
private_key = config.require_secret("privateKey")
greeting = config.get("greeting") or "hello"
with_extra = config.get_bool("withExtra") or False
fail = config.get_bool("fail") or False

user_data = "#cloud-config\n" + yaml.safe_dump(
    {"ssh_authorized_keys": [public_key], "packages": ["e2fsprogs"]}
)
ami = aws.ec2.get_ami(owners=["136693071363"], most_recent=True)
key_pair = aws.ec2.KeyPair("admin", public_key=public_key)
# The gate gets its key as EC2 gives it (the key pair), the inner instance from its user-data.
gate = aws.ec2.Instance(
    "gate",
    ami=ami.id,
    instance_type="t3.micro",
    key_name=key_pair.key_name,
    user_data="#cloud-config\n" + yaml.safe_dump({"packages": ["e2fsprogs"]}),
)
inner = aws.ec2.Instance("inner", ami=ami.id, instance_type="t3.micro", user_data=user_data)
address = aws.ec2.Eip("gate-address", domain="vpc")
association = aws.ec2.EipAssociation(
    "gate-address", allocation_id=address.allocation_id, instance_id=gate.id
)
volume = aws.ebs.Volume("data", availability_zone="us-east-1a", size=1, encrypted=True)
attachment = aws.ec2.VolumeAttachment(
    "data-attachment", instance_id=inner.id, volume_id=volume.id, device_name="/dev/xvdf"
)

to_gate = command.remote.ConnectionArgs(
    host=address.public_ip, user="admin", private_key=private_key
)
to_inner = command.remote.ConnectionArgs(
    host=inner.private_ip,
    user="admin",
    private_key=private_key,
    proxy=command.remote.ProxyConnectionArgs(
        host=address.public_ip, user="admin", private_key=private_key
    ),
)
ready = [
    command.remote.Command(
        f"{name}-ready",
        connection=conn,
        create="cloud-init status --wait >/dev/null; hostname",
        opts=pulumi.ResourceOptions(depends_on=[association]),
    )
    for name, conn in (("gate", to_gate), ("inner", to_inner))
]
copy = command.remote.CopyToRemote(
    "inner-payload",
    connection=to_inner,
    source=pulumi.FileArchive("payload"),
    remote_path="/tmp/delivered",
    opts=pulumi.ResourceOptions(depends_on=ready),
)
read = command.remote.Command(
    "inner-read",
    connection=to_inner,
    create="cat /tmp/delivered/hello.txt; cat",
    stdin=greeting,
    opts=pulumi.ResourceOptions(depends_on=[copy]),
)
export = command.remote.Command(
    "inner-export",
    connection=to_inner,
    create="sudo blkid /dev/xvdf >/dev/null || sudo mkfs.ext4 -q /dev/xvdf; "
    "sudo mkdir -p /srv/export && (mountpoint -q /srv/export || sudo mount /dev/xvdf /srv/export)"
    " && echo shared | sudo tee /srv/export/from-inner",
    opts=pulumi.ResourceOptions(depends_on=[attachment, *ready]),
)
mount = command.remote.Command(
    "gate-mount",
    connection=to_gate,
    create=inner.private_ip.apply(
        lambda ip: (
            f"sudo mkdir -p /mnt/shared && sudo mount -t nfs {ip}:/srv/export /mnt/shared"
            " && cat /mnt/shared/from-inner && findmnt -n -o SOURCE --mountpoint /mnt/shared"
        )
    ),
    opts=pulumi.ResourceOptions(depends_on=[export]),
)


def on_gate(name: str, create: str, **steps) -> command.remote.Command:
    """A command on the gate once both instances are ready."""
    return command.remote.Command(
        name,
        connection=to_gate,
        create=create,
        opts=pulumi.ResourceOptions(depends_on=ready),
        **steps,
    )


counter = on_gate("gate-counter", "echo run >> ~/runs; wc -l < ~/runs")
if with_extra:
    on_gate("gate-extra", "true", delete="touch /tmp/extra-deleted")
if fail:
    on_gate("gate-fail", "echo failing on purpose >&2; exit 3")

pulumi.export("gateAddress", address.public_ip)
pulumi.export("hostnames", [r.stdout for r in ready])
pulumi.export("read", read.stdout)
pulumi.export("mounted", mount.stdout)
pulumi.export("runs", counter.stdout)
