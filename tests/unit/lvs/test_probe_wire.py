"""What the probes put on the wire and how they read replies, without a network: keepalived's
HTTP request and response parsing, the DNS query and reply check, SMTP status lines, ICMP echo,
UDP reply matching."""

from __future__ import annotations

import struct
from ipaddress import ip_address

import pytest

from pykeepalived.lvs.model import Connection, HttpUrl, UdpCheck
from pykeepalived.lvs.probe_dns import DnsNameError, encode_name, encode_query, reply_rcode
from pykeepalived.lvs.probe_http import (
    build_request,
    content_length,
    regex_matches,
    status_accepted,
    status_code,
)
from pykeepalived.lvs.probe_ping import checksum, echo_request, filler, raw_verdict
from pykeepalived.lvs.probe_smtp import rs_pair, smtp_status
from pykeepalived.lvs.probes import udp_reply_ok

V4 = ip_address("192.0.2.11")
V6 = ip_address("2001:db8::11")


def test_http_request_as_keepalived_sends_it() -> None:
    assert build_request("/", "1.0", V4, 80, None) == (
        b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.11:80\r\n\r\n")
    assert build_request("/x?y=1", "1.1", V6, 8080, None) == (
        b"GET /x?y=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n"
        b"Host: [2001:db8::11]:8080\r\n\r\n")
    assert build_request("/", "1.0C", V6, 80, "www.example.com") == (
        b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n"
        b"Host: www.example.com\r\n\r\n")


@pytest.mark.parametrize(("header", "code"), [
    (b"HTTP/1.0 200 OK\r\n\r\n", 200), (b"HTTP/1.1 503 Busy\r\n", 503),
    (b"HTTP/1.1 200\r\n\r\n", 0), (b"HTTP/1.1  200 OK\r\n", 0), (b"HTTP/1.1 2x0 OK\r\n", 0),
    (b"garbage", 0), (b"", 0), (b"HTTP/1.1\r\n200 OK", 0), (b"X 999 Y", 999),
])
def test_status_code_is_read_like_keepalived(header: bytes, code: int) -> None:
    assert status_code(header) == code


@pytest.mark.parametrize(("header", "length"), [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 36\r\n\r\n", 36),
    (b"HTTP/1.0 200 OK\r\nContent-Length:7\r\n\r\n", 7),
    (b"HTTP/1.0 200 OK\r\ncontent-length: 36\r\n\r\n", None),  # keepalived: case as written
    (b"HTTP/1.0 200 OK\r\nContent-Length: 3x\r\n\r\n", None),
    (b"HTTP/1.0 200 OK\r\n\r\n", None),
])
def test_content_length(header: bytes, length: int | None) -> None:
    assert content_length(header) == length


def test_status_ranges_default_to_2xx() -> None:
    assert status_accepted(204, ()) and not status_accepted(301, ())
    assert status_accepted(301, ((300, 399), (503, 503)))
    assert status_accepted(503, ((300, 399), (503, 503)))
    assert not status_accepted(200, ((300, 399),))
    assert not status_accepted(600, ((100, 999),))


def test_regex_offsets() -> None:
    url = HttpUrl(path="/", regex="ok", regex_min_offset=3, regex_max_offset=6)
    assert regex_matches(url, b"xxxxok")
    assert not regex_matches(url, b"okxxxxxok")  # first at 0 (< min), next at 7 (> max)
    assert not regex_matches(HttpUrl(path="/", regex="("), b"(")  # bad pattern never matches
    assert regex_matches(HttpUrl(path="/", regex=r"status:\s+up"), b"<p>status:  up</p>")


def test_dns_query_encoding() -> None:
    query = encode_query(0x1234, "example.com", 6)
    assert query == (bytes.fromhex("1234 0100 0001 0000 0000 0000")
                     + b"\x07example\x03com\x00" + b"\x00\x06\x00\x01")
    assert encode_name(".") == b"\x00" and encode_name("") == b"\x00"
    assert encode_name("example.com.") == b"\x07example\x03com\x00"
    for bad in ("a..b", "x" * 64 + ".com", ".".join(["abcdefghi"] * 30)):
        with pytest.raises(DnsNameError):
            encode_name(bad)


def test_dns_reply_check() -> None:
    reply = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
    assert reply_rcode(reply, 0x1234) == 0
    assert reply_rcode(struct.pack("!HHHHHH", 0x1234, 0x8183, 1, 0, 0, 0), 0x1234) == 3
    assert reply_rcode(reply, 0x4321) is None  # another ID: ignored
    assert reply_rcode(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0), 0x1234) is None
    assert reply_rcode(reply[:11], 0x1234) is None


def test_smtp_status_lines() -> None:
    assert smtp_status(b"220 mail.example.com ESMTP\r") == 220
    assert smtp_status(b"250") == 250
    assert smtp_status(b"220\r") == -1  # keepalived's strtoul check: CR is not a space
    assert smtp_status(b"220-first line") == -1
    assert smtp_status(b"2200 x") == -1 and smtp_status(b"") == -1
    assert rs_pair("[192.0.2.11]:tcp:25") == "[192.0.2.11]:25"
    assert rs_pair("[2001:db8::1]:tcp:25") == "[2001:db8::1]:25"


def test_icmp_echo_and_raw_replies() -> None:
    payload = filler(128)
    assert payload.startswith(b"keepalived check - keepalived check - ") and len(payload) == 128
    req = echo_request(False, 0xBEEF, 7, payload)
    assert req[0] == 8 and checksum(req) == 0
    assert echo_request(True, 1, 2, b"")[:2] == b"\x80\x00"
    ip_header = bytes([0x45]) + bytes(19)
    reply = ip_header + bytes([0, 0, 0, 0]) + struct.pack("!HH", 0xBEEF, 7) + payload
    assert raw_verdict(reply, False, "192.0.2.11", "192.0.2.11", 0xBEEF, 7) == (True, 0)
    assert raw_verdict(reply, False, "192.0.2.12", "192.0.2.11", 0xBEEF, 7) == (None, 0)
    assert raw_verdict(reply, False, "192.0.2.11", "192.0.2.11", 0xBEEE, 7)[0] is None
    unreachable = ip_header + bytes([3, 1, 0, 0, 0, 0, 0, 0]) + ip_header + req[:8]
    assert raw_verdict(unreachable, False, "192.0.2.1", "192.0.2.11", 0xBEEF, 7) == (False, 3)
    assert raw_verdict(b"", False, "x", "y", 1, 1) == (None, -1)


def test_udp_reply_matching() -> None:
    conn = Connection(V4, 53)
    assert udp_reply_ok(UdpCheck(conn=conn, require_reply=True), b"anything")
    want = UdpCheck(conn=conn, require_reply=True, reply_data=b"\xab\xcd", min_reply_length=2,
                    max_reply_length=8)
    assert udp_reply_ok(want, b"\xab\xcd\x00")
    assert not udp_reply_ok(want, b"\xab\xce\x00")
    assert not udp_reply_ok(want, b"\xab")  # shorter than min_reply_length
    assert not udp_reply_ok(want, b"\xab\xcd" + bytes(7))  # longer than max
    loose = UdpCheck(conn=conn, require_reply=True, reply_data=b"\xab\xcd\xef")
    assert udp_reply_ok(loose, b"\xab")  # only the received bytes are compared
