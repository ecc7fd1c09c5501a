"""The SIGUSR1, SIGUSR2 and JSON dumps, in the layouts of keepalived's /tmp/keepalived.data,
/tmp/keepalived.stats (the VRRP parts) and /tmp/keepalived.json, so scripts, exporters and
monitoring plugins that read those files keep working.

Rendering is pure (everything is passed in); :func:`write_dump` and :func:`script_argv` (which
looks a script up on disk, as keepalived shows it) are the only I/O.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_interface

from pykeepalived.config.model import (
    GlobalDefs,
    KeepalivedConfig,
    VirtualIP,
    VirtualRoute,
    VirtualRule,
    VrrpInstance,
)
from pykeepalived.core.actions import State
from pykeepalived.core.packet import DropReason
from pykeepalived.core.priority import PRIO_OWNER
from pykeepalived.core.router import RouterStats, VirtualRouter
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.daemon.scripts import CommandSyntaxError, split_command
from pykeepalived.daemon.security import check_script

#: Drop reasons keepalived's stats file has a line for; the rest go in our own section.
_KEEPALIVED_REASONS = frozenset({
    DropReason.TOO_SHORT, DropReason.BAD_LENGTH, DropReason.BAD_TTL, DropReason.BAD_TYPE,
    DropReason.INTERVAL_MISMATCH, DropReason.ADDRESS_MISMATCH, DropReason.AUTH_TYPE_MISMATCH,
    DropReason.AUTH_FAILURE, DropReason.AH_REPLAY,  # keepalived counts a replay as a failure
    DropReason.AUTH_EXT_MISSING, DropReason.AUTH_EXT_MALFORMED, DropReason.AUTH_EXT_UNKNOWN_KEY,
    DropReason.AUTH_EXT_INVALID_HMAC, DropReason.AUTH_EXT_STALE, DropReason.AUTH_EXT_REPLAY,
})


#: keepalived 2.4's auth_hmac counters, as its stats file labels them
_EXT_LABELS = (("Missing", DropReason.AUTH_EXT_MISSING),
               ("Malformed", DropReason.AUTH_EXT_MALFORMED),
               ("Unknown Key", DropReason.AUTH_EXT_UNKNOWN_KEY),
               ("Invalid HMAC", DropReason.AUTH_EXT_INVALID_HMAC),
               ("Stale", DropReason.AUTH_EXT_STALE),
               ("Replay", DropReason.AUTH_EXT_REPLAY))


def status_line(routers: Mapping[str, VirtualRouter]) -> str:
    """The one-line state summary systemd shows (sd_notify STATUS)."""
    if not routers:
        return "starting"
    return ", ".join(f"{n} {r.state.value} prio {r.effective_priority}"
                     for n, r in routers.items())


def write_dump(path: str, text: str, log: Callable[[str], None], *,
               failure: Callable[[OSError], str] | None = None) -> None:
    """Write a dump file, opened without following symlinks as keepalived does (so /tmp
    tricks cannot redirect it). ``failure`` words the log line when it cannot be opened
    (default: "Unable to open PATH: ERROR")."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        log(failure(exc) if failure is not None else f"Unable to open {path}: {exc}")
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def data_text(g: GlobalDefs | None, script_uid: int, routers: Mapping[str, VirtualRouter],
              runtimes: Mapping[str, InstanceRuntime], held: Callable[[str], set[str]],
              wall_offset: float) -> str:
    """SIGUSR1. ``wall_offset`` turns the core's monotonic times into wall-clock times;
    ``held(name)`` is the set of VIPs the instance has on the host."""
    lines = ["------< Global definitions >------"]
    if g is not None:
        lines += [
            f" Router ID = {g.router_id or socket.gethostname()}",
            f" VRRP IPv4 mcast group = {g.vrrp_mcast_group4}",
            f" VRRP IPv6 mcast group = {g.vrrp_mcast_group6}",
            f" Gratuitous ARP delay = {g.vrrp_garp_master_delay:g}",
            f" Gratuitous ARP repeat = {g.vrrp_garp_master_repeat}",
            f" Num adverts before down = {g.vrrp_down_timer_adverts}",
            f" VRRP default protocol version = {g.vrrp_version}",
            f" VRRP strict mode = {str(g.vrrp_strict).lower()}",
            f" Script security {'enabled' if g.enable_script_security else 'disabled'}",
            f" Default script uid:gid {script_uid}:{script_uid}",
        ]
    lines.append("------< VRRP Topology >------")
    for name, router in routers.items():
        rt = runtimes[name]
        p = router.params
        since = router.state_since + wall_offset
        stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(since))
        interval = (f"{round(p.advert_int * 1000)} milli-sec" if p.version == 3
                    else f"{p.advert_units()} sec")
        lines += [
            f" VRRP Instance = {name}",
            f"   VRRP Version = {p.version}",
            f"   State = {router.state.value}",
            f"   Wantstate = {router.want.value}",
            f"   Number of interface and track script faults = {len(router.fault_reasons)}",
            f"   Last transition = {since:.6f} ({stamp}.{int(since % 1 * 1e6):06d} "
            f"{time.strftime('%Y', time.localtime(since))})",
            f"   Master down timer = {round(router.master_down_interval() * 1e6)} usecs",
            f"   Interface = {rt.base_if}",
            f"   Using src_ip = {p.src}",
        ]
        if p.unicast:
            lines += ["   Unicast Peer ="] + [f"     {d}" for d in p.destinations]
        else:
            lines.append(f"   Multicast address {p.destinations[0]}")
        lines += [
            f"   Gratuitous ARP delay = {p.garp_master_delay:g}",
            f"   Gratuitous ARP repeat = {p.garp_master_repeat}",
            f"   Gratuitous ARP refresh = {p.garp_master_refresh:g}",
            f"   Gratuitous ARP refresh repeat = {p.garp_master_refresh_repeat}",
            f"   Down timer adverts = {p.down_timer_adverts}",
            f"   Virtual Router ID = {p.vrid}",
            f"   Priority = {router.base_priority}",
            f"   Effective priority = {router.effective_priority}",
            f"   Advert interval = {interval}",
            f"   Accept = {'enabled' if rt.cfg.accept else 'disabled'}",
            f"   Preempt = {'disabled' if p.nopreempt else 'enabled'}",
        ]
        if p.hmac is not None:  # keepalived 2.4's lines (never the keys)
            lines += ["   Authentication extension = HMAC-SHA256-128",
                      f"     Keys = {len(p.hmac.keys)}, active key id = {p.hmac.active_key}",
                      f"     Mode = {p.hmac.mode.value}",
                      f"     Anti replay = time, window = {p.hmac.time_window} sec"
                      if p.hmac.anti_replay_time else "     Anti replay = monotonic"]
        lines += [
            f"   Master router = {router.master_address}",
            f"   Master priority = {router.master_priority}",
            f"   Virtual IP ({len(rt.cfg.virtual_ipaddresses)}):",
        ]
        on_host = held(name)
        for v in rt.cfg.virtual_ipaddresses:
            mark = "set" if str(v.address) in on_host else "unset"
            lines.append(f"     {_addr(str(v.address))} dev {v.dev or rt.vip_if} scope "
                         f"{v.scope or 'global'} {mark}")
    return "\n".join(lines) + "\n"


