"""The load balancer blocks (``virtual_server``, ``virtual_server_group``) and every other block
the daemon does not act on: kept as generic statements, checked only where keepalived's own
config test would fail.
"""

from __future__ import annotations

from typing import Any

from pykeepalived.config import model as m
from pykeepalived.config.diagnostics import Location
from pykeepalived.config.parser import Statement
from pykeepalived.config.values import Values, each, line


def generic(st: Statement) -> m.GenericStatement:
    """A statement and its block, kept as they are."""
    block = None if st.block is None else tuple(generic(s) for s in st.block)
    return m.GenericStatement(st.keyword, tuple(st.words), block, st.loc)


def virtual_server_group(st: Statement) -> m.VirtualServerGroup:
    name = st.words[0] if st.words else ""
    entries = tuple(tuple(line(x)) for x in each(st.block))
    return m.VirtualServerGroup(name, entries, st.loc)


def virtual_server(v: Values, st: Statement) -> m.VirtualServer | None:
    words = st.words
    if not words:
        v.diags.mistake(st.loc, "virtual_server needs an address")
        return None
    kind: Any = "address"
    target = words[0]
    port: int | None = None
    if words[0] in ("fwmark", "group"):
        kind = words[0]
        if len(words) < 2:
            v.diags.mistake(st.loc, f"virtual_server {words[0]} needs a value")
            return None
        target = words[1]
    else:
        v.parse_address(target, st.arg_loc(0), "virtual_server")
        if len(words) > 1:
            port = _port(v, words[1], st.arg_loc(1))
    reals = []
    for s in each(st.block):
        if s.keyword == "protocol" and kind == "fwmark":
            # keepalived -t fails on this one.
            v.diags.mistake(s.loc, f"virtual server FWM {target}: protocol specified for "
                            "fwmark - protocol will be ignored")
        if s.keyword == "real_server":
            rw = s.words
            if not rw:
                v.diags.mistake(s.loc, "real_server needs an address")
                continue
            v.parse_address(rw[0], s.arg_loc(0), "real_server")
            rport = _port(v, rw[1], s.arg_loc(1)) if len(rw) > 1 else None
            body = tuple(generic(x) for x in each(s.block))
            checkers = tuple(x.keyword for x in body if x.keyword.endswith("_CHECK")
                             or x.keyword in ("HTTP_GET", "SSL_GET"))
            reals.append(m.RealServer(rw[0], rport, checkers, body, s.loc))
    body = tuple(generic(x) for x in each(st.block))
    return m.VirtualServer(kind, target, port, tuple(reals), body, st.loc)


def _port(v: Values, raw: str, loc: Location) -> int | None:
    if raw.isdigit() and 0 <= int(raw) <= 65535:
        return int(raw)
    v.diags.mistake(loc, f"invalid port '{raw}'")
    return None
