"""The load balancer's blocks (``virtual_server``, ``virtual_server_group``) and every other block
the daemon keeps as written: generic statement trees, which the dump writes back as text.

Nothing here reports a problem: the load balancer is read, checked and resolved by
`pykeepalived.lvs.parse` (``KeepalivedConfig.lvs``), which reports each problem once.
"""

from __future__ import annotations

from typing import Literal

from pykeepalived.config import model as m
from pykeepalived.config.parser import Statement
from pykeepalived.config.values import each, line


def generic(st: Statement) -> m.GenericStatement:
    """A statement and its block, kept as they are."""
    block = None if st.block is None else tuple(generic(s) for s in st.block)
    return m.GenericStatement(st.keyword, tuple(st.words), block, st.loc)


def virtual_server_group(st: Statement) -> m.VirtualServerGroup:
    name = st.words[0] if st.words else ""
    entries = tuple(tuple(line(x)) for x in each(st.block))
    return m.VirtualServerGroup(name, entries, st.loc)


def virtual_server(st: Statement) -> m.VirtualServer | None:
    """The header (``IP PORT``, ``fwmark N``, ``group NAME``) and the block as written."""
    words = st.words
    if not words:
        return None
    kind: Literal["address", "fwmark", "group"] = "address"
    target = words[0]
    port: int | None = None
    if words[0] in ("fwmark", "group"):
        if len(words) < 2:
            return None
        kind = "fwmark" if words[0] == "fwmark" else "group"
        target = words[1]
    elif len(words) > 1:
        port = _port(words[1])
    reals = []
    for s in each(st.block):
        if s.keyword == "real_server" and s.words:
            rport = _port(s.words[1]) if len(s.words) > 1 else None
            body = tuple(generic(x) for x in each(s.block))
            checkers = tuple(x.keyword for x in body if x.keyword.endswith("_CHECK")
                             or x.keyword in ("HTTP_GET", "SSL_GET"))
            reals.append(m.RealServer(s.words[0], rport, checkers, body, s.loc))
    body = tuple(generic(x) for x in each(st.block))
    return m.VirtualServer(kind, target, port, tuple(reals), body, st.loc)


def _port(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and int(raw) <= 65535 else None