def stats_text(routers: Mapping[str, VirtualRouter]) -> str:
    """SIGUSR2."""
    r = DropReason
    lines = []
    for name, router in routers.items():
        s = router.stats
        d = s.drops
        lines += [
            f"VRRP Instance: {name}",
            "  Advertisements:",
            f"    Received: {s.adverts_received}",
            f"    Sent: {s.adverts_sent}",
            f"  Became master: {s.became_master}",
            f"  Released master: {s.released_master}",
            "  Packet Errors:",
            f"    Length: {d[r.TOO_SHORT] + d[r.BAD_LENGTH]}",
            f"    TTL: {d[r.BAD_TTL]}",
            f"    Invalid Type: {d[r.BAD_TYPE]}",
            f"    Advertisement Interval: {d[r.INTERVAL_MISMATCH]}",
            f"    Address List: {d[r.ADDRESS_MISMATCH]}",
            "  Authentication Errors:",
            "    Invalid Type: 0",
            f"    Type Mismatch: {d[r.AUTH_TYPE_MISMATCH]}",
            f"    Failure: {d[r.AUTH_FAILURE] + d[r.AH_REPLAY]}",
        ]
        if router.params.hmac is not None:  # keepalived 2.4's section
            lines += ["  Authentication Extension Errors:"] + [
                f"    {label}: {d[reason]}" for label, reason in _EXT_LABELS]
        lines += [
            "  Priority Zero:",
            f"    Received: {s.priority_zero_received}",
            f"    Sent: {s.priority_zero_sent}",
        ]
        others = sorted((reason.value, n) for reason, n in d.items()
                        if reason not in _KEEPALIVED_REASONS and n)
        if others:
            lines.append("  Other drops (pykeepalived):")
            lines += [f"    {reason}: {count}" for reason, count in others]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- JSON (SIGRTMIN+2)
