"""What a machine is known by before it exists: its own AWS role, and the SSH host key that every
bootstrap connection to it pins.

pulumi-command checks the key a machine's sshd shows against `connection.host_key` (Go's
ssh.FixedHostKey); any other key fails the dial with "ssh: host key mismatch". The program knows
each machine's key because it makes it (tls.PrivateKey, ED25519, kept for the machine's lifetime
and for the instances that replace it). The private half reaches the machine neither in
user-data (no secret goes there: anything that reads the instance's attributes reads it) nor over
SSH (the channel it is meant to authenticate). It waits in an SSM SecureString parameter named by
the instance's id, which that machine's role alone may read, and the machine fetches it at its
first boot over AWS's TLS API with the role's credentials from the metadata service
(cloud-init/files/usr/local/sbin/camphub-host-key). Its sshd offers no other key.

Why this is sound: the private half exists only in the program's state, as a secret, and in SSM
behind the machine's own role. Whoever else answers at the machine's address (a host that took
the address, a man in the middle on the way) holds neither, so it cannot complete the handshake,
and the step fails before anything is sent, the secrets on its stdin included.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from infra import layout
from infra.iam import trust_policy


@dataclass(frozen=True)
class MachineIdentity:
    """A machine's role (its instance profile gives it the role's credentials) and its host
    key pair."""

    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    host_key: tls.PrivateKey

    @property
    def public_host_key(self) -> pulumi.Output[str]:
        """What the machine's sshd shows, in authorized_keys form, as pulumi-command pins it."""
        return self.host_key.public_key_openssh


def declare_identity(name: str, parent: pulumi.Resource) -> MachineIdentity:
    """Role `<name>-role` (holding no permission but to read its host key, until another module
    grants one), its profile and the host key pair."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        # Lets EC2 hand the machine its role's credentials through the metadata service.
        assume_role_policy=trust_policy("ec2.amazonaws.com"),
        opts=opts,
    )
    profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.id, opts=opts)
    host_key = tls.PrivateKey(f"{name}-host-key", algorithm="ED25519", opts=opts)
    return MachineIdentity(role=role, instance_profile=profile, host_key=host_key)


def hand_over_host_key(
    name: str, identity: MachineIdentity, instance_id: pulumi.Input[str], parent: pulumi.Resource
) -> list[pulumi.Resource]:
    """Puts the private half where instance `instance_id` fetches it, readable by its role alone;
    returns what must exist before the machine can show its key. A new instance of the machine
    gets a new parameter (the name follows the id) and the same key."""
    opts = pulumi.ResourceOptions(parent=parent)
    parameter = aws.ssm.Parameter(
        f"{name}-host-key-parameter",
        name=pulumi.Output.concat(layout.HOST_KEY_PARAMETERS, "/", instance_id),
        type="SecureString",  # encrypted with the account's aws/ssm key
        value=identity.host_key.private_key_openssh,
        description=f"The SSH host key of camphub's {name}, for that machine alone",
        opts=opts,
    )
    grant = aws.iam.RolePolicy(
        f"{name}-host-key-reader",
        role=identity.role.id,
        policy=parameter.arn.apply(read_parameter_policy),
        opts=opts,
    )
    return [parameter, grant]


def read_parameter_policy(parameter_arn: str) -> str:
    """Reading that one parameter, decrypted (the AWS-managed aws/ssm key lets any principal of
    the account that may read the parameter decrypt it through SSM)."""
    statement = {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
