"""The resolved configuration as JSON (keepalived's keyword names as keys), and back to text.

`dump_config` is what ``pykeepalived check --dump`` prints: the configuration after includes,
conditionals, parameters and keepalived's defaults and fix-ups, so an operator sees what will run.
Line-shaped entries (addresses, routes, track references) are dumped as the line keepalived would
read. `render_config` writes such a dump back as keepalived.conf text; loading that text gives the
same dump again (the round trip the property tests check). The load balancer is dumped twice: as
written (``virtual_server``, ``virtual_server_group``: what is rendered back) and resolved
(``lvs``: every default and inherited setting filled in; derived, so not rendered).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from pykeepalived.config import model as m


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _vip(v: m.VirtualIP) -> str:
    words = [str(v.address)]
    if v.brd is not None:
        words += ["brd", str(v.brd)]
    for key in ("dev", "scope", "label"):
        value = getattr(v, key)
        if value is not None:
            words += [key, value]
    if v.peer is not None:
        words += ["peer", str(v.peer)]
    if v.use_vmac is not None:
        words += ["use_vmac", *([v.use_vmac] if v.use_vmac else [])]
    words += [word for f, word in (("no_track", "no_track"), ("home", "home"),
                                    ("nodad", "-nodad"), ("noprefixroute", "noprefixroute"),
                                    ("autojoin", "autojoin"))
              if getattr(v, f)]
    return " ".join([*words, *v.extra])


def _peer(p: m.UnicastPeer) -> str:
    words = [str(p.address)]
    if p.min_ttl is not None:
        words += ["min_ttl", str(p.min_ttl)]
    if p.max_ttl is not None:
        words += ["max_ttl", str(p.max_ttl)]
    return " ".join(words)


def _track(t: m.TrackInterface | m.TrackScript | m.TrackFile | m.TrackProcess) -> str:
    words = [t.name]
    if t.weight is not None and not (isinstance(t, m.TrackInterface) and t.weight == 0
                                     and not t.reverse):
        words += ["weight", str(t.weight)]
    if t.reverse:
        words.append("reverse")
    return " ".join(words)


def _cmd(value: str | None) -> str | None:
    return value


def _instance(i: m.VrrpInstance) -> dict[str, Any]:
    d: dict[str, Any] = {
        "state": i.state,
        "interface": i.interface,
        "virtual_router_id": i.virtual_router_id,
        "priority": i.priority,
        "advert_int": _num(i.advert_int),
        "version": i.version,
        "unicast_src_ip": None if i.unicast_src_ip is None else str(i.unicast_src_ip),
        "unicast_peer": [_peer(p) for p in i.unicast_peers],
        "unicast_ttl": i.unicast_ttl,
        "mcast_src_ip": None if i.mcast_src_ip is None else str(i.mcast_src_ip),
        "mcast_dst_ip": None if i.mcast_dst_ip is None else str(i.mcast_dst_ip),
        "authentication": None if i.auth_type is None else {
            "auth_type": i.auth_type, "auth_pass": i.auth_pass},
        "auth_hmac": None if i.auth_hmac is None else {
            "key": [f"{key_id} hex:{key.hex()}" for key_id, key in i.auth_hmac.keys],
            "active_key": i.auth_hmac.active_key, "anti_replay": i.auth_hmac.anti_replay,
            "time_window": i.auth_hmac.time_window, "mode": i.auth_hmac.mode},
        "virtual_ipaddress": [_vip(v) for v in i.virtual_ipaddresses],
        "virtual_ipaddress_excluded": [_vip(v) for v in i.virtual_ipaddresses_excluded],
        "virtual_routes": [" ".join(r.words) for r in i.virtual_routes],
        "virtual_rules": [" ".join(r.words) for r in i.virtual_rules],
        "track_interface": [_track(t) for t in i.track_interfaces],
        "track_script": [_track(t) for t in i.track_scripts],
        "track_file": [_track(t) for t in i.track_files],
        "track_process": [_track(t) for t in i.track_processes],
        "nopreempt": i.nopreempt,
        "preempt_delay": _num(i.preempt_delay),
        "accept": i.accept,
        "garp_master_delay": _num(i.garp_master_delay),
        "garp_master_repeat": i.garp_master_repeat,
        "garp_master_refresh": _num(i.garp_master_refresh),
        "garp_master_refresh_repeat": i.garp_master_refresh_repeat,
        "garp_lower_prio_delay": _num(i.garp_lower_prio_delay),
        "garp_lower_prio_repeat": i.garp_lower_prio_repeat,
        "lower_prio_no_advert": i.lower_prio_no_advert,
        "higher_prio_send_advert": i.higher_prio_send_advert,
        "use_vmac": i.use_vmac,
        "vmac_xmit_base": i.vmac_xmit_base,
        "dont_track_primary": i.dont_track_primary,
        "down_timer_adverts": i.down_timer_adverts,
        "skip_check_adv_addr": i.skip_check_adv_addr,
        "check_unicast_src": i.check_unicast_src,
        "strict_mode": i.strict_mode,
        "promote_secondaries": i.promote_secondaries,
        "track_src_ip": i.track_src_ip,
        "smtp_alert": i.smtp_alert,
        "notify_priority_changes": i.notify_priority_changes,
    }
    for hook in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop",
                 "notify_deleted", "notify_master_rx_lower_pri"):
        d[hook] = getattr(i, hook)
    return d


def _script(s: m.VrrpScript) -> dict[str, Any]:
    return {
        "script": s.script,
        "interval": _num(s.interval),
        "timeout": None if s.timeout is None else _num(s.timeout),
        "weight": f"{s.weight} reverse" if s.reverse else s.weight,
        "rise": s.rise,
        "fall": s.fall,
        "user": s.user if s.group is None or s.user is None else f"{s.user} {s.group}",
        "init_fail": s.init_fail,
    }


def _track_file(t: m.TrackFileDef) -> dict[str, Any]:
    init = None
    if t.init_file is not None:
        init = f"{t.init_file} overwrite" if t.init_file_overwrite else t.init_file
    return {"file": t.file, "weight": f"{t.weight} reverse" if t.reverse else t.weight,
            "init_file": init}


def _track_process(t: m.TrackProcessDef) -> dict[str, Any]:
    return {
        "process": t.process, "param_match": t.param_match,
        "weight": f"{t.weight} reverse" if t.reverse else t.weight,
        "quorum": t.quorum, "quorum_max": t.quorum_max,
        "delay": None if t.delay is None else _num(t.delay),
        "terminate_delay": None if t.terminate_delay is None else _num(t.terminate_delay),
        "fork_delay": None if t.fork_delay is None else _num(t.fork_delay),
        "full_command": t.full_command,
    }


def _sync_group(g: m.SyncGroup) -> dict[str, Any]:
    return {
        "group": list(g.group),
        "track_interface": [_track(t) for t in g.track_interfaces],
        "track_script": [_track(t) for t in g.track_scripts],
        "track_file": [_track(t) for t in g.track_files],
        "track_process": [_track(t) for t in g.track_processes],
        "notify": g.notify, "notify_master": g.notify_master, "notify_backup": g.notify_backup,
        "notify_fault": g.notify_fault, "notify_stop": g.notify_stop,
        "smtp_alert": g.smtp_alert, "global_tracking": g.global_tracking,
        "sync_group_tracking_weight": g.sync_group_tracking_weight,
        "notify_priority_changes": g.notify_priority_changes,
    }


# The dump files are fixed names in keepalived 2.2.7, not keywords: not dumped as keywords.
_GLOBAL_SKIP = frozenset({"raw", "loc", "script_group", "state_dump_file", "stats_dump_file",
                          "json_dump_file"})


_UNSET_WHEN_ZERO = frozenset({"vrrp_garp_interval", "vrrp_gna_interval", "vrrp_startup_delay"})


def _global(g: m.GlobalDefs) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for name in m.GlobalDefs.__dataclass_fields__:
        if name in _GLOBAL_SKIP:
            continue
        value = getattr(g, name)
        if name == "script_user" and value is not None and g.script_group is not None:
            value = f"{value} {g.script_group}"
        if name in _UNSET_WHEN_ZERO and not value:
            # keepalived rejects an explicit 0 for these: 0 means "not configured".
            value = None
        elif name == "notification_email":
            value = list(value)
        elif isinstance(value, float):
            value = _num(value)
        elif value is not None and not isinstance(value, int | str | bool | list):
            value = str(value)
        d[name] = value
    # Keywords the model does not interpret are kept as written, so nothing is lost.
    known = set(d)
    for key, words in g.raw:
        if key not in known and key not in _GLOBAL_SKIP:
            d[key] = " ".join(words) if words else True
    return d


def _generic(s: m.GenericStatement) -> dict[str, Any]:
    d: dict[str, Any] = {"keyword": s.keyword, "args": list(s.args)}
    if s.block is not None:
        d["block"] = [_generic(x) for x in s.block]
    return d


def dump_config(cfg: m.KeepalivedConfig) -> dict[str, Any]:
    """The configuration as JSON-ready data, keyed by keepalived's keywords."""
    return {
        "global_defs": _global(cfg.global_defs),
        "vrrp_script": {n: _script(s) for n, s in cfg.vrrp_scripts.items()},
        "track_file": {n: _track_file(t) for n, t in cfg.track_files.items()},
        "vrrp_track_process": {n: _track_process(t) for n, t in cfg.track_processes.items()},
        "vrrp_sync_group": {g.name: _sync_group(g) for g in cfg.sync_groups},
        "vrrp_instance": {i.name: _instance(i) for i in cfg.vrrp_instances},
        "static_ipaddress": [_vip(v) for v in cfg.static_addresses],
        "static_routes": [" ".join(r.words) for r in cfg.static_routes],
        "static_rules": [" ".join(r.words) for r in cfg.static_rules],
        "virtual_server_group": {
            g.name: [" ".join(e) for e in g.entries] for g in cfg.virtual_server_groups
        },
        "virtual_server": [
            _generic(m.GenericStatement("virtual_server", _vs_args(v), v.body))
            for v in cfg.virtual_servers
        ],
        "other": [_generic(s) for s in cfg.other],
        "lvs": _resolved(cfg.lvs),
    }


