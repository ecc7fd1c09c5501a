"""What keepalived accepts, pykeepalived parses, and the daemon does not act on, with the reason.

The drop-in rule: whatever keepalived accepts either works as in keepalived or is refused loudly.
Refusing loudly is either an error (the daemon does not start, ``-t`` fails) or, for settings
whose absence cannot make the daemon do something harmful, a warning worded
``parsed, not supported: KEYWORD (REASON)`` at the keyword's file:line:col. The daemon logs
every diagnostic at start and at reload; ``pykeepalived -t`` prints them and exits 0 on warnings.

The tables are data, checked by one pass over the statement tree (`build.check_keywords`, in
the file's order, includes in place) and by the line parsers of `addresses` and `instance` for
the options written inside address, route, rule and unicast peer lines.
``tests/unit/config/test_unsupported_keywords.py`` fails when a keyword of `keywords.KEYWORDS`
is neither in the test's list of keywords the daemon uses nor here, so a new keyword must be
classified when it is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pykeepalived.config.diagnostics import Diagnostics, Location, Severity


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Why pykeepalived does not act on a keyword, and how loudly it says so."""

    reason: str
    #: "error" when running without the setting could do harm (the wrong namespace).
    severity: Severity = "warning"


def message(name: str, reason: str) -> str:
    return f"parsed, not supported: {name} ({reason})"


def report(diags: Diagnostics, loc: Location, name: str, entry: Unsupported) -> None:
    if entry.severity == "error":
        diags.error(loc, message(name, entry.reason))
    else:
        diags.warning(loc, message(name, entry.reason))


_CHECKER_SCHED = Unsupported("checker process scheduling limits")
_LVS_FIFO = Unsupported("the load balancer's notify FIFO")
_IPVS_NFT = Unsupported("keepalived's nftables rules for IPVS; pykeepalived's load balancer is "
                        "its own nftables table")
_SYNCD = Unsupported("IPVS connection synchronisation; established connections are not "
                     "handed over to the backup")
_THRESHOLD = Unsupported("IPVS connection thresholds; the real server takes every connection "
                         "its weight gives it")
_HASH_FALLBACK = Unsupported("the nftables load balancer hashes over the live real servers "
                             "only")
_EMAIL = Unsupported("email alerts")
_SNMP = Unsupported("SNMP")
_BFD = Unsupported("BFD")
_DBUS = Unsupported("D-Bus")
_NAMES = Unsupported("process names")
_SCHED = Unsupported("process scheduling limit")
_NLBUF = Unsupported("netlink buffer sizes")
_RELOAD = Unsupported("scheduled and checked reloads")
_LINKBEAT = Unsupported("linkbeat: link state is read from netlink")
_GARP_GROUP = Unsupported("gratuitous ARP / NA rate limits")
_EXTRA_IF = Unsupported("gratuitous ARPs on extra interfaces")
_FILTER = Unsupported("pykeepalived's accept-mode filter is its own nftables table")
_PRIO_NOTIFY = Unsupported("priority change notifications")

_VS = "virtual_server"
_RS = (_VS, "real_server")


def _lb_entries() -> dict[tuple[str, ...], Unsupported]:
    out: dict[tuple[str, ...], Unsupported] = {
        (_VS, "persistence_engine"): Unsupported("IPVS persistence engines (sip)"),
        (_VS, "ops"): Unsupported("one-packet scheduling; the datagrams of a UDP flow go to "
                                  "one real server"),
        (_VS, "flag-1"): _HASH_FALLBACK,
        (_VS, "sh-fallback"): _HASH_FALLBACK,
        (_VS, "mh-fallback"): _HASH_FALLBACK,
        (_VS, "flag-3"): Unsupported("IPVS scheduler flag 3"),
        (_VS, "ha_suspend"): Unsupported("suspending checkers while the address is absent; "
                                         "they always run, and the nftables rules match only "
                                         "while the address is local"),
        (_VS, "smtp_alert"): _EMAIL,
        (_VS, "snmp_name"): _SNMP,
        (*_RS, "smtp_alert"): _EMAIL,
        (*_RS, "snmp_name"): _SNMP,
        (*_RS, "uthreshold"): _THRESHOLD,
        (*_RS, "lthreshold"): _THRESHOLD,
        (*_RS, "BFD_CHECK"): Unsupported("BFD; the real server is not checked by it"),
    }
    for checker in ("HTTP_GET", "SSL_GET"):
        out[(*_RS, checker, "url", "regex_stack")] = Unsupported(
            "PCRE2's JIT stack; Python's re has none")
    return out