#
# keepalived 2.2.7's vrrp_json.c, checked key by key against Debian's binary (the captures and
# their configurations are in tests/vectors/json/). The file is one line: a list with one
# object per vrrp_instance, in configuration order, each {"data": {...}, "stats": {...}}.
# keepalived prints flags either as 0/1 numbers or as true/false (both kinds occur below, as
# in its source); intervals and delays as "%g" seconds, last_transition as "%f" wall-clock
# seconds; optional keys (notify scripts, address/route/rule/track lists, auth_data) only when
# there is something to show.

#: A value in the JSON dump: what json.loads gives back for what keepalived writes.
JsonValue = bool | int | float | str | list[str]

#: keepalived's state numbers (vrrp.h): INIT 0, BACKUP 1, MASTER 2, FAULT 3, STOP 98.
JSON_STATE = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3, State.STOP: 98}

#: RTPROT_KEEPALIVED: the protocol keepalived sets on the routes and rules it tracks.
_RTPROT_KEEPALIVED = 18
_TABLES = {"main": 254, "local": 255, "default": 253}
_SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


def script_argv(command: str, uid: int) -> list[str]:
    """A script line split as keepalived runs it, its first word resolved on disk (a $PATH
    search, then symlinked directories resolved: ``/bin/true`` -> ``/usr/bin/true``), which
    is how keepalived shows scripts in its dumps."""
    check = check_script(command, uid, False)
    return list(check.argv) if check.argv else _split(command)


def _split(command: str) -> list[str]:
    try:
        return split_command(command)
    except CommandSyntaxError:
        return command.split()


def cmd_str(argv: Sequence[str]) -> str:
    """keepalived's cmd_str(): every word in single quotes, except a first word starting with
    ``<`` or ``>`` (a file test)."""
    return " ".join(w if i == 0 and w[:1] in "<>" else f"'{w}'" for i, w in enumerate(argv))


def _addr(text: str) -> str:
    """keepalived's ipaddresstos(): the address, and /len unless a host prefix."""
    try:
        iface = ip_interface(text)
    except ValueError:
        return text  # "all", a name: shown as written
    if iface.network.prefixlen == iface.max_prefixlen:
        return str(iface.ip)
    return f"{iface.ip}/{iface.network.prefixlen}"


