"""The rtnetlink wire format, packed and read with :mod:`struct`: no pyroute2.

Everything pykeepalived says to the kernel over NETLINK_ROUTE is packed here or in
:mod:`pykeepalived.net.rtnl` (the request client the daemon uses), and everything it reads back
is split and parsed here: the ``nlmsghdr`` and the fixed headers of link, address, route and
rule messages, route attributes (flat and nested), the address attributes of an ``ip addr``
request, and the error answers. The module imports nothing but the standard library, so the
supervising parent (which removes a dead child's VIPs with it) stays small.

The constants are those of linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h,
linux/if_link.h, linux/if.h and linux/fib_rules.h.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

# --- linux/netlink.h ----------------------------------------------------------------------
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10  # on an answer: the dump changed while it was read
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # on NLMSG_ERROR
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK = 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK = 10, 11, 12

# --- linux/rtnetlink.h --------------------------------------------------------------------
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
RT_TABLE_COMPAT, RT_TABLE_MAIN = 252, 254

# --- linux/if_addr.h ----------------------------------------------------------------------
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 4, 6, 8
IFA_F_SECONDARY, IFA_F_NODAD = 0x01, 0x02
INFINITY_LIFE_TIME = 0xFFFFFFFF  # a lifetime that never runs out

# --- linux/if_link.h, linux/if.h ----------------------------------------------------------
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_LINKINFO = 1, 3, 4, 5, 18
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_MACVLAN_MODE = 1
MACVLAN_MODE_PRIVATE = 1
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000

# --- linux/fib_rules.h --------------------------------------------------------------------
FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_PRIORITY, FRA_FWMARK = 1, 2, 3, 6, 10
FRA_TABLE, FRA_FWMASK, FRA_OIFNAME = 15, 16, 17
FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP = 1, 2, 3
FR_ACT_BLACKHOLE, FR_ACT_UNREACHABLE, FR_ACT_PROHIBIT = 6, 7, 8

#: ``struct nlmsghdr``: length, type, flags, sequence number, port id.
NLMSGHDR = struct.Struct("=IHHII")
#: ``struct ifinfomsg``: family, (pad), type, index, flags, change mask.
IFINFOMSG = struct.Struct("=BxHiII")
#: ``struct ifaddrmsg``: family, prefix length, flags, scope, interface index.
IFADDRMSG = struct.Struct("=BBBBI")
#: ``struct rtmsg``: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
RTMSG = struct.Struct("=BBBBBBBBI")
#: ``struct fib_rule_hdr``: family, dst_len, src_len, tos, table, res1, res2, action, flags.
FIB_RULE_HDR = struct.Struct("=BBBBBBBBI")
#: ``struct ifa_cacheinfo``: preferred, valid, cstamp, tstamp.
IFA_CACHEINFO_STRUCT = struct.Struct("=IIII")
RTATTR = struct.Struct("=HH")  # length, type
U32 = struct.Struct("=I")
_ERROR_CODE = struct.Struct("=i")  # ``struct nlmsgerr``: a negative errno after the header
_NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER


def message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message: the header (port id 0: the kernel's) and ``body``."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


def rtattr(kind: int, payload: bytes) -> bytes:
    """One route attribute, padded to 4 octets."""
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def rtattr_u32(kind: int, value: int) -> bytes:
    return rtattr(kind, U32.pack(value))


def rtattr_str(kind: int, value: str) -> bytes:
    """A NUL-terminated string attribute (interface names, labels, kinds)."""
    return rtattr(kind, value.encode() + b"\0")


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Route attributes from ``offset`` to the end of ``data``: type -> payload (the first
    of a type wins; the nested and byte-order flags are dropped from the type). Stops at the
    first malformed attribute."""
    attrs: dict[int, bytes] = {}
    end = len(data)
    while offset + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > end:
            break
        attrs.setdefault(kind & _NLA_TYPE_MASK, data[offset + RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return attrs


def attr_str(value: bytes | None) -> str | None:
    """A string attribute without its NUL terminator."""
    if value is None:
        return None
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def attr_u32(value: bytes | None) -> int | None:
    return U32.unpack_from(value)[0] if value is not None and len(value) >= 4 else None


def attr_ip(value: bytes | None) -> str | None:
    """An address attribute as text, as ``inet_ntop`` (and pyroute2) write it."""
    if value is None:
        return None
    if len(value) == 4:
        return socket.inet_ntop(socket.AF_INET, value)
    if len(value) == 16:
        return socket.inet_ntop(socket.AF_INET6, value)
    return None


def lifetime_seconds(lifetime: float | None) -> int:
    """An address lifetime as ``IFA_CACHEINFO`` carries it (None: forever)."""
    return INFINITY_LIFE_TIME if lifetime is None else max(0, round(lifetime))


def address_attributes(interface: IPv4Interface | IPv6Interface,
                       peer: IPv4Address | IPv6Address | None = None) -> bytes:
    """The address attributes of an RTM_NEWADDR / RTM_DELADDR request, as iproute2 and
    pyroute2 send them: IPv4 ``IFA_LOCAL`` (the address) and ``IFA_ADDRESS`` (the peer, or the
    address again); IPv6 ``IFA_ADDRESS`` alone, or ``IFA_LOCAL`` and the peer."""
    local = interface.ip.packed
    out = b""
    if interface.version == 4 or peer is not None:
        out += rtattr(IFA_LOCAL, local)
    return out + rtattr(IFA_ADDRESS, peer.packed if peer is not None else local)


def address_family(interface: IPv4Interface | IPv6Interface) -> int:
    return socket.AF_INET6 if interface.version == 6 else socket.AF_INET


def ifaddr_body(
    ifindex: int,
    interface: IPv4Interface | IPv6Interface,
    *,
    peer: IPv4Address | IPv6Address | None = None,
    brd: IPv4Address | None = None,
    scope: int = 0,
    label: str | None = None,
    cacheinfo: int | None = None,
    nodad: bool = False,
) -> bytes:
    """The ``ifaddrmsg`` and attributes of an address request (RTM_NEWADDR / RTM_DELADDR).

    ``cacheinfo``: the valid and preferred lifetime in seconds (see :func:`lifetime_seconds`),
    None for no ``IFA_CACHEINFO``. ``nodad`` sets IFA_F_NODAD in the header's flags.
    """
    body = IFADDRMSG.pack(address_family(interface), interface.network.prefixlen,
                          IFA_F_NODAD if nodad else 0, scope, ifindex)
    body += address_attributes(interface, peer)
    if brd is not None:
        body += rtattr(IFA_BROADCAST, brd.packed)
    if label is not None:
        body += rtattr_str(IFA_LABEL, label)
    if cacheinfo is not None:
        body += rtattr(IFA_CACHEINFO, IFA_CACHEINFO_STRUCT.pack(cacheinfo, cacheinfo, 0, 0))
    return body


def split_messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, sequence number, whole message) for each netlink message in one datagram.

    Stops at the first malformed header rather than guessing where the next message starts.
    """
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, msg_type, _flags, seq, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            return
        yield msg_type, seq, data[offset : offset + length]
        offset += (length + 3) & ~3


def error_code(msg: bytes) -> int:
    """The errno of one NLMSG_ERROR (0: an acknowledgement) or NLMSG_DONE message."""
    if len(msg) < NLMSGHDR.size + _ERROR_CODE.size:
        return 0
    code: int = _ERROR_CODE.unpack_from(msg, NLMSGHDR.size)[0]
    return -code


def error_text(msg: bytes) -> str | None:
    """The kernel's own words (extended ack ``NLMSGERR_ATTR_MSG``) in one NLMSG_ERROR, if
    the socket asked for them (``NETLINK_EXT_ACK``)."""
    flags = NLMSGHDR.unpack_from(msg)[2]
    if not flags & NLM_F_ACK_TLVS:
        return None
    offset = NLMSGHDR.size + _ERROR_CODE.size
    if flags & NLM_F_CAPPED:
        offset += NLMSGHDR.size  # the request's header only
    elif len(msg) >= offset + NLMSGHDR.size:
        offset += NLMSGHDR.unpack_from(msg, offset)[0]  # the whole request echoed
    return attr_str(parse_attrs(msg, (offset + 3) & ~3).get(NLMSGERR_ATTR_MSG))


def error_answers(data: bytes) -> list[tuple[int, int]]:
    """(sequence number, errno) of every NLMSG_ERROR in ``data`` (errno 0: an acknowledgement)."""
    out = []
    for kind, seq, msg in split_messages(data):
        if kind == NLMSG_ERROR and len(msg) >= NLMSGHDR.size + _ERROR_CODE.size:
            out.append((seq, error_code(msg)))
    return out
