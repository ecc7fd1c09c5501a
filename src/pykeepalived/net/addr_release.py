"""Removing addresses with hand-packed RTM_DELADDR messages, a few microseconds each.

The supervising parent (:mod:`pykeepalived.daemon.supervisor`) must take a dead VRRP child's
VIPs off the interfaces within milliseconds, and for that it needs nothing but this module and
:mod:`pykeepalived.net.nlwire` (no :class:`~pykeepalived.net.netlink.Netlink`). The request
is packed with :mod:`struct`, the bytes ``Netlink.remove_address`` sends (and pyroute2 sent:
``tests/unit/net/test_addr_release.py`` holds them to it): the ``ifaddrmsg`` header (family,
prefix length, interface index), then for IPv4 ``IFA_LOCAL`` (the address) and
``IFA_ADDRESS`` (the peer, or the address again), for IPv6 ``IFA_ADDRESS`` (and ``IFA_LOCAL``
when there is a peer). The kernel deletes the address with that prefix length on that
interface, and answers every request (``NLM_F_ACK``) with its errno, so a failure can be
logged by name.
"""

from __future__ import annotations

import errno
import select
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from pykeepalived.net.nlwire import (
    NLM_F_ACK,
    NLM_F_REQUEST,
    NLMSGHDR,
    RTM_DELADDR,
    error_answers,
    ifaddr_body,
    message,
)

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

#: Errors that mean "the address is not there": nothing left to remove.
ALREADY_GONE = frozenset({errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV})


def encode_deladdr(ifindex: int, interface: IPInterface, *, peer: IPAddress | None = None,
                   seq: int = 0) -> bytes:
    """One RTM_DELADDR request (acknowledged), as ``Netlink.remove_address`` sends it."""
    return message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq,
                   ifaddr_body(ifindex, interface, peer=peer))


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
                for seq, code in error_answers(data):
                    waiting.discard(seq)
                    if code and code not in ALREADY_GONE:
                        failed[seq] = code
            failed.update(dict.fromkeys(waiting, -1))
    return failed
