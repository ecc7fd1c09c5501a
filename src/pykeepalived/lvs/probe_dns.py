"""DNS_CHECK: one UDP query, as keepalived's check_dns.c asks and judges it.

The query: a random ID, RD set, one question (``name``, ``type``, class IN). A reply counts when
it is at least a DNS header long, carries the query's ID and has QR set; anything else that
arrives is ignored and the wait goes on. The check succeeds when that reply's RCODE is 0
(NOERROR); keepalived does not look at the question or the answers. Send and receive share one
timer of connect_timeout (the whole probe's bound).
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import socket
import struct

from pykeepalived.lvs.checker import Outcome
from pykeepalived.lvs.model import DnsCheck
from pykeepalived.lvs.probe_sock import SetupError, open_socket, pair, seconds, wait_writable

#: keepalived's query types.
DNS_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28,
             "RRSIG": 46, "DNSKEY": 48}
#: keepalived's DNS_BUFFER_SIZE
RECV_SIZE = 768
HEADER_SIZE = 12
_FLAG_QR = 0x8000
_FLAG_RD = 0x0100


class DnsNameError(ValueError):
    """A query name that cannot be encoded (empty label, label over 63 bytes, over 255)."""


def encode_name(name: str) -> bytes:
    """The wire form of ``name``; "." and "" are the root."""
    if name in ("", "."):
        return b"\x00"
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    out = bytearray()
    for label in labels:
        raw = label.encode("idna") if not label.isascii() else label.encode()
        if not raw or len(raw) > 63:
            raise DnsNameError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > 255:
        raise DnsNameError(f"DNS name too long: {name!r}")
    return bytes(out)


def encode_query(qid: int, name: str, qtype: int) -> bytes:
    """A standard query with RD set for ``name`` / ``qtype`` / class IN."""
    header = struct.pack("!HHHHHH", qid & 0xFFFF, _FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, 1)


def reply_rcode(data: bytes, qid: int) -> int | None:
    """The RCODE of a reply to query ``qid``; None for a datagram keepalived ignores (too short,
    another ID, not a response)."""
    if len(data) < HEADER_SIZE:
        return None
    rid, flags = struct.unpack_from("!HH", data)
    if rid != qid or not flags & _FLAG_QR:
        return None
    return int(flags) & 0x000F


def _fail(text: str, reason: str) -> Outcome:
    return Outcome(False, reason, failure=text)


async def probe_dns(c: DnsCheck, *, rs_name: str) -> Outcome:
    qtype = DNS_TYPES.get(c.type.upper())
    try:
        if qtype is None:
            raise DnsNameError(f"unknown DNS type {c.type!r}")
        qid = random.getrandbits(16)
        query = encode_query(qid, c.name, qtype)
    except DnsNameError as exc:
        return _fail("failed to write socket.", str(exc))
    timeout = c.timing.connect_timeout
    try:
        sock = open_socket(c.conn, socket.SOCK_DGRAM)
    except SetupError as exc:
        return Outcome(False, exc.line, skipped=True, lines=(
            exc.line, f"DNS_CHECK ({rs_name}) UDP socket bind failed. Rescheduling."))
    except OSError as exc:
        return Outcome(False, str(exc), skipped=True, lines=(
            f"DNS_CHECK ({rs_name}) failed to create socket. Rescheduling.",))
    loop = asyncio.get_running_loop()
    try:
        try:
            sock.connect((str(c.conn.ip), c.conn.port))
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
                return _fail(f"network unreachable for {pair(c.conn)}",
                             os.strerror(exc.errno or 0).lower())
            return Outcome(False, str(exc), skipped=True, lines=(
                f"DNS_CHECK ({rs_name}) UDP socket bind failed. Rescheduling.",))
        deadline = loop.time() + timeout
        while True:
            try:
                sent = sock.send(query)
                break
            except BlockingIOError:
                if not await wait_writable(sock, deadline - loop.time()):
                    return _fail("write timeout to socket.", "write timeout")
            except OSError as exc:
                return _fail("failed to write socket.", f"send failed: {exc}")
        if sent != len(query):
            return _fail("failed to write all of the datagram.", "short send")
        while True:
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                    data = await loop.sock_recv(sock, RECV_SIZE)
            except TimeoutError:
                return _fail("read timeout from socket",
                             f"timeout after {seconds(timeout)}")
            except OSError as exc:
                code = exc.errno or 0
                return _fail(f"failed to read socket; errno {code} ({os.strerror(code)})",
                             os.strerror(code).lower())
            rcode = reply_rcode(data, qid)
            if rcode is None:
                continue
            if rcode:
                return _fail(f"read error occurred. (rcode = {rcode})", f"DNS rcode {rcode}")
            return Outcome(True, "DNS reply NOERROR")
    finally:
        sock.close()
