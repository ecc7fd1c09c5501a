"""An advert the wire cannot carry is the caller's mistake: EncodeError, never a bad packet."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pykeepalived.core import packet
from pykeepalived.core.packet import Advertisement
from pykeepalived.errors import EncodeError, LocalError

SRC4, DST4 = IPv4Address("192.0.2.1"), IPv4Address("224.0.0.18")
SRC6, DST6 = IPv6Address("fe80::1"), IPv6Address("ff02::12")
VIP = ip_address("192.0.2.100")
MANY = tuple(IPv4Address(0x0A000000 + i) for i in range(256))


@pytest.mark.parametrize(
    ("adv", "src", "dst", "message"),
    [
        (Advertisement(4, 51, 150, 100, (VIP,)), SRC4, DST4, "version 4"),
        (Advertisement(1, 51, 150, 1, (VIP,)), SRC4, DST4, "version 1"),
        (Advertisement(2, 51, 150, 1, (IPv6Address("fe80::52"),)), SRC6, DST6, "IPv4 only"),
        (Advertisement(3, 51, 150, 100, (VIP,)), SRC4, DST6, "different families"),
        (Advertisement(3, 256, 150, 100, (VIP,)), SRC4, DST4, "VRID 256"),
        (Advertisement(3, 51, -1, 100, (VIP,)), SRC4, DST4, "priority -1"),
        (Advertisement(2, 51, 150, 1, (VIP,), auth_type=300), SRC4, DST4, "authentication"),
        (Advertisement(3, 51, 150, 100, MANY), SRC4, DST4, "256 addresses"),
        (Advertisement(3, 51, 150, 100, (IPv6Address("2001:db8::1"),)), SRC4, DST4, "IPv4"),
        (Advertisement(2, 51, 150, 256, (VIP,)), SRC4, DST4, "interval 256"),
        (Advertisement(3, 51, 150, packet.MAX_V3_INTERVAL_CS + 1, (VIP,)), SRC4, DST4,
         "interval 4096"),
        (Advertisement(3, 51, 150, -1, (VIP,)), SRC4, DST4, "interval -1"),
    ],
)
def test_unencodable_advert_raises_encode_error(
    adv: Advertisement, src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address,
    message: str,
) -> None:
    with pytest.raises(EncodeError, match=message) as info:
        packet.encode(adv, src, dst)
    assert isinstance(info.value, LocalError)


def test_the_limits_themselves_encode() -> None:
    """What a receiver drops but the wire can carry stays encodable (tests and probes send it)."""
    edge = [
        Advertisement(3, 0, 255, packet.MAX_V3_INTERVAL_CS, MANY[:255]),
        Advertisement(2, 255, 0, 255, (VIP,), auth_type=255),
        Advertisement(3, 51, 150, 0, ()),
        Advertisement(2, 51, 150, 0, ()),
    ]
    for adv in edge:
        assert len(packet.encode(adv, SRC4, DST4)) >= packet.HEADER_LEN
