"""PING_CHECK: one ICMP / ICMPv6 echo, as keepalived's check_ping.c sends and judges it.

keepalived uses an unprivileged ICMP datagram socket (and widens
net.ipv4.ping_group_range so root may open one). We do not touch that sysctl: the datagram
socket is used when the range allows it, else a raw socket (root). The request carries 128 bytes
of keepalived's filler; the first packet the datagram socket receives decides (an echo reply
succeeds, anything else fails); on a raw socket, only packets about our echo (the reply from the
target with our identifier, or an ICMP error quoting our request) count. ``fwmark`` and
``bind_if`` are applied (keepalived ignores them here). Bounded by connect_timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import struct

from pykeepalived.lvs.checker import Outcome
from pykeepalived.lvs.model import PingCheck
from pykeepalived.lvs.probe_sock import seconds

PAYLOAD_SIZE = 128
RECV_BUFFER = 128 * 1024
_sequence = itertools.count(random.getrandbits(16))


def filler(size: int) -> bytes:
    """keepalived's set_buf: "keepalived check - " repeated to ``size`` bytes."""
    text = b"keepalived check - "
    return (text * (size // len(text) + 1))[:size]


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(v6: bool, ident: int, seq: int, payload: bytes) -> bytes:
    msg_type = 128 if v6 else 8
    body = struct.pack("!BBHHH", msg_type, 0, 0, ident & 0xFFFF, seq & 0xFFFF) + payload
    if not v6:  # the kernel fills in the ICMPv6 checksum (and a datagram socket's, always)
        body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return body


def _open(v6: bool) -> tuple[socket.socket, bool]:
    """An ICMP socket: datagram when allowed, else raw. Returns (socket, is_raw)."""
    fam, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else \
        (socket.AF_INET, socket.IPPROTO_ICMP)
    flags = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    try:
        return socket.socket(fam, socket.SOCK_DGRAM | flags, proto), False
    except OSError:
        return socket.socket(fam, socket.SOCK_RAW | flags, proto), True


def raw_verdict(data: bytes, v6: bool, src: str, target: str, ident: int,
                seq: int) -> tuple[bool | None, int]:
    """On a raw socket: (True, type) for our echo reply, (False, type) for an ICMP error about
    our request, (None, type) for anything else (ignored)."""
    icmp = data if v6 else data[(data[0] & 0x0F) * 4:] if data else b""
    if len(icmp) < 8:
        return None, -1
    msg_type = icmp[0]
    reply, errors = (129, (1, 2, 3, 4)) if v6 else (0, (3, 11, 12))
    if msg_type == reply:
        rid, rseq = struct.unpack_from("!HH", icmp, 4)
        return (True if src == target and rid == ident and rseq == seq else None), msg_type
    if msg_type in errors:
        inner = icmp[8:]
        if not v6 and inner:
            inner = inner[(inner[0] & 0x0F) * 4:]
        elif v6:
            inner = inner[40:]
        if len(inner) >= 8 and struct.unpack_from("!HH", inner, 4) == (ident, seq):
            return False, msg_type
    return None, msg_type


async def probe_ping(c: PingCheck, *, rs_name: str, vs_name: str = "") -> Outcome:
    v6 = c.conn.ip.version == 6
    target = str(c.conn.ip)
    timeout = c.timing.connect_timeout
    v = "v6" if v6 else ""
    try:
        sock, raw = _open(v6)
    except OSError as exc:
        return Outcome(False, str(exc), skipped=True, lines=(
            f"ICMP{v} connect fail to create socket. Rescheduling.",))
    loop = asyncio.get_running_loop()
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            if c.conn.fwmark:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, c.conn.fwmark)
            if c.conn.bind_if:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                c.conn.bind_if.encode() + b"\0")
        except OSError:
            pass  # keepalived: "OK if setsockopt fails"
        ident = random.getrandbits(16)
        seq = next(_sequence) & 0xFFFF
        try:
            sock.sendto(echo_request(v6, ident, seq, filler(PAYLOAD_SIZE)), (target, 0))
        except OSError as exc:
            line = f"send ICMPv6 packet fail - errno {exc.errno}" if v6 else \
                "send ICMP packet fail"
            return Outcome(False, f"send failed: {exc}", lines=(line,))
        if raw:
            return await _wait_raw(sock, v6, target, ident, seq, timeout, rs_name, vs_name)
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(sock, 8 + PAYLOAD_SIZE)
        except TimeoutError:
            return _timeout(timeout, rs_name)
        except OSError as exc:
            return Outcome(False, f"ICMP error: {exc}", lines=(f"recv ICMP{v} packet error",),
                           failure=f"ICMP connection to {rs_name} of {vs_name} failed.")
        if len(data) < 8:
            return Outcome(False, "short ICMP packet",
                           lines=(f"Error, got short ICMP{v} packet, {len(data)} bytes",),
                           failure=f"ICMP connection to {rs_name} of {vs_name} failed.")
        if data[0] != (129 if v6 else 0):
            return Outcome(False, f"ICMP type {data[0]}",
                           lines=(f"Got ICMP{v} packet with type 0x{data[0]:x}",),
                           failure=f"ICMP connection to {rs_name} of {vs_name} failed.")
        return Outcome(True, "echo reply")
    finally:
        sock.close()


def _timeout(timeout: float, rs_name: str) -> Outcome:
    return Outcome(False, f"timeout after {seconds(timeout)}",
                   failure=f"ICMP connection to address {rs_name} timeout.")


async def _wait_raw(sock: socket.socket, v6: bool, target: str, ident: int, seq: int,
                    timeout: float, rs_name: str, vs_name: str) -> Outcome:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                data, addr = await loop.sock_recvfrom(sock, 65535)
        except TimeoutError:
            return _timeout(timeout, rs_name)
        except OSError:
            continue
        verdict, msg_type = raw_verdict(data, v6, addr[0].split("%")[0], target, ident, seq)
        if verdict is True:
            return Outcome(True, "echo reply")
        if verdict is False:
            return Outcome(False, f"ICMP type {msg_type}", lines=(
                f"Got ICMP{'v6' if v6 else ''} packet with type 0x{msg_type:x}",),
                failure=f"ICMP connection to {rs_name} of {vs_name} failed.")
