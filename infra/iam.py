"""IAM documents the program's roles share."""

import json


def trust_policy(service: str) -> str:
    """The assume-role policy (JSON) that lets the AWS `service` (e.g. "ec2.amazonaws.com") take
    on a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )
