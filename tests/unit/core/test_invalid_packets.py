"""Every kind of malformed VRRP message raises PacketError with its reason, nothing else."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pykeepalived.core import packet
from pykeepalived.core.packet import Advertisement, DropReason, PacketError

SRC4, DST4 = IPv4Address("192.0.2.1"), IPv4Address("224.0.0.18")
SRC6, DST6 = IPv6Address("fe80::1"), IPv6Address("ff02::12")
VIP = ip_address("192.0.2.100")


def v3(**kw: object) -> bytes:
    adv = Advertisement(**{"version": 3, "vrid": 51, "priority": 150, "interval": 100,
                           "addresses": (VIP,), **kw})  # type: ignore[arg-type]
    return packet.encode(adv, SRC4, DST4)


def v2(**kw: object) -> bytes:
    adv = Advertisement(**{"version": 2, "vrid": 51, "priority": 150, "interval": 1,
                           "addresses": (VIP,), **kw})  # type: ignore[arg-type]
    return packet.encode(adv, SRC4, DST4)


def reason(data: bytes, src: IPv4Address | IPv6Address = SRC4,
           dst: IPv4Address | IPv6Address = DST4) -> DropReason:
    with pytest.raises(PacketError) as info:
        packet.decode(data, src, dst)
    return info.value.reason


def refix(data: bytes, *, v3_pseudo: bool = True) -> bytes:
    """Recompute the checksum so that only the intended defect remains."""
    body = data[:6] + b"\0\0" + data[8:]
    if v3_pseudo:
        import struct
        pseudo = SRC4.packed + DST4.packed + struct.pack("!BBH", 0, 112, len(body))
        csum = packet.checksum(pseudo + body)
    else:
        csum = packet.checksum(body)
    return body[:6] + csum.to_bytes(2, "big") + body[8:]


def test_valid_messages_decode() -> None:
    assert packet.decode(v3(), SRC4, DST4).priority == 150
    assert packet.decode(v2(), SRC4, DST4).interval == 1


@pytest.mark.parametrize("length", [0, 1, 7])
def test_shorter_than_a_header(length: int) -> None:
    assert reason(v3()[:length]) is DropReason.TOO_SHORT


def test_count_larger_than_the_addresses() -> None:
    data = bytearray(v3())
    data[3] = 2
    assert reason(refix(bytes(data))) is DropReason.TOO_SHORT


def test_count_smaller_than_the_addresses() -> None:
    data = bytearray(v3(addresses=(VIP, ip_address("192.0.2.101"))))
    data[3] = 1
    assert reason(refix(bytes(data))) is DropReason.BAD_LENGTH


@pytest.mark.parametrize("version", [0, 1, 4, 15])
def test_wrong_version(version: int) -> None:
    data = bytearray(v3())
    data[0] = (version << 4) | 1
    assert reason(refix(bytes(data))) is DropReason.BAD_VERSION


@pytest.mark.parametrize("ptype", [0, 2, 15])
def test_wrong_type(ptype: int) -> None:
    data = bytearray(v3())
    data[0] = 0x30 | ptype
    assert reason(refix(bytes(data))) is DropReason.BAD_TYPE


def test_bad_checksum_v2_and_v3() -> None:
    for data in (v2(), v3()):
        bad = bytearray(data)
        bad[7] ^= 0xFF
        assert reason(bytes(bad)) is DropReason.BAD_CHECKSUM


def test_v3_checksum_covers_the_pseudo_header() -> None:
    # the same bytes from another source address fail the check
    assert reason(v3(), IPv4Address("192.0.2.2")) is DropReason.BAD_CHECKSUM


def test_checksum_as_v2_compatibility() -> None:
    adv = Advertisement(3, 51, 150, 100, (VIP,))
    data = packet.encode(adv, SRC4, DST4, checksum_as_v2=True)
    assert packet.decode(data, SRC4, DST4, checksum_as_v2=True) == adv
    assert reason(data) is DropReason.BAD_CHECKSUM


def test_v2_over_ipv6() -> None:
    assert reason(v2(), SRC6, DST6) is DropReason.V2_OVER_IPV6


def test_zero_advert_interval() -> None:
    assert reason(v3(interval=0)) is DropReason.ZERO_INTERVAL
    assert reason(v2(interval=0)) is DropReason.ZERO_INTERVAL


def test_v2_without_addresses() -> None:
    assert reason(v2(addresses=())) is DropReason.ZERO_COUNT


def test_ipv6_round_trip_and_pseudo_header() -> None:
    adv = Advertisement(3, 52, 150, 100, (IPv6Address("fe80::52"), IPv6Address("2001:db8::100")))
    data = packet.encode(adv, SRC6, DST6)
    assert packet.decode(data, SRC6, DST6) == adv
    assert reason(data, IPv6Address("fe80::2"), DST6) is DropReason.BAD_CHECKSUM


def test_pass_auth_field_is_8_bytes_zero_padded() -> None:
    assert packet.pass_auth_data("secret") == b"secret\0\0"
    assert packet.pass_auth_data("averylongpassword") == b"averylon"
