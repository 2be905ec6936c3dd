"""The local cloud's filter as it reads the recorded security groups (rehearsal/security_groups.py):
which iptables rules a state gives, without touching iptables."""

from ipaddress import ip_address, ip_network

from program import deploy

from infra import layout
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


def recorded(deployment) -> tuple[list[Record], dict[str, str]]:
    """The records the local cloud would hold of the program's deployment, each instance at an
    address of its own; and those addresses by instance name."""
    records, addresses = [], {}
    names = {r.id: r.name for r in deployment.of_type(sg.INSTANCE)}
    for declared in deployment.resources:
        made = {}
        if declared.type == sg.INSTANCE:
            addresses[declared.name] = made["address"] = f"172.31.0.{10 + len(addresses)}"
            made["resource"] = declared.name
        elif declared.type == sg.EIP_ASSOCIATION:
            made = {"resource": names[declared.inputs["instanceId"]], "address": "203.0.113.10"}
        elif declared.type not in sg.TYPES:
            continue
        records.append(
            Record(declared.type, declared.name, declared.id, "", declared.inputs, {}, made)
        )
    return records, addresses


def admits(rules: list[str], source: str, destination: str, protocol: str, port: int) -> bool:
    """Whether a new connection gets through the chain's rules, the first that matches deciding."""
    for line in rules[1:]:
        words = line.split()
        fields = dict(zip(words[2::2], words[3::2], strict=False))
        if fields["-d"] != f"{destination}/32":
            continue
        if ip_address(source) not in ip_network(fields.get("-s", "0.0.0.0/0")):
            continue
        if fields.get("-p", protocol) != protocol:
            continue
        first, _, last = fields.get("--dport", f"{port}").partition(":")
        if int(first) <= port <= int(last or first):
            return fields["-j"] == "RETURN"
    return True  # not an instance's address


def flows(base_config) -> tuple[list[str], dict[str, str]]:
    records, addresses = recorded(deploy(base_config))
    return sg.chain_rules("c", records), addresses


def test_the_program_s_groups_let_in_what_the_camp_needs(base_config):
    rules, at = flows(base_config)
    hub, workers, nfs = at["hub"], [at["workers-0"], at["workers-1"]], at["nfs"]

    for worker in workers:
        assert admits(rules, worker, hub, "tcp", layout.IMAGES_PORT)
        assert admits(rules, worker, hub, "tcp", layout.SWARM_MANAGER_PORT)
        assert admits(rules, hub, worker, "udp", layout.SWARM_VXLAN_PORT)
        assert admits(rules, hub, worker, "tcp", layout.SSH_PORT)
        assert admits(rules, worker, nfs, "tcp", layout.NFS_PORT)
        assert not admits(rules, worker, hub, "tcp", layout.SSH_PORT)
    assert admits(rules, "198.51.100.7", "203.0.113.10", "tcp", layout.HTTPS_PORT)
    assert not admits(rules, "198.51.100.7", "203.0.113.10", "tcp", layout.SSH_PORT)
    assert not admits(rules, "198.51.100.7", nfs, "tcp", layout.NFS_PORT)


def test_a_needed_rule_the_program_forgot_is_refused(base_config, monkeypatch):
    from infra import network

    declare = network.Network._allow

    def forgetting_images(self, role, name, *args, **kwargs):
        if name != "images-from-cluster":
            return declare(self, role, name, *args, **kwargs)

    monkeypatch.setattr(network.Network, "_allow", forgetting_images)
    rules, at = flows(base_config)

    assert not admits(rules, at["workers-0"], at["hub"], "tcp", layout.IMAGES_PORT)
    assert admits(rules, at["workers-0"], at["hub"], "tcp", layout.SWARM_MANAGER_PORT)
