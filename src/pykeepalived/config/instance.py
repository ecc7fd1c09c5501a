"""The VRRP blocks: ``vrrp_instance`` (with its unicast peers and authentication) and
``vrrp_sync_group``.

An instance starts from the defaults `global_defs` sets (``vrrp_garp_*``, ``vrrp_strict``, ...);
what depends on several keywords (address family, version, ``accept``, the address owner) is
resolved once the whole block is read.
"""

from __future__ import annotations

import os
from typing import Any

from pykeepalived.config import model as m
from pykeepalived.config.addresses import route, rule, virtual_ip
from pykeepalived.config.parser import Statement
from pykeepalived.config.trackers import track_ref
from pykeepalived.config.unsupported import PEER_OPTIONS
from pykeepalived.config.unsupported import report as report_unsupported
from pykeepalived.config.values import Values, each, line, word_loc
from pykeepalived.core.hmac_auth import KEY_MAX, KEY_MIN, WINDOW_MAX, WINDOW_MIN


def vrrp_instance(v: Values, st: Statement, g: m.GlobalDefs) -> m.VrrpInstance | None:
    if not st.words:
        v.diags.mistake(st.loc, "vrrp_instance needs a name")
        return None
    name = st.words[0]
    o: dict[str, Any] = {
        "garp_master_delay": g.vrrp_garp_master_delay,
        "garp_master_repeat": g.vrrp_garp_master_repeat,
        "garp_master_refresh": g.vrrp_garp_master_refresh,
        "garp_master_refresh_repeat": g.vrrp_garp_master_refresh_repeat,
        "down_timer_adverts": g.vrrp_down_timer_adverts,
        "lower_prio_no_advert": g.vrrp_lower_prio_no_advert,
        "higher_prio_send_advert": g.vrrp_higher_prio_send_advert,
        "skip_check_adv_addr": g.vrrp_skip_check_adv_addr,
        "check_unicast_src": g.vrrp_check_unicast_src,
        "strict_mode": g.vrrp_strict,
        "notify_priority_changes": g.vrrp_notify_priority_changes,
    }
    if g.vrrp_min_garp:
        o["garp_master_repeat"] = 1
        o["garp_master_delay"] = 0.0
    explicit: dict[str, Statement] = {}
    for s in each(st.block):
        k = s.keyword
        explicit[k] = s
        val: Any = None
        if k == "state":
            raw = v.string(s)
            if raw is not None:
                if raw.upper() in ("MASTER", "BACKUP"):
                    val = raw.upper()
                else:
                    v.diags.mistake(s.arg_loc(0),
                                    f"state must be MASTER or BACKUP, got '{raw}'")
        elif k == "interface":
            val = v.string(s)
            if val == "lo":
                # VRRP needs multicast on a real link; keepalived refuses the loopback.
                v.diags.mistake(s.loc, f"({name}) cannot use a loopback interface (lo) for "
                                "vrrp - ignoring")
            elif val is not None:
                v.check_interface(val, s.arg_loc(0), f"vrrp_instance {name}")
        elif k == "virtual_router_id" or k == "priority":
            val = v.integer(s, 1, 255)
        elif k == "advert_int":
            val = v.number(s, 0.01, 255)
        elif k == "version":
            val = v.integer(s, 2, 3)
        elif k in ("unicast_src_ip", "mcast_src_ip", "mcast_dst_ip"):
            val = v.address(s)
        elif k == "unicast_ttl":
            val = v.integer(s, 1, 255)
        elif k == "unicast_peer":
            val = tuple(p for p in (peer(v, x) for x in v.list_block(s)) if p)
            o["unicast_peers"] = o.get("unicast_peers", ()) + val
            continue
        elif k == "authentication":
            authentication(v, s, o)
            continue
        elif k == "auth_hmac":
            if "auth_hmac" not in o:  # keepalived: a second block adds nothing
                o["auth_hmac"] = auth_hmac(v, s, name)
            continue
        elif k in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            key = "virtual_ipaddresses" + ("_excluded" if k.endswith("excluded") else "")
            vips = tuple(
                x for x in (virtual_ip(v, y, "vrrp_instance " + name)
                            for y in v.list_block(s)) if x
            )
            o[key] = o.get(key, ()) + vips
            continue
        elif k == "virtual_routes":
            o["virtual_routes"] = o.get("virtual_routes", ()) + tuple(
                route(v, x, tracked=True) for x in v.list_block(s)
            )
            continue
        elif k == "virtual_rules":
            o["virtual_rules"] = o.get("virtual_rules", ()) + tuple(
                rule(v, x) for x in v.list_block(s)
            )
            continue
        elif k == "track_interface":
            refs = tuple(
                track_ref(v, x, m.TrackInterface, -253, 253, 0) for x in v.list_block(s)
            )
            for ref in refs:
                if v.interfaces is not None and ref.name not in v.interfaces:
                    v.diags.mistake(ref.loc, f"({name}) tracked interface {ref.name} "
                                    "doesn't exist")
            o["track_interfaces"] = o.get("track_interfaces", ()) + refs
            continue
        elif k in ("track_script", "track_file", "track_process"):
            cls: Any = {"track_script": m.TrackScript, "track_file": m.TrackFile,
                        "track_process": m.TrackProcess}[k]
            hi = 253 if k == "track_script" else 254
            key = {"track_script": "track_scripts", "track_file": "track_files",
                   "track_process": "track_processes"}[k]
            o[key] = o.get(key, ()) + tuple(
                track_ref(v, x, cls, -hi, hi, None) for x in v.list_block(s)
            )
            continue
        elif k in ("nopreempt", "dont_track_primary", "vmac_xmit_base", "promote_secondaries",
                   "track_src_ip"):
            val = True
        elif k == "preempt":
            o["nopreempt"] = False
            continue
        elif k == "preempt_delay":
            val = v.number(s, 0, 1000)
        elif k == "accept":
            val = True
        elif k == "no_accept":
            o["accept"] = False
            continue
        elif k in ("garp_master_delay", "garp_lower_prio_delay", "garp_master_refresh"):
            val = v.number(s, 0, 255)
        elif k in ("garp_master_repeat", "garp_lower_prio_repeat",
                   "garp_master_refresh_repeat"):
            val = v.integer(s, 0, 255)
        elif k == "down_timer_adverts":
            val = v.integer(s, 1, 100)
        elif k in ("lower_prio_no_advert", "higher_prio_send_advert", "skip_check_adv_addr",
                   "strict_mode", "notify_priority_changes", "check_unicast_src",
                   "smtp_alert"):
            val = v.flag(s)
        elif k == "use_vmac":
            val = s.words[0] if s.words and ":" not in s.words[0] else ""
        elif k in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop",
                   "notify_deleted", "notify_master_rx_lower_pri"):
            val = v.command(s)
        elif k == "debug":
            val = v.integer(s, 0, 4) if s.words else 0
        if val is not None:
            o[k] = val
    return _resolve_instance(v, name, st, o, explicit, g)


