"""The rtnetlink client without a kernel: a scripted socket answers.

What :class:`Netlink` puts on the wire is held to pyroute2's codec: the same message types,
flags, headers and attributes pyroute2 0.9's ``IPRoute`` sent for the same calls (when
``Netlink`` was built on it), encoded by pyroute2's message classes, byte for byte. Answers
encoded by pyroute2 are read back as pyroute2 read them. Acknowledgements, errors (with the
kernel's errno and extended-ack text), multi-part and interrupted dumps and stale answers are
played by the scripted socket.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv6Address,
    IPv6Interface,
    ip_interface,
    ip_network,
)
from typing import Any

import pytest
from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pykeepalived.net import nlwire as w
from pykeepalived.net import rtnl
from pykeepalived.net.netlink import (
    AddressRequest,
    InterfaceNotFound,
    Netlink,
    NetlinkOpError,
    RouteSpec,
    RuleSpec,
    decode_address,
)
from pykeepalived.net.rtnl import LinkMessage, NetlinkError, RtnlSocket

ACK_FLAGS = w.NLM_F_REQUEST | w.NLM_F_ACK
CREATE = ACK_FLAGS | w.NLM_F_CREATE | w.NLM_F_EXCL
REPLACE = ACK_FLAGS | w.NLM_F_CREATE | w.NLM_F_REPLACE


def pyroute2_bytes(msg: Any, msg_type: int, flags: int, seq: int, fields: dict[str, int],
                   attrs: list[tuple[str, Any]]) -> bytes:
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


def ack(request: bytes, code: int = 0, text: str | None = None) -> bytes:
    """The kernel's NLMSG_ERROR for ``request``: capped (its header only), with the extended
    ack message when ``text`` is given."""
    seq = w.NLMSGHDR.unpack_from(request)[3]
    body = struct.pack("=i", -code) + request[: w.NLMSGHDR.size]
    flags = w.NLM_F_CAPPED
    if text is not None:
        body += w.rtattr_str(w.NLMSGERR_ATTR_MSG, text)
        flags |= w.NLM_F_ACK_TLVS
    return w.message(w.NLMSG_ERROR, flags, seq, body)


def done(request: bytes, code: int = 0) -> bytes:
    seq = w.NLMSGHDR.unpack_from(request)[3]
    return w.message(w.NLMSG_DONE, w.NLM_F_MULTI, seq, struct.pack("=i", -code))


def with_seq(msg: bytes, seq: int, flags: int | None = None) -> bytes:
    length, kind, old_flags, _seq, pid = w.NLMSGHDR.unpack_from(msg)
    return w.NLMSGHDR.pack(length, kind, old_flags if flags is None else flags, seq,
                           pid) + msg[w.NLMSGHDR.size :]


class ScriptedSocket:
    """Stands in for the NETLINK_ROUTE socket: records each request and answers it with the
    datagrams ``answer(request)`` returns (an acknowledgement unless told otherwise)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.answer: Callable[[bytes], list[bytes]] = lambda request: [ack(request)]
        self.pending: list[bytes] = []
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options.append((level, option, value))

    def settimeout(self, timeout: float) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        self.pending.extend(self.answer(bytes(data)))
        return len(data)

    def recvmsg_into(self, buffers: list[bytearray]) -> tuple[int, list[Any], int, Any]:
        if not self.pending:
            raise TimeoutError
        data = self.pending.pop(0)
        buf = buffers[0]
        size = min(len(data), len(buf))
        buf[:size] = data[:size]
        return size, [], socket.MSG_TRUNC if len(data) > len(buf) else 0, None

    def close(self) -> None:
        pass


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> ScriptedSocket:
    sock = ScriptedSocket()
    monkeypatch.setattr(RtnlSocket, "_open", staticmethod(lambda: sock))
    return sock


def test_the_socket_asks_for_strict_checking_and_extended_acks(wire: ScriptedSocket) -> None:
    client = RtnlSocket()
    assert client.strict
    options = {option for level, option, value in wire.options if level == w.SOL_NETLINK}
    assert options == {w.NETLINK_GET_STRICT_CHK, w.NETLINK_EXT_ACK, w.NETLINK_CAP_ACK}


# --- requests, held to pyroute2's encoding ---------------------------------------------------