def vip_text(vip: VirtualIP, ifname: str, base_if: str, *, is_set: bool,
             filtered: bool) -> str:
    """One "vips" / "evips" string, as keepalived's format_ipaddress() writes it."""
    out = _addr(str(vip.address))
    if vip.brd is not None and vip.address.version == 4:
        out += f" brd {vip.brd}"
    out += f" dev {ifname}"
    if ifname != base_if and not vip.dev:
        out += f"@{base_if}"  # on the VMAC interface: keepalived names its base interface
    if vip.use_vmac is not None:
        out += " use_vmac"
    out += f" scope {vip.scope or 'global'}"
    if vip.label:
        out += f" label {vip.label}"
    if vip.peer is not None:
        out += f" peer {vip.peer.ip}/{vip.address.network.prefixlen}"
    for flag, word in ((vip.home, "home"), (vip.nodad, "-nodad"),
                       (vip.noprefixroute, "noprefixroute"), (vip.autojoin, "autojoin"),
                       (vip.no_track, "no_track")):
        if flag:
            out += f" {word}"
    if vip.address.version == 6:
        lft = "forever"
        if "preferred_lft" in vip.extra[:-1]:
            lft = vip.extra[vip.extra.index("preferred_lft") + 1]
        out += " deprecated" if lft == "0" else f" preferred_lft {lft}"
    if is_set:
        out += " set"
        if filtered:
            out += " nftable_set"  # no_accept / strict: the MASTER drops traffic to its VIPs
    return out


def route_text(route: VirtualRoute) -> str:
    """One "vroutes" string, as keepalived's format_iproute() writes it, for what the
    configuration model keeps of a route (destination, type, src, via, dev, table, scope,
    metric)."""
    words = route.words
    op = next((w for w in words if w in ("add", "append", "prepend")), "prepend")
    out = f"{op} "
    if route.type and route.type != "unicast":
        out += f"{route.type} "
    out += "default" if route.destination == "default" else _addr(route.destination)
    if route.src:
        out += f" src {_addr(route.src)}"
    if route.via:
        family = "inet6" if ":" in route.via else "inet"
        out += f" via {family} {_addr(route.via)}"
    if route.dev:
        out += f" dev {route.dev}"
    table = _number(route.table, _TABLES) if route.table else 254
    if table != 254:
        out += f" table {table}"
    out += f" proto {_RTPROT_KEEPALIVED}"
    if route.scope:
        out += f" scope {_number(route.scope, _SCOPES)}"
    if route.metric is not None:
        out += f" metric {route.metric}"
    if route.no_track or not route.dev:
        out += " no_track"  # keepalived cannot track a route without an interface
    return out


def rule_text(rule: VirtualRule) -> str:
    """One "vrules" string, as keepalived's format_iprule() writes it."""
    out = f"from {_addr(rule.from_)}" if rule.from_ and rule.from_ != "all" else "from all"
    if rule.to:
        out += f" to {_addr(rule.to)}"
    # keepalived gives a rule without a preference 16384 (and warns).
    out += f" priority {rule.preference if rule.preference is not None else 16384}"
    out += " tos 0x0"
    if rule.fwmark:
        mark, _, mask = rule.fwmark.partition("/")
        out += f" fwmark {_hex(mark)}"
        if mask and _hex(mask) != "0xffffffff":
            out += f"/{_hex(mask)}"
    if rule.iif:
        out += f" iif {rule.iif}"
    if rule.oif:
        out += f" oif {rule.oif}"
    out += f" protocol {_RTPROT_KEEPALIVED}"
    if rule.table:
        out += f" lookup {_number(rule.table, _TABLES)}"
    if rule.no_track:
        out += " no_track"
    return out


def _hex(word: str) -> str:
    try:
        return f"{int(word, 0):#x}"
    except ValueError:
        return word


def _number(word: str, names: Mapping[str, int]) -> int | str:
    if word in names:
        return names[word]
    try:
        return int(word, 0)
    except ValueError:
        return word


