"""keepalived's ``virtual_routes`` / ``virtual_rules`` (and static_*) lines as netlink specs.

A route line is ``[src IP] [to] [TYPE] DEST [via|gw GW] [dev IF] [scope S] [table T]
[metric M] [proto P] ...`` and a rule line ``[from PREFIX] [to PREFIX] [iif IF] [oif IF]
[fwmark M[/MASK]] [priority|preference|pref N] [table|lookup T] [blackhole|unreachable|prohibit]``
(keepalived.conf(5), which follows ip-route(8) / ip-rule(8)). Words the kernel side does not
model yet are ignored, so a config that keepalived accepts never stops the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from ipaddress import ip_address, ip_network

from pykeepalived.net.netlink import IPAddress, RouteSpec, RuleSpec

ROUTE_TYPE_WORDS = {"unicast", "blackhole", "unreachable", "prohibit", "throw", "local",
                    "broadcast", "multicast", "anycast", "nat"}
RULE_ACTIONS = {"blackhole", "unreachable", "prohibit"}
TABLE_NAMES = {"main": 254, "local": 255, "default": 253, "unspec": 0}
# Words followed by one value that we skip (ip-route options without a netlink field here).
SKIP_ONE = {"mtu", "advmss", "rtt", "rttvar", "window", "cwnd", "initcwnd", "initrwnd",
            "realms", "hoplimit", "features", "quickack", "congctl", "pref", "ssthresh",
            "reordering", "rto_min", "fastopen_no_cookie", "weight", "expires",
            "tos", "dsfield", "suppress_prefixlength", "suppress_ifgroup", "uidrange",
            "ipproto", "sport", "dport", "goto", "protocol"}


def table_id(value: str) -> int:
    return TABLE_NAMES[value] if value in TABLE_NAMES else int(value, 0)


def _addr(text: str) -> IPAddress:
    return ip_address(text.split("/")[0])


def route_spec(words: Sequence[str], ifindex: Callable[[str], int],
               default_dev: str | None = None) -> RouteSpec:
    """Turn one route line into a :class:`RouteSpec`. Raises ValueError on nonsense."""
    kw: dict[str, object] = {}
    dst = None
    rtype = "unicast"
    dev = None
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w == "src" and nxt:
            kw["src"] = _addr(nxt)
            i += 2
        elif w in ("via", "gw") and nxt:
            if nxt in ("inet", "inet6") and i + 2 < len(words):
                i += 1
                nxt = words[i + 1]
            kw["gateway"] = _addr(nxt)
            i += 2
        elif w == "dev" and nxt:
            dev = nxt
            i += 2
        elif w == "scope" and nxt:
            kw["scope"] = nxt
            i += 2
        elif w == "table" and nxt:
            kw["table"] = table_id(nxt)
            i += 2
        elif w in ("metric", "priority", "preference") and nxt:
            kw["metric"] = int(nxt)
            i += 2
        elif w == "proto" and nxt:
            kw["proto"] = int(nxt) if nxt.isdigit() else nxt
            i += 2
        elif w == "to":
            i += 1
        elif w in ROUTE_TYPE_WORDS and dst is None:
            rtype = w
            i += 1
        elif w in SKIP_ONE:
            i += 2
        elif w in ("no_track", "lock", "or", "onlink", "l3mdev"):
            i += 2 if w == "or" else 1
        elif dst is None:
            dst = ip_network("::/0" if w == "default" and ":" in "".join(words)
                             else ("0.0.0.0/0" if w == "default" else w), strict=False)
            i += 1
        else:
            i += 1
    if dev is None and rtype == "unicast" and "gateway" not in kw:
        dev = default_dev
    if dev is not None:
        kw["ifindex"] = ifindex(dev)
    if dst is not None and dst.prefixlen == 0:
        kw["family"] = 10 if dst.version == 6 else 2
        dst = None
    return RouteSpec(dst=dst, type=rtype, **kw)  # type: ignore[arg-type]


def rule_spec(words: Sequence[str]) -> RuleSpec:
    """Turn one rule line into a :class:`RuleSpec`. Raises ValueError on nonsense."""
    kw: dict[str, object] = {}
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w == "from" and nxt:
            if nxt != "all":
                kw["src"] = ip_network(nxt, strict=False)
            i += 2
        elif w == "to" and nxt:
            if nxt != "all":
                kw["dst"] = ip_network(nxt, strict=False)
            i += 2
        elif w in ("table", "lookup") and nxt:
            kw["table"] = table_id(nxt)
            i += 2
        elif w in ("priority", "preference", "pref", "order") and nxt:
            kw["priority"] = int(nxt)
            i += 2
        elif w in ("iif", "dev") and nxt:
            kw["iif"] = nxt
            i += 2
        elif w == "oif" and nxt:
            kw["oif"] = nxt
            i += 2
        elif w == "fwmark" and nxt:
            mark, _, mask = nxt.partition("/")
            kw["fwmark"] = int(mark, 0)
            if mask:
                kw["fwmask"] = int(mask, 0)
            i += 2
        elif w in RULE_ACTIONS:
            kw["action"] = w
            i += 1
        elif w in ("inet6", "-6"):
            kw["family"] = 10
            i += 1
        elif w in SKIP_ONE:
            i += 2
        else:
            i += 1
    return RuleSpec(**kw)  # type: ignore[arg-type]