def _resolve_instance(v: Values, name: str, st: Statement, o: dict[str, Any],
                      explicit: dict[str, Statement], g: m.GlobalDefs) -> m.VrrpInstance:
    d = v.diags
    if "garp_lower_prio_delay" not in o:
        o["garp_lower_prio_delay"] = (
            g.vrrp_garp_lower_prio_delay
            if g.vrrp_garp_lower_prio_delay is not None else o["garp_master_delay"]
        )
    if "garp_lower_prio_repeat" not in o:
        o["garp_lower_prio_repeat"] = (
            g.vrrp_garp_lower_prio_repeat
            if g.vrrp_garp_lower_prio_repeat is not None else o["garp_master_repeat"]
        )
    vips: tuple[m.VirtualIP, ...] = o.get("virtual_ipaddresses", ())
    family = vips[0].family if vips else 4
    if not vips and o.get("unicast_src_ip") is not None:
        family = 4 if o["unicast_src_ip"].version == 4 else 6
    o["family"] = family
    for vip in vips[1:]:
        if vip.family != family:
            d.mistake(vip.loc, f"({name}) virtual_ipaddress {vip.address} is IPv{vip.family} "
                      f"but the instance is IPv{family} (all VIPs must share a family; use "
                      "virtual_ipaddress_excluded for the others)")
    version = o.get("version", g.vrrp_version)
    if family == 6 and version == 2:
        where = explicit["version"].loc if "version" in explicit else st.loc
        d.warning(where, f"({name}) IPv6 instances always use VRRP version 3; using version 3")
        version = 3
    o["version"] = version
    if "use_vmac" in o and not o["use_vmac"]:
        o["use_vmac"] = vmac_name(g.vmac_prefix or "vrrp", o.get("virtual_router_id", 0))
    if "priority" not in o and o.get("state") == "MASTER":
        # keepalived: no priority + state MASTER means the address owner (vrrp.c).
        o["priority"] = 255
    strict = o["strict_mode"]
    if "accept" not in o:
        o["accept"] = not strict or o.get("priority", 100) == 255
    if "virtual_router_id" not in o:
        d.error(st.loc, f"({name}) virtual_router_id is not set")
    return m.VrrpInstance(name=name, loc=st.loc,
                          keyword_locs={k: x.loc for k, x in explicit.items()}, **o)