def _g(value: float) -> int | float:
    """A number as keepalived's "%g" prints it, as json.loads reads it back."""
    number = float(f"{value:g}")
    return int(number) if number.is_integer() else number


def _tracked(config: KeepalivedConfig, cfg: VrrpInstance, rt: InstanceRuntime,
             argv: Callable[[str], Sequence[str]]) -> dict[str, list[str]]:
    """track_ifp and track_script as keepalived keeps them after its checks: never the
    instance's own interface; an address owner drops weighted interfaces and scripts; a sync
    group member (without sync_group_tracking_weight) drops weighted scripts."""
    owner = cfg.priority == PRIO_OWNER
    in_group = any(cfg.name in sg.group and not sg.sync_group_tracking_weight
                   for sg in config.sync_groups)
    ifps = [ti.name for ti in cfg.track_interfaces
            if ti.name != rt.base_if and not (owner and ti.weight)]
    scripts = []
    for ts in cfg.track_scripts:
        script = config.vrrp_scripts.get(ts.name)
        if script is None or not script.script:
            continue
        weight = ts.weight if ts.weight is not None else script.weight
        if weight and (owner or in_group):
            continue
        scripts.append(cmd_str(argv(script.script)))
    out = {}
    if ifps:
        out["track_ifp"] = ifps
    if scripts:
        out["track_script"] = scripts
    return out


def json_data(config: KeepalivedConfig | None, routers: Mapping[str, VirtualRouter],
              runtimes: Mapping[str, InstanceRuntime], held: Callable[[str], set[str]],
              wall_offset: float, argv: Callable[[str], Sequence[str]] = _split,
              ) -> list[dict[str, dict[str, JsonValue]]]:
    """The JSON dump as data (what json.loads gives for :func:`json_text`). ``held(name)``
    is the set of VIPs (``addr/len``) the instance has on the host; ``wall_offset`` turns the
    core's monotonic times into wall-clock times; ``argv`` splits a script line as it is
    run (:func:`script_argv`)."""
    out: list[dict[str, dict[str, JsonValue]]] = []
    g = config.global_defs if config is not None else GlobalDefs()
    for name, router in routers.items():
        rt = runtimes[name]
        cfg, p = rt.cfg, router.params
        strict = cfg.strict_mode or g.vrrp_strict
        on_host = held(name)
        data: dict[str, JsonValue] = {
            "iname": name,
            "dont_track_primary": int(cfg.dont_track_primary),
            "skip_check_adv_addr": int(p.skip_check_adv_addr),
            "strict_mode": int(strict),
            "vmac_ifname": rt.vip_if if rt.vmac else "",
            "ifp_ifname": rt.vip_if if rt.vmac else rt.base_if,
            "master_priority": router.master_priority or 0,
            "last_transition": float(f"{router.state_since + wall_offset:f}"),
            "garp_delay": _g(p.garp_master_delay),
            "garp_refresh": int(p.garp_master_refresh),
            "garp_rep": p.garp_master_repeat,
            "garp_refresh_rep": p.garp_master_refresh_repeat,
            "garp_lower_prio_delay": int(p.garp_lower_prio_delay),
            "garp_lower_prio_rep": p.garp_lower_prio_repeat,
            "lower_prio_no_advert": int(p.lower_prio_no_advert),
            "higher_prio_send_advert": int(p.higher_prio_send_advert),
            "vrid": p.vrid,
            "base_priority": router.base_priority,
            "effective_priority": router.effective_priority,
            "vipset": router.state is State.MASTER,
            "promote_secondaries": cfg.promote_secondaries,
            "adver_int": _g(p.advert_int),
            "master_adver_int": _g(router.master_adver_int),
            "accept": int(cfg.accept),
            "nopreempt": p.nopreempt,
            "preempt_delay": int(p.preempt_delay),
            "state": JSON_STATE[router.state],
            # keepalived wants FAULT while in FAULT; pykeepalived's `want` is then the state
            # to return to.
            "wantstate": JSON_STATE[State.FAULT if router.state is State.FAULT
                                    else router.want],
            "version": p.version,
            "smtp_alert": cfg.smtp_alert or g.smtp_alert,
            "notify_deleted": cfg.notify_deleted is not None,
        }
        for key, command in (("script_backup", cfg.notify_backup),
                             ("script_master", cfg.notify_master),
                             ("script_fault", cfg.notify_fault),
                             ("script_stop", cfg.notify_stop),
                             ("script_deleted", cfg.notify_deleted),
                             ("script", cfg.notify),
                             ("script_master_rx_lower_pri", cfg.notify_master_rx_lower_pri)):
            if command:
                data[key] = cmd_str(argv(command))
        for key, vips in (("vips", cfg.virtual_ipaddresses),
                          ("evips", cfg.virtual_ipaddresses_excluded)):
            if vips:
                data[key] = [vip_text(v, v.dev or rt.vip_if, rt.base_if,
                                      is_set=str(v.address) in on_host, filtered=not cfg.accept)
                             for v in vips]
        if cfg.virtual_routes:
            data["vroutes"] = [route_text(r) for r in cfg.virtual_routes]
        if cfg.virtual_rules:
            data["vrules"] = [rule_text(r) for r in cfg.virtual_rules]
        if config is not None:
            data.update(_tracked(config, cfg, rt, argv))
        data["auth_type"] = p.auth_type
        if p.auth_type:
            # The 8-octet field, up to its first NUL.
            data["auth_data"] = p.auth_pass[:8].split(b"\0")[0].decode(errors="replace")
        out.append({"data": data, "stats": _json_stats(router)})
    return out


