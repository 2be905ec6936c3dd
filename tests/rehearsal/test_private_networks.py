"""The local cloud plays the camp's subnet: each rehearsal's private network is a range of the
program's VPC of the subnet's size, and two rehearsals on one engine never get the same one."""

import ipaddress

from infra import layout
from rehearsal import cloud
from rehearsal.docker_cli import docker


def test_each_rehearsal_has_its_own_range_of_the_camps_vpc(tmp_path):
    clouds = [cloud.LocalCloud(f"ranges-{n}", tmp_path / str(n)) for n in range(2)]
    try:
        ranges = [ipaddress.ip_network(c.ensure_network()) for c in clouds]
        assert ranges[0] != ranges[1]
        for each in ranges:
            assert each.subnet_of(ipaddress.ip_network(layout.VPC_CIDR))
            assert each.prefixlen == ipaddress.ip_network(layout.SUBNET_CIDR).prefixlen
        # Asked again, a rehearsal keeps its range.
        assert ipaddress.ip_network(clouds[0].ensure_network()) == ranges[0]
    finally:
        for each in clouds:
            docker("network", "rm", each.name, each.public_network, check=False)
