"""Turns the statement tree into the typed model, reporting every keyword or value it cannot use.

Two passes. First every statement in a keyword block is looked up in keepalived's vocabulary
(`keywords.KEYWORDS`); an unknown one is reported with the closest known keyword as a suggestion.
Then each block the daemon understands is converted into its dataclass, value by value: a value that
cannot be used is reported and the default kept, as keepalived does, so that one run shows every
problem. Cross-object checks (script references, duplicate router ids, strict mode) live in
`validate`.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from pykeepalived.config import model as m
from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.keywords import KEYWORDS, LINE_BLOCKS, KeywordTree
from pykeepalived.config.parser import Statement

T = TypeVar("T")

_TRUE = frozenset({"on", "true", "yes"})
_FALSE = frozenset({"off", "false", "no"})
_SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keywords(statements: list[Statement], diags: Diagnostics) -> None:
    """Report every statement whose keyword keepalived would not know in its block."""
    _check_block(statements, KEYWORDS, (), diags)


def _check_block(
    statements: list[Statement], table: KeywordTree, path: tuple[str, ...], diags: Diagnostics
) -> None:
    for st in statements:
        if st.keyword not in table:
            if st.keyword:
                where = f" in {path[-1]}" if path else ""
                diags.mistake(
                    st.loc, f"unknown keyword '{st.keyword}'{where}{_suggest(st.keyword, table)}"
                )
            continue
        if st.block is None:
            continue
        sub = table[st.keyword]
        sub_path = (*path, st.keyword)
        if sub is not None:
            _check_block(st.block, sub, sub_path, diags)
        elif sub_path not in LINE_BLOCKS:
            diags.mistake(st.loc, f"'{st.keyword}' does not take a block")


class Values:
    """Converts a statement's words, reporting what it cannot convert."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags

    def _arg(self, st: Statement, index: int = 0) -> str | None:
        if len(st.words) <= index:
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a value")
            return None
        return st.words[index]

    def _loc(self, st: Statement, index: int = 0) -> Location:
        return st.arg_loc(index)

    def string(self, st: Statement) -> str | None:
        return self._arg(st)

    def command(self, st: Statement) -> str | None:
        """A script command line: the words after the keyword, joined as keepalived does."""
        if not st.words:
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a script")
            return None
        words = st.words
        if len(words) == 1:
            return words[0]
        return " ".join(f"'{w}'" if (" " in w or not w) else w for w in words)

    def integer(self, st: Statement, lo: int, hi: int, index: int = 0) -> int | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        try:
            value = int(raw, 10)
        except ValueError:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' needs an integer, got '{raw}'"
            )
            return None
        if not lo <= value <= hi:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' {value} is out of range {lo}..{hi}"
            )
            return None
        return value

    def number(self, st: Statement, lo: float, hi: float, index: int = 0) -> float | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.diags.mistake(self._loc(st, index), f"'{st.keyword}' needs a number, got '{raw}'")
            return None
        if not lo <= value <= hi or value != value:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' {raw} is out of range {lo:g}..{hi:g}"
            )
            return None
        return value

    def flag(self, st: Statement) -> bool:
        """A keyword that turns something on, optionally followed by <BOOL>."""
        if not st.words:
            return True
        raw = st.words[0].lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        self.diags.mistake(st.arg_loc(0), f"'{st.keyword}' takes on|off|true|false|yes|no")
        return True

    def address(self, st: Statement, index: int = 0) -> m.IPAddress | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        return self.parse_address(raw, self._loc(st, index), st.keyword)

    def parse_address(self, raw: str, loc: Location, what: str) -> m.IPAddress | None:
        try:
            return ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            self.diags.mistake(loc, f"'{what}': invalid IP address '{raw}'")
            return None


def _words(st: Statement) -> list[str]:
    return st.words


def _line(st: Statement) -> list[str]:
    """A free-form line: its first word (the parser's keyword) and the rest."""
    return [st.keyword, *st.words]


def _word_loc(st: Statement, i: int) -> Location:
    return st.loc if i == 0 else st.arg_loc(i - 1)


