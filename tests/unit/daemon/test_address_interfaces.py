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


# ------------------------------------------------------------------ sync group tracking

GROUPED = """vrrp_script chk {
    script /bin/true
    weight -20
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    track_interface {
        eth9
        eth1 weight -15
    }
    track_script {
        chk
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority %(prio)d
    track_interface {
        eth1 weight -40
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress {
        192.0.2.101/24
    }
}
"""


def grouped(prio: int = 100) -> dict[str, list[tuple[str, str, int]]]:
    result = parse_config_text(GROUPED % {"prio": prio}, filename="k.conf", check_files=False)
    assert result.config is not None, result.errors
    out = {}
    for cfg in result.config.vrrp_instances:
        rt = runtime.instance_runtime(result.config, cfg, vip_if=None,
                                      src=IPv4Address("192.0.2.1"), fast_preempt=True)
        out[cfg.name] = [(t.kind.value, t.name, t.weight) for t in rt.params.trackers]
    return out


def test_a_sync_groups_tracking_applies_to_every_member() -> None:
    got = grouped()
    assert ("interface", "eth9", 0) in got["VI_1"] and ("interface", "eth9", 0) in got["VI_2"]
    assert ("script", "chk", -20) in got["VI_1"] and ("script", "chk", -20) in got["VI_2"]
    # one entry per interface, as keepalived: a member's own weights are cleared (without
    # sync_group_tracking_weight) and an unweighted entry stays (FAULT on down)
    assert [t for t in got["VI_1"] if t[1] == "eth1"] == [("interface", "eth1", 0)]
    assert ("interface", "eth1", -15) in got["VI_2"]


def test_the_groups_weight_replaces_a_weighted_entry_of_the_instance() -> None:
    text = GROUPED % {"prio": 100}
    text = text.replace("    group {", "    sync_group_tracking_weight\n    group {")
    result = parse_config_text(text, filename="k.conf", check_files=False)
    assert result.config is not None
    cfg = result.config.vrrp_instances[0]
    specs = runtime.trackers(result.config, cfg, "eth0", "eth0")
    assert [(t.name, t.weight) for t in specs if t.name == "eth1"] == [("eth1", -15)]


def test_with_an_address_owner_in_the_group_its_tracking_has_no_weights() -> None:
    got = grouped(prio=255)
    assert ("script", "chk", 0) in got["VI_2"]
    assert ("interface", "eth1", 0) in got["VI_2"]