def _resolved(x: Any) -> Any:
    """The load balancer's model as JSON-ready data (locations left out)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        d = {f.name: _resolved(getattr(x, f.name)) for f in dataclasses.fields(x)
             if f.name != "loc"}
        name = getattr(x, "name", None)
        if isinstance(name, str) and "name" not in d:
            d = {"name": name, **d}
        return d
    if isinstance(x, tuple | list):
        return [_resolved(v) for v in x]
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(x)
    if isinstance(x, float):
        return _num(x)
    return x


def _vs_args(v: m.VirtualServer) -> tuple[str, ...]:
    head = () if v.kind == "address" else (v.kind,)
    return (*head, v.target, *(() if v.port is None else (str(v.port),)))


# --- back to text -----------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r"""[\s"'#!{}\\]|^$""")


def quote(value: str) -> str:
    if not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_block(d: dict[str, Any], indent: str, out: list[str]) -> None:
    for key, value in d.items():
        if value is None or value is False:
            if key == "accept" and value is False:
                out.append(f"{indent}no_accept")
            continue
        if value is True:
            out.append(f"{indent}{key}")
        elif isinstance(value, list) and key in _REPEATED:
            out.extend(f"{indent}{key} {line}" for line in value)
        elif isinstance(value, list):
            if value:
                out.append(f"{indent}{key} {{")
                out.extend(f"{indent}    {line}" for line in value)
                out.append(f"{indent}}}")
        elif isinstance(value, dict):
            out.append(f"{indent}{key} {{")
            _render_block(value, indent + "    ", out)
            out.append(f"{indent}}}")
        elif isinstance(value, str) and " " in value and key in _MULTI_WORD:
            out.append(f"{indent}{key} {value}")
        else:
            out.append(f"{indent}{key} {quote(str(value))}")


