"""The rtnetlink wire format, packed and read with :mod:`struct`: no pyroute2.

The few messages pykeepalived packs by hand (address renewal in the daemon, address removal in
the supervising parent, which never imports pyroute2) and the answers and notifications it reads
share these pieces: the ``nlmsghdr`` and ``ifaddrmsg`` headers, route attributes, the address
attributes of an ``ip addr`` request, and the error answers.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

# linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
RTM_DELADDR = 21
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO = 1, 2, 3, 4, 6

#: ``struct nlmsghdr``: length, type, flags, sequence number, port id.
NLMSGHDR = struct.Struct("=IHHII")
#: ``struct ifaddrmsg``: family, prefix length, flags, scope, interface index.
IFADDRMSG = struct.Struct("=BBBBI")
RTATTR = struct.Struct("=HH")  # length, type
_ERROR_CODE = struct.Struct("=i")  # ``struct nlmsgerr``: a negative errno after the header


def rtattr(kind: int, payload: bytes) -> bytes:
    """One route attribute, padded to 4 octets."""
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


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


def error_answers(data: bytes) -> list[tuple[int, int]]:
    """(sequence number, errno) of every NLMSG_ERROR in ``data`` (errno 0: an acknowledgement)."""
    out = []
    for kind, seq, msg in split_messages(data):
        if kind == NLMSG_ERROR and len(msg) >= NLMSGHDR.size + _ERROR_CODE.size:
            out.append((seq, -_ERROR_CODE.unpack_from(msg, NLMSGHDR.size)[0]))
    return out
