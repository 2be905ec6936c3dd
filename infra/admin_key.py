"""AdminKey: the administrator's SSH key, which pulumi-command and the organizer use.

The organizer's own when the stack configures one, else one generated here. Every instance is
launched with its public half (`key_name`); every bootstrap step connects with its private half.
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from infra.config import AdminSshKey


@dataclass(frozen=True)
class AdminKey:
    """The admin SSH key as the machines need it."""

    key_name: pulumi.Output[str]  # the EC2 key pair instances are launched with
    private_key: pulumi.Output[str]  # secret: for SSH connections and the `adminSshKey` output


def declare_admin_key(
    prefix: str, supplied: AdminSshKey | None, parent: pulumi.Resource
) -> AdminKey:
    """The key pair `<prefix>-admin` of `supplied` (None: a generated `<prefix>-admin-ssh`).

    `parent` places the resources in the stack's tree: the program passes the network, where they
    have always been, so that their URNs (and the deployed key pair) stay as they are."""
    opts = pulumi.ResourceOptions(parent=parent)
    if supplied:
        private_key, public_key = supplied.private_key, supplied.public_key
    else:
        generated = tls.PrivateKey(f"{prefix}-admin-ssh", algorithm="ED25519", opts=opts)
        private_key, public_key = generated.private_key_openssh, generated.public_key_openssh
    key_pair = aws.ec2.KeyPair(f"{prefix}-admin", public_key=public_key, opts=opts)
    return AdminKey(
        key_name=key_pair.key_name,
        private_key=pulumi.Output.secret(private_key),
    )