# Keywords given once per entry (auth_hmac's "key ID VALUE" lines), not as a block.
_REPEATED = frozenset({"key"})

# Values that are several words on purpose (weight N reverse, user U G, init_file N overwrite).
_MULTI_WORD = frozenset({"weight", "user", "init_file", "script_user", "smtp_server"})


def _render_generic(items: Iterable[dict[str, Any]], indent: str, out: list[str]) -> None:
    for s in items:
        head = " ".join([s["keyword"], *(quote(a) for a in s["args"])])
        if "block" in s:
            out.append(f"{indent}{head} {{")
            _render_generic(s["block"], indent + "    ", out)
            out.append(f"{indent}}}")
        else:
            out.append(f"{indent}{head}")


def render_config(dump: dict[str, Any]) -> str:
    """keepalived.conf text for a `dump_config` result."""
    out: list[str] = ["global_defs {"]
    _render_block(dump.get("global_defs", {}), "    ", out)
    out.append("}")
    for section in ("vrrp_script", "track_file", "vrrp_track_process", "vrrp_sync_group",
                    "vrrp_instance"):
        for name, body in dump.get(section, {}).items():
            out.append(f"{section} {quote(name)} {{")
            _render_block(body, "    ", out)
            out.append("}")
    for section in ("static_ipaddress", "static_routes", "static_rules"):
        lines = dump.get(section, [])
        if lines:
            out.append(f"{section} {{")
            out.extend(f"    {line}" for line in lines)
            out.append("}")
    for name, entries in dump.get("virtual_server_group", {}).items():
        out.append(f"virtual_server_group {quote(name)} {{")
        out.extend(f"    {e}" for e in entries)
        out.append("}")
    _render_generic(dump.get("virtual_server", []), "", out)
    _render_generic(dump.get("other", []), "", out)
    return "\n".join(out) + "\n"
