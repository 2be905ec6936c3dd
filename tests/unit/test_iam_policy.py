"""docs/aws-iam-policy.json, the least-privilege policy of whoever runs `pulumi up` and `pulumi
destroy`, allows what the AWS provider calls for every AWS resource type and look-up the program
declares (taken from the program itself, under the mocks, with every optional part on), on the
resources the program makes; and nothing broader where the program's names allow a narrower scope.

NEEDS below is what the provider calls for each type (create, read, update, delete; the AWS
provider's resource pages and the API's "Actions" tables). A type the program starts to declare
fails the first test until its actions are listed here and allowed by the policy."""

import fnmatch
import json

import pytest
from program import CampMocks, deploy
from test_adoption import KEPT, KeptVolumeMocks, kept_volume

from infra.layout import PROJECT_DIR

POLICY = json.loads((PROJECT_DIR / "docs" / "aws-iam-policy.json").read_text())
ACCOUNT = "123456789012"
# What the provider appends to a logical name when it names the physical resource.
SUFFIX = "-1a2b3c4"

_TAGS = ["ec2:CreateTags", "ec2:DeleteTags"]
_ROLE = [
    "iam:CreateRole",
    "iam:GetRole",
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    # Passed to EC2 through the instance profile, or to DLM as its execution role.
    "iam:PassRole",
]
NEEDS: dict[str, list[str]] = {
    "aws:ec2/instance:Instance": [
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstanceCreditSpecifications",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyInstanceMetadataOptions",
        "ec2:ModifyInstanceCreditSpecification",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:TerminateInstances",
        "ec2:AssociateIamInstanceProfile",
        "ec2:ReplaceIamInstanceProfileAssociation",
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeVolumes",
        *_TAGS,
    ],
    # Kept on destroy: the program never deletes it.
    "aws:ebs/volume:Volume": [
        "ec2:CreateVolume",
        "ec2:DescribeVolumes",
        "ec2:ModifyVolume",
        *_TAGS,
    ],
    "aws:ec2/volumeAttachment:VolumeAttachment": [
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:DescribeVolumes",
    ],
    "aws:ec2/eip:Eip": [
        "ec2:AllocateAddress",
        "ec2:ReleaseAddress",
        "ec2:DescribeAddresses",
        "ec2:DisassociateAddress",
        *_TAGS,
    ],
    "aws:ec2/eipAssociation:EipAssociation": [
        "ec2:AssociateAddress",
        "ec2:DisassociateAddress",
        "ec2:DescribeAddresses",
    ],
    "aws:ec2/keyPair:KeyPair": ["ec2:ImportKeyPair", "ec2:DeleteKeyPair", "ec2:DescribeKeyPairs"],
    "aws:ec2/securityGroup:SecurityGroup": [
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:DescribeSecurityGroups",
        # The provider removes the default allow-all egress rule of a new group.
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DescribeNetworkInterfaces",
        *_TAGS,
    ],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:ModifySecurityGroupRules",
        "ec2:DescribeSecurityGroupRules",
        *_TAGS,
    ],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": [
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:ModifySecurityGroupRules",
        "ec2:DescribeSecurityGroupRules",
        *_TAGS,
    ],
    "aws:iam/role:Role": _ROLE,
    "aws:iam/rolePolicy:RolePolicy": [
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
    ],
    "aws:iam/instanceProfile:InstanceProfile": [
        "iam:CreateInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:DeleteInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:TagInstanceProfile",
    ],
    # A machine's host key (infra/host_key.py); read back decrypted, its tags and description.
    "aws:ssm/parameter:Parameter": [
        "ssm:PutParameter",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:DescribeParameters",
        "ssm:DeleteParameter",
        "ssm:AddTagsToResource",
        "ssm:ListTagsForResource",
    ],
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": [
        "dlm:CreateLifecyclePolicy",
        "dlm:GetLifecyclePolicy",
        "dlm:UpdateLifecyclePolicy",
        "dlm:DeleteLifecyclePolicy",
        "dlm:TagResource",
        "dlm:UntagResource",
    ],
    "aws:route53/record:Record": [
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:GetChange",
    ],
    # The bucket and its settings are kept on destroy: nothing there is ever deleted.
    "aws:s3/bucket:Bucket": [
        "s3:CreateBucket",
        "s3:ListBucket",
        "s3:GetBucketAcl",
        "s3:GetBucketCORS",
        "s3:GetBucketWebsite",
        "s3:GetBucketLogging",
        "s3:GetBucketRequestPayment",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls",
        "s3:GetAccelerateConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetBucketTagging",
        "s3:PutBucketTagging",
    ],
    "aws:s3/bucketVersioning:BucketVersioning": [
        "s3:PutBucketVersioning",
        "s3:GetBucketVersioning",
    ],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
    ],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": [
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
    ],
    "aws:s3/bucketPolicy:BucketPolicy": ["s3:PutBucketPolicy", "s3:GetBucketPolicy"],
    # The camp's own network (infra/network.py).
    "aws:ec2/vpc:Vpc": [
        "ec2:CreateVpc",
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:ModifyVpcAttribute",
        "ec2:DeleteVpc",
        *_TAGS,
    ],
    "aws:ec2/subnet:Subnet": [
        "ec2:CreateSubnet",
        "ec2:DescribeSubnets",
        "ec2:ModifySubnetAttribute",
        "ec2:DeleteSubnet",
        *_TAGS,
    ],
    "aws:ec2/internetGateway:InternetGateway": [
        "ec2:CreateInternetGateway",
        "ec2:DescribeInternetGateways",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway",
        *_TAGS,
    ],
    "aws:ec2/routeTable:RouteTable": [
        "ec2:CreateRouteTable",
        "ec2:DescribeRouteTables",
        "ec2:DeleteRouteTable",
        *_TAGS,
    ],
    "aws:ec2/route:Route": [
        "ec2:CreateRoute",
        "ec2:DescribeRouteTables",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
    ],
    "aws:ec2/routeTableAssociation:RouteTableAssociation": [
        "ec2:AssociateRouteTable",
        "ec2:DescribeRouteTables",
        "ec2:ReplaceRouteTableAssociation",
        "ec2:DisassociateRouteTable",
    ],
    # The backup tag on an adopted homes volume (nfs.adoptHomesVolume).
    "aws:ec2/tag:Tag": [*_TAGS, "ec2:DescribeTags"],
    # Look-ups.
    "aws:ec2/getAmi:getAmi": ["ec2:DescribeImages"],
    "aws:index/getAvailabilityZones:getAvailabilityZones": ["ec2:DescribeAvailabilityZones"],
    "aws:ec2/getSubnets:getSubnets": ["ec2:DescribeSubnets"],
    "aws:ec2/getSubnet:getSubnet": ["ec2:DescribeSubnets"],
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": [
        "ec2:DescribeInstanceTypeOfferings"
    ],
    "aws:route53/getZone:getZone": [
        "route53:ListHostedZones",
        "route53:GetHostedZone",
        "route53:ListTagsForResource",
    ],
    # An adopted homes volume, and the machine that holds it.
    "aws:ebs/getEbsVolumes:getEbsVolumes": ["ec2:DescribeVolumes"],
    "aws:ebs/getVolume:getVolume": ["ec2:DescribeVolumes"],
    "aws:ec2/getInstances:getInstances": ["ec2:DescribeInstances"],
    # Where this stack's camp runs (infra/network_move.py).
    "aws:ec2/getInstance:getInstance": ["ec2:DescribeInstances", "ec2:DescribeInstanceAttribute"],
    "aws:index/getRegion:getRegion": [],  # the provider's own setting, asked of nobody
    "aws:index/getCallerIdentity:getCallerIdentity": ["sts:GetCallerIdentity"],
}
# The end-of-week runbook's download links (`homesArchiveLinksCommand`), with these credentials.
RUNBOOK = [("s3:GetObject", "arn:aws:s3:::archive-bucket-1a2b3c4/homes/camp/ada.tar.gz")]


