"""The camp's names in its Route 53 zone: the hub's record, the wildcard beside it that puts each
student's server on an origin of its own (<them>.<domain>), and the hub's one permission in the
zone, to answer Let's Encrypt's DNS challenge for both names.

Why a wildcard: whatever answers at a student's server address is theirs (any process in their
container may listen there), so on the hub's origin a page of theirs would run with the hub's
origin and act with the credentials of a teacher who opens it. On its own subdomain it has none
of the hub's cookies and cannot read the hub's answers. Let's Encrypt issues a wildcard
certificate only through the DNS-01 challenge: a TXT record at _acme-challenge.<domain>, which
certbot's Route 53 plugin writes with the hub's role. That role may change that record alone.
"""

import json

import pulumi
import pulumi_aws as aws

from infra.config import DomainSpec

# Where the DNS-01 challenge for <domain> and *.<domain> is answered (RFC 8555, section 8.4).
CHALLENGE_LABEL = "_acme-challenge"
RECORD_TTL_SECONDS = 300


def user_server_host_pattern(domain: str) -> str:
    """The host name pattern of students' servers, as the stack's output names it."""
    return f"<user>.{domain}"


def dns_challenge_policy(zone_id: str, domain: str) -> str:
    """What certbot's Route 53 plugin needs, and no more: find the zone, set and delete the one
    TXT record of the challenge (the names AWS compares are lower case, without the final dot),
    and wait for Route 53 to apply the change."""
    answer_the_challenge = {
        "Effect": "Allow",
        "Action": "route53:ChangeResourceRecordSets",
        "Resource": f"arn:aws:route53:::hostedzone/{zone_id}",
        "Condition": {
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                    f"{CHALLENGE_LABEL}.{domain}".lower().rstrip(".")
                ],
                "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
            }
        },
    }
    # ListHostedZones has no resource to scope it to; GetChange names only a change id.
    find_the_zone = {"Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"}
    wait_for_the_change = {
        "Effect": "Allow",
        "Action": "route53:GetChange",
        "Resource": "arn:aws:route53:::change/*",
    }
    statements = [answer_the_challenge, find_the_zone, wait_for_the_change]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def declare_zone_records(
    name: str,
    domain: DomainSpec,
    address: pulumi.Input[str],
    hub_role: aws.iam.Role,
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The hub's records in the organizer's zone and its challenge permission; returns the
    domain once all of them exist (certbot, which uses it, needs every one)."""
    opts = pulumi.ResourceOptions(parent=parent)
    zone = aws.route53.get_zone_output(
        name=domain.hosted_zone, opts=pulumi.InvokeOutputOptions(parent=parent)
    )

    def record(suffix: str, record_name: str) -> aws.route53.Record:
        return aws.route53.Record(
            f"{name}-{suffix}",
            zone_id=zone.zone_id,
            name=record_name,
            type="A",
            ttl=RECORD_TTL_SECONDS,
            records=[address],
            opts=opts,
        )

    grant = aws.iam.RolePolicy(
        f"{name}-dns-challenge",
        role=hub_role.id,
        policy=zone.zone_id.apply(lambda zone_id: dns_challenge_policy(zone_id, domain.name)),
        opts=opts,
    )
    made = (record("dns", domain.name), record("user-servers-dns", f"*.{domain.name}"), grant)
    return pulumi.Output.all(*(resource.id for resource in made)).apply(lambda _: domain.name)
