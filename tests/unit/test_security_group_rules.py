"""The local cloud's filter as it reads the recorded security groups (rehearsal/security_groups.py):
which iptables rules a state gives, without touching iptables."""

from rehearsal import security_groups as sg
from rehearsal.state import Record


def instance(name, address, *groups):
    inputs = {"vpcSecurityGroupIds": list(groups)} if groups else {}
    return Record(
        sg.INSTANCE, name, f"i-{name}", "", inputs, {}, {"resource": name, "address": address}
    )


def ingress(group, protocol, from_port, to_port, **source):
    inputs = {
        "securityGroupId": group,
        "ipProtocol": protocol,
        "fromPort": from_port,
        "toPort": to_port,
        **source,
    }
    return Record(sg.INGRESS_RULE, f"{group}-{from_port}", "sgr", "", inputs, {})


def test_ports_come_as_floats_from_the_mock_runtime_and_ranges_are_kept():
    rules = sg.chain_rules(
        "c",
        [
            instance("hub", "10.0.0.2", "sg-hub"),
            ingress("sg-hub", "tcp", 80.0, 80.0, cidrIpv4="0.0.0.0/0"),
            ingress("sg-hub", "udp", 7000.0, 7010.0, cidrIpv4="10.1.0.0/16"),
        ],
    )

    assert "-A c -d 10.0.0.2/32 -p tcp --dport 80 -j RETURN" in rules
    assert "-A c -d 10.0.0.2/32 -s 10.1.0.0/16 -p udp --dport 7000:7010 -j RETURN" in rules
    assert rules[-1] == "-A c -d 10.0.0.2/32 -j DROP"


def test_a_referenced_group_is_its_members_private_addresses_also_at_an_elastic_ip():
    eip = Record(
        sg.EIP, "ip", "eipalloc", "", {"instance": "i-hub"}, {}, {"address": "203.0.113.9"}
    )
    rules = sg.chain_rules(
        "c",
        [
            instance("hub", "10.0.0.2", "sg-hub"),
            instance("worker", "10.0.0.3", "sg-cluster"),
            eip,
            ingress("sg-hub", "tcp", 8090, 8090, referencedSecurityGroupId="sg-cluster"),
        ],
    )

    for address in ("10.0.0.2", "203.0.113.9"):
        assert f"-A c -d {address}/32 -s 10.0.0.3/32 -p tcp --dport 8090 -j RETURN" in rules
    assert "-A c -d 10.0.0.3/32 -j DROP" in rules  # the worker's group lets nothing in


def test_ipv6_rules_are_recorded_only_and_all_protocols_mean_no_port():
    rules = sg.chain_rules(
        "c",
        [
            instance("hub", "10.0.0.2", "sg-hub"),
            ingress("sg-hub", "tcp", 443, 443, cidrIpv6="::/0"),
            ingress("sg-hub", "-1", None, None, referencedSecurityGroupId="sg-hub"),
        ],
    )

    assert rules[1:] == [
        "-A c -d 10.0.0.2/32 -s 10.0.0.2/32 -j RETURN",
        "-A c -d 10.0.0.2/32 -j DROP",
    ]


def test_inline_and_legacy_rules_count_and_no_group_is_the_default_group():
    ssh = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.9.0.0/16"]}
    group = Record(sg.GROUP, "web", "sg-web", "", {"ingress": [ssh]}, {})
    legacy = Record(
        sg.LEGACY_RULE, "udp", "sgr", "",
        {"type": "ingress", "securityGroupId": "sg-web", "protocol": "udp", "fromPort": 53,
         "toPort": 53, "self": True},
        {},
    )  # fmt: skip
    rules = sg.chain_rules(
        "c",
        [
            group,
            legacy,
            instance("a", "10.0.0.2", "sg-web"),
            instance("b", "10.0.0.3"),
            instance("d", "10.0.0.4"),
        ],
    )

    assert "-A c -d 10.0.0.2/32 -s 10.9.0.0/16 -p tcp --dport 22 -j RETURN" in rules
    assert "-A c -d 10.0.0.2/32 -s 10.0.0.2/32 -p udp --dport 53 -j RETURN" in rules
    assert "-A c -d 10.0.0.3/32 -s 10.0.0.4/32 -j RETURN" in rules
    assert "-A c -d 10.0.0.2/32 -s 10.0.0.3/32 -j RETURN" not in rules