#: Keyword paths (as in `keywords.KEYWORDS`) the daemon does not act on. A block's entry covers
#: everything inside it: one diagnostic, on the block's keyword.
UNSUPPORTED: Final[Mapping[tuple[str, ...], Unsupported]] = {
    # --- top level -------------------------------------------------------------------------
    ("linkbeat_use_polling",): _LINKBEAT,
    ("linkbeat_interfaces",): _LINKBEAT,
    ("net_namespace",): Unsupported("run pykeepalived with -s NAME instead", "error"),
    ("net_namespace_ipvs",): Unsupported("IPVS in another network namespace"),
    ("namespace_with_ipsets",): Unsupported("ipsets"),
    ("use_pid_dir",): Unsupported("pid files in /run/keepalived; use -p"),
    ("instance",): Unsupported("instance name for pid files; use -p"),
    ("child_wait_time",): Unsupported("pykeepalived runs no child processes"),
    ("track_group",): Unsupported("track groups of static addresses, routes and rules"),
    ("garp_group",): _GARP_GROUP,
    ("interface_up_down_delays",): Unsupported("interface up/down delays"),
    ("bfd_instance",): _BFD,
    # --- global_defs -----------------------------------------------------------------------
    ("global_defs", "process_names"): _NAMES,
    ("global_defs", "process_name"): _NAMES,
    ("global_defs", "vrrp_process_name"): _NAMES,
    ("global_defs", "checker_process_name"): _NAMES,
    ("global_defs", "lvs_process_name"): _NAMES,
    ("global_defs", "bfd_process_name"): _BFD,
    ("global_defs", "notification_email_from"): _EMAIL,
    ("global_defs", "smtp_server"): _EMAIL,
    ("global_defs", "smtp_helo_name"): _EMAIL,
    ("global_defs", "smtp_connect_timeout"): _EMAIL,
    ("global_defs", "notification_email"): _EMAIL,
    ("global_defs", "smtp_alert"): _EMAIL,
    ("global_defs", "smtp_alert_vrrp"): _EMAIL,
    ("global_defs", "smtp_alert_checker"): _EMAIL,
    ("global_defs", "no_email_faults"): _EMAIL,
    ("global_defs", "startup_script"): Unsupported("start-up and shut-down scripts"),
    ("global_defs", "startup_script_timeout"): Unsupported("start-up and shut-down scripts"),
    ("global_defs", "shutdown_script"): Unsupported("start-up and shut-down scripts"),
    ("global_defs", "shutdown_script_timeout"): Unsupported("start-up and shut-down scripts"),
    ("global_defs", "max_auto_priority"): Unsupported("automatic real-time priority"),
    ("global_defs", "min_auto_priority_delay"): Unsupported("automatic real-time priority"),
    ("global_defs", "dynamic_interfaces"): Unsupported("dynamic interfaces"),
    ("global_defs", "disable_local_igmp"): Unsupported("local IGMP reports"),
    ("global_defs", "lvs_timeouts"): Unsupported(
        "IPVS connection timeouts; the kernel's conntrack timeouts apply"),
    ("global_defs", "lvs_sync_daemon"): _SYNCD,
    ("global_defs", "vrrp_garp_interval"): _GARP_GROUP,
    ("global_defs", "vrrp_gna_interval"): _GARP_GROUP,
    ("global_defs", "vrrp_garp_extra_if"): _EXTRA_IF,
    ("global_defs", "vrrp_vmac_garp_intvl"): _EXTRA_IF,
    ("global_defs", "vrrp_iptables"): _FILTER,
    ("global_defs", "vrrp_ipsets"): _FILTER,
    ("global_defs", "nftables"): _FILTER,
    ("global_defs", "nftables_priority"): _FILTER,
    ("global_defs", "nftables_ifindex"): _FILTER,
    ("global_defs", "nftables_ipvs"): _IPVS_NFT,
    ("global_defs", "nftables_ipvs_priority"): _IPVS_NFT,
    ("global_defs", "nftables_ipvs_start_fwmark"): _IPVS_NFT,
    ("global_defs", "nftables_counters"): _FILTER,
    ("global_defs", "vrrp_rlimit_rttime"): _SCHED,
    ("global_defs", "vrrp_rlimit_rtime"): _SCHED,
    ("global_defs", "vrrp_notify_priority_changes"): _PRIO_NOTIFY,
    ("global_defs", "fifo_write_vrrp_states_on_reload"): Unsupported(
        "writing the states to the notify FIFO on reload"),
    ("global_defs", "lvs_notify_fifo"): _LVS_FIFO,
    ("global_defs", "lvs_notify_fifo_script"): _LVS_FIFO,
    ("global_defs", "checker_priority"): _CHECKER_SCHED,
    ("global_defs", "checker_no_swap"): _CHECKER_SCHED,
    ("global_defs", "checker_rt_priority"): _CHECKER_SCHED,
    ("global_defs", "checker_cpu_affinity"): _CHECKER_SCHED,
    ("global_defs", "checker_rlimit_rttime"): _CHECKER_SCHED,
    ("global_defs", "checker_rlimit_rtime"): _CHECKER_SCHED,
    ("global_defs", "bfd_priority"): _BFD,
    ("global_defs", "bfd_no_swap"): _BFD,
    ("global_defs", "bfd_rt_priority"): _BFD,
    ("global_defs", "bfd_cpu_affinity"): _BFD,
    ("global_defs", "bfd_rlimit_rttime"): _BFD,
    ("global_defs", "bfd_rlimit_rtime"): _BFD,
    ("global_defs", "snmp_socket"): _SNMP,
    ("global_defs", "enable_traps"): _SNMP,
    ("global_defs", "enable_snmp_vrrp"): _SNMP,
    ("global_defs", "enable_snmp_keepalived"): _SNMP,
    ("global_defs", "enable_snmp_rfc"): _SNMP,
    ("global_defs", "enable_snmp_rfcv2"): _SNMP,
    ("global_defs", "enable_snmp_rfcv3"): _SNMP,
    ("global_defs", "enable_snmp_checker"): _SNMP,
    ("global_defs", "enable_dbus"): _DBUS,
    ("global_defs", "dbus_service_name"): _DBUS,
    ("global_defs", "vrrp_netlink_cmd_rcv_bufs"): _NLBUF,
    ("global_defs", "vrrp_netlink_cmd_rcv_bufs_force"): _NLBUF,
    ("global_defs", "vrrp_netlink_monitor_rcv_bufs"): _NLBUF,
    ("global_defs", "vrrp_netlink_monitor_rcv_bufs_force"): _NLBUF,
    ("global_defs", "process_monitor_rcv_bufs"): _NLBUF,
    ("global_defs", "process_monitor_rcv_bufs_force"): _NLBUF,
    ("global_defs", "lvs_netlink_cmd_rcv_bufs"): _NLBUF,
    ("global_defs", "lvs_netlink_cmd_rcv_bufs_force"): _NLBUF,
    ("global_defs", "lvs_netlink_monitor_rcv_bufs"): _NLBUF,
    ("global_defs", "lvs_netlink_monitor_rcv_bufs_force"): _NLBUF,
    ("global_defs", "rs_init_notifies"): Unsupported(
        "notifications of the real servers' initial states"),
    ("global_defs", "no_checker_emails"): _EMAIL,
    ("global_defs", "vrrp_rx_bufs_policy"): Unsupported("socket receive buffer sizes"),
    ("global_defs", "vrrp_rx_bufs_multiplier"): Unsupported("socket receive buffer sizes"),
    ("global_defs", "log_unknown_vrids"): Unsupported(
        "logging adverts for unknown VRIDs; they are counted in the metrics"),
    ("global_defs", "vmac_addr_prefix"): Unsupported("use_vmac_addr"),
    ("global_defs", "umask"): Unsupported("use -u"),
    ("global_defs", "random_seed"): Unsupported("random seed"),
    ("global_defs", "reload_check_config"): _RELOAD,
    ("global_defs", "reload_time_file"): _RELOAD,
    ("global_defs", "reload_repeat"): _RELOAD,
    ("global_defs", "reload_file"): _RELOAD,
    ("global_defs", "include_check"): Unsupported("use -e for errors on missing files"),
    ("global_defs", "config_save_dir"): Unsupported("saved configuration state"),
    ("global_defs", "tmp_config_directory"): Unsupported("configuration copy directory"),
    ("global_defs", "data_use_instance"): Unsupported("instance name in dump file names"),
    # --- vrrp_sync_group -------------------------------------------------------------------
    ("vrrp_sync_group", "track_bfd"): _BFD,
    ("vrrp_sync_group", "smtp_alert"): _EMAIL,
    ("vrrp_sync_group", "notify_priority_changes"): _PRIO_NOTIFY,
    # --- vrrp_instance ---------------------------------------------------------------------
    ("vrrp_instance", "use_vmac_addr"): Unsupported("VMACs for excluded addresses"),
    ("vrrp_instance", "use_ipvlan"): Unsupported("ipvlan interfaces"),
    ("vrrp_instance", "unicast_fault_no_peer"): Unsupported("FAULT without unicast peers"),
    ("vrrp_instance", "old_unicast_checksum"): Unsupported("pre-2.0 unicast checksums"),
    ("vrrp_instance", "native_ipv6"): Unsupported("native IPv6 instance without VIPs"),
    ("vrrp_instance", "vrf"): Unsupported("VRF"),
    ("vrrp_instance", "track_bfd"): _BFD,
    ("vrrp_instance", "track_src_ip"): Unsupported("tracking the source address"),
    ("vrrp_instance", "unicast_ttl"): Unsupported("unicast adverts are sent with TTL 255"),
    ("vrrp_instance", "promote_secondaries"): Unsupported(
        "the interface's promote_secondaries setting is left as it is"),
    ("vrrp_instance", "linkbeat_use_polling"): _LINKBEAT,
    ("vrrp_instance", "debug"): Unsupported("per-instance debug level"),
    ("vrrp_instance", "smtp_alert"): _EMAIL,
    ("vrrp_instance", "notify_priority_changes"): _PRIO_NOTIFY,
    ("vrrp_instance", "lvs_sync_daemon_interface"): _SYNCD,
    ("vrrp_instance", "garp_extra_if"): _EXTRA_IF,
    ("vrrp_instance", "vmac_garp_intvl"): _EXTRA_IF,
    ("vrrp_instance", "kernel_rx_buf_size"): Unsupported("socket receive buffer sizes"),
    # --- the load balancer (values the nftables plane cannot do, such as lb_algo sed or
    # lvs_method TUN, are warned about by pykeepalived.lvs.parse where they are written) -----
    **_lb_entries(),
}

