"""Hand-packed and hand-split rtnetlink messages agree with pyroute2's own codec."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

import pytest
from pyroute2.netlink import NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR, RTM_NEWLINK
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_LOWER_UP, IFF_UP, ifinfmsg

from pykeepalived.net.addr_renewer import encode_newaddr
from pykeepalived.net.netlink import INFINITY_LIFE_TIME, IPAddress, IPInterface, scope_number
from pykeepalived.net.rtnl_events import AddressEvent, LinkEvent, parse_rtnl_events


def _pyroute2_newaddr(ifindex: int, interface: IPInterface, *, lifetime: float | None,
                      brd: IPv4Address | None = None, scope: str | int | None = None,
                      label: str | None = None, peer: IPAddress | None = None,
                      nodad: bool = False, seq: int = 0) -> bytes:
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET6 if interface.version == 6 else socket.AF_INET
    msg["prefixlen"] = interface.network.prefixlen
    msg["flags"] = IFA_F_NODAD if nodad else 0
    msg["scope"] = scope_number(scope) or 0
    msg["index"] = ifindex
    local = str(interface.ip)
    attrs: list[tuple[str, Any]] = []
    # IPv4 always carries IFA_LOCAL; IPv6 only for a point-to-point peer (as iproute2 does).
    if interface.version == 4 or peer is not None:
        attrs.append(("IFA_LOCAL", local))
    attrs.append(("IFA_ADDRESS", str(peer) if peer is not None else local))
    if brd is not None:
        attrs.append(("IFA_BROADCAST", str(brd)))
    if label is not None:
        attrs.append(("IFA_LABEL", label))
    secs = INFINITY_LIFE_TIME if lifetime is None else max(0, round(lifetime))
    attrs.append(("IFA_CACHEINFO",
                  {"ifa_preferred": secs, "ifa_valid": secs, "cstamp": 0, "tstamp": 0}))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_NEWADDR
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_REPLACE | NLM_F_CREATE
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize(
    ("ifindex", "interface", "options"),
    [
        (3, IPv4Interface("192.0.2.100/24"), {"lifetime": 4.0}),
        (3, IPv4Interface("192.0.2.100/24"),
         {"lifetime": None, "brd": IPv4Address("192.0.2.255"), "scope": "link",
          "label": "eth0:1", "seq": 7}),
        (3, IPv4Interface("192.0.2.100/32"),
         {"lifetime": 4.0, "peer": IPv4Address("192.0.2.1"), "label": "eth0:abc"}),
        (5, IPv4Interface("10.0.0.1/8"), {"lifetime": 0.4, "label": "eth0:123"}),
        (5, IPv6Interface("2001:db8::1/64"), {"lifetime": 4.0, "nodad": True}),
        (5, IPv6Interface("2001:db8::1/128"),
         {"lifetime": 4.0, "nodad": True, "peer": IPv6Address("2001:db8::2"), "scope": 200}),
    ],
)
def test_renewal_message_is_what_pyroute2_would_send(
    ifindex: int, interface: IPInterface, options: dict[str, Any]
) -> None:
    assert encode_newaddr(ifindex, interface, **options) == _pyroute2_newaddr(
        ifindex, interface, **options)


def _link_message(msg_type: int, flags: int) -> bytes:
    msg = ifinfmsg()
    msg["index"] = 4
    msg["flags"] = flags
    msg["attrs"] = [("IFLA_IFNAME", "eth1")]
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


def _address_message(msg_type: int) -> bytes:
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET
    msg["prefixlen"] = 24
    msg["index"] = 4
    msg["attrs"] = [("IFA_LOCAL", "192.0.2.7"), ("IFA_ADDRESS", "192.0.2.7"),
                    ("IFA_LABEL", "eth1")]
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


def test_one_datagram_with_several_notifications() -> None:
    data = (_link_message(RTM_NEWLINK, IFF_UP | IFF_LOWER_UP)
            + _address_message(RTM_NEWADDR)
            + _address_message(RTM_DELADDR))
    assert list(parse_rtnl_events(data)) == [
        LinkEvent(ifname="eth1", ifindex=4, up=True, admin_up=True, deleted=False),
        AddressEvent(ifindex=4, interface=IPv4Interface("192.0.2.7/24"), added=True,
                     label="eth1"),
        AddressEvent(ifindex=4, interface=IPv4Interface("192.0.2.7/24"), added=False,
                     label="eth1"),
    ]


def test_link_without_carrier_is_down() -> None:
    (event,) = parse_rtnl_events(_link_message(RTM_NEWLINK, IFF_UP))
    assert isinstance(event, LinkEvent)
    assert event.admin_up and not event.up


def test_a_truncated_message_ends_the_datagram() -> None:
    whole = _address_message(RTM_NEWADDR)
    events = list(parse_rtnl_events(whole + _address_message(RTM_DELADDR)[:-4]))
    assert [e.added for e in events if isinstance(e, AddressEvent)] == [True]