def _addr(fields: dict[str, int], attrs: list[tuple[str, Any]], msg_type: int = w.RTM_NEWADDR,
          flags: int = CREATE) -> Callable[[int], bytes]:
    return lambda seq: pyroute2_bytes(ifaddrmsg(), msg_type, flags, seq, fields, attrs)


def _route(fields: dict[str, int], attrs: list[tuple[str, Any]], msg_type: int = w.RTM_NEWROUTE,
           flags: int = CREATE) -> Callable[[int], bytes]:
    return lambda seq: pyroute2_bytes(rtmsg(), msg_type, flags, seq, fields, attrs)


def _rule(fields: dict[str, int], attrs: list[tuple[str, Any]], msg_type: int = w.RTM_NEWRULE,
          flags: int = CREATE) -> Callable[[int], bytes]:
    return lambda seq: pyroute2_bytes(fibmsg(), msg_type, flags, seq, fields, attrs)


VIA = RouteSpec(dst=ip_network("198.51.100.64/26"), gateway=IPv4Address("192.0.2.254"),
                metric=50, table=100, proto="static")
V4 = {"family": socket.AF_INET}
V6 = {"family": socket.AF_INET6}

REQUESTS: dict[str, tuple[Callable[[Netlink], object], Callable[[int], bytes]]] = {
    "set link up": (
        lambda nl: nl.set_link_up(3),
        lambda seq: pyroute2_bytes(ifinfmsg(), w.RTM_NEWLINK, ACK_FLAGS, seq,
                                   {"index": 3, "flags": 1, "change": 1}, [])),
    "set link down": (
        lambda nl: nl.set_link_up(3, False),
        lambda seq: pyroute2_bytes(ifinfmsg(), w.RTM_NEWLINK, ACK_FLAGS, seq,
                                   {"index": 3, "flags": 0, "change": 1}, [])),
    "add address with a lifetime": (
        lambda nl: nl.add_address(3, IPv4Interface("198.51.100.7/28"),
                                  brd=IPv4Address("198.51.100.15"), scope="host",
                                  label="eth0:h", lifetime=4),
        _addr({**V4, "prefixlen": 28, "scope": 254, "index": 3},
              [("IFA_LOCAL", "198.51.100.7"), ("IFA_ADDRESS", "198.51.100.7"),
               ("IFA_BROADCAST", "198.51.100.15"), ("IFA_LABEL", "eth0:h"),
               ("IFA_CACHEINFO", {"ifa_preferred": 4, "ifa_valid": 4, "cstamp": 0,
                                  "tstamp": 0})])),
    "add permanent address": (
        lambda nl: nl.add_address(3, IPv4Interface("192.0.2.100/24")),
        _addr({**V4, "prefixlen": 24, "index": 3},
              [("IFA_LOCAL", "192.0.2.100"), ("IFA_ADDRESS", "192.0.2.100")])),
    "add IPv6 address, no DAD": (
        lambda nl: nl.add_address(3, IPv6Interface("2001:db8::100/64"), nodad=True),
        _addr({**V6, "prefixlen": 64, "flags": w.IFA_F_NODAD, "index": 3},
              [("IFA_ADDRESS", "2001:db8::100")])),
    "add IPv6 address with a peer": (
        lambda nl: nl.add_address(3, IPv6Interface("2001:db8::200/128"),
                                  peer=IPv6Address("2001:db8::201"), lifetime=3.6),
        _addr({**V6, "prefixlen": 128, "index": 3},
              [("IFA_LOCAL", "2001:db8::200"), ("IFA_ADDRESS", "2001:db8::201"),
               ("IFA_CACHEINFO", {"ifa_preferred": 4, "ifa_valid": 4, "cstamp": 0,
                                  "tstamp": 0})])),
    "renew address": (
        lambda nl: nl.renew_address(3, IPv4Interface("192.0.2.100/24"), None),
        _addr({**V4, "prefixlen": 24, "index": 3},
              [("IFA_LOCAL", "192.0.2.100"), ("IFA_ADDRESS", "192.0.2.100"),
               ("IFA_CACHEINFO", {"ifa_preferred": w.INFINITY_LIFE_TIME,
                                  "ifa_valid": w.INFINITY_LIFE_TIME, "cstamp": 0,
                                  "tstamp": 0})], flags=REPLACE)),
    "remove address": (
        lambda nl: nl.remove_address(3, IPv4Interface("192.0.2.100/32"),
                                     peer=IPv4Address("192.0.2.200")),
        _addr({**V4, "prefixlen": 32, "index": 3},
              [("IFA_LOCAL", "192.0.2.100"), ("IFA_ADDRESS", "192.0.2.200")],
              msg_type=w.RTM_DELADDR, flags=ACK_FLAGS)),
    "add route via a gateway in table 100": (
        lambda nl: nl.add_route(VIA),
        _route({**V4, "dst_len": 26, "table": 100, "proto": 4, "type": 1},
               [("RTA_DST", "198.51.100.64"), ("RTA_GATEWAY", "192.0.2.254"),
                ("RTA_PRIORITY", 50), ("RTA_TABLE", 100)])),
    "remove that route": (
        lambda nl: nl.remove_route(VIA),
        _route({**V4, "dst_len": 26, "table": 100, "proto": 4, "type": 1},
               [("RTA_DST", "198.51.100.64"), ("RTA_GATEWAY", "192.0.2.254"),
                ("RTA_PRIORITY", 50), ("RTA_TABLE", 100)],
               msg_type=w.RTM_DELROUTE, flags=ACK_FLAGS)),
    "replace a blackhole route (proto boot by default)": (
        lambda nl: nl.add_route(RouteSpec(dst=ip_network("198.51.100.0/26"), type="blackhole"),
                                replace=True),
        _route({**V4, "dst_len": 26, "table": 254, "proto": 3, "type": 6},
               [("RTA_DST", "198.51.100.0")], flags=REPLACE)),
    "add IPv6 unreachable route": (
        lambda nl: nl.add_route(RouteSpec(dst=ip_network("2001:db8:1::/48"),
                                          type="unreachable")),
        _route({**V6, "dst_len": 48, "table": 254, "proto": 3, "type": 7},
               [("RTA_DST", "2001:db8:1::")])),
    "add device route with a source, scope link": (
        lambda nl: nl.add_route(RouteSpec(dst=ip_network("198.51.100.128/25"), ifindex=3,
                                          scope="link", src=IPv4Address("192.0.2.1"))),
        _route({**V4, "dst_len": 25, "table": 254, "proto": 3, "scope": 253, "type": 1},
               [("RTA_DST", "198.51.100.128"), ("RTA_OIF", 3), ("RTA_PREFSRC", "192.0.2.1")])),
    "add default route in table 1000": (
        lambda nl: nl.add_route(RouteSpec(gateway=IPv4Address("192.0.2.254"), table=1000)),
        _route({**V4, "table": 254, "proto": 3, "type": 1},
               [("RTA_GATEWAY", "192.0.2.254"), ("RTA_TABLE", 1000)])),
    "add IPv6 route with metric 0 (the kernel's 1024)": (
        lambda nl: nl.add_route(RouteSpec(dst=ip_network("2001:db8:2::/48"), ifindex=3,
                                          metric=0)),
        _route({**V6, "dst_len": 48, "table": 254, "proto": 3, "type": 1},
               [("RTA_DST", "2001:db8:2::"), ("RTA_OIF", 3), ("RTA_PRIORITY", 1024)])),
    "add rule from a source": (
        lambda nl: nl.add_rule(RuleSpec(src=ip_network("192.0.2.100/32"), table=100,
                                        priority=1000)),
        _rule({**V4, "src_len": 32, "table": 100, "action": 1},
              [("FRA_SRC", "192.0.2.100"), ("FRA_TABLE", 100), ("FRA_PRIORITY", 1000)])),
    "add rule on fwmark and interfaces": (
        lambda nl: nl.add_rule(RuleSpec(fwmark=7, fwmask=0xFF, table=100, priority=1001,
                                        iif="eth0", oif="eth1")),
        _rule({**V4, "table": 100, "action": 1},
              [("FRA_TABLE", 100), ("FRA_PRIORITY", 1001), ("FRA_IIFNAME", "eth0"),
               ("FRA_OIFNAME", "eth1"), ("FRA_FWMARK", 7), ("FRA_FWMASK", 0xFF)])),
    "add IPv6 rule to table 1000, no priority (pyroute2's 32000)": (
        lambda nl: nl.add_rule(RuleSpec(dst=ip_network("2001:db8::/32"), table=1000)),
        _rule({**V6, "dst_len": 32, "table": 252, "action": 1},
              [("FRA_DST", "2001:db8::"), ("FRA_TABLE", 1000), ("FRA_PRIORITY", 32000)])),
    "remove blackhole rule": (
        lambda nl: nl.remove_rule(RuleSpec(src=ip_network("10.0.0.0/8"), action="blackhole",
                                           priority=1003)),
        _rule({**V4, "src_len": 8, "action": 6},
              [("FRA_SRC", "10.0.0.0"), ("FRA_PRIORITY", 1003)],
              msg_type=w.RTM_DELRULE, flags=ACK_FLAGS)),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_requests_are_what_pyroute2_encodes(wire: ScriptedSocket, name: str) -> None:
    call, expected = REQUESTS[name]
    with Netlink() as nl:
        call(nl)
    (sent,) = wire.sent
    assert sent == expected(w.NLMSGHDR.unpack_from(sent)[3])


def test_lookups_and_the_vmac_link_are_what_pyroute2_encodes() -> None:
    assert w.message(w.RTM_GETLINK, ACK_FLAGS, 9, rtnl.encode_getlink_by_name("eth0")) == \
        pyroute2_bytes(ifinfmsg(), w.RTM_GETLINK, ACK_FLAGS, 9, {},
                       [("IFLA_IFNAME", "eth0")])
    vmac = w.message(w.RTM_NEWLINK, CREATE, 5,
                     rtnl.encode_macvlan("vrrp.51", 3, bytes.fromhex("00005e000133")))
    assert vmac == pyroute2_bytes(
        ifinfmsg(), w.RTM_NEWLINK, CREATE, 5, {},
        [("IFLA_IFNAME", "vrrp.51"), ("IFLA_LINK", 3), ("IFLA_ADDRESS", "00:00:5e:00:01:33"),
         ("IFLA_LINKINFO", {"attrs": [
             ("IFLA_INFO_KIND", "macvlan"),
             ("IFLA_INFO_DATA", {"attrs": [("IFLA_MACVLAN_MODE", 1)]})]})])
    # and pyroute2 reads the nested macvlan mode back from our bytes
    msg = ifinfmsg(vmac)
    msg.decode()
    data = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_MACVLAN_MODE") == "private"


# --- answers, read as pyroute2 reads them ----------------------------------------------------


def _link_answer(seq: int, index: int, name: str, *, kind: str | None = None,
                 parent: int | None = None, flags: int = 0x10043) -> bytes:
    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", name), ("IFLA_MTU", 1500),
                                    ("IFLA_ADDRESS", "02:00:00:00:00:01")]
    if parent is not None:
        attrs.append(("IFLA_LINK", parent))
    if kind is not None:
        attrs.append(("IFLA_LINKINFO", {"attrs": [
            ("IFLA_INFO_KIND", kind),
            ("IFLA_INFO_DATA", {"attrs": [("IFLA_MACVLAN_MODE", 1)]})]}))
    return pyroute2_bytes(ifinfmsg(), w.RTM_NEWLINK, 0, seq,
                          {"index": index, "flags": flags}, attrs)


