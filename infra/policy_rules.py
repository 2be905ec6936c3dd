"""camphub's security rules over single resources, shared by the unit tests and the policy pack.

Each rule takes a resource's type token and its input properties (camelCase, as the engine sees
them) and returns what it finds wrong, one message per violation. `policy/` wraps them as a
pulumi-policy pack, so `pulumi preview --policy-pack policy` enforces them on a real stack too.
"""

from collections.abc import Callable
from dataclasses import dataclass

from infra import layout

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
WORLD = ("0.0.0.0/0", "::/0")
DOCKER_API_PORTS = (2375, 2376)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[str, dict], list[str]]


def _ingress_ports(props: dict) -> range:
    return range(int(props.get("fromPort", 0)), int(props.get("toPort", 65535)) + 1)


def _ingress_sources(props: dict) -> list[str]:
    keys = ("cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId")
    return [props[k] for k in keys if props.get(k)]


def world_reaches_only_web(resource_type: str, props: dict) -> list[str]:
    if resource_type != INGRESS_RULE or not set(_ingress_sources(props)) & set(WORLD):
        return []
    ports = _ingress_ports(props)
    if len(ports) == 1 and ports[0] in (layout.HTTP_PORT, layout.HTTPS_PORT):
        return []
    return [
        f"opens ports {ports.start}-{ports.stop - 1} to the whole internet; only 80 and 443 may be"
    ]


def ingress_names_one_source_and_protocol(resource_type: str, props: dict) -> list[str]:
    if resource_type != INGRESS_RULE:
        return []
    problems = []
    if len(_ingress_sources(props)) != 1:
        problems.append("must name exactly one source (a CIDR or a security group)")
    if props.get("ipProtocol") in ("-1", "all"):
        problems.append("opens every protocol and port")
    return problems


def no_inline_security_group_rules(resource_type: str, props: dict) -> list[str]:
    """Rules are resources of their own, so the checks above see every one of them."""
    if resource_type == SECURITY_GROUP and (props.get("ingress") or props.get("egress")):
        return ["declares inline rules; declare SecurityGroupIngressRule resources instead"]
    return []


def no_docker_api(resource_type: str, props: dict) -> list[str]:
    if resource_type != INGRESS_RULE:
        return []
    opened = [p for p in DOCKER_API_PORTS if p in _ingress_ports(props)]
    return [f"opens the Docker API port {p}" for p in opened]


def imdsv2_without_container_hops(resource_type: str, props: dict) -> list[str]:
    if resource_type != INSTANCE:
        return []
    options = props.get("metadataOptions") or {}
    problems = []
    if options.get("httpTokens") != "required":
        problems.append("must require IMDSv2 (metadataOptions.httpTokens = required)")
    if options.get("httpPutResponseHopLimit") != 1:
        problems.append("must keep the metadata service one hop away, out of containers' reach")
    return problems


def encrypted_storage(resource_type: str, props: dict) -> list[str]:
    if resource_type == INSTANCE and not (props.get("rootBlockDevice") or {}).get("encrypted"):
        return ["root volume must be encrypted"]
    if resource_type == VOLUME and not props.get("encrypted"):
        return ["volume must be encrypted"]
    return []


RULES = (
    Rule(
        "world-reaches-only-web",
        "The internet reaches only HTTP and HTTPS.",
        world_reaches_only_web,
    ),
    Rule(
        "ingress-one-source",
        "Every ingress rule names one source and one protocol.",
        ingress_names_one_source_and_protocol,
    ),
    Rule(
        "no-inline-rules",
        "Security group rules are separate resources.",
        no_inline_security_group_rules,
    ),
    Rule("no-docker-api", "No Docker TCP API port is opened.", no_docker_api),
    Rule(
        "imdsv2", "Instances require IMDSv2 with a hop limit of 1.", imdsv2_without_container_hops
    ),
    Rule("encrypted-storage", "Root and data volumes are encrypted.", encrypted_storage),
)


def violations(resource_type: str, props: dict) -> list[str]:
    """Every rule's findings for one resource, each prefixed with the rule's name."""
    return [f"{rule.name}: {m}" for rule in RULES for m in rule.check(resource_type, props)]