#: IFNAMSIZ - 1: the longest interface name Linux takes.
MAX_IFNAME = 15


def vmac_name(prefix: str, vrid: int) -> str:
    """keepalived's name for a VMAC interface ``use_vmac`` does not name: PREFIX.VRID, the
    prefix shortened to fit an interface name (vrrp.c create_vmac_name)."""
    suffix = f".{vrid}"
    return prefix[: MAX_IFNAME - len(suffix)] + suffix


def peer(v: Values, st: Statement) -> m.UnicastPeer | None:
    """One ``unicast_peer`` entry: an address, then ``min_ttl``/``max_ttl``."""
    words = line(st)
    addr = v.parse_address(words[0], st.loc, "unicast_peer")
    if addr is None:
        return None
    opts: dict[str, int] = {}
    i = 1
    while i < len(words):
        if words[i] in PEER_OPTIONS and i + 1 < len(words):
            report_unsupported(v.diags, word_loc(st, i), f"{words[i]} in unicast_peer",
                               PEER_OPTIONS[words[i]][1])
            try:
                opts[words[i]] = int(words[i + 1])
            except ValueError:
                v.diags.mistake(word_loc(st, i + 1), f"invalid {words[i]} '{words[i+1]}'")
            i += 2
        else:
            v.diags.mistake(word_loc(st, i), f"unknown unicast_peer option '{words[i]}'")
            i += 1
    return m.UnicastPeer(address=addr, loc=st.loc, **opts)


def authentication(v: Values, st: Statement, o: dict[str, Any]) -> None:
    """The ``authentication`` block, into the instance's options `o`."""
    for s in each(st.block):
        if s.keyword == "auth_type":
            raw = v.string(s)
            if raw is None:
                continue
            # keepalived compares exactly: "pass" is an unknown type, and no authentication.
            if raw in ("PASS", "AH"):
                o["auth_type"] = raw
            else:
                v.diags.mistake(s.arg_loc(0), f"unknown authentication type '{raw}' (PASS or "
                                "AH); no authentication")
        elif s.keyword == "auth_pass":
            raw = v.string(s)
            if raw is None:
                continue
            if len(raw) > 8:
                # keepalived 2.2.7: the daemon truncates, -t fails (exit 5) on it.
                v.diags.mistake(s.arg_loc(0), "Truncating auth_pass to 8 characters (the "
                                "VRRPv2 field is 8 octets)")
            o["auth_pass"] = raw[:8]


#: what keepalived reads of a key file at most: "hex:", 64 bytes in hex, some slack
KEY_FILE_MAX = 4 + KEY_MAX * 2 + 7