def _addr_answer(seq: int, index: int, address: str, prefixlen: int, *,
                 family: int = socket.AF_INET, flags: int = 0, scope: int = 0,
                 peer: str | None = None, extra: list[tuple[str, Any]] | None = None) -> bytes:
    attrs: list[tuple[str, Any]] = ([("IFA_ADDRESS", address)] if family == socket.AF_INET6
                                    else [("IFA_ADDRESS", peer or address),
                                          ("IFA_LOCAL", address)])
    return pyroute2_bytes(ifaddrmsg(), w.RTM_NEWADDR, w.NLM_F_MULTI, seq,
                          {"family": family, "prefixlen": prefixlen, "flags": flags,
                           "scope": scope, "index": index}, attrs + (extra or []))


def test_link_reads_name_mac_flags_kind_parent_and_first_sources(wire: ScriptedSocket) -> None:
    def answer(request: bytes) -> list[bytes]:
        kind, seq = w.NLMSGHDR.unpack_from(request)[1], w.NLMSGHDR.unpack_from(request)[3]
        if kind == w.RTM_GETLINK:
            return [_link_answer(seq, 4, "vrrp.51", kind="macvlan", parent=3) + ack(request)]
        # the addresses of every interface, over two datagrams; index 4's first primary IPv4
        # comes after a secondary, its link-local after a global IPv6 address
        return [
            _addr_answer(seq, 3, "192.0.2.1", 24)
            + _addr_answer(seq, 4, "192.0.2.100", 24, flags=w.IFA_F_SECONDARY)
            + _addr_answer(seq, 4, "192.0.2.5", 24),
            _addr_answer(seq, 4, "2001:db8::5", 64, family=socket.AF_INET6)
            + _addr_answer(seq, 4, "fe80::5", 64, family=socket.AF_INET6, scope=253)
            + done(request),
        ]

    wire.answer = answer
    with Netlink() as nl:
        info = nl.link(4)
    assert (info.name, info.index, info.mac, info.mtu) == ("vrrp.51", 4,
                                                           bytes.fromhex("020000000001"), 1500)
    assert info.admin_up and info.oper_up
    assert (info.kind, info.parent_index) == ("macvlan", 3)
    assert info.primary_ipv4 == IPv4Address("192.0.2.5")
    assert info.ipv6_link_local == IPv6Address("fe80::5")
    dump = wire.sent[1]
    # the dump asks the kernel for index 4 only (strict checking)
    assert w.IFADDRMSG.unpack_from(dump, w.NLMSGHDR.size) == (0, 0, 0, 0, 4)
    assert w.NLMSGHDR.unpack_from(dump)[2] == w.NLM_F_REQUEST | w.NLM_F_DUMP