_ADDR_FLAG = Unsupported("address flag not set by pykeepalived")

#: Options of a ``virtual_ipaddress`` / ``virtual_ipaddress_excluded`` / ``static_ipaddress``
#: line the daemon does not apply; the value is whether the option takes a value.
VIP_OPTIONS: Final[Mapping[str, tuple[bool, Unsupported]]] = {
    "home": (False, _ADDR_FLAG),
    "-nodad": (False, Unsupported("pykeepalived always adds IPv6 VIPs without DAD")),
    "mngtmpaddr": (False, _ADDR_FLAG),
    "noprefixroute": (False, _ADDR_FLAG),
    "autojoin": (False, _ADDR_FLAG),
    "preferred_lft": (True, Unsupported("preferred lifetime; pykeepalived sets its own")),
    "track_group": (True, Unsupported("track groups")),
}

_ROUTE_METRIC = Unsupported("route metrics other than metric are not set")
_ROUTE_ATTR = Unsupported("route attribute not set by pykeepalived")

#: Options of a ``virtual_routes`` / ``static_routes`` line keepalived accepts and the daemon
#: does not apply, with whether each takes a value. ``nexthop`` and ``encap`` take the rest of
#: the line.
ROUTE_OPTIONS: Final[Mapping[str, tuple[bool, Unsupported]]] = {
    "inet": (False, Unsupported("address family word")),
    "inet6": (False, Unsupported("address family word")),
    "as": (True, _ROUTE_ATTR),
    "from": (True, Unsupported("source-specific routes")),
    "tos": (True, _ROUTE_ATTR),
    "dsfield": (True, _ROUTE_ATTR),
    "protocol": (True, _ROUTE_ATTR),
    "oif": (True, Unsupported("write dev instead")),
    "onlink": (False, _ROUTE_ATTR),
    "encap": (True, Unsupported("encapsulation")),
    "expires": (True, _ROUTE_ATTR),
    "mtu": (True, _ROUTE_METRIC),
    "hoplimit": (True, _ROUTE_METRIC),
    "advmss": (True, _ROUTE_METRIC),
    "rtt": (True, _ROUTE_METRIC),
    "rttvar": (True, _ROUTE_METRIC),
    "reordering": (True, _ROUTE_METRIC),
    "window": (True, _ROUTE_METRIC),
    "cwnd": (True, _ROUTE_METRIC),
    "ssthresh": (True, _ROUTE_METRIC),
    "realms": (True, _ROUTE_ATTR),
    "rto_min": (True, _ROUTE_METRIC),
    "initcwnd": (True, _ROUTE_METRIC),
    "initrwnd": (True, _ROUTE_METRIC),
    "features": (True, _ROUTE_METRIC),
    "quickack": (True, _ROUTE_METRIC),
    "congctl": (True, _ROUTE_METRIC),
    "pref": (True, _ROUTE_ATTR),
    "ttl-propagate": (True, _ROUTE_ATTR),
    "fastopen_no_cookie": (True, _ROUTE_METRIC),
    "add": (False, Unsupported("routes are always replaced")),
    "prepend": (False, Unsupported("routes are always replaced")),
    "append": (False, Unsupported("routes are always replaced")),
    "or": (True, Unsupported("multipath routes")),
    "nexthop": (True, Unsupported("multipath routes")),
    "track_group": (True, Unsupported("track groups")),
    "vrf": (True, Unsupported("VRF")),
}

