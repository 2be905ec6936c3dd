"""S3 and IAM as the rehearsal plays them: in moto's server (rehearsal/moto_stand_in.py).

A bucket and its versioning, encryption and public access block, and an instance role's policy,
are made in moto; a bucket policy and an instance profile are only recorded (the engine's
default). An unchanged one is reused only while moto still has the bucket or the policy. The
role's credentials an instance gets are EC2's part (rehearsal/ec2_instance_roles.py).
"""

import secrets

from rehearsal.environment import Environment, Handler, short
from rehearsal.moto_server import REGION
from rehearsal.state import Record

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SETTINGS = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
)  # a bucket policy is recorded only: moto would apply its statements without their conditions
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _bucket(env: Environment, args, previous):
    # Pulumi names a bucket declared without a name after its resource, plus a suffix.
    name = args.inputs.get("bucket") or (
        previous.id if previous else f"{args.name}-{secrets.token_hex(4)[:7]}"
    )
    env.aws.create_bucket(name)
    outputs = {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": REGION}
    return name, outputs, {}


def _bucket_setting(env: Environment, args, previous):
    env.aws.configure_bucket(short(args.typ), args.inputs)
    return args.inputs["bucket"], {}, {}


def _role_policy(env: Environment, args, previous):
    name = args.inputs.get("name") or f"{args.name}-{secrets.token_hex(4)[:7]}"
    role = args.inputs["role"]
    env.aws.put_role_policy(role, name, args.inputs["policy"])
    return f"{role}:{name}", {"name": name}, {}


def _bucket_still_there(env: Environment, record: Record) -> bool:
    return env.aws.has_bucket(record.id)


def _setting_still_there(env: Environment, record: Record) -> bool:
    return env.aws.has_bucket(record.inputs["bucket"])


def _role_policy_still_there(env: Environment, record: Record) -> bool:
    return env.aws.has_role_policy(record.inputs["role"], record.outputs["name"])


HANDLERS = {
    BUCKET: Handler(_bucket, still_there=_bucket_still_there),
    **dict.fromkeys(BUCKET_SETTINGS, Handler(_bucket_setting, still_there=_setting_still_there)),
    ROLE_POLICY: Handler(_role_policy, still_there=_role_policy_still_there),
}