def test_link_without_carrier_is_admin_up_only() -> None:
    link = LinkMessage(_link_answer(1, 2, "eth0", flags=w.IFF_UP))
    assert link.flags & w.IFF_UP and not link.flags & w.IFF_LOWER_UP
    assert (link.kind, link.link) == (None, None)


def test_an_address_reads_as_pyroute2_reads_it() -> None:
    msg = _addr_answer(
        1, 4, "198.51.100.201", 32, scope=254, peer="198.51.100.202",
        extra=[("IFA_LABEL", "eth0:vip"), ("IFA_BROADCAST", "198.51.100.255"),
               ("IFA_FLAGS", w.IFA_F_SECONDARY | 0x100),
               ("IFA_CACHEINFO", {"ifa_preferred": 3, "ifa_valid": 4, "cstamp": 1,
                                  "tstamp": 2})])
    info = decode_address(msg)
    parsed = ifaddrmsg(msg)
    parsed.decode()
    assert str(info.interface.ip) == parsed.get_attr("IFA_LOCAL") == "198.51.100.201"
    assert str(info.peer) == parsed.get_attr("IFA_ADDRESS") == "198.51.100.202"
    assert info.interface.network.prefixlen == 32 and info.ifindex == 4 and info.scope == 254
    assert info.label == "eth0:vip"
    assert info.broadcast == IPv4Address("198.51.100.255")
    assert info.secondary
    assert (info.valid_lft, info.preferred_lft) == (4.0, 3.0)
    forever = decode_address(_addr_answer(1, 4, "2001:db8::1", 64, family=socket.AF_INET6))
    assert forever.interface == IPv6Interface("2001:db8::1/64")
    assert forever.valid_lft is None and forever.peer is None and forever.label is None


