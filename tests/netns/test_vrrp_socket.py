"""Raw VRRP sockets between lab nodes: delivery, addresses, TTL/TOS/DF on the wire, the filter."""

from __future__ import annotations

import socket
import time
from ipaddress import IPv4Address, IPv6Address

import pytest

from pykeepalived.net.vrrp_socket import Received, VrrpSocket
from tests.support import wait_until

from .lab import Lab

pytestmark = pytest.mark.netns

# A VRRPv3 advert from the vectors (v3_adv10cs_prio150): VRID 51, prio 150, VIP 192.0.2.100.
V3_ADVERT = bytes.fromhex("31339601000ad3cbc0000264")


def wait_recv(sock: VrrpSocket, count: int = 1, timeout: float = 3.0) -> list[Received]:
    """What ``sock`` received, once ``count`` datagrams have arrived."""
    got: list[Received] = []

    def enough() -> bool:
        got.extend(sock.recv_batch(16))
        return len(got) >= count

    wait_until(enough, timeout, what=f"{count} datagram(s)", step=0.01,
               context=lambda: f"received {got}")
    return got


def recv_within(sock: VrrpSocket, seconds: float) -> list[Received]:
    """What ``sock`` receives within ``seconds``: the window for datagrams that must not come."""
    time.sleep(seconds)  # the scenario: time for anything the filter let through to arrive
    return sock.recv_batch(16)


def test_ipv4_multicast_advert_arrives_with_ttl_255_and_keepalived_header(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    cap = lab.capture("ip proto 112").start()
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET, "eth0", netns=n2.ns) as rx:
        assert tx.source_address() == IPv4Address("192.0.2.1")
        assert tx.send(V3_ADVERT)
        got = wait_recv(rx)
        assert tx.recv_batch() == []  # multicast loop is off
    cap.stop()
    assert len(got) == 1
    r = got[0]
    assert (r.src, r.dst, r.ttl, r.payload) == (
        IPv4Address("192.0.2.1"), IPv4Address("224.0.0.18"), 255, V3_ADVERT
    )
    # the kernel's receive stamp came with it: its age at the read that returned it (it may
    # have arrived just after the batch's clock reading, hence the small negative bound)
    assert r.age != 0.0 and -0.01 < r.age < 3.0
    wire = cap.fields(["ip.dsfield", "ip.ttl", "ip.flags", "ip.src", "ip.dst", "eth.dst",
                       "vrrp.checksum.status"], "vrrp")
    assert wire == [{"ip.dsfield": "0xc0", "ip.ttl": "255", "ip.flags": "0x00",
                     "ip.src": "192.0.2.1", "ip.dst": "224.0.0.18",
                     "eth.dst": "01:00:5e:00:00:12", "vrrp.checksum.status": "1"}]