def _json_stats(router: VirtualRouter) -> dict[str, JsonValue]:
    s = router.stats
    d = s.drops
    r = DropReason
    return {
        "advert_rcvd": s.adverts_received,
        "advert_sent": s.adverts_sent,
        "become_master": s.became_master,
        "release_master": s.released_master,
        "packet_len_err": d[r.TOO_SHORT] + d[r.BAD_LENGTH],
        "advert_interval_err": d[r.INTERVAL_MISMATCH],
        "ip_ttl_err": d[r.BAD_TTL],
        "invalid_type_rcvd": d[r.BAD_TYPE],
        "addr_list_err": d[r.ADDRESS_MISMATCH],
        "invalid_authtype": 0,
        "authtype_mismatch": d[r.AUTH_TYPE_MISMATCH],
        "auth_failure": d[r.AUTH_FAILURE] + d[r.AH_REPLAY],
        # keepalived 2.4 has these for every instance; 2.2.7 (whose layout this is) none:
        # only an instance with auth_hmac, which 2.2.7 cannot have, gets them
        **({reason.value: d[reason] for _, reason in _EXT_LABELS}
           if router.params.hmac is not None else {}),
        "pri_zero_rcvd": s.priority_zero_received,
        "pri_zero_sent": s.priority_zero_sent,
    }


def json_text(config: KeepalivedConfig | None, routers: Mapping[str, VirtualRouter],
              runtimes: Mapping[str, InstanceRuntime], held: Callable[[str], set[str]],
              wall_offset: float, argv: Callable[[str], Sequence[str]] = _split) -> str:
    """The JSON dump's file: keepalived's json_writer output (one line, no spaces, ``/``
    escaped, "%g" numbers, last_transition "%f"), so byte-level consumers see the same."""
    items = []
    for inst in json_data(config, routers, runtimes, held, wall_offset, argv):
        parts = [f'"{part}":{{' + ",".join(f"{_jstr(k)}:{_jvalue(k, v)}" for k, v in
                                             fields.items()) + "}"
                 for part, fields in inst.items()]
        items.append("{" + ",".join(parts) + "}")
    return "[" + ",".join(items) + "]\n"