def test_routes_and_rules_read_as_dicts(wire: ScriptedSocket) -> None:
    def answer(request: bytes) -> list[bytes]:
        seq = w.NLMSGHDR.unpack_from(request)[3]
        if w.NLMSGHDR.unpack_from(request)[1] == w.RTM_GETROUTE:
            return [
                pyroute2_bytes(rtmsg(), w.RTM_NEWROUTE, w.NLM_F_MULTI, seq,
                               {**V4, "dst_len": 26, "table": 252, "proto": 4, "type": 1},
                               [("RTA_TABLE", 1000), ("RTA_DST", "198.51.100.64"),
                                ("RTA_GATEWAY", "192.0.2.254"), ("RTA_OIF", 3),
                                ("RTA_PRIORITY", 50)])
                + pyroute2_bytes(rtmsg(), w.RTM_NEWROUTE, w.NLM_F_MULTI, seq,
                                 {**V4, "dst_len": 24, "table": 254, "proto": 2,
                                  "scope": 253, "type": 1},
                                 [("RTA_TABLE", 254), ("RTA_DST", "192.0.2.0"),
                                  ("RTA_PREFSRC", "192.0.2.1"), ("RTA_OIF", 3)])
                + done(request)]
        return [pyroute2_bytes(fibmsg(), w.RTM_NEWRULE, w.NLM_F_MULTI, seq,
                               {**V4, "src_len": 32, "table": 100, "action": 1},
                               [("FRA_TABLE", 100), ("FRA_PRIORITY", 1000),
                                ("FRA_SRC", "192.0.2.100"), ("FRA_IIFNAME", "eth0"),
                                ("FRA_FWMARK", 7)]) + done(request)]

    wire.answer = answer
    with Netlink() as nl:
        assert nl.routes(1000) == [{
            "dst": "198.51.100.64", "dst_len": 26, "gateway": "192.0.2.254", "oif": 3,
            "prefsrc": None, "priority": 50, "table": 1000, "type": 1, "scope": 0,
            "proto": 4}]
        assert [r["prefsrc"] for r in nl.routes()] == ["192.0.2.1"]
        assert nl.rules() == [{
            "priority": 1000, "table": 100, "src": "192.0.2.100", "src_len": 32, "dst": None,
            "dst_len": 0, "iif": "eth0", "oif": None, "fwmark": 7}]
    # a strict dump names no table in its header: the kernel would filter on it
    assert w.RTMSG.unpack_from(wire.sent[0], w.NLMSGHDR.size)[4] == 0