class Builder:
    """Builds `KeepalivedConfig` from statements; `interfaces` (when given) are checked to exist."""

    def __init__(self, diags: Diagnostics, interfaces: Collection[str] | None = None) -> None:
        self.diags = diags
        self.v = Values(diags)
        self.interfaces = interfaces

    # --- helpers --------------------------------------------------------------------------

    def check_interface(self, name: str, loc: Location, what: str) -> None:
        if self.interfaces is not None and name not in self.interfaces:
            # keepalived warns and runs (the interface may appear later), but its config test
            # fails ("Non-existent interface specified in configuration"); so do we.
            self.diags.mistake(loc, f"interface {name} for {what} doesn't exist")

    def _each(self, block: list[Statement] | None) -> list[Statement]:
        return block if block is not None else []

    def _list_block(self, st: Statement) -> list[Statement]:
        if st.block is None:
            if st.words:
                # keepalived also accepts a single entry on the keyword's own line.
                return [st.sub(0)]
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a block of entries")
            return []
        return st.block

    # --- addresses, routes, rules ---------------------------------------------------------

    def virtual_ip(self, st: Statement, what: str) -> m.VirtualIP | None:
        words = _line(st)
        raw = words[0]
        try:
            addr: m.IPInterface = ipaddress.ip_interface(raw)
        except ValueError:
            self.diags.mistake(st.loc, f"invalid IP address '{raw}' in {what}")
            return None
        opts: dict[str, Any] = {}
        extra: list[str] = []
        i = 1
        while i < len(words):
            word = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else None
            loc = _word_loc(st, i)
            if word in ("brd", "broadcast", "dev", "scope", "label", "peer", "use_vmac"):
                if nxt is None and word != "use_vmac":
                    self.diags.mistake(loc, f"'{word}' needs a value in {what}")
                    break
                if word in ("brd", "broadcast"):
                    assert nxt is not None
                    try:
                        opts["brd"] = ipaddress.IPv4Address(nxt)
                    except ValueError:
                        if nxt not in ("+", "-"):
                            self.diags.mistake(_word_loc(st, i + 1), f"invalid broadcast '{nxt}'")
                elif word == "peer":
                    assert nxt is not None
                    try:
                        opts["peer"] = ipaddress.ip_interface(nxt)
                    except ValueError:
                        self.diags.mistake(_word_loc(st, i + 1), f"invalid peer '{nxt}'")
                elif word == "scope":
                    assert nxt is not None
                    if nxt not in _SCOPES and not nxt.isdigit():
                        self.diags.mistake(_word_loc(st, i + 1), f"invalid scope '{nxt}'")
                    opts["scope"] = nxt
                elif word == "use_vmac":
                    if nxt is None or nxt in _VIP_FLAGS or nxt in _VIP_OPTIONS:
                        opts["use_vmac"] = ""
                        i += 1
                        continue
                    opts["use_vmac"] = nxt
                else:
                    opts[word] = nxt
                    if word == "dev":
                        assert nxt is not None
                        self.check_interface(nxt, _word_loc(st, i + 1), f"ip address {raw}")
                i += 2
                continue
            if word in _VIP_FLAGS:
                opts[word] = True
            else:
                extra.append(word)
            i += 1
        return m.VirtualIP(address=addr, extra=tuple(extra), loc=st.loc, **opts)

    def route(self, st: Statement, tracked: bool) -> m.VirtualRoute:
        words = _line(st)
        opts: dict[str, Any] = {}
        dest: str | None = None
        i = 0
        while i < len(words):
            word = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else None
            loc = _word_loc(st, i)
            if word in ("src", "via", "gw", "dev", "table", "metric", "scope", "from", "to",
                        "proto", "protocol", "realms", "mtu", "advmss", "weight", "tos", "onlink",
                        "pref", "preference", "nexthop", "or", "expires"):
                if word in ("or", "gw"):
                    better = "nexthop" if word == "or" else "via"
                    self.diags.warning(
                        loc, f'"{word}" for routes is deprecated. Please use "{better}"'
                    )
                if word in ("nexthop", "or", "onlink"):
                    i += 1
                    continue
                if nxt is None:
                    self.diags.mistake(loc, f"route option '{word}' needs a value")
                    break
                key = {"gw": "via", "protocol": "proto"}.get(word, word)
                if key == "dev":
                    self.check_interface(nxt, _word_loc(st, i + 1), "VROUTE nexthop")
                if key == "metric":
                    try:
                        opts["metric"] = int(nxt)
                    except ValueError:
                        self.diags.mistake(_word_loc(st, i + 1), f"invalid metric '{nxt}'")
                elif key in ("src", "via", "dev", "table", "scope"):
                    opts.setdefault(key, nxt)
                i += 2
                continue
            if word in ("blackhole", "unreachable", "prohibit", "throw", "local", "broadcast",
                        "unicast", "multicast", "anycast", "nat"):
                opts["type"] = word
            elif word == "no_track":
                opts["no_track"] = True
            elif dest is None and word not in ("default",) and not _looks_like_prefix(word):
                self.diags.mistake(loc, f"unknown route option '{word}'")
            elif dest is None:
                dest = word
                if word != "default":
                    self._check_prefix(word, loc, "route")
            i += 1
        if dest is None:
            self.diags.mistake(st.loc, "route has no destination")
            dest = ""
        if tracked and "dev" not in opts and not opts.get("no_track"):
            self.diags.warning(
                st.loc, f"cannot track route {dest} with no interface specified, not tracking"
            )
        return m.VirtualRoute(destination=dest, words=tuple(words), loc=st.loc, **opts)

    def _check_prefix(self, text: str, loc: Location, what: str) -> bool:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            self.diags.mistake(loc, f"invalid {what} address '{text}'")
            return False
        return True

    def rule(self, st: Statement) -> m.VirtualRule:
        words = _line(st)
        opts: dict[str, Any] = {}
        i = 0
        while i < len(words):
            word = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else None
            if word in ("no_track", "not", "l3mdev"):
                if word == "no_track":
                    opts["no_track"] = True
                i += 1
                continue
            if nxt is None:
                self.diags.mistake(_word_loc(st, i), f"rule option '{word}' needs a value")
                break
            key = {"priority": "preference", "pref": "preference", "lookup": "table",
                   "iif": "iif", "oif": "oif", "from": "from_"}.get(word, word)
            if key in ("from_", "to"):
                if nxt != "all":
                    self._check_prefix(nxt, _word_loc(st, i + 1), f"rule {word}")
                opts[key] = nxt
            elif key == "preference":
                try:
                    opts["preference"] = int(nxt)
                except ValueError:
                    self.diags.mistake(_word_loc(st, i + 1), f"invalid rule preference '{nxt}'")
            elif key in ("table", "fwmark", "iif", "oif"):
                opts[key] = nxt
            i += 2
        if "preference" not in opts:
            self.diags.warning(
                st.loc, "rule has no preference specified: keepalived picks one, which is "
                "probably not what you want"
            )
        return m.VirtualRule(words=tuple(words), loc=st.loc, **opts)

    def track_ref(self, st: Statement, cls: Callable[..., T], lo: int, hi: int,
                  default_weight: int | None) -> T:
        words = _line(st)
        weight = default_weight
        reverse = False
        i = 1
        while i < len(words):
            word = words[i]
            if word == "weight" and i + 1 < len(words):
                try:
                    weight = int(words[i + 1])
                    if not lo <= weight <= hi:
                        raise ValueError
                except ValueError:
                    self.diags.mistake(
                        _word_loc(st, i + 1), f"weight for {words[0]} must be {lo}..{hi}"
                    )
                    weight = default_weight
                i += 2
                continue
            if word == "reverse":
                reverse = True
            elif word not in ("noreverse", "no_reverse"):
                self.diags.mistake(_word_loc(st, i), f"unknown option '{word}' for {words[0]}")
            i += 1
        return cls(name=words[0], weight=weight, reverse=reverse, loc=st.loc)

    # --- blocks ---------------------------------------------------------------------------

    def global_defs(self, st: Statement, into: dict[str, Any]) -> None:
        v = self.v
        raw: list[tuple[str, tuple[str, ...]]] = list(into.get("raw", ()))
        for s in self._each(st.block):
            k = s.keyword
            raw.append((k, tuple(_words(s))))
            val: Any
            if k in ("router_id", "script_user", "notify_fifo", "vrrp_notify_fifo",
                     "notification_email_from", "default_interface", "vmac_prefix",
                     "notify_fifo_script", "vrrp_notify_fifo_script"):
                val = v.string(s)
                if k == "script_user" and len(s.words) > 1:
                    into["script_group"] = s.words[1]
                if k in ("notify_fifo_script", "vrrp_notify_fifo_script"):
                    val = v.command(s)
            elif k == "smtp_server":
                val = " ".join(_words(s)) or None
            elif k == "notification_email":
                val = tuple(x.keyword for x in self._list_block(s))
            elif k in ("enable_script_security", "vrrp_strict", "vrrp_skip_check_adv_addr",
                       "vrrp_check_unicast_src", "vrrp_lower_prio_no_advert",
                       "vrrp_higher_prio_send_advert", "vrrp_min_garp", "smtp_alert",
                       "vrrp_notify_priority_changes", "dynamic_interfaces"):
                val = v.flag(s)
            elif k == "vrrp_version":
                val = v.integer(s, 2, 3)
            elif k == "vrrp_mcast_group4":
                a = v.address(s)
                val = a if isinstance(a, ipaddress.IPv4Address) and a.is_multicast else None
                if a is not None and val is None:
                    v.diags.mistake(s.loc, f"vrrp_mcast_group4 {a} is not IPv4 multicast")
            elif k == "vrrp_mcast_group6":
                a = v.address(s)
                val = a if isinstance(a, ipaddress.IPv6Address) and a.is_multicast else None
                if a is not None and val is None:
                    v.diags.mistake(s.loc, f"vrrp_mcast_group6 {a} is not IPv6 multicast")
            elif k in ("vrrp_garp_master_delay", "vrrp_garp_lower_prio_delay",
                       "vrrp_garp_master_refresh"):
                val = v.number(s, 0, 255)
            elif k in ("vrrp_garp_master_repeat", "vrrp_garp_lower_prio_repeat",
                       "vrrp_garp_master_refresh_repeat"):
                val = v.integer(s, 0, 255)
            elif k in ("vrrp_garp_interval", "vrrp_gna_interval"):
                val = v.number(s, 0.000001, 4294.967295)
            elif k == "vrrp_down_timer_adverts":
                val = v.integer(s, 1, 100)
            elif k == "vrrp_startup_delay":
                val = v.number(s, 0.001, 4294.967295)
            elif k == "smtp_connect_timeout":
                val = v.integer(s, 1, 3600)
            elif k == "max_auto_priority":
                val = v.integer(s, -1, 99) if s.words else 99
            elif k in ("state_dump_file", "stats_dump_file", "json_dump_file"):
                val = v.string(s)
            else:
                continue
            if val is not None:
                into[k] = val
        into["raw"] = tuple(raw)

    def vrrp_script(self, st: Statement) -> m.VrrpScript | None:
        name = st.words[0] if st.words else None
        if name is None:
            self.diags.mistake(st.loc, "vrrp_script needs a name")
            return None
        v = self.v
        opts: dict[str, Any] = {}
        for s in self._each(st.block):
            k = s.keyword
            val: Any = None
            if k == "script":
                val = v.command(s)
            elif k in ("interval", "timeout"):
                val = v.number(s, 0.000001, 2**31)
            elif k == "weight":
                val = v.integer(s, -253, 253)
                if len(s.words) > 1:
                    if s.words[1] == "reverse":
                        opts["reverse"] = True
                    elif s.words[1] not in ("noreverse", "no_reverse"):
                        v.diags.mistake(s.arg_loc(1), f"unknown weight option '{s.words[1]}'")
            elif k in ("rise", "fall"):
                val = v.integer(s, 1, 2**31 - 1)
            elif k == "user":
                val = v.string(s)
                if len(s.words) > 1:
                    opts["group"] = s.words[1]
            elif k == "init_fail":
                val = True
            if val is not None:
                opts[k] = val
        if not opts.get("script"):
            # keepalived removes such a script at the end of its block and says so there.
            self.diags.mistake(st.end_loc, f"no script set for vrrp_script {name} - removing")
            return None
        return m.VrrpScript(name=name, loc=st.loc, **opts)

    def track_file_def(self, st: Statement) -> m.TrackFileDef | None:
        if not st.words:
            self.diags.mistake(st.loc, f"{st.keyword} needs a name")
            return None
        name = st.words[0]
        opts: dict[str, Any] = {}
        for s in self._each(st.block):
            if s.keyword == "file":
                opts["file"] = self.v.string(s)
            elif s.keyword == "weight":
                w = self.v.integer(s, -254, 254)
                if w is not None:
                    opts["weight"] = w
                opts["reverse"] = "reverse" in s.words[1:]
            elif s.keyword == "init_file":
                words = _words(s)
                value = 0
                if words and words[0] != "overwrite":
                    value = self.v.integer(s, -2**31, 2**31 - 1) or 0
                opts["init_file"] = value
                opts["init_file_overwrite"] = "overwrite" in words
        if not opts.get("file"):
            self.diags.mistake(st.end_loc, f"no file set for track_file {name} - removing")
            return None
        return m.TrackFileDef(name=name, loc=st.loc, **opts)

    def track_process_def(self, st: Statement) -> m.TrackProcessDef | None:
        if not st.words:
            self.diags.mistake(st.loc, "vrrp_track_process needs a name")
            return None
        name = st.words[0]
        opts: dict[str, Any] = {}
        v = self.v
        for s in self._each(st.block):
            k = s.keyword
            if k == "process":
                opts["process"] = v.string(s)
            elif k == "param_match":
                opts["param_match"] = v.string(s)
            elif k == "weight":
                w = v.integer(s, -254, 254)
                if w is not None:
                    opts["weight"] = w
                opts["reverse"] = "reverse" in s.words[1:]
            elif k in ("quorum", "quorum_max"):
                q = v.integer(s, 0, 65535)
                if q is not None:
                    opts[k] = q
            elif k in ("delay", "terminate_delay", "fork_delay"):
                opts[k] = v.number(s, 0, 3600)
            elif k == "full_command":
                opts[k] = True
        if not opts.get("process"):
            self.diags.mistake(st.end_loc, f"no process set for vrrp_track_process {name}")
            return None
        return m.TrackProcessDef(name=name, loc=st.loc, **opts)

    def sync_group(self, st: Statement) -> m.SyncGroup | None:
        if not st.words:
            self.diags.mistake(st.loc, "vrrp_sync_group needs a name")
            return None
        opts: dict[str, Any] = {}
        for s in self._each(st.block):
            k = s.keyword
            if k == "group":
                opts["group"] = tuple(x.keyword for x in self._list_block(s))
            elif k == "track_interface":
                opts["track_interfaces"] = tuple(
                    self.track_ref(x, m.TrackInterface, -253, 253, 0) for x in self._list_block(s)
                )
            elif k == "track_script":
                opts["track_scripts"] = tuple(
                    self.track_ref(x, m.TrackScript, -253, 253, None) for x in self._list_block(s)
                )
            elif k == "track_file":
                opts["track_files"] = tuple(
                    self.track_ref(x, m.TrackFile, -254, 254, None) for x in self._list_block(s)
                )
            elif k == "track_process":
                opts["track_processes"] = tuple(
                    self.track_ref(x, m.TrackProcess, -254, 254, None)
                    for x in self._list_block(s)
                )
            elif k in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"):
                opts[k] = self.v.command(s)
            elif k in ("smtp_alert", "global_tracking", "sync_group_tracking_weight",
                       "notify_priority_changes"):
                opts[k] = self.v.flag(s)
        return m.SyncGroup(name=st.words[0], loc=st.loc, **opts)

    def vrrp_instance(self, st: Statement, g: m.GlobalDefs) -> m.VrrpInstance | None:
        if not st.words:
            self.diags.mistake(st.loc, "vrrp_instance needs a name")
            return None
        name = st.words[0]
        v = self.v
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
        for s in self._each(st.block):
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
                    self.check_interface(val, s.arg_loc(0), f"vrrp_instance {name}")
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
                val = tuple(p for p in (self.peer(x) for x in self._list_block(s)) if p)
                o["unicast_peers"] = o.get("unicast_peers", ()) + val
                continue
            elif k == "authentication":
                self.authentication(s, o)
                continue
            elif k in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                key = "virtual_ipaddresses" + ("_excluded" if k.endswith("excluded") else "")
                vips = tuple(
                    x for x in (self.virtual_ip(y, "vrrp_instance " + name)
                                for y in self._list_block(s)) if x
                )
                o[key] = o.get(key, ()) + vips
                continue
            elif k == "virtual_routes":
                o["virtual_routes"] = o.get("virtual_routes", ()) + tuple(
                    self.route(x, tracked=True) for x in self._list_block(s)
                )
                continue
            elif k == "virtual_rules":
                o["virtual_rules"] = o.get("virtual_rules", ()) + tuple(
                    self.rule(x) for x in self._list_block(s)
                )
                continue
            elif k == "track_interface":
                refs = tuple(
                    self.track_ref(x, m.TrackInterface, -253, 253, 0) for x in self._list_block(s)
                )
                for ref in refs:
                    if self.interfaces is not None and ref.name not in self.interfaces:
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
                    self.track_ref(x, cls, -hi, hi, None) for x in self._list_block(s)
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
            elif k == "lvs_sync_daemon_interface":
                v.diags.warning(s.loc, f"({name}) specifying lvs_sync_daemon_interface against a "
                                "vrrp is deprecated; please use global lvs_sync_daemon")
                continue
            if val is not None:
                o[k] = val
        return self._resolve_instance(name, st, o, explicit, g)

    def _resolve_instance(self, name: str, st: Statement, o: dict[str, Any],
                          explicit: dict[str, Statement], g: m.GlobalDefs) -> m.VrrpInstance:
        d = self.diags
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
            o["use_vmac"] = f"vrrp.{o.get('virtual_router_id', 0)}"
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

    def peer(self, st: Statement) -> m.UnicastPeer | None:
        words = _line(st)
        addr = self.v.parse_address(words[0], st.loc, "unicast_peer")
        if addr is None:
            return None
        opts: dict[str, int] = {}
        i = 1
        while i < len(words):
            if words[i] in ("min_ttl", "max_ttl") and i + 1 < len(words):
                try:
                    opts[words[i]] = int(words[i + 1])
                except ValueError:
                    self.diags.mistake(_word_loc(st, i + 1), f"invalid {words[i]} '{words[i+1]}'")
                i += 2
            else:
                self.diags.mistake(_word_loc(st, i), f"unknown unicast_peer option '{words[i]}'")
                i += 1
        return m.UnicastPeer(address=addr, loc=st.loc, **opts)

    def authentication(self, st: Statement, o: dict[str, Any]) -> None:
        for s in self._each(st.block):
            if s.keyword == "auth_type":
                raw = self.v.string(s)
                if raw is None:
                    continue
                if raw.upper() not in ("PASS", "AH"):
                    self.diags.mistake(s.arg_loc(0), f"auth_type must be PASS or AH, got '{raw}'")
                else:
                    o["auth_type"] = raw.upper()
            elif s.keyword == "auth_pass":
                raw = self.v.string(s)
                if raw is None:
                    continue
                if len(raw) > 8:
                    self.diags.warning(s.arg_loc(0), "auth_pass is longer than 8 characters; "
                                       "only the first 8 are used")
                o["auth_pass"] = raw[:8]

    # --- load balancer (kept generic) -----------------------------------------------------

    def generic(self, st: Statement) -> m.GenericStatement:
        block = None if st.block is None else tuple(self.generic(s) for s in st.block)
        return m.GenericStatement(st.keyword, tuple(_words(st)), block, st.loc)

    def virtual_server(self, st: Statement) -> m.VirtualServer | None:
        words = _words(st)
        if not words:
            self.diags.mistake(st.loc, "virtual_server needs an address")
            return None
        kind: Any = "address"
        target = words[0]
        port: int | None = None
        if words[0] in ("fwmark", "group"):
            kind = words[0]
            if len(words) < 2:
                self.diags.mistake(st.loc, f"virtual_server {words[0]} needs a value")
                return None
            target = words[1]
        else:
            self.v.parse_address(target, st.arg_loc(0), "virtual_server")
            if len(words) > 1:
                port = self._port(words[1], st.arg_loc(1))
        reals = []
        for s in self._each(st.block):
            if s.keyword == "protocol" and kind == "fwmark":
                # keepalived -t fails on this one.
                self.diags.mistake(s.loc, f"virtual server FWM {target}: protocol specified for "
                                   "fwmark - protocol will be ignored")
            if s.keyword == "real_server":
                rw = _words(s)
                if not rw:
                    self.diags.mistake(s.loc, "real_server needs an address")
                    continue
                self.v.parse_address(rw[0], s.arg_loc(0), "real_server")
                rport = self._port(rw[1], s.arg_loc(1)) if len(rw) > 1 else None
                body = tuple(self.generic(x) for x in self._each(s.block))
                checkers = tuple(x.keyword for x in body if x.keyword.endswith("_CHECK")
                                 or x.keyword in ("HTTP_GET", "SSL_GET"))
                reals.append(m.RealServer(rw[0], rport, checkers, body, s.loc))
        body = tuple(self.generic(x) for x in self._each(st.block))
        return m.VirtualServer(kind, target, port, tuple(reals), body, st.loc)

    def _port(self, raw: str, loc: Location) -> int | None:
        if raw.isdigit() and 0 <= int(raw) <= 65535:
            return int(raw)
        self.diags.mistake(loc, f"invalid port '{raw}'")
        return None

    # --- the whole file -------------------------------------------------------------------

    def build(self, statements: list[Statement], files: tuple[str, ...]) -> m.KeepalivedConfig:
        check_keywords(statements, self.diags)
        gopts: dict[str, Any] = {}
        gloc: Location | None = None
        for st in statements:
            if st.keyword == "global_defs":
                gloc = gloc or st.loc
                self.global_defs(st, gopts)
        g = m.GlobalDefs(**gopts) if gloc is None else m.GlobalDefs(loc=gloc, **gopts)
        scripts: dict[str, m.VrrpScript] = {}
        tfiles: dict[str, m.TrackFileDef] = {}
        tprocs: dict[str, m.TrackProcessDef] = {}
        instances: list[m.VrrpInstance] = []
        groups: list[m.SyncGroup] = []
        addrs: list[m.VirtualIP] = []
        routes: list[m.VirtualRoute] = []
        rules: list[m.VirtualRule] = []
        vsgs: list[m.VirtualServerGroup] = []
        vss: list[m.VirtualServer] = []
        other: list[m.GenericStatement] = []
        for st in statements:
            k = st.keyword
            if k == "global_defs":
                continue
            if k == "vrrp_script":
                sc = self.vrrp_script(st)
                if sc is not None:
                    self._unique(scripts, sc.name, sc, st, k)
            elif k in ("track_file", "vrrp_track_file"):
                tf = self.track_file_def(st)
                if tf is not None:
                    self._unique(tfiles, tf.name, tf, st, k)
            elif k == "vrrp_track_process":
                tp = self.track_process_def(st)
                if tp is not None:
                    self._unique(tprocs, tp.name, tp, st, k)
            elif k == "vrrp_instance":
                inst = self.vrrp_instance(st, g)
                if inst is not None:
                    instances.append(inst)
            elif k == "vrrp_sync_group":
                sg = self.sync_group(st)
                if sg is not None:
                    groups.append(sg)
            elif k == "static_ipaddress":
                addrs.extend(
                    x for x in (self.virtual_ip(y, "static_ipaddress")
                                for y in self._list_block(st)) if x
                )
            elif k == "static_routes":
                routes.extend(self.route(x, tracked=False) for x in self._list_block(st))
            elif k == "static_rules":
                rules.extend(self.rule(x) for x in self._list_block(st))
            elif k == "virtual_server_group":
                name = st.words[0] if st.words else ""
                entries = tuple(tuple(_line(x)) for x in self._each(st.block))
                vsgs.append(m.VirtualServerGroup(name, entries, st.loc))
            elif k == "virtual_server":
                vs = self.virtual_server(st)
                if vs is not None:
                    vss.append(vs)
            elif k in KEYWORDS:
                other.append(self.generic(st))
        return m.KeepalivedConfig(
            global_defs=g, vrrp_scripts=scripts, track_files=tfiles, track_processes=tprocs,
            vrrp_instances=tuple(instances), sync_groups=tuple(groups),
            static_addresses=tuple(addrs), static_routes=tuple(routes), static_rules=tuple(rules),
            virtual_server_groups=tuple(vsgs), virtual_servers=tuple(vss), other=tuple(other),
            files=files,
        )

    def _unique(self, into: dict[str, T], name: str, value: T, st: Statement, what: str) -> None:
        if name in into:
            self.diags.mistake(st.loc, f"{what} {name} is defined twice; this one replaces the "
                               "first")
        into[name] = value


_VIP_FLAGS = frozenset({"no_track", "home", "nodad", "noprefixroute", "autojoin"})
_VIP_OPTIONS = frozenset({"brd", "broadcast", "dev", "scope", "label", "peer", "use_vmac"})


def _looks_like_prefix(word: str) -> bool:
    return bool(word) and (word[0].isdigit() or ":" in word)


def replace_instance(inst: m.VrrpInstance, **changes: Any) -> m.VrrpInstance:
    return replace(inst, **changes)
