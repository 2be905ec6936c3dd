"""Security groups on the local cloud: every instance's inbound traffic on the rehearsal's
networks is filtered by the ingress rules its groups hold, as EC2 filters it.

The host filters, not the instance (an instance's root cannot lift its own group): one iptables
chain per rehearsal, jumped to from Docker's DOCKER-USER chain (bridged traffic between the
containers passes the host's FORWARD chain, br_netfilter), rebuilt at once from the recorded
state whenever a security group, a rule, an instance or an Elastic IP is made, changed or
deleted, and removed with the rehearsal's networks. In it: answers (conntrack's established and
related) pass; a new connection to an instance's address (its private one and its Elastic IP)
passes only if one of its groups' rules allows it, by protocol and port range, from a CIDR
(0.0.0.0/0: anything) or from a referenced group (the private addresses of the instances that
carry it, as AWS matches a referenced group); anything else new to that address is dropped. An
instance that names no group is in the VPC's default group, which allows all from its members.

Rules come from aws.vpc.SecurityGroupIngressRule, aws.ec2.SecurityGroupRule (type ingress) and a
group's inline `ingress`. Recorded only: IPv6 rules (the rehearsal's networks are IPv4), prefix
lists, ICMP types (ICMP is allowed or not as a whole), egress (the program allows all egress),
and the connections this machine makes itself (they leave by its OUTPUT chain, not FORWARD).
"""

import hashlib
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from rehearsal.state import Record

GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INSTANCE = "aws:ec2/instance:Instance"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
# The resource types whose change changes what the filter lets through.
TYPES = frozenset({GROUP, INGRESS_RULE, LEGACY_RULE, INSTANCE, EIP, EIP_ASSOCIATION})
DEFAULT_GROUP = "default"  # what an instance that names no group is in
WORLD = "0.0.0.0/0"
_LOCK = threading.Lock()  # the engine makes resources from several threads at once


@dataclass(frozen=True)
class Ingress:
    """One rule of a group: who (CIDRs, groups) may open what (protocol, ports)."""

    group: str
    protocol: str  # "-1": all
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


def chain_name(stack: str) -> str:
    """The rehearsal's chain (iptables names are at most 28 characters)."""
    name = f"camphub-sg-{stack}"
    if len(name) <= 28:
        return name
    return f"camphub-sg-{hashlib.sha256(stack.encode()).hexdigest()[:12]}"


def ingress_rules(records: Iterable[Record]) -> list[Ingress]:
    rules = []
    for record in records:
        inputs = record.inputs
        if record.type == INGRESS_RULE:
            rules.append(
                Ingress(
                    inputs["securityGroupId"],
                    str(inputs.get("ipProtocol", "-1")),
                    inputs.get("fromPort"),
                    inputs.get("toPort"),
                    cidrs=tuple(c for c in [inputs.get("cidrIpv4")] if c),
                    groups=tuple(g for g in [inputs.get("referencedSecurityGroupId")] if g),
                )
            )
        elif record.type == LEGACY_RULE and inputs.get("type") == "ingress":
            source = inputs.get("sourceSecurityGroupId")
            rules.append(_legacy(inputs["securityGroupId"], inputs, source))
        elif record.type == GROUP:
            for inline in inputs.get("ingress") or []:
                rules.append(_legacy(record.id, inline, *(inline.get("securityGroups") or [])))
    return rules


def _legacy(group: str, inputs: dict, *sources: str | None) -> Ingress:
    """A rule as aws.ec2.SecurityGroupRule and a group's inline ingress write it."""
    groups = [s for s in sources if s] + ([group] if inputs.get("self") else [])
    return Ingress(
        group,
        str(inputs.get("protocol", "-1")),
        inputs.get("fromPort"),
        inputs.get("toPort"),
        cidrs=tuple(inputs.get("cidrBlocks") or ()),
        groups=tuple(groups),
    )