# --- acknowledgements, errors, dumps ---------------------------------------------------------


def test_an_error_carries_the_kernels_errno_and_words(wire: ScriptedSocket) -> None:
    wire.answer = lambda request: [ack(request, errno.EINVAL, "Invalid prefix length")]
    client = RtnlSocket()
    with pytest.raises(NetlinkError) as caught:
        client.request(w.RTM_NEWADDR, b"\0" * 8)
    assert caught.value.errno == errno.EINVAL
    assert "Invalid prefix length" in str(caught.value)


@pytest.mark.parametrize(("call", "code", "result"), [
    (lambda nl: nl.add_address(3, IPv4Interface("192.0.2.100/24")), errno.EEXIST, False),
    (lambda nl: nl.remove_address(3, IPv4Interface("192.0.2.100/24")), errno.EADDRNOTAVAIL,
     False),
    (lambda nl: nl.remove_address(3, IPv4Interface("192.0.2.100/24")), errno.ENODEV, False),
    (lambda nl: nl.add_route(VIA), errno.EEXIST, False),
    (lambda nl: nl.remove_route(VIA), errno.ESRCH, False),
    (lambda nl: nl.add_rule(RuleSpec(table=100)), errno.EEXIST, False),
    (lambda nl: nl.remove_rule(RuleSpec(table=100)), errno.ENOENT, False),
    (lambda nl: nl.add_address(3, IPv4Interface("192.0.2.100/24")), errno.EPERM, errno.EPERM),
    (lambda nl: nl.remove_address(3, IPv4Interface("192.0.2.100/24")), errno.EBUSY,
     errno.EBUSY),
    (lambda nl: nl.add_route(VIA), errno.ENETUNREACH, errno.ENETUNREACH),
    (lambda nl: nl.remove_rule(RuleSpec(table=100)), errno.EPERM, errno.EPERM),
])
def test_errors_that_mean_already_done_are_false_others_raise(
        wire: ScriptedSocket, call: Callable[[Netlink], object], code: int,
        result: bool | int) -> None:
    wire.answer = lambda request: [ack(request, code)]
    with Netlink() as nl:
        if result is False:
            assert call(nl) is False
        else:
            with pytest.raises(NetlinkOpError) as caught:
                call(nl)
            assert caught.value.errno == result


def test_a_missing_interface_is_interface_not_found(wire: ScriptedSocket) -> None:
    wire.answer = lambda request: [ack(request, errno.ENODEV)]
    with Netlink() as nl:
        with pytest.raises(InterfaceNotFound) as by_name:
            nl.ifindex("nope0")
        with pytest.raises(InterfaceNotFound) as by_index:
            nl.link(99)
        assert nl.addresses(99) == []  # the filtered dump's ENODEV: no addresses
        assert nl.remove_vmac("vrrp.9") is False
    assert by_name.value.errno == by_index.value.errno == errno.ENODEV


def test_answers_to_earlier_requests_are_skipped(wire: ScriptedSocket) -> None:
    def answer(request: bytes) -> list[bytes]:
        seq = w.NLMSGHDR.unpack_from(request)[3]
        stale = with_seq(_link_answer(0, 7, "old0"), seq - 1)
        return [stale + ack(with_seq(request, seq - 1), errno.EPERM),
                _link_answer(seq, 2, "eth0") + ack(request)]

    wire.answer = answer
    with Netlink() as nl:
        assert nl.link(2).name == "eth0"


