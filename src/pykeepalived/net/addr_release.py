"""Removing addresses with hand-packed RTM_DELADDR messages: no pyroute2, a few microseconds each.

The supervising parent (:mod:`pykeepalived.daemon.supervisor`) must take a dead VRRP child's
VIPs off the interfaces within milliseconds, and it stays small by never importing pyroute2.
So the request is packed here with :mod:`struct`, the bytes pyroute2 sends for
``Netlink.remove_address`` (``tests/unit/net/test_addr_release.py`` holds them to it): the
``ifaddrmsg`` header (family, prefix length, interface index), then for IPv4 ``IFA_LOCAL`` (the
address) and ``IFA_ADDRESS`` (the peer, or the address again), for IPv6 ``IFA_ADDRESS`` (and
``IFA_LOCAL`` when there is a peer). The kernel deletes the address with that prefix length on
that interface, and answers every request (``NLM_F_ACK``) with its errno, so a failure can be
logged by name.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

# linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
RTM_DELADDR = 21
IFA_ADDRESS, IFA_LOCAL = 1, 2

NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")  # length, type
_ERROR_CODE = struct.Struct("=i")  # negative errno right after the header

#: Errors that mean "the address is not there": nothing left to remove.
ALREADY_GONE = frozenset({errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV})


def rtattr(kind: int, payload: bytes) -> bytes:
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def encode_deladdr(ifindex: int, interface: IPInterface, *, peer: IPAddress | None = None,
                   seq: int = 0) -> bytes:
    """One RTM_DELADDR request (acknowledged), as ``Netlink.remove_address`` sends it."""
    family = socket.AF_INET6 if interface.version == 6 else socket.AF_INET
    body = IFADDRMSG.pack(family, interface.network.prefixlen, 0, 0, ifindex)
    local = interface.ip.packed
    if family == socket.AF_INET or peer is not None:
        body += rtattr(IFA_LOCAL, local)
    body += rtattr(IFA_ADDRESS, peer.packed if peer is not None else local)
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK,
                         seq, 0) + body


def parse_answers(data: bytes) -> list[tuple[int, int]]:
    """(sequence number, errno) of every NLMSG_ERROR (errno 0: an acknowledgement) in ``data``."""
    out = []
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, _flags, seq, _port = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size:
            break
        if kind == NLMSG_ERROR and length >= NLMSGHDR.size + _ERROR_CODE.size:
            out.append((seq, -_ERROR_CODE.unpack_from(data, offset + NLMSGHDR.size)[0]))
        offset += (length + 3) & ~3
    return out


def remove_addresses(requests: Sequence[bytes], *, timeout: float = 0.5,
                     chunk: int = 64) -> dict[int, int]:
    """Send the RTM_DELADDR ``requests`` (numbered by their sequence numbers) and wait up to
    ``timeout`` for the kernel's answers. Returns sequence number -> errno for every request
    that failed for another reason than "already gone" (-1: no answer came).

    The kernel carries out each request inside ``send``, so the addresses are gone when the
    first chunk has been sent; the answers only say how it went. Requests go in chunks so that
    the answers to one chunk never overflow the socket's receive buffer."""
    failed: dict[int, int] = {}
    if not requests:
        return failed
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        for start in range(0, len(requests), chunk):
            part = requests[start:start + chunk]
            waiting = {NLMSGHDR.unpack_from(r)[3] for r in part}
            try:
                sock.send(b"".join(part))
            except OSError as exc:
                failed.update(dict.fromkeys(waiting, exc.errno or -1))
                continue
            while waiting:
                ready, _, _ = select.select([sock], [], [], timeout)
                if not ready:
                    break
                try:
                    data = sock.recv(65536)
                except OSError:  # ENOBUFS: answers were lost, the requests were still done
                    break
                for seq, code in parse_answers(data):
                    waiting.discard(seq)
                    if code and code not in ALREADY_GONE:
                        failed[seq] = code
            failed.update(dict.fromkeys(waiting, -1))
    return failed