@dataclass(frozen=True)
class Member:
    """An instance as the filter sees it: its groups and addresses."""

    groups: tuple[str, ...]
    private: str
    public: tuple[str, ...]


def members(records: list[Record]) -> list[Member]:
    instances = [r for r in records if r.type == INSTANCE and r.made.get("address")]
    public: dict[str, list[str]] = {}  # by the instance's resource name
    by_id = {r.id: r.made["resource"] for r in instances}
    for record in records:
        if record.type == EIP and record.inputs.get("instance") in by_id:
            public.setdefault(by_id[record.inputs["instance"]], []).append(record.made["address"])
        elif record.type == EIP_ASSOCIATION and record.made.get("resource"):
            public.setdefault(record.made["resource"], []).append(record.made["address"])
    return [
        Member(
            tuple(r.inputs.get("vpcSecurityGroupIds") or [DEFAULT_GROUP]),
            r.made["address"],
            tuple(sorted(set(public.get(r.made["resource"], [])))),
        )
        for r in instances
    ]


def chain_rules(chain: str, records: list[Record]) -> list[str]:
    """The chain's rules (iptables-restore lines) for what the records hold."""
    machines = members(records)
    rules = ingress_rules(records)
    if any(m.groups == (DEFAULT_GROUP,) for m in machines):
        rules.append(Ingress(DEFAULT_GROUP, "-1", None, None, groups=(DEFAULT_GROUP,)))
    lines = [f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    for machine in machines:
        for address in (machine.private, *machine.public):
            destination = f"-A {chain} -d {address}/32"
            for rule in rules:
                if rule.group not in machine.groups:
                    continue
                for source in _sources(rule, machines):
                    lines.append(f"{destination}{source}{_what(rule)} -j RETURN")
            lines.append(f"{destination} -j DROP")
    return lines


def _sources(rule: Ingress, machines: list[Member]) -> list[str]:
    sources = set()
    for cidr in rule.cidrs:
        sources.add("" if cidr == WORLD else f" -s {cidr}")
    for group in rule.groups:
        sources.update(f" -s {m.private}/32" for m in machines if group in m.groups)
    return sorted(sources)


def _what(rule: Ingress) -> str:
    protocol = rule.protocol.lower()
    if protocol in ("-1", "all"):
        return ""
    protocol = {"6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
    if protocol not in ("tcp", "udp") or rule.from_port in (None, -1):
        return f" -p {protocol}"
    # The mock runtime passes numbers as floats.
    first = int(rule.from_port)
    last = first if rule.to_port is None else int(rule.to_port)
    ports = str(first) if last == first else f"{first}:{last}"
    return f" -p {protocol} --dport {ports}"


def enforce(stack: str, records: list[Record]) -> None:
    """Makes the rehearsal's chain hold what `records` allow, in one step; removes it when they
    hold no instance."""
    chain = chain_name(stack)
    with _LOCK:
        if not any(r.type == INSTANCE and r.made.get("address") for r in records):
            _remove(chain)
            return
        restore = ["*filter", f":{chain} - [0:0]", *chain_rules(chain, records), "COMMIT", ""]
        _iptables_restore("\n".join(restore))
        if _iptables("-C", "DOCKER-USER", "-j", chain, check=False) != 0:
            _iptables("-I", "DOCKER-USER", "-j", chain)


def remove(stack: str) -> None:
    with _LOCK:
        _remove(chain_name(stack))


def _remove(chain: str) -> None:
    while _iptables("-D", "DOCKER-USER", "-j", chain, check=False) == 0:
        pass
    if _iptables("-F", chain, check=False) == 0:
        _iptables("-X", chain)


def _iptables(*args: str, check: bool = True) -> int:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode


def _iptables_restore(text: str) -> None:
    result = subprocess.run(
        ["iptables-restore", "-w", "--noflush"], input=text, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"iptables-restore failed: {result.stderr.strip()}\n{text}")
