"""One line of a ``virtual_server_group``: an address, a range or a prefix with an optional
port, or ``fwmark N [inet|inet6]`` (keepalived 2.2.7's alloc_vsg_entry).

The range forms are keepalived's: ``192.0.2.1-10`` (the last octet, or the last 16 bits of an
IPv6 address in hex, runs from the first address's to the number after the dash),
``192.0.2.250-192.0.3.10`` (two whole addresses) and ``192.0.2.8/29`` (every address of the
prefix, which must be written as its network address).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pykeepalived.config.parser import Statement
from pykeepalived.lvs.model import GroupEntry, IPAddress
from pykeepalived.lvs.parse_draft import Ctx
from pykeepalived.lvs.parse_values import UINT_MAX, read_sockaddr, read_unsigned


def group_entry(c: Ctx, gname: str, s: Statement) -> GroupEntry | None:
    """The entry on line `s`, or None after reporting why keepalived skips it."""
    words = [s.keyword, *s.words]
    if words[0] == "fwmark":
        return _fwmark(c, gname, s)
    text = words[0]
    port = words[1] if len(words) > 1 else None
    got = read_sockaddr(text, port)
    if isinstance(got, str):
        shown = f"{text} /port/{port}" if port is not None and port.strip("0") else text
        c.mistake(s.loc, f"Invalid virtual server group IP address {shown} - skipping ({got})")
        return None
    first: IPAddress = got.address
    last: IPAddress = first
    bits = 32 if first.version == 4 else 128
    if "/" in text:
        mask = text.split("/", 1)[1]
        if not mask.isdigit() or not 0 < int(mask) <= bits:
            c.mistake(s.loc, f"Invalid netmask - {text} - skipping")
            return None
        try:
            net = ipaddress.ip_network(f"{first}/{mask}")
        except ValueError:
            c.mistake(s.loc, f"Address mask bits not empty - {text} - skipping")
            return None
        last = net.broadcast_address
    elif "-" in text:
        end = text.split("-", 1)[1]
        if (first.version == 4 and "." in end) or (first.version == 6 and ":" in end):
            try:
                last = ipaddress.ip_address(end)
            except ValueError:
                c.mistake(s.loc, f"Invalid range end {text} - skipping")
                return None
            if last.version != first.version:
                c.mistake(s.loc, f"Range address families do not match {text} - skipping")
                return None
            if int(last) < int(first):
                c.mistake(s.loc, f"Address range end is less than address range start - "
                          f"{text} - skipping")
                return None
        else:
            base, limit = (10, 255) if first.version == 4 else (16, 0xFFFF)
            digits = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
            n = 0
            while n < len(end) and end[n] in digits:
                n += 1
            if n == 0 or int(end[:n], base) > limit:
                c.mistake(s.loc, f"Virtual server group range '{text}' end '{end}' too large"
                          if n else f"Invalid range end {text} - skipping")
                return None
            if n < len(end):
                c.mistake(s.loc, f"Virtual server group range '{text}' has extra characters "
                          f"at end '{end[n:]}'")
                if not c.lenient:
                    return None
            top = int(end[:n], base)
            low_bits = 8 if first.version == 4 else 16
            start = int(first) & ((1 << low_bits) - 1)
            if start >= top:
                c.mistake(s.loc, f"Address range end is not greater than address range start "
                          f"- {text} - skipping")
                return None
            last = ipaddress.ip_address(int(first) - start + top)
    if len(words) > 2:
        c.warning(s.arg_loc(1), f"virtual_server_group {gname}: words after the port are "
                  "ignored")
    return GroupEntry(first=first, last=last, port=got.port, loc=s.loc)


def _fwmark(c: Ctx, gname: str, s: Statement) -> GroupEntry | None:
    if not s.words:
        c.mistake(s.loc, f"({gname}): fwmark needs a value - ignoring")
        return None
    read = read_unsigned(s.words[0], 0, UINT_MAX, lenient=c.lenient)
    if read.problem is not None:
        c.mistake(s.arg_loc(0), f"({gname}): fwmark '{s.words[0]}' must be in [0, "
                  f"{UINT_MAX}] - ignoring ({read.problem})")
    if read.value is None:
        return None
    family: Literal[4, 6] | None = None
    if len(s.words) > 1:
        if s.words[1] not in ("inet", "inet6"):
            c.mistake(s.arg_loc(1), f"({gname}): fwmark '{read.value}' family {s.words[1]} "
                      "unknown - ignoring")
            return None
        family = 4 if s.words[1] == "inet" else 6
    return GroupEntry(fwmark=read.value, family=family, loc=s.loc)
