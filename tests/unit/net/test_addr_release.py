"""RTM_DELADDR packed by hand: the bytes pyroute2 sends for Netlink.remove_address."""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import ip_address, ip_interface

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR
from pyroute2.netlink.rtnl import RTM_DELADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from pykeepalived.net.addr_release import encode_deladdr
from pykeepalived.net.netlink import IPAddress, IPInterface
from pykeepalived.net.nlwire import NLMSGHDR, error_answers


def _pyroute2_deladdr(ifindex: int, interface: IPInterface, peer: IPAddress | None,
                      seq: int) -> bytes:
    """What ``Netlink.remove_address`` asks pyroute2 for (``_addr_request("del", ...)``):
    IFA_LOCAL for IPv4 (pyroute2 adds it) or with a peer, IFA_ADDRESS the peer or the address."""
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET6 if interface.version == 6 else socket.AF_INET
    msg["prefixlen"] = interface.network.prefixlen
    msg["index"] = ifindex
    attrs = []
    if interface.version == 4 or peer is not None:
        attrs.append(("IFA_LOCAL", str(interface.ip)))
    attrs.append(("IFA_ADDRESS", str(peer) if peer is not None else str(interface.ip)))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_DELADDR
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize(("address", "peer"), [
    ("192.0.2.100/24", None),
    ("192.0.2.100/32", "192.0.2.200"),
    ("2001:db8::100/64", None),
    ("2001:db8::100/128", "2001:db8::200"),
    ("10.1.2.3/8", None),
])
def test_deladdr_is_what_pyroute2_would_send(address: str, peer: str | None) -> None:
    interface = ip_interface(address)
    the_peer = ip_address(peer) if peer else None
    assert encode_deladdr(7, interface, peer=the_peer, seq=42) == _pyroute2_deladdr(
        7, interface, the_peer, 42)


def test_answers_name_each_request_by_sequence_number() -> None:
    def error(seq: int, code: int) -> bytes:
        body = struct.pack("=i", -code) + NLMSGHDR.pack(16, RTM_DELADDR, 0, seq, 0)
        return NLMSGHDR.pack(NLMSGHDR.size + len(body), NLMSG_ERROR, 0, seq, 0) + body

    data = error(1, 0) + error(2, errno.EADDRNOTAVAIL) + error(3, errno.EPERM)
    assert error_answers(data) == [(1, 0), (2, errno.EADDRNOTAVAIL), (3, errno.EPERM)]
    assert error_answers(data[:10]) == []  # a truncated header is no answer
