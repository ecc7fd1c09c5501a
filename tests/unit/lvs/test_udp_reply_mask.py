"""UDP_CHECK's require_reply with ``x`` nibbles: masked bits are not compared (keepalived's
check_udp_reply), and the length bounds still hold."""

from __future__ import annotations

from ipaddress import IPv4Address

from pykeepalived.lvs.model import Connection, UdpCheck
from pykeepalived.lvs.probes import udp_reply_ok


def check(data: bytes, mask: bytes | None) -> UdpCheck:
    return UdpCheck(Connection(IPv4Address("192.0.2.11"), 53), require_reply=True,
                    reply_data=data, reply_mask=mask, max_reply_length=16)


def test_masked_nibbles_match_anything() -> None:
    c = check(b"\x12\x30", b"\x00\x0f")  # require_reply 123x
    assert udp_reply_ok(c, b"\x12\x3f")
    assert udp_reply_ok(c, b"\x12\x30extra")
    assert not udp_reply_ok(c, b"\x13\x30")
    assert not udp_reply_ok(c, b"\x12\x40")


def test_without_a_mask_every_bit_counts_and_lengths_bound() -> None:
    c = check(b"\x12\x34", None)
    assert udp_reply_ok(c, b"\x12\x34")
    assert not udp_reply_ok(c, b"\x12\x35")
    assert not udp_reply_ok(c, b"\x12\x34" * 9)  # 18 > max_reply_length
