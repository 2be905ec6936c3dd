"""IAM roles as the rehearsal plays them in moto: each role is a moto user of the same name,
holding exactly the role's policies, whose access keys are what an instance with the role's
profile gets in place of the metadata service's credentials (rehearsal/ec2_instance_roles.py).

Moto checks a policy's actions and resources, not its conditions: identity policies are checked
with no condition keys, and an operator other than StringEquals always passes (moto/iam/
access_control.py, policy_conditions.py), so the ForAllValues:StringEquals limits of the hub's
Route 53 statement (route53:ChangeResourceRecordSetsNormalizedRecordNames, ...RecordTypes) are
the unit tests' to check, not moto's.
"""

import contextlib
import json

from rehearsal.moto_server import REGION, Credentials

# The services whose actions moto checks against no resource (their responses name none, so
# the resource requested is "*"; Route 53's zones and changes included).
UNSCOPED_BY_MOTO = ("ec2:", "ssm:", "route53:")


class RoleUsers:
    """The users standing for instance roles, their policies and keys, in the rehearsal's moto
    server (a part of rehearsal.moto_stand_in.AwsStandIn, which gives it `client` and
    `endpoint`)."""

    def put_role_policy(self, role: str, name: str, document: str) -> None:
        """The role's policy on the user standing for the role. Moto checks S3 actions against
        their bucket and key but gives EC2, SSM and Route 53 actions no resource, so their
        statements name '*' (rehearsal/substitutions.py)."""
        policy = json.loads(document)
        for statement in policy["Statement"]:
            actions = _actions(statement)
            if actions and all(a.startswith(UNSCOPED_BY_MOTO) for a in actions):
                statement["Resource"] = "*"
        self._ensure_user(role)
        self.client("iam").put_user_policy(
            UserName=role, PolicyName=name, PolicyDocument=json.dumps(policy)
        )

    def has_role_policy(self, role: str, name: str) -> bool:
        iam = self.client("iam")
        try:
            return name in iam.list_user_policies(UserName=role)["PolicyNames"]
        except iam.exceptions.NoSuchEntityException:
            return False

    def role_credentials(self, role: str, access_key_id: str = "") -> Credentials | None:
        """A key for the user standing for `role`; None if `access_key_id` is still valid."""
        self._ensure_user(role)
        iam = self.client("iam")
        keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=role)["AccessKeyMetadata"]}
        if access_key_id in keys:
            return None
        key = iam.create_access_key(UserName=role)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def revoke_role_credentials(self, role: str, access_key_id: str) -> None:
        iam = self.client("iam")
        # Revoked already: a teardown run again.
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            iam.delete_access_key(UserName=role, AccessKeyId=access_key_id)

    def _ensure_user(self, name: str) -> None:
        iam = self.client("iam")
        try:
            iam.get_user(UserName=name)
        except iam.exceptions.NoSuchEntityException:
            # The engine's threads may make it at once (the role's policy, an instance's key).
            with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                iam.create_user(UserName=name)

    def aws_files(self, credentials: Credentials) -> dict[str, str]:
        """What stands in for the instance metadata service's role credentials: the AWS SDK's
        shared config (the endpoint, the region) and credentials files, by file name."""
        config = f"[default]\nregion = {REGION}\nendpoint_url = {self.endpoint}\n"
        keys = (
            f"[default]\naws_access_key_id = {credentials.access_key_id}\n"
            f"aws_secret_access_key = {credentials.secret_access_key}\n"
        )
        return {"config": config, "credentials": keys}


def _actions(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else actions
