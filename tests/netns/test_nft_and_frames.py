"""Accept-mode nftables filter, the VRRP blocker, and announcement/probe frames on a real link."""

from __future__ import annotations

import socket
import time
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

import pytest

from pykeepalived.core import frames
from pykeepalived.net.netlink import Netlink
from pykeepalived.net.nft import VipFilter, nft
from pykeepalived.net.packet_socket import NeighborListener, PacketSocket
from pykeepalived.net.vrrp_socket import VrrpSocket
from tests.support import wait_until

from .lab import Lab

pytestmark = pytest.mark.netns


def test_accept_mode_drops_traffic_to_vips_until_removed(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    with Netlink(n1.ns) as nl:
        idx = nl.ifindex("eth0")
        nl.add_address(idx, IPv4Interface("192.0.2.100/24"))
        nl.add_address(idx, IPv6Interface("2001:db8::100/64"), nodad=True)
    assert n2.ping("192.0.2.100")
    vips = VipFilter(netns=n1.ns)
    vips.setup()
    vips.add_vips([IPv4Address("192.0.2.100"), IPv6Address("2001:db8::100")])
    assert vips.vips() == {IPv4Address("192.0.2.100"), IPv6Address("2001:db8::100")}
    assert not n2.ping("192.0.2.100", wait=0.3)
    assert not n2.ping("2001:db8::100", wait=0.3)
    assert n2.ping("192.0.2.1")  # the node's own address is untouched
    vips.remove_vips([IPv4Address("192.0.2.100"), IPv6Address("2001:db8::100")])
    assert n2.ping("192.0.2.100")
    assert n2.ping("2001:db8::100")
    vips.destroy()
    assert "keepalived" not in nft("list tables", netns=n1.ns)


def test_block_vrrp_partitions_only_vrrp(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    advert = bytes.fromhex("31339601000ad3cbc0000264")
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=n1.ns) as tx, \
            VrrpSocket.open(socket.AF_INET, "eth0", netns=n2.ns) as rx:
        lab.block_vrrp(n2)
        tx.send(advert)
        time.sleep(0.2)  # the scenario: time for the advert to arrive, were it not blocked
        assert rx.recv_batch() == []
        assert n1.ping("192.0.2.2")  # ICMP and ARP still pass
        lab.unblock_vrrp(n2)
        tx.send(advert)
        got = wait_until(rx.recv_batch, 2, what="the advert once unblocked", step=0.01)
        assert [r.payload for r in got] == [advert]


def test_gratuitous_arp_and_unsolicited_na_on_the_wire(lab: Lab) -> None:
    n1, _n2 = lab.add_node("n1"), lab.add_node("n2")
    cap = lab.capture("arp or icmp6").start()
    vip6 = IPv6Address("fe80::52")
    with PacketSocket.open("eth0", netns=n1.ns) as tx:
        assert tx.send_frame(frames.build_gratuitous_arp(n1.mac_bytes, IPv4Address("192.0.2.100")))
        assert tx.send_frame(frames.build_unsolicited_na(n1.mac_bytes, vip6, vip6))
    cap.stop()
    arp = cap.fields(["eth.src", "eth.dst", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
                      "arp.dst.hw_mac", "arp.dst.proto_ipv4"], "arp")
    assert arp == [{"eth.src": n1.mac, "eth.dst": "ff:ff:ff:ff:ff:ff", "arp.opcode": "1",
                    "arp.src.hw_mac": n1.mac, "arp.src.proto_ipv4": "192.0.2.100",
                    "arp.dst.hw_mac": "ff:ff:ff:ff:ff:ff", "arp.dst.proto_ipv4": "192.0.2.100"}]
    na = cap.fields(["ipv6.src", "ipv6.dst", "ipv6.hlim", "icmpv6.nd.na.flag.o",
                     "icmpv6.nd.na.target_address", "icmpv6.checksum.status"],
                    "icmpv6.type == 136")
    assert na == [{"ipv6.src": "fe80::52", "ipv6.dst": "ff02::1", "ipv6.hlim": "255",
                   "icmpv6.nd.na.flag.o": "1", "icmpv6.nd.na.target_address": "fe80::52",
                   "icmpv6.checksum.status": "1"}]


def _wait_heard(listener: NeighborListener, timeout: float = 2.0) -> list:
    """What the listener hears, once it hears anything."""
    heard: list = wait_until(listener.recv_batch, timeout, what="a neighbour frame", step=0.01)
    return heard


def test_probes_get_answers_seen_by_the_listener(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    with Netlink(n2.ns) as nl:
        nl.add_address(nl.ifindex("eth0"), IPv4Interface("192.0.2.100/24"))
        nl.add_address(nl.ifindex("eth0"), IPv6Interface("2001:db8::100/64"), nodad=True)
    with PacketSocket.open("eth0", netns=n1.ns) as tx, \
            NeighborListener.open("eth0", netns=n1.ns) as rx:
        tx.send_frame(frames.build_arp_probe(n1.mac_bytes, IPv4Address("192.0.2.100")))
        replies = [h.frame for h in _wait_heard(rx)]
        arp = [f for f in replies if isinstance(f, frames.ArpFrame)]
        assert arp and arp[0].op == frames.ARP_REPLY
        assert arp[0].sender_ip == IPv4Address("192.0.2.100")
        assert arp[0].sender_mac == n2.mac_bytes
        tx.send_frame(frames.build_neighbor_solicitation(
            n1.mac_bytes, IPv6Address("2001:db8::100"), src=n1.link_local))
        heard = [h.frame for h in _wait_heard(rx)]
        adverts = [f for f in heard if isinstance(f, frames.NeighborAdvert)]
        assert adverts and adverts[0].target == IPv6Address("2001:db8::100")
        assert adverts[0].target_mac == n2.mac_bytes and adverts[0].solicited