def test_an_interrupted_dump_is_read_again(wire: ScriptedSocket) -> None:
    rounds = []

    def answer(request: bytes) -> list[bytes]:
        seq = w.NLMSGHDR.unpack_from(request)[3]
        rounds.append(seq)
        flags = w.NLM_F_MULTI | (w.NLM_F_DUMP_INTR if len(rounds) == 1 else 0)
        first = with_seq(_addr_answer(seq, 2, "192.0.2.1", 24), seq, flags)
        return [first, _addr_answer(seq, 2, f"192.0.2.{len(rounds) + 1}", 24) + done(request)]

    wire.answer = answer
    with Netlink() as nl:
        got = [str(a.interface) for a in nl.addresses(2)]
    assert len(rounds) == 2
    assert got == ["192.0.2.1/24", "192.0.2.3/24"]


def test_a_dump_error_in_done_raises(wire: ScriptedSocket) -> None:
    wire.answer = lambda request: [done(request, errno.EMSGSIZE)]
    with Netlink() as nl, pytest.raises(NetlinkError) as caught:
        nl.rules()
    assert caught.value.errno == errno.EMSGSIZE


def test_no_answer_and_a_truncated_answer_are_errors(wire: ScriptedSocket) -> None:
    client = RtnlSocket()
    wire.answer = lambda request: []
    with pytest.raises(NetlinkError) as silent:
        client.request(w.RTM_GETLINK, rtnl.ifinfo(1))
    assert silent.value.errno == errno.ETIMEDOUT
    wire.answer = lambda request: [b"\0" * (RtnlSocket.BUFSIZE + 4)]
    with pytest.raises(NetlinkError) as big:
        client.request(w.RTM_GETLINK, rtnl.ifinfo(1))
    assert big.value.errno == errno.EMSGSIZE


def test_attributes_parse_nested_and_skip_garbage() -> None:
    nested = w.rtattr(w.IFLA_LINKINFO | 0x8000, w.rtattr_str(w.IFLA_INFO_KIND, "veth"))
    attrs = w.parse_attrs(w.rtattr_u32(w.IFLA_MTU, 9000) + nested + b"\x02\x00")
    assert w.attr_u32(attrs[w.IFLA_MTU]) == 9000
    assert w.attr_str(w.parse_attrs(attrs[w.IFLA_LINKINFO])[w.IFLA_INFO_KIND]) == "veth"
    assert w.parse_attrs(struct.pack("=HH", 200, 1) + b"\0" * 8) == {}  # longer than the data
    assert w.attr_ip(bytes(16)) == "::" and w.attr_ip(b"\x01\x02") is None


def test_a_batch_of_address_requests_goes_out_in_few_datagrams_each_acknowledged(
        wire: ScriptedSocket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RtnlSocket, "BATCH_COUNT", 8)  # several datagrams for 40 requests

    def answer(data: bytes) -> list[bytes]:
        acks = []
        for _kind, _seq, msg in w.split_messages(data):
            exists = w.ifaddr_body(2, ip_interface("192.0.2.7/32")) in msg
            acks.append(ack(msg, errno.EEXIST if exists else 0))
        # the kernel may answer a batch in several datagrams, stale answers first
        return [with_seq(ack(data), 0), b"".join(acks[:5]), b"".join(acks[5:])]

    wire.answer = answer
    vips = [AddressRequest(2, ip_interface(f"192.0.2.{i}/32")) for i in range(1, 41)]
    with Netlink() as nl:
        codes = nl.add_addresses(vips, lifetime=None)
    assert codes == [errno.EEXIST if i == 7 else 0 for i in range(1, 41)]
    assert len(wire.sent) == 5  # batched, not one round trip per address
    sent = [m for d in wire.sent for _k, _s, m in w.split_messages(d)]
    assert len(sent) == 40
    for v, msg in zip(vips, sent, strict=True):
        kind, flags = w.NLMSGHDR.unpack_from(msg)[1:3]
        assert kind == w.RTM_NEWADDR
        assert flags & w.NLM_F_ACK and flags & w.NLM_F_EXCL and flags & w.NLM_F_CREATE
        assert msg[w.NLMSGHDR.size:] == w.ifaddr_body(v.ifindex, v.interface)
