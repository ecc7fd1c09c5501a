"""Address-announcement and probe frames match keepalived's wire bytes; parsers never raise."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.core import frames, packet
from pykeepalived.errors import EncodeError

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
N1_MAC = bytes.fromhex("020000000001")


def vector(name: str) -> bytes:
    return bytes.fromhex((VECTORS / name).read_text().strip())


def test_gratuitous_arp_matches_keepalived_vector() -> None:
    built = frames.build_gratuitous_arp(N1_MAC, IPv4Address("192.0.2.100"))
    assert built == vector("garp_n1_vip.hex")


def test_unsolicited_na_matches_keepalived_vector() -> None:
    vip = IPv6Address("fe80::52")
    built = frames.build_unsolicited_na(N1_MAC, src=vip, target=vip)
    assert built == vector("una_ipv6_vip.hex")


def test_parse_gratuitous_arp_vector() -> None:
    arp = frames.parse_arp(vector("garp_n1_vip.hex"))
    assert arp is not None
    assert arp.op == frames.ARP_REQUEST
    assert arp.sender_mac == N1_MAC
    assert arp.sender_ip == arp.target_ip == IPv4Address("192.0.2.100")
    assert arp.target_mac == frames.BROADCAST_MAC


def test_parse_unsolicited_na_vector() -> None:
    na = frames.parse_neighbor_advert(vector("una_ipv6_vip.hex"))
    assert na is not None
    assert na.src == IPv6Address("fe80::52")
    assert na.dst == IPv6Address("ff02::1")
    assert na.target == IPv6Address("fe80::52")
    assert na.target_mac == N1_MAC
    assert na.hop_limit == 255
    assert na.override and not na.solicited and not na.router


def test_arp_probe_has_unspecified_sender() -> None:
    probe = frames.build_arp_probe(N1_MAC, IPv4Address("192.0.2.100"))
    assert len(probe) == 42
    assert probe[:6] == frames.BROADCAST_MAC
    parsed = frames.parse_arp(probe)
    assert parsed is not None
    assert parsed.op == frames.ARP_REQUEST
    assert parsed.sender_ip == IPv4Address("0.0.0.0")
    assert parsed.target_mac == frames.ZERO_MAC
    assert parsed.target_ip == IPv4Address("192.0.2.100")


def test_neighbor_solicitation_from_unspecified_goes_to_solicited_node_group() -> None:
    target = IPv6Address("2001:db8::100")
    ns = frames.build_neighbor_solicitation(N1_MAC, target)
    assert ns[:6] == bytes.fromhex("3333ff000100")
    assert ns[12:14] == b"\x86\xdd"
    ip6 = ns[14:54]
    assert ip6[7] == 255  # hop limit
    assert IPv6Address(ip6[8:24]) == IPv6Address("::")
    assert IPv6Address(ip6[24:40]) == IPv6Address("ff02::1:ff00:100")
    icmp = ns[54:]
    assert icmp[0] == frames.ICMPV6_NEIGHBOR_SOLICIT
    assert len(icmp) == 24  # no source link-layer option from the unspecified address
    assert IPv6Address(icmp[8:24]) == target
    pseudo = frames.ipv6_pseudo_header(IPv6Address("::"), IPv6Address("ff02::1:ff00:100"),
                                       len(icmp), frames.IPPROTO_ICMPV6)
    assert packet.checksum(pseudo + icmp) == 0


def test_neighbor_solicitation_with_source_carries_link_layer_option() -> None:
    src = IPv6Address("fe80::ff:fe00:1")
    ns = frames.build_neighbor_solicitation(N1_MAC, IPv6Address("2001:db8::100"), src=src)
    icmp = ns[54:]
    assert len(icmp) == 32
    assert icmp[24:26] == b"\x01\x01"
    assert icmp[26:32] == N1_MAC
    assert IPv6Address(ns[22:38]) == src


def test_parsers_reject_other_frame_types() -> None:
    assert frames.parse_arp(vector("una_ipv6_vip.hex")) is None
    assert frames.parse_neighbor_advert(vector("garp_n1_vip.hex")) is None
    assert frames.parse_neighbor_advert(vector("v3_ipv6_adv100cs_prio150.hex")) is None
    ns = frames.build_neighbor_solicitation(N1_MAC, IPv6Address("2001:db8::1"))
    assert frames.parse_neighbor_advert(ns) is None


def test_corrupted_na_checksum_is_rejected() -> None:
    good = bytearray(vector("una_ipv6_vip.hex"))
    good[-1] ^= 0xFF
    assert frames.parse_neighbor_advert(bytes(good)) is None


def test_truncated_frames_are_rejected() -> None:
    garp, una = vector("garp_n1_vip.hex"), vector("una_ipv6_vip.hex")
    for cut in range(len(garp)):
        assert frames.parse_arp(garp[:cut]) is None
    for cut in range(len(una)):
        assert frames.parse_neighbor_advert(una[:cut]) is None


@given(st.binary(max_size=200))
def test_parsers_never_raise_on_garbage(data: bytes) -> None:
    frames.parse_arp(data)
    frames.parse_neighbor_advert(data)


@given(st.binary(min_size=0, max_size=120))
def test_parsers_never_raise_on_mutated_headers(tail: bytes) -> None:
    una = vector("una_ipv6_vip.hex")
    garp = vector("garp_n1_vip.hex")
    frames.parse_neighbor_advert(una[:54] + tail)
    frames.parse_arp(garp[:14] + tail)


def test_mac_and_multicast_helpers() -> None:
    assert frames.mac_to_str(N1_MAC) == "02:00:00:00:00:01"
    assert frames.solicited_node_multicast(IPv6Address("fe80::ff:fe00:1")) == IPv6Address(
        "ff02::1:ff00:1"
    )


@pytest.mark.parametrize("mac", [b"", b"\x02\x00\x00\x00\x00", N1_MAC + b"\x00"])
def test_a_mac_that_is_not_6_bytes_is_an_encode_error(mac: bytes) -> None:
    with pytest.raises(EncodeError, match="6 bytes"):
        frames.build_gratuitous_arp(mac, IPv4Address("192.0.2.100"))
    with pytest.raises(EncodeError, match="6 bytes"):
        vip = IPv6Address("fe80::52")
        frames.build_unsolicited_na(mac, src=vip, target=vip)
    with pytest.raises(EncodeError, match="6 bytes"):
        frames.build_arp_probe(mac, IPv4Address("192.0.2.100"))
    with pytest.raises(EncodeError, match="6 bytes"):
        frames.build_neighbor_solicitation(mac, IPv6Address("2001:db8::100"))
