"""keepalived tracks the interfaces an instance's addresses, routes and rules use (down:
FAULT), unless the line says no_track; pykeepalived's trackers include them the same way."""

from __future__ import annotations

from ipaddress import IPv4Address

from pykeepalived.config import parse_config_text
from pykeepalived.core.priority import TrackerKind
from pykeepalived.daemon import runtime

CONFIG = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
%(extra)s    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24 dev eth0
        198.51.100.1/24 dev eth1
        198.51.100.2/24 dev eth2 no_track
    }
    virtual_ipaddress_excluded {
        198.51.100.3/24 dev eth3
    }
    virtual_routes {
        203.0.113.0/24 via 198.51.100.254 dev eth4
        203.0.114.0/24 via 198.51.100.254 dev eth5 no_track
        203.0.115.0/24 dev eth0
    }
    virtual_rules {
        from 192.0.2.100 table 100 iif eth6 oif eth7
        from 192.0.2.101 table 100 iif eth8 no_track
    }
}
"""


def interfaces(extra: str = "") -> list[tuple[str, int]]:
    result = parse_config_text(CONFIG % {"extra": extra}, filename="k.conf", check_files=False)
    assert result.config is not None, result.errors
    cfg = result.config.vrrp_instances[0]
    rt = runtime.instance_runtime(result.config, cfg, vip_if=None,
                                  src=IPv4Address("192.0.2.1"), fast_preempt=True)
    return [(t.name, t.weight) for t in rt.params.trackers if t.kind is TrackerKind.INTERFACE]


def test_vip_route_and_rule_interfaces_are_tracked_unless_no_track() -> None:
    assert interfaces() == [("eth0", 0), ("eth1", 0), ("eth3", 0), ("eth4", 0), ("eth6", 0),
                            ("eth7", 0)]


def test_dont_track_primary_leaves_vips_on_it_untracked_but_not_a_route_on_it() -> None:
    # keepalived: a VIP on the primary interface does not bring back its tracking; a route's
    # (or a rule's) interface is tracked whatever it is
    assert interfaces("    dont_track_primary\n") == [
        ("eth1", 0), ("eth3", 0), ("eth4", 0), ("eth0", 0), ("eth6", 0), ("eth7", 0)]


def test_a_weighted_track_interface_still_faults_when_a_vip_lives_there() -> None:
    got = interfaces("    track_interface {\n        eth1 weight -30\n    }\n")
    assert ("eth1", -30) in got and ("eth1", 0) in got