class RecordingMocks(CampMocks):
    def __init__(self):
        self.invoked: set[str] = set()

    def call(self, args):
        self.invoked.add(args.token)
        return super().call(args)


class RecordingAdoptionMocks(KeptVolumeMocks):
    def __init__(self):
        super().__init__(kept_volume())
        self.invoked: set[str] = set()

    def call(self, args):
        self.invoked.add(args.token)
        return super().call(args)


def deploy_recorded(tmp_path_factory, mocks, **settings) -> tuple:
    """The program run with the required settings and `settings`; and the look-ups it made."""
    class_list = tmp_path_factory.mktemp("class") / "userlist.txt"
    class_list.write_text("teacher@camp.test admin\nada@camp.test\n")
    config = {
        "oauthClientId": "1234-camp.apps.googleusercontent.com",
        "oauthClientSecret": "secret",
        "sshAllowedCidrs": ["84.17.40.7/32"],
        "userlistFile": str(class_list),
        **settings,
    }
    deployment = deploy(config, mocks=mocks)
    return deployment, mocks.invoked


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """The program with every optional AWS part on: a domain in a Route 53 zone, the daily
    backups (on by default), shared data; and the look-ups it made."""
    return deploy_recorded(
        tmp_path_factory,
        RecordingMocks(),
        domain="jupyter.camp.test",
        letsEncryptEmail="organizer@camp.test",
        hostedZone="camp.test",
        sharedData=True,
    )