def auth_hmac(v: Values, st: Statement, name: str) -> m.AuthHmac:
    """The ``auth_hmac`` block, with keepalived 2.4's checks and words."""
    keys: list[tuple[int, bytes]] = []
    opts: dict[str, Any] = {}
    for s in each(st.block):
        k, words = s.keyword, s.words
        if k == "key":
            if len(words) < 2:
                v.diags.mistake(s.loc, f"({name}) auth_hmac key needs an id and a value")
                continue
            key_id = _id_1_255(words[0])
            if key_id is None:
                v.diags.mistake(s.arg_loc(0), f"({name}) auth_hmac key id '{words[0]}' must be "
                                "between 1 and 255")
                continue
            data = _key_file(v, s, name, words[1][5:]) if words[1].startswith("file:") \
                else _decode_key(words[1])
            if data is None:
                continue
            if not KEY_MIN <= len(data) <= KEY_MAX:
                v.diags.mistake(s.arg_loc(1), f"({name}) auth_hmac key {key_id} length "
                                f"{len(data)} not in range [{KEY_MIN}, {KEY_MAX}]")
            elif any(i == key_id for i, _ in keys):
                v.diags.mistake(s.loc, f"({name}) duplicate auth_hmac key id {key_id}")
            else:
                keys.append((key_id, data))
        elif k == "active_key":
            raw = v.string(s)
            key_id = _id_1_255(raw) if raw is not None else None
            if key_id is None:
                v.diags.mistake(s.arg_loc(0), f"({name}) auth_hmac active_key '{raw}' must be "
                                "between 1 and 255")
            else:
                opts["active_key"] = key_id
        elif k == "time_window":
            raw = v.string(s)
            window = int(raw) if raw is not None and raw.isdigit() else 0
            if not WINDOW_MIN <= window <= WINDOW_MAX:
                v.diags.mistake(s.arg_loc(0), f"({name}) auth_hmac time_window '{raw}' must be "
                                f"between {WINDOW_MIN} and {WINDOW_MAX} seconds")
            else:
                opts["time_window"] = window
        elif k in ("anti_replay", "mode"):
            raw = v.string(s)
            allowed = ("time", "monotonic") if k == "anti_replay" else (
                "enforce", "permissive", "receive-only")
            if raw in allowed:
                opts[k] = raw
            else:
                what = "time or monotonic" if k == "anti_replay" else \
                    "enforce, permissive or receive-only"
                v.diags.mistake(s.arg_loc(0), f"({name}) auth_hmac {k} '{raw}' must be {what}")
    return m.AuthHmac(keys=tuple(keys), loc=st.loc, **opts)


def _id_1_255(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 255 else None


def _decode_key(text: str) -> bytes:
    """keepalived's key value: ``hex:`` then hex digits, else the text itself (ASCII)."""
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            return b""
    return text.encode()


def _key_file(v: Values, s: Statement, name: str, path: str) -> bytes | None:
    """A key kept out of the configuration: the file holds what the inline value would."""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(KEY_FILE_MAX + 1)
    except OSError:
        v.diags.mistake(s.arg_loc(1), f"({name}) auth_hmac key file '{path}' cannot be opened")
        return None
    if mode & 0o077:
        v.diags.mistake(s.arg_loc(1), f"({name}) auth_hmac key file '{path}' is readable by "
                        "group or others")
    if len(data) > KEY_FILE_MAX:
        v.diags.mistake(s.arg_loc(1), f"({name}) auth_hmac key file '{path}' is too large")
        return None
    return _decode_key(data.rstrip(b"\r\n").decode("latin-1"))


def sync_group(v: Values, st: Statement) -> m.SyncGroup | None:
    if not st.words:
        v.diags.mistake(st.loc, "vrrp_sync_group needs a name")
        return None
    opts: dict[str, Any] = {}
    for s in each(st.block):
        k = s.keyword
        if k == "group":
            opts["group"] = tuple(x.keyword for x in v.list_block(s))
        elif k == "track_interface":
            opts["track_interfaces"] = tuple(
                track_ref(v, x, m.TrackInterface, -253, 253, 0) for x in v.list_block(s)
            )
        elif k == "track_script":
            opts["track_scripts"] = tuple(
                track_ref(v, x, m.TrackScript, -253, 253, None) for x in v.list_block(s)
            )
        elif k == "track_file":
            opts["track_files"] = tuple(
                track_ref(v, x, m.TrackFile, -254, 254, None) for x in v.list_block(s)
            )
        elif k == "track_process":
            opts["track_processes"] = tuple(
                track_ref(v, x, m.TrackProcess, -254, 254, None)
                for x in v.list_block(s)
            )
        elif k in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"):
            opts[k] = v.command(s)
        elif k in ("smtp_alert", "global_tracking", "sync_group_tracking_weight",
                   "notify_priority_changes"):
            opts[k] = v.flag(s)
    return m.SyncGroup(name=st.words[0], loc=st.loc, **opts)