def _jvalue(key: str, value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:f}" if key == "last_transition" else f"{value:g}"
    if isinstance(value, str):
        return _jstr(value)
    return "[" + ",".join(_jstr(v) for v in value) + "]"


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\\\",
            '"': '\\"', "/": "\\/"}


def _jstr(text: str) -> str:
    """keepalived's jsonw_puts(), except that a backslash is written as ``\\\\`` (keepalived
    writes ``\\n``, which turns it into a newline) and other control characters as \\uXXXX
    (keepalived writes them raw, which is not JSON)."""
    return '"' + "".join(_ESCAPES.get(c, c if c >= " " else f"\\u{ord(c):04x}")
                         for c in text) + '"'


# ---------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class DumpSource:
    """What the signal dumps read from the running daemon, at the moment of the signal."""

    config: KeepalivedConfig | None
    routers: Mapping[str, VirtualRouter]
    runtimes: Mapping[str, InstanceRuntime]
    held: Callable[[str], set[str]]  #: VIPs an instance has on the host
    script_uid: int
    wall_offset: float  #: wall-clock time minus the core's clock


def write_data(src: DumpSource, log: Callable[[str], None]) -> None:
    """SIGUSR1: /tmp/keepalived.data (global_defs state_dump_file)."""
    g = src.config.global_defs if src.config else None
    log(f"Printing VRRP data for process({os.getpid()}) on signal")
    write_dump(g.state_dump_file if g else "/tmp/keepalived.data",
               data_text(g, src.script_uid, src.routers, src.runtimes, src.held,
                         src.wall_offset), log)


def write_stats(src: DumpSource, log: Callable[[str], None], *, clearing: bool = False) -> None:
    """SIGUSR2 (and STATS_CLEAR, which the caller follows by clearing): keepalived.stats."""
    g = src.config.global_defs if src.config else None
    verb = "Printing and clearing" if clearing else "Printing"
    log(f"{verb} VRRP stats for process({os.getpid()}) on signal")
    write_dump(g.stats_dump_file if g else "/tmp/keepalived.stats", stats_text(src.routers), log)


def write_and_clear_stats(src: DumpSource, log: Callable[[str], None],
                          unattributed: Counter[DropReason]) -> None:
    """STATS_CLEAR (SIGRTMAX-1): the SIGUSR2 file, then every counter back to zero."""
    write_stats(src, log, clearing=True)
    for router in src.routers.values():
        router.stats = RouterStats()
    unattributed.clear()


def install_signals(loop: asyncio.AbstractEventLoop, source: Callable[[], DumpSource],
                    log: Callable[[str], None], clear_stats: Callable[[], None]) -> None:
    """SIGUSR1 (data), SIGUSR2 (stats) and keepalived's real-time signals (JSON,
    STATS_CLEAR; TDATA ignored as Debian's does): unhandled, their default action would end
    the daemon."""
    loop.add_signal_handler(signal.SIGUSR1, lambda: write_data(source(), log))
    loop.add_signal_handler(signal.SIGUSR2, lambda: write_stats(source(), log))
    loop.add_signal_handler(signal.SIGRTMIN + 2, lambda: write_json(source(), log))
    loop.add_signal_handler(signal.SIGRTMAX - 1, clear_stats)
    loop.add_signal_handler(signal.SIGRTMAX, lambda: None)


def write_json(src: DumpSource, log: Callable[[str], None]) -> None:
    """JSON (SIGRTMIN+2): /tmp/keepalived.json in keepalived's layout; no file without
    instances, as keepalived."""
    log(f"Printing VRRP as json for process({os.getpid()}) on signal")
    if not src.routers:
        return
    g = src.config.global_defs if src.config else None
    text = json_text(src.config, src.routers, src.runtimes, src.held, src.wall_offset,
                     lambda command: script_argv(command, src.script_uid))
    write_dump(g.json_dump_file if g else "/tmp/keepalived.json", text, log)
