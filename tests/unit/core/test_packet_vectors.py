"""Every advert captured from keepalived 2.2.7 decodes to its fields and re-encodes identically."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pykeepalived.core import packet
from tests.conftest import load_vector, vector_names

ADVERTS = [n for n in vector_names() if n.startswith(("v2_", "v3_"))]


def split_frame(frame: bytes) -> tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address, bytes]:
    ethertype = int.from_bytes(frame[12:14], "big")
    ip = frame[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        return IPv4Address(ip[12:16]), IPv4Address(ip[16:20]), ip[ihl:total]
    assert ethertype == 0x86DD
    plen = int.from_bytes(ip[4:6], "big")
    return IPv6Address(ip[8:24]), IPv6Address(ip[24:40]), ip[40 : 40 + plen]


def test_there_are_vectors() -> None:
    assert len(ADVERTS) >= 8


@pytest.mark.parametrize("name", ADVERTS)
def test_advert_decodes_to_captured_fields(name: str) -> None:
    vec = load_vector(name)
    src, dst, msg = split_frame(vec.frame)
    adv = packet.decode(msg, src, dst)
    assert adv.version == int(vec.field("vrrp.version"))
    assert adv.vrid == int(vec.field("vrrp.virt_rtr_id"))
    assert adv.priority == int(vec.field("vrrp.prio"))
    assert len(adv.addresses) == int(vec.field("vrrp.addr_count"))
    if "vrrp.ip_addr" in vec.fields:
        assert adv.addresses == tuple(ip_address(a) for a in vec.fields["vrrp.ip_addr"])
    else:  # tshark does not list IPv6 VIPs; the capture notes name them
        assert [str(a) for a in adv.addresses] == ["fe80::52", "2001:db8::100"]
        assert "same instance" in vec.notes or "fe80::52/64 and 2001:db8::100/64" in vec.notes
    if adv.version == 3:
        assert adv.interval == int(vec.field("vrrp.short_adver_int"))
    else:
        assert adv.interval == int(vec.field("vrrp.adver_int"))
        assert adv.auth_type == int(vec.field("vrrp.auth_type"))
        if adv.auth_type == packet.AUTH_PASS:
            assert adv.auth_data.rstrip(b"\0").decode() == vec.field("vrrp.auth_string")


@pytest.mark.parametrize("name", ADVERTS)
def test_advert_reencodes_byte_identically(name: str) -> None:
    vec = load_vector(name)
    src, dst, msg = split_frame(vec.frame)
    adv = packet.decode(msg, src, dst)
    assert packet.encode(adv, src, dst) == msg


@pytest.mark.parametrize("name", ADVERTS)
def test_corrupted_captured_advert_is_rejected_by_checksum(name: str) -> None:
    vec = load_vector(name)
    src, dst, msg = split_frame(vec.frame)
    bad = bytearray(msg)
    bad[2] ^= 0x01  # flip a priority bit, keep the checksum
    with pytest.raises(packet.PacketError) as info:
        packet.decode(bytes(bad), src, dst)
    assert info.value.reason is packet.DropReason.BAD_CHECKSUM
