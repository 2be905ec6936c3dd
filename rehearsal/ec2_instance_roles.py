"""An EC2 instance's role, as the rehearsal plays the instance metadata service: an instance
with an instance profile finds its role's credentials, a key of the moto user standing for the
role (rehearsal/moto_roles.py), in the SDK's shared files of the root user, who runs the
bootstrap steps. A key is renewed when moto no longer knows it, and revoked with its instance.
"""

from typing import Any

from rehearsal.environment import Environment, short
from rehearsal.moto_server import Credentials
from rehearsal.state import Record

INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
# Where an instance with an instance profile finds its role's credentials (the SDK's shared
# files of the root user, who runs the bootstrap steps), in place of the metadata service.
ROLE_CREDENTIALS_DIR = "/root/.aws"


def revoke_role(env: Environment, made: dict[str, Any]) -> None:
    """A terminated instance's role credentials are no longer served: its key goes with it
    (else a role's replaced machines would exhaust IAM's two keys per user)."""
    if "roleAccessKeyId" in made:
        env.aws.revoke_role_credentials(made["role"], made["roleAccessKeyId"])


def grant_role(env: Environment, inputs: dict[str, Any], made: dict[str, Any]) -> None:
    """What EC2's metadata service gives an instance with an instance profile: its role's
    credentials (moto_roles.RoleUsers.aws_files), renewed when no longer valid. The
    access key's id is kept in `made`."""
    install_credentials(env, made, *role_credentials(env, inputs, made))


def role_credentials(
    env: Environment, inputs: dict[str, Any], made: dict[str, Any]
) -> tuple[str, Credentials | None]:
    """The instance profile's role, and a new key for it unless `made` holds a valid one."""
    profile = inputs.get("iamInstanceProfile")
    if not profile:
        return "", None
    role = _recorded(env, INSTANCE_PROFILE, profile).inputs["role"]
    return role, env.aws.role_credentials(role, made.get("roleAccessKeyId", ""))


def install_credentials(
    env: Environment, made: dict[str, Any], role: str, credentials: Credentials | None
) -> None:
    if credentials is None:
        return
    files = env.aws.aws_files(credentials)
    env.cloud.put_private_files(made["resource"], ROLE_CREDENTIALS_DIR, files)
    made["role"] = role
    made["roleAccessKeyId"] = credentials.access_key_id


def _recorded(env: Environment, type_: str, resource_id: str) -> Record:
    for record in env.state.records():
        if record.type == type_ and record.id == resource_id:
            return record
    raise LookupError(f"no {short(type_)} {resource_id} in this rehearsal")