@pytest.fixture(scope="module")
def adopting(tmp_path_factory):
    """The program bringing a destroyed camp back on its kept homes volume."""
    return deploy_recorded(
        tmp_path_factory, RecordingAdoptionMocks(), nfs={"adoptHomesVolume": KEPT}
    )


def allowed(action: str, resource: str) -> bool:
    """Whether an Allow statement of the policy names `action` on `resource` (its conditions,
    e.g. PassRole's iam:PassedToService, are not evaluated here)."""
    for statement in POLICY["Statement"]:
        actions = _listed(statement["Action"])
        resources = _listed(statement["Resource"])
        names_it = _matches(action.lower(), [a.lower() for a in actions])
        if statement["Effect"] == "Allow" and names_it and _matches(resource, resources):
            return True
    return False


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def arn_of(resource) -> str:
    """The ARN an action on `resource` names: exact where the policy scopes by name (IAM, S3,
    Route 53), the service's where it cannot (EC2 and DLM act on ids made at create)."""
    service = resource.type.split(":")[1].split("/")[0]
    if resource.type == "aws:iam/instanceProfile:InstanceProfile":
        return f"arn:aws:iam::{ACCOUNT}:instance-profile/{resource.name}{SUFFIX}"
    named = resource.inputs.get("role") or resource.inputs.get("bucket") or resource.name
    # The mocks give each resource the id "<name>-id"; a role policy or a bucket's setting names
    # its role or bucket by it.
    physical = named.removesuffix("-id") + SUFFIX
    if service == "iam":
        return f"arn:aws:iam::{ACCOUNT}:role/{physical}"
    if service == "s3":
        return f"arn:aws:s3:::{physical}"
    if service == "ssm":
        return f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{resource.inputs['name']}"
    if service == "route53":
        return f"arn:aws:route53:::hostedzone/{resource.inputs['zoneId']}"
    return f"arn:aws:{service}:us-east-1:{ACCOUNT}:{resource.name}"


def unlisted(deployment, invoked) -> set[str]:
    """The AWS types and look-ups of a run whose actions NEEDS does not list."""
    declared = {r.type for r in deployment.resources if r.type.startswith("aws:")}
    return (declared | {t for t in invoked if t.startswith("aws:")}) - set(NEEDS)


def denied_on_resources(deployment) -> list[tuple[str, str, str]]:
    return [
        (r.type, action, arn_of(r))
        for r in deployment.resources
        if r.type.startswith("aws:")
        for action in NEEDS[r.type]
        if not allowed(action, arn_of(r))
    ]


def denied_look_ups(invoked) -> list[tuple[str, str]]:
    zone = "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    return [(t, a) for t in invoked for a in NEEDS[t] if not allowed(a, zone)]


def test_every_aws_type_and_look_up_of_the_program_has_its_actions_listed(everything):
    deployment, invoked = everything
    assert len({r.type for r in deployment.resources if r.type.startswith("aws:")}) >= 18
    assert unlisted(deployment, invoked) == set()


def test_the_policy_allows_every_action_on_what_the_program_makes(everything):
    deployment, _ = everything
    assert denied_on_resources(deployment) == []


def test_the_policy_allows_every_look_up_and_the_runbooks_links(everything):
    _, invoked = everything
    assert denied_look_ups(invoked) == []
    assert all(allowed(action, resource) for action, resource in RUNBOOK)


def test_the_policy_allows_bringing_a_destroyed_camp_back(adopting):
    deployment, invoked = adopting
    assert {"aws:ec2/tag:Tag", "aws:ebs/getVolume:getVolume"} <= {
        *invoked,
        *(r.type for r in deployment.resources),
    }
    assert unlisted(deployment, invoked) == set()
    assert denied_on_resources(deployment) == []
    assert denied_look_ups(invoked) == []


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:CreateUser", "arn:aws:iam::123456789012:user/someone"),
        ("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/admin"),
        ("iam:AttachRolePolicy", "arn:aws:iam::123456789012:role/nfs-role-1a2b3c4"),
        ("s3:DeleteBucket", "arn:aws:s3:::archive-bucket-1a2b3c4"),
        ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/file"),
        ("ec2:GetPasswordData", "arn:aws:ec2:us-east-1:123456789012:instance/i-0"),
        ("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/someone/else"),
        ("ssm:PutParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/camphub-other"),
        ("route53:DeleteHostedZone", "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"),
    ],
)
def test_the_policy_allows_nothing_broader(action, resource):
    assert not allowed(action, resource)
