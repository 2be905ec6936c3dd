"""The AWS region the stack deploys into."""

import pulumi
import pulumi_aws as aws


def current_region() -> pulumi.Output[str]:
    """The provider's region, e.g. "us-east-1" (its `region` field; `name` is deprecated)."""
    return aws.get_region_output().apply(lambda r: r.region)
