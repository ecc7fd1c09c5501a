"""Every keyword pykeepalived accepts is acted on by the daemon or warned about, never ignored.

`USED` lists the keyword paths the daemon acts on; `unsupported.UNSUPPORTED` the ones it parses
and warns about. A keyword added to `keywords.KEYWORDS` (or a model field added to a builder)
that neither names fails here until someone classifies it. For a used keyword with a model field,
the field must be read somewhere in the daemon or the core (or be folded by the config layer
into one that is, `RESOLVED_BY_CONFIG`), so "used" cannot drift into "parsed and dropped".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.config import model as m
from pykeepalived.config import parse_config_text
from pykeepalived.config.keywords import KEYWORDS, KeywordTree
from pykeepalived.config.unsupported import (
    PEER_OPTIONS,
    ROUTE_OPTIONS,
    RULE_OPTIONS,
    UNSUPPORTED,
    VIP_OPTIONS,
)
from pykeepalived.lvs.parse import KEYWORDS_READ

SRC = Path(__file__).parents[3] / "src" / "pykeepalived"

_G = "global_defs"
_I = "vrrp_instance"
_SG = "vrrp_sync_group"

#: Keyword paths the daemon acts on (directly, or through a field the config layer resolves);
#: the load balancer's are listed beside its reader (pykeepalived.lvs.parse.KEYWORDS_READ, held
#: to keepalived's vocabulary by tests/unit/lvs/test_lvs_parse_diagnostics.py).
USED: frozenset[tuple[str, ...]] = frozenset({
    *KEYWORDS_READ,
    (_G,),
    *((_G, k) for k in (
        "router_id", "default_interface", "vrrp_mcast_group4", "vrrp_mcast_group6",
        "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh",
        "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay",
        "vrrp_garp_lower_prio_repeat", "vrrp_down_timer_adverts", "vrrp_min_garp",
        "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_version",
        "vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "vrrp_strict", "vrrp_priority",
        "vrrp_no_swap", "vrrp_rt_priority", "vrrp_cpu_affinity", "notify_fifo",
        "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "script_user",
        "enable_script_security", "vrrp_startup_delay", "vmac_prefix")),
    ("static_ipaddress",), ("static_routes",), ("static_rules",),
    (_SG,),
    *((_SG, k) for k in ("group", "notify_backup", "notify_master", "notify_fault",
                         "notify_stop", "notify", "global_tracking",
                         "sync_group_tracking_weight", "track_interface", "track_script",
                         "track_file", "track_process")),
    (_I,),
    *((_I, k) for k in (
        "use_vmac", "vmac_xmit_base", "unicast_peer", "check_unicast_src", "state",
        "interface", "dont_track_primary", "track_interface", "track_script", "track_file",
        "track_process", "mcast_src_ip", "unicast_src_ip", "mcast_dst_ip",
        "virtual_router_id", "version", "priority", "advert_int", "virtual_ipaddress",
        "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "accept", "no_accept",
        "skip_check_adv_addr", "strict_mode", "preempt", "nopreempt", "preempt_delay",
        "notify_backup", "notify_master", "notify_fault", "notify_stop", "notify_deleted",
        "notify", "notify_master_rx_lower_pri", "garp_master_delay", "garp_master_refresh",
        "garp_master_repeat", "garp_master_refresh_repeat", "garp_lower_prio_delay",
        "garp_lower_prio_repeat", "down_timer_adverts", "lower_prio_no_advert",
        "higher_prio_send_advert", "authentication")),
    (_I, "authentication", "auth_type"), (_I, "authentication", "auth_pass"),
    (_I, "auth_hmac"),
    *((_I, "auth_hmac", k) for k in ("key", "active_key", "time_window", "anti_replay",
                                     "mode")),
    ("vrrp_script",),
    *(("vrrp_script", k) for k in ("script", "interval", "timeout", "weight", "rise", "fall",
                                   "user", "init_fail")),
    ("vrrp_track_process",),
    *(("vrrp_track_process", k) for k in ("process", "param_match", "weight", "quorum",
                                          "quorum_max", "delay", "terminate_delay",
                                          "fork_delay", "full_command")),
    *((block,) for block in ("track_file", "vrrp_track_file")),
    *((block, k) for block in ("track_file", "vrrp_track_file")
      for k in ("file", "weight", "init_file")),
})

#: Used keywords whose model field the daemon does not read itself: the config layer folds it
#: into another field (instance defaults, fix-ups), or only the state dumps show it.
RESOLVED_BY_CONFIG: dict[tuple[str, ...], str] = {
    (_G, "router_id"): "an identifier, shown in the state dumps (keepalived uses it the same)",
    (_G, "vrrp_version"): "default of vrrp_instance version",
    (_G, "vrrp_garp_master_delay"): "default of garp_master_delay",
    (_G, "vrrp_garp_master_repeat"): "default of garp_master_repeat",
    (_G, "vrrp_garp_master_refresh"): "default of garp_master_refresh",
    (_G, "vrrp_garp_master_refresh_repeat"): "default of garp_master_refresh_repeat",
    (_G, "vrrp_garp_lower_prio_delay"): "default of garp_lower_prio_delay",
    (_G, "vrrp_garp_lower_prio_repeat"): "default of garp_lower_prio_repeat",
    (_G, "vrrp_down_timer_adverts"): "default of down_timer_adverts",
    (_G, "vrrp_min_garp"): "sets garp_master_repeat / garp_master_delay",
    (_G, "vrrp_lower_prio_no_advert"): "default of lower_prio_no_advert",
    (_G, "vrrp_higher_prio_send_advert"): "default of higher_prio_send_advert",
    (_G, "vmac_prefix"): "the name of the VMAC interface (use_vmac)",
    (_G, "script_user"): "read as script_user / script_group",
    (_SG, "global_tracking"): "keeps member instances' tracking weights (validate)",
    (_SG, "sync_group_tracking_weight"): "keeps member instances' tracking weights (validate)",
    ("vrrp_track_process", "delay"): "sets terminate_delay and fork_delay",
}

#: Model fields that are not a keyword of their block (derived, locations, kept words).
NOT_KEYWORDS = frozenset({
    "loc", "keyword_locs", "raw", "name", "family", "script_group", "group", "reverse",
    "init_file_overwrite", "state_dump_file", "stats_dump_file", "json_dump_file",
})

#: Fields written as a keyword of a block inside their own block.
FIELD_PATHS: dict[tuple[type, str], tuple[str, ...]] = {
    (m.VrrpInstance, "auth_type"): (_I, "authentication", "auth_type"),
    (m.VrrpInstance, "auth_pass"): (_I, "authentication", "auth_pass"),
}

#: The model classes built from keyword blocks, with the block's keyword path.
MODEL_BLOCKS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (m.GlobalDefs, (_G,)),
    (m.VrrpInstance, (_I,)),
    (m.SyncGroup, (_SG,)),
    (m.VrrpScript, ("vrrp_script",)),
    (m.TrackFileDef, ("track_file",)),
    (m.TrackProcessDef, ("vrrp_track_process",)),
    (m.AuthHmac, (_I, "auth_hmac")),
)

#: Words of address / route / rule / unicast_peer lines keepalived 2.2.7 accepts
#: (vrrp_ipaddress.c, vrrp_iproute.c, vrrp_iprule.c, vrrp_parser.c) that the daemon applies.
USED_VIP_OPTIONS = frozenset({"dev", "scope", "broadcast", "brd", "label", "peer", "no_track",
                              "use_vmac"})
USED_ROUTE_OPTIONS = frozenset({"src", "via", "gw", "table", "scope", "metric", "priority",
                                "preference", "dev", "no_track", "to"})
USED_RULE_OPTIONS = frozenset({"inet", "inet6", "from", "to", "table", "lookup", "preference",
                               "order", "priority", "fwmark", "dev", "iif", "oif", "no_track",
                               "type", "blackhole", "unreachable", "prohibit"})
KEEPALIVED_VIP_OPTIONS = USED_VIP_OPTIONS | {"home", "-nodad", "mngtmpaddr", "noprefixroute",
                                             "autojoin", "preferred_lft", "track_group"}
KEEPALIVED_ROUTE_OPTIONS = USED_ROUTE_OPTIONS | {
    "inet", "inet6", "as", "from", "tos", "dsfield", "protocol", "oif", "onlink", "encap",
    "expires", "mtu", "hoplimit", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd",
    "ssthresh", "realms", "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl",
    "pref", "ttl-propagate", "fastopen_no_cookie", "add", "prepend", "append", "or", "nexthop",
    "track_group", "vrf"}
KEEPALIVED_RULE_OPTIONS = USED_RULE_OPTIONS | {
    "not", "tos", "dsfield", "realms", "suppress_prefixlength", "sup_pl", "suppress_ifgroup",
    "sup_group", "tunnel-id", "uidrange", "l3mdev", "protocol", "ipproto", "sport", "dport",
    "track_group", "goto", "nop"}


def keyword_paths(tree: KeywordTree, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for keyword, sub in tree.items():
        path = (*prefix, keyword)
        yield path
        if sub is not None:
            yield from keyword_paths(sub, path)


ALL = frozenset(keyword_paths(KEYWORDS))


def covered(path: tuple[str, ...]) -> bool:
    """Whether `path` or a block around it is in the unsupported table."""
    return any(path[:i] in UNSUPPORTED for i in range(1, len(path) + 1))


def daemon_sources() -> str:
    """What acts on the configuration: the daemon (but not its state dumps) and the core."""
    files = [*(SRC / "daemon").glob("*.py"), *(SRC / "core").glob("*.py")]
    return "\n".join(p.read_text() for p in files if p.name != "dumps.py")


def test_every_keyword_is_used_or_unsupported() -> None:
    unclassified = sorted(p for p in ALL if p not in USED and not covered(p))
    assert not unclassified, (
        "keywords accepted but neither used by the daemon (USED here) nor in "
        f"config/unsupported.py UNSUPPORTED: {unclassified}")


def test_no_keyword_is_both_used_and_unsupported() -> None:
    assert not sorted(p for p in USED if covered(p))


def test_tables_name_real_keywords() -> None:
    assert not sorted((USED | set(UNSUPPORTED) | set(RESOLVED_BY_CONFIG)) - ALL)
    assert set(RESOLVED_BY_CONFIG) <= USED


def test_model_fields_of_used_keywords_are_read_by_the_daemon() -> None:
    sources = daemon_sources()
    problems = []
    for cls, block in MODEL_BLOCKS:
        for f in dataclasses.fields(cls):
            keyword = f.metadata.get("keyword", f.name)
            path = FIELD_PATHS.get((cls, f.name), (*block, keyword))
            if f.name in NOT_KEYWORDS and path not in ALL:
                continue
            if path not in ALL:
                problems.append(f"{cls.__name__}.{f.name}: no keyword {path} in KEYWORDS "
                                "(add it there, or to NOT_KEYWORDS if it is derived)")
            elif covered(path):
                continue
            elif path not in USED:
                problems.append(f"{cls.__name__}.{f.name}: keyword {path} is unclassified")
            elif path not in RESOLVED_BY_CONFIG and not re.search(rf"\.{f.name}\b", sources):
                problems.append(f"{cls.__name__}.{f.name}: listed as used but nothing in "
                                "daemon/ or core/ reads it")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("table", "used", "keepalived"), [
    (VIP_OPTIONS, USED_VIP_OPTIONS, KEEPALIVED_VIP_OPTIONS),
    (ROUTE_OPTIONS, USED_ROUTE_OPTIONS, KEEPALIVED_ROUTE_OPTIONS),
    (RULE_OPTIONS, USED_RULE_OPTIONS, KEEPALIVED_RULE_OPTIONS),
    (PEER_OPTIONS, frozenset(), frozenset({"min_ttl", "max_ttl"})),
], ids=["address", "route", "rule", "unicast_peer"])
def test_every_line_option_is_used_or_unsupported(table: object, used: frozenset[str],
                                                  keepalived: frozenset[str]) -> None:
    assert isinstance(table, dict)
    assert not (used & set(table))
    assert not sorted(keepalived - used - set(table))
    assert not sorted(set(table) - keepalived)


# ------------------------------------------------------------------------------ the warnings

BASE = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n"
        " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n")


def diags(text: str, strict: bool = False) -> list[str]:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=strict)
    return [str(d) for d in r.diagnostics]


def test_unsupported_keywords_are_warned_with_location_in_file_order() -> None:
    text = ("global_defs {\n"
            "    notification_email {\n        ops@example.com\n    }\n"
            "    smtp_server 192.0.2.25\n"
            "    enable_snmp_vrrp\n"
            "    router_id r1\n"
            "}\n" + BASE +
            "virtual_server 192.0.2.9 80 {\n"
            "    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    delay_loop 6\n"
            "    real_server 192.0.2.20 80 {\n        uthreshold 10\n        TCP_CHECK {\n"
            "            connect_timeout 3\n        }\n    }\n}\n"
            "bfd_instance b1 {\n    neighbor_ip 192.0.2.30\n}\n")
    assert diags(text) == [
        "k.conf:2:5: warning: parsed, not supported: notification_email (email alerts)",
        "k.conf:5:5: warning: parsed, not supported: smtp_server (email alerts)",
        "k.conf:6:5: warning: parsed, not supported: enable_snmp_vrrp (SNMP)",
        "k.conf:22:9: warning: parsed, not supported: uthreshold (IPVS connection thresholds; "
        "the real server takes every connection its weight gives it)",
        "k.conf:28:1: warning: parsed, not supported: bfd_instance (BFD)",
    ]


def test_an_unknown_keyword_inside_an_unsupported_block_is_still_reported() -> None:
    out = diags(BASE + "bfd_instance b1 {\n    neighbr_ip 192.0.2.30\n}\n")
    assert out[0].endswith("parsed, not supported: bfd_instance (BFD)")
    assert "k.conf:9:5: warning: unknown keyword 'neighbr_ip'" in out[1]


def test_unsupported_warnings_follow_includes_in_place(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("global_defs {\n    smtp_server 192.0.2.25\n}\n")
    main = tmp_path / "main.conf"
    main.write_text("global_defs {\n    enable_traps\n}\ninclude inc.conf\n" + BASE
                    + "garp_group {\n    garp_interval 1\n}\n")
    from pykeepalived.config import load_config

    out = [(d.file, d.line, d.message) for d in load_config(main, check_files=False).warnings]
    assert out == [
        (str(main), 2, "parsed, not supported: enable_traps (SNMP)"),
        (str(tmp_path / "inc.conf"), 2, "parsed, not supported: smtp_server (email alerts)"),
        (str(main), 12, "parsed, not supported: garp_group (gratuitous ARP / NA rate limits)"),
    ]


def test_unsupported_is_a_warning_even_in_the_config_test() -> None:
    r = parse_config_text("global_defs {\n    smtp_alert\n    vrrp_garp_interval 0.1\n}\n"
                          + BASE, filename="k.conf", check_files=False, strict=True)
    assert r.ok and len(r.warnings) == 2


def test_instance_and_sync_group_keywords() -> None:
    text = BASE.replace(" interface eth0\n", " interface eth0\n smtp_alert\n unicast_ttl 5\n"
                        " promote_secondaries\n track_bfd {\n  b1\n }\n")
    text += "vrrp_sync_group G {\n group {\n  VI_1\n }\n track_script {\n  chk\n }\n}\n"
    out = diags(text)
    assert "k.conf:3:2: warning: parsed, not supported: smtp_alert (email alerts)" in out
    assert any(d.startswith("k.conf:4:2: warning: parsed, not supported: unicast_ttl (")
               for d in out)
    assert any(d.startswith("k.conf:5:2: warning: parsed, not supported: promote_secondaries (")
               for d in out)
    assert "k.conf:6:2: warning: parsed, not supported: track_bfd (BFD)" in out
    # a sync group's tracking is supported: it applies to every member
    assert not any(d.startswith("k.conf:18:") for d in out), out


def test_net_namespace_is_refused() -> None:
    r = parse_config_text("net_namespace blue\n" + BASE, filename="k.conf", check_files=False)
    assert [str(d) for d in r.errors] == [
        "k.conf:1:1: error: parsed, not supported: net_namespace (run pykeepalived with -s "
        "NAME instead)"]


def test_address_route_rule_and_peer_options() -> None:
    text = BASE.replace(
        "  192.0.2.9/24\n",
        "  192.0.2.9/24 home preferred_lft forever\n  192.0.2.10/24 frobnicate\n").replace(
        " interface eth0\n",
        " interface eth0\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1 mtu lock 1400"
        " dev eth0\n }\n virtual_rules {\n  from 192.0.2.9 table 5 priority 7 tos 4\n"
        "  not from 192.0.2.10 table 5 priority 8\n }\n"
        " unicast_src_ip 192.0.2.1\n unicast_peer {\n  192.0.2.2 min_ttl 5\n }\n")
    r = parse_config_text(text, filename="k.conf", check_files=False)
    out = [str(d) for d in r.diagnostics]
    assert out == [
        "k.conf:4:33: warning: parsed, not supported: mtu in virtual_routes (route metrics "
        "other than metric are not set)",
        "k.conf:7:37: warning: parsed, not supported: tos in virtual_rules (rule selector not "
        "set by pykeepalived)",
        "k.conf:8:3: error: parsed, not supported: not in virtual_rules (inverted rules)",
        "k.conf:12:13: warning: parsed, not supported: min_ttl in unicast_peer (TTL checks of "
        "unicast adverts)",
        "k.conf:16:16: warning: parsed, not supported: home in vrrp_instance VI_1 (address "
        "flag not set by pykeepalived)",
        "k.conf:16:21: warning: parsed, not supported: preferred_lft in vrrp_instance VI_1 "
        "(preferred lifetime; pykeepalived sets its own)",
        "k.conf:17:17: warning: Unknown configuration entry 'frobnicate' for ip address - "
        "ignoring",
    ]
    inst = r.config.vrrp_instances[0] if r.config else None
    assert inst is not None
    assert inst.virtual_routes[0].dev == "eth0" and inst.virtual_routes[0].via == "192.0.2.1"
    assert inst.virtual_ipaddresses[0].home
    assert inst.virtual_ipaddresses[0].extra == ("preferred_lft", "forever")


def test_keyword_and_option_warnings_interleave_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("global_defs {\n    enable_traps\n}\n")
    main = tmp_path / "main.conf"
    main.write_text(BASE.replace("  192.0.2.9/24\n", "  192.0.2.9/24 home\n")
                    + "include inc.conf\n"
                    + "global_defs {\n    smtp_server 192.0.2.25\n}\n")
    from pykeepalived.config import load_config

    out = [(Path(d.file).name, d.line, d.message.split(" (")[0])
           for d in load_config(main, check_files=False).diagnostics]
    assert out == [
        ("main.conf", 5, "parsed, not supported: home in vrrp_instance VI_1"),
        ("inc.conf", 2, "parsed, not supported: enable_traps"),
        ("main.conf", 10, "parsed, not supported: smtp_server"),
    ]
