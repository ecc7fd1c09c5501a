"""Addresses, routes and rules: ``virtual_ipaddress``, ``virtual_routes``, ``virtual_rules`` and
their ``static_*`` twins, each entry a free-form line in ``ip address|route|rule`` syntax.

Options the daemon uses become fields of the model; the whole line is kept for the rest.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pykeepalived.config import model as m
from pykeepalived.config.diagnostics import Location
from pykeepalived.config.parser import Statement
from pykeepalived.config.unsupported import ROUTE_OPTIONS, RULE_OPTIONS, VIP_OPTIONS
from pykeepalived.config.unsupported import report as report_unsupported
from pykeepalived.config.values import Values, line, word_loc

_SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})
#: keepalived's flag words with a field of their own in the model (kept for the dump).
_VIP_FLAGS = {"home": "home", "-nodad": "nodad", "noprefixroute": "noprefixroute",
              "autojoin": "autojoin"}
_VIP_OPTIONS = frozenset({"brd", "broadcast", "dev", "scope", "label", "peer", "use_vmac"})


def virtual_ip(v: Values, st: Statement, what: str) -> m.VirtualIP | None:
    """One ``ip address`` line; `what` names the block in messages."""
    words = line(st)
    raw = words[0]
    try:
        addr: m.IPInterface = ipaddress.ip_interface(raw)
    except ValueError:
        v.diags.mistake(st.loc, f"invalid IP address '{raw}' in {what}")
        return None
    opts: dict[str, Any] = {}
    extra: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        loc = word_loc(st, i)
        if word in ("brd", "broadcast", "dev", "scope", "label", "peer", "use_vmac"):
            if nxt is None and word != "use_vmac":
                v.diags.mistake(loc, f"'{word}' needs a value in {what}")
                break
            if word in ("brd", "broadcast"):
                assert nxt is not None
                try:
                    opts["brd"] = ipaddress.IPv4Address(nxt)
                except ValueError:
                    if nxt not in ("+", "-"):
                        v.diags.mistake(word_loc(st, i + 1), f"invalid broadcast '{nxt}'")
            elif word == "peer":
                assert nxt is not None
                try:
                    opts["peer"] = ipaddress.ip_interface(nxt)
                except ValueError:
                    v.diags.mistake(word_loc(st, i + 1), f"invalid peer '{nxt}'")
            elif word == "scope":
                assert nxt is not None
                if nxt not in _SCOPES and not nxt.isdigit():
                    v.diags.mistake(word_loc(st, i + 1), f"invalid scope '{nxt}'")
                opts["scope"] = nxt
            elif word == "use_vmac":
                if (nxt is None or nxt in _VIP_OPTIONS or nxt in VIP_OPTIONS
                        or nxt == "no_track"):
                    opts["use_vmac"] = ""
                    i += 1
                    continue
                opts["use_vmac"] = nxt
            else:
                opts[word] = nxt
                if word == "dev":
                    assert nxt is not None
                    v.check_interface(nxt, word_loc(st, i + 1), f"ip address {raw}")
            i += 2
            continue
        if word == "no_track":
            opts[word] = True
        elif word in VIP_OPTIONS:
            takes_value, entry = VIP_OPTIONS[word]
            report_unsupported(v.diags, loc, f"{word} in {what}", entry)
            if word in _VIP_FLAGS:
                opts[_VIP_FLAGS[word]] = True
            else:
                extra.append(word)
                if takes_value and nxt is not None:
                    extra.append(nxt)
                    i += 1
        else:
            v.diags.mistake(loc, f"Unknown configuration entry '{word}' for ip address - "
                            "ignoring")
            extra.append(word)
        i += 1
    return m.VirtualIP(address=addr, extra=tuple(extra), loc=st.loc, **opts)


#: Route options the daemon applies (see daemon/routes.py), each followed by a value.
_ROUTE_VALUES = frozenset({"src", "via", "gw", "dev", "table", "metric", "priority",
                           "preference", "scope", "proto"})
_ROUTE_TYPES = frozenset({"blackhole", "unreachable", "prohibit", "throw", "local",
                          "broadcast", "unicast", "multicast", "anycast", "nat"})
#: Route options whose value may be preceded by ``lock`` (ip-route(8)).
_LOCKABLE = frozenset({"mtu", "hoplimit", "advmss", "rtt", "rttvar", "reordering", "window",
                       "cwnd", "ssthresh", "rto_min", "initcwnd", "initrwnd", "features"})


def route(v: Values, st: Statement, tracked: bool) -> m.VirtualRoute:
    """One ``ip route`` line; a `tracked` route (``virtual_routes``) wants an interface."""
    words = line(st)
    what = "virtual_routes" if tracked else "static_routes"
    opts: dict[str, Any] = {}
    dest: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        loc = word_loc(st, i)
        if word in ("or", "gw"):
            better = "nexthop" if word == "or" else "via"
            v.diags.warning(loc, f'"{word}" for routes is deprecated. Please use "{better}"')
        if word in ROUTE_OPTIONS:
            takes_value, entry = ROUTE_OPTIONS[word]
            report_unsupported(v.diags, loc, f"{word} in {what}", entry)
            if word in ("nexthop", "encap"):
                break  # the rest of the line belongs to it
            if takes_value:
                if nxt is None:
                    v.diags.mistake(loc, f"route option '{word}' needs a value")
                    break
                i += 3 if (word in _LOCKABLE and nxt == "lock") else 2
            else:
                i += 1
            continue
        if word in _ROUTE_VALUES:
            if nxt is None:
                v.diags.mistake(loc, f"route option '{word}' needs a value")
                break
            key = {"gw": "via", "priority": "metric", "preference": "metric"}.get(word, word)
            if key in ("via", "gw") and nxt in ("inet", "inet6") and i + 2 < len(words):
                i += 1
                nxt = words[i + 1]
            if key == "dev":
                v.check_interface(nxt, word_loc(st, i + 1), "VROUTE nexthop")
            if key == "metric":
                try:
                    opts["metric"] = int(nxt)
                except ValueError:
                    v.diags.mistake(word_loc(st, i + 1), f"invalid metric '{nxt}'")
            elif key in ("src", "via", "dev", "table", "scope"):
                opts.setdefault(key, nxt)
            i += 2
            continue
        if word == "to":
            i += 1
            continue
        if word in _ROUTE_TYPES:
            opts["type"] = word
        elif word == "no_track":
            opts["no_track"] = True
        elif dest is None and word not in ("default",) and not _looks_like_prefix(word):
            v.diags.mistake(loc, f"unknown route option '{word}'")
        elif dest is None:
            dest = word
            if word != "default":
                _check_prefix(v, word, loc, "route")
        i += 1
    if dest is None:
        v.diags.mistake(st.loc, "route has no destination")
        dest = ""
    if tracked and "dev" not in opts and not opts.get("no_track"):
        v.diags.warning(
            st.loc, f"cannot track route {dest} with no interface specified, not tracking"
        )
    return m.VirtualRoute(destination=dest, words=tuple(words), loc=st.loc, **opts)


def _check_prefix(v: Values, text: str, loc: Location, what: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        v.diags.mistake(loc, f"invalid {what} address '{text}'")
        return False
    return True


#: Rule options the daemon applies (see daemon/routes.py), each followed by a value.
_RULE_VALUES = {"from": "from_", "to": "to", "table": "table", "lookup": "table",
                "priority": "preference", "preference": "preference", "pref": "preference",
                "order": "preference", "iif": "iif", "dev": "iif", "oif": "oif",
                "fwmark": "fwmark", "type": ""}
_RULE_FLAGS = frozenset({"no_track", "inet", "inet6", "blackhole", "unreachable", "prohibit"})


def rule(v: Values, st: Statement, what: str = "virtual_rules") -> m.VirtualRule:
    """One ``ip rule`` line."""
    words = line(st)
    opts: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        loc = word_loc(st, i)
        if word in RULE_OPTIONS:
            takes_value, entry = RULE_OPTIONS[word]
            report_unsupported(v.diags, loc, f"{word} in {what}", entry)
            i += 2 if takes_value else 1
            continue
        if word in _RULE_FLAGS:
            if word == "no_track":
                opts["no_track"] = True
            i += 1
            continue
        if word not in _RULE_VALUES:
            v.diags.mistake(loc, f"Unknown rule option {word}")
            i += 1
            continue
        if nxt is None:
            v.diags.mistake(loc, f"rule option '{word}' needs a value")
            break
        key = _RULE_VALUES[word]
        if key in ("from_", "to"):
            if nxt != "all":
                _check_prefix(v, nxt, word_loc(st, i + 1), f"rule {word}")
            opts[key] = nxt
        elif key == "preference":
            try:
                opts["preference"] = int(nxt)
            except ValueError:
                v.diags.mistake(word_loc(st, i + 1), f"invalid rule preference '{nxt}'")
        elif key:
            opts[key] = nxt
        i += 2
    if "preference" not in opts:
        v.diags.warning(
            st.loc, "rule has no preference specified: keepalived picks one, which is "
            "probably not what you want"
        )
    return m.VirtualRule(words=tuple(words), loc=st.loc, **opts)


def _looks_like_prefix(word: str) -> bool:
    return bool(word) and (word[0].isdigit() or ":" in word)