_RULE_SELECTOR = Unsupported("rule selector not set by pykeepalived")

#: Options of a ``virtual_rules`` / ``static_rules`` line keepalived accepts and the daemon does
#: not apply, with whether each takes a value.
RULE_OPTIONS: Final[Mapping[str, tuple[bool, Unsupported]]] = {
    # Installing the rule without its "not" would select the opposite traffic.
    "not": (False, Unsupported("inverted rules", "error")),
    "tos": (True, _RULE_SELECTOR),
    "dsfield": (True, _RULE_SELECTOR),
    "realms": (True, _RULE_SELECTOR),
    "suppress_prefixlength": (True, _RULE_SELECTOR),
    "sup_pl": (True, _RULE_SELECTOR),
    "suppress_ifgroup": (True, _RULE_SELECTOR),
    "sup_group": (True, _RULE_SELECTOR),
    "tunnel-id": (True, _RULE_SELECTOR),
    "uidrange": (True, _RULE_SELECTOR),
    "l3mdev": (False, Unsupported("VRF rules")),
    "protocol": (True, _RULE_SELECTOR),
    "ipproto": (True, _RULE_SELECTOR),
    "sport": (True, _RULE_SELECTOR),
    "dport": (True, _RULE_SELECTOR),
    "goto": (True, Unsupported("goto rules")),
    "nop": (False, Unsupported("nop rules")),
    "track_group": (True, Unsupported("track groups")),
}

#: Options of a ``unicast_peer`` line.
PEER_OPTIONS: Final[Mapping[str, tuple[bool, Unsupported]]] = {
    "min_ttl": (True, Unsupported("TTL checks of unicast adverts")),
    "max_ttl": (True, Unsupported("TTL checks of unicast adverts")),
}
