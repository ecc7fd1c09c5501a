"""virtual_routes / virtual_rules lines become the netlink specs ip-route/ip-rule would use."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from pykeepalived.daemon.routes import route_spec, rule_spec


def ifindex(name: str) -> int:
    return {"eth0": 2, "eth1": 3}[name]


def test_route_with_gateway_dev_metric_and_table() -> None:
    spec = route_spec("198.51.100.0/24 via 192.0.2.254 dev eth1 metric 5 table 100".split(),
                      ifindex)
    assert spec.dst == ip_network("198.51.100.0/24")
    assert spec.gateway == ip_address("192.0.2.254")
    assert (spec.ifindex, spec.metric, spec.table, spec.type) == (3, 5, 100, "unicast")


def test_route_with_src_and_to_keyword() -> None:
    spec = route_spec("src 192.0.2.1 to 198.51.100.128/25 table main dev eth0".split(), ifindex)
    assert spec.dst == ip_network("198.51.100.128/25")
    assert spec.src == ip_address("192.0.2.1")
    assert (spec.table, spec.ifindex) == (254, 2)


def test_blackhole_and_default_routes() -> None:
    spec = route_spec(["blackhole", "198.51.100.64/26"], ifindex)
    assert (spec.type, spec.dst, spec.ifindex) == ("blackhole", ip_network("198.51.100.64/26"),
                                                   None)
    default = route_spec("default via 192.0.2.254".split(), ifindex)
    assert default.dst is None and default.gateway == ip_address("192.0.2.254")


def test_ipv6_route() -> None:
    spec = route_spec("2001:db8:1::/48 via 2001:db8::fe dev eth0".split(), ifindex)
    assert spec.dst == ip_network("2001:db8:1::/48")
    assert spec.resolved_family() == 10


def test_rules() -> None:
    r = rule_spec("from 192.0.2.0/24 table 100 priority 50".split())
    assert (r.src, r.table, r.priority) == (ip_network("192.0.2.0/24"), 100, 50)
    r = rule_spec("to 198.51.100.0/24 lookup main iif eth0 fwmark 0x10/0xff".split())
    assert (r.dst, r.table, r.iif, r.fwmark, r.fwmask) == (
        ip_network("198.51.100.0/24"), 254, "eth0", 16, 255)
    assert rule_spec("from all blackhole pref 7".split()).action == "blackhole"


def test_garbage_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError):
        route_spec(["not-an-address"], ifindex)