def test_ipv4_unicast_advert_uses_configured_source(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    n1.exec(["ip", "addr", "add", "192.0.2.11/24", "dev", "eth0"], check=True)
    cap = lab.capture("ip proto 112").start()
    with VrrpSocket.open(socket.AF_INET, "eth0", src=IPv4Address("192.0.2.11"),
                         join_group=False, netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET, "eth0", join_group=False, netns=n2.ns) as rx:
        assert tx.send(b"\x21\x33\x96\x01\x00\x01\x00\x00" + bytes(12), IPv4Address("192.0.2.2"))
        got = wait_recv(rx)
    cap.stop()
    assert [(r.src, r.dst, r.ttl) for r in got] == [
        (IPv4Address("192.0.2.11"), IPv4Address("192.0.2.2"), 255)
    ]
    wire = cap.fields(["ip.ttl", "ip.dsfield", "ip.flags"], "ip.proto == 112")
    assert wire == [{"ip.ttl": "255", "ip.dsfield": "0xc0", "ip.flags": "0x00"}]


def test_ipv6_multicast_advert_from_link_local_with_hop_limit_255(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    cap = lab.capture("ip6 proto 112").start()
    payload = bytes.fromhex("3134960200640000") + IPv6Address("fe80::52").packed
    with VrrpSocket.open(socket.AF_INET6, "eth0", netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET6, "eth0", netns=n2.ns) as rx:
        assert tx.source_address() == n1.link_local
        assert tx.send(payload)
        got = wait_recv(rx)
    cap.stop()
    assert [(r.src, r.dst, r.ttl, r.payload) for r in got] == [
        (n1.link_local, IPv6Address("ff02::12"), 255, payload)
    ]
    assert got[0].ifindex > 0
    assert got[0].age != 0.0 and -0.01 < got[0].age < 3.0
    wire = cap.fields(["ipv6.tclass", "ipv6.hlim", "ipv6.src", "eth.dst"], "ipv6.nxt == 112")
    assert wire == [{"ipv6.tclass": "0x000000c0", "ipv6.hlim": "255",
                     "ipv6.src": str(n1.link_local), "eth.dst": "33:33:00:00:00:12"}]


def test_ipv6_unicast_advert(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    with VrrpSocket.open(socket.AF_INET6, "eth0", netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET6, "eth0", netns=n2.ns) as rx:
        assert tx.send(b"\x31\x34\x96\x00\x00\x64\x00\x00", n2.link_local)
        got = wait_recv(rx)
    assert [(r.src, r.dst, r.ttl) for r in got] == [(n1.link_local, n2.link_local, 255)]


def _send_ttl1(lab: Lab, node_ns: str) -> None:
    from pykeepalived.net.netns import run_in_netns

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, 112) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.sendto(V3_ADVERT, ("224.0.0.18", 0))

    run_in_netns(node_ns, send)


def test_ttl_1_is_visible_and_filter_drops_it(lab: Lab) -> None:
    n1, n2, n3 = lab.add_node("n1"), lab.add_node("n2"), lab.add_node("n3")
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=n2.ns) as rx, \
            VrrpSocket.open(socket.AF_INET, "eth0", netns=n1.ns) as good:
        _send_ttl1(lab, n3.ns)
        got = wait_recv(rx)
        assert [(r.src, r.ttl) for r in got] == [(IPv4Address("192.0.2.3"), 1)]
        rx.attach_filter()
        _send_ttl1(lab, n3.ns)
        bad_version = bytes([0x11]) + V3_ADVERT[1:]
        assert good.send(bad_version)
        assert good.send(V3_ADVERT)
        got = wait_recv(rx) + recv_within(rx, 1.0)
        # Only the well-formed TTL-255 v3 advert passes the kernel filter.
        assert [(r.src, r.ttl, r.payload) for r in got] == [
            (IPv4Address("192.0.2.1"), 255, V3_ADVERT)
        ]


def test_ipv6_filter_passes_good_adverts_and_drops_bad_versions(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    good = b"\x31\x34\x96\x00\x00\x64\x00\x00"
    with VrrpSocket.open(socket.AF_INET6, "eth0", netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET6, "eth0", netns=n2.ns) as rx:
        rx.attach_filter()
        assert tx.send(b"\x41" + good[1:])
        assert tx.send(good)
        got = wait_recv(rx) + recv_within(rx, 1.0)
    assert [r.payload for r in got] == [good]


def test_send_on_downed_link_reports_false_instead_of_raising(lab: Lab) -> None:
    n1 = lab.add_node("n1")
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=n1.ns) as tx:
        n1.exec(["ip", "link", "set", "eth0", "down"], check=True)
        assert tx.send(V3_ADVERT) is False
        assert tx.send_errors == 1
        n1.exec(["ip", "link", "set", "eth0", "up"], check=True)
        assert tx.send(V3_ADVERT) is True


def test_ah_socket_sends_the_datagram_as_built_and_receives_it_whole(lab: Lab) -> None:
    """auth_type AH: the core's datagram leaves unchanged (identification and all, which the
    ICV covers), arrives with its IP header, and the kernel filter finds the VRID behind the
    AH header."""
    from pykeepalived.core import ah
    from pykeepalived.net.vrrp_socket import IPPROTO_AH, vrrp_filter

    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    v2 = bytes.fromhex("2133960102011b65c00002640000000000000000")  # VRID 51, prio 150, AH
    src, group = IPv4Address("192.0.2.1"), IPv4Address("224.0.0.18")
    key = ah.ah_key("s3cret")

    def sealed(message: bytes, ident: int) -> bytes:
        return ah.seal(message, src=src, dst=group, ident=ident, ttl=255, seq=ident, key=key,
                       unicast=False)

    cap = lab.capture("ip proto 51").start()
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=n1.ns, protocol=IPPROTO_AH) as tx, \
            VrrpSocket.open(socket.AF_INET, "eth0", netns=n2.ns, protocol=IPPROTO_AH) as rx:
        first = sealed(v2, 7)
        assert tx.send(first)
        got = wait_recv(rx)
        assert [(r.src, r.dst, r.ttl, r.header + r.payload) for r in got] == [
            (src, group, 255, first)]
        opened = ah.open_datagram(got[0].header, got[0].payload, key=key, unicast=False)
        assert (opened.seq, opened.message) == (7, v2)
        rx.attach_filter(vrrp_filter(socket.AF_INET, vrids={51}, protocol=IPPROTO_AH))
        other_vrid = v2[:1] + b"\x34" + v2[2:]
        assert tx.send(sealed(other_vrid, 8))
        assert tx.send(sealed(v2, 9))
        got = wait_recv(rx) + recv_within(rx, 1.0)
        assert [ah.open_datagram(r.header, r.payload, key=key, unicast=False).seq
                for r in got] == [9]
    cap.stop()
    wire = cap.fields(["ip.id", "ip.proto", "ah.spi", "ah.sequence", "vrrp.virt_rtr_id"], "ah")
    assert [(w["ip.id"], w["ah.sequence"], w["vrrp.virt_rtr_id"]) for w in wire] == [
        ("0x0007", "7", "51"), ("0x0008", "8", "52"), ("0x0009", "9", "51")]
    assert {w["ip.proto"] for w in wire} == {"51"}
