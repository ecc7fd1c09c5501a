"""The health checkers' I/O: one probe per checker kind, and the loop that runs a checker.

:func:`probe` makes one attempt and returns an :class:`~pykeepalived.lvs.checker.Outcome`;
:func:`run_checker` loops forever: the first delay (warmup), probe, feed the pure
:class:`~pykeepalived.lvs.checker.CheckerState`, hand the step to the caller, sleep. Everything
runs on the caller's asyncio loop: no threads, no blocking calls (FILE_CHECK's 127-byte read of a
local file aside), so thousands of checks a second fit on one core. A cancelled runner or probe
leaves nothing behind: sockets are closed in ``finally`` blocks, and a MISC_CHECK's process
group is killed and reaped.

Bounds (each probe returns a failed Outcome when one is reached, never raises on what a server
sends): TCP_CHECK, UDP_CHECK, DNS_CHECK, PING_CHECK: connect_timeout; HTTP_GET / SSL_GET:
connect_timeout per step, 4 x connect_timeout in all; SMTP_CHECK: connect_timeout per step,
6 x in all; MISC_CHECK: misc_timeout + 2 s (SIGTERM then SIGKILL) plus reaping; FILE_CHECK: one
read.

TCP_CHECK connects and closes (keepalived's check_tcp.c). UDP_CHECK (check_udp.c, layer4.c)
sends the payload (default: 32 bytes of keepalived's filler) on a connected socket with
IP_RECVERR and waits connect_timeout: an ICMP destination unreachable fails it; silence
succeeds unless ``require_reply``; a reply succeeds, except that with reply bytes given its
length must be within [min_reply_length, max_reply_length] and it must start with them.
``bind_if`` is applied to it too (keepalived's UDP_CHECK ignores it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pykeepalived.lvs.checker import CheckerState, Outcome, Step, misc_timeout
from pykeepalived.lvs.model import (
    Checker,
    DnsCheck,
    FileCheck,
    HttpCheck,
    MiscCheck,
    PingCheck,
    SmtpCheck,
    TcpCheck,
    UdpCheck,
)
from pykeepalived.lvs.probe_dns import probe_dns
from pykeepalived.lvs.probe_http import probe_http
from pykeepalived.lvs.probe_misc import probe_file, probe_misc
from pykeepalived.lvs.probe_ping import filler, probe_ping
from pykeepalived.lvs.probe_smtp import probe_smtp
from pykeepalived.lvs.probe_sock import Connect, SetupError, connect, open_socket, seconds

#: keepalived's UDP_BUFSIZE: the default UDP_CHECK payload length
UDP_DEFAULT_PAYLOAD = 32
# <linux/errqueue.h>: where an error queue entry came from, and the ICMP types that matter
_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6 = 2, 3
_ICMP_DEST_UNREACH, _ICMPV6_DEST_UNREACH = 3, 1
_IP_RECVERR, _IPV6_RECVERR = 11, 25
_SOL_IP, _SOL_IPV6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6

Emit = Callable[[Step, Outcome], None]


class ProbeFn(Protocol):
    def __call__(self, checker: Checker, /, *, rs_name: str, vs_name: str = "",
                 url_index: int = 0) -> Awaitable[Outcome]: ...


async def probe(checker: Checker, *, rs_name: str, vs_name: str = "",
                url_index: int = 0) -> Outcome:
    """One attempt of ``checker``; ``rs_name`` / ``vs_name`` are keepalived's FMT_RS / FMT_VS
    for the lines the attempt logs, ``url_index`` the HTTP URL to check."""
    if isinstance(checker, TcpCheck):
        return await probe_tcp(checker, rs_name=rs_name)
    if isinstance(checker, HttpCheck):
        return await probe_http(checker, url_index=url_index)
    if isinstance(checker, UdpCheck):
        return await probe_udp(checker, rs_name=rs_name)
    if isinstance(checker, DnsCheck):
        return await probe_dns(checker, rs_name=rs_name)
    if isinstance(checker, SmtpCheck):
        return await probe_smtp(checker, rs_name=rs_name)
    if isinstance(checker, PingCheck):
        return await probe_ping(checker, rs_name=rs_name, vs_name=vs_name)
    if isinstance(checker, MiscCheck):
        return await probe_misc(checker, timeout=misc_timeout(checker))
    if isinstance(checker, FileCheck):
        return await probe_file(checker)
    raise TypeError(f"not a checker: {checker!r}")


async def probe_tcp(c: TcpCheck, *, rs_name: str) -> Outcome:
    timeout = c.timing.connect_timeout
    try:
        sock = open_socket(c.conn, socket.SOCK_STREAM)
    except SetupError as exc:
        return Outcome(False, exc.line, skipped=True,
                       lines=(exc.line, "TCP socket bind failed. Rescheduling."))
    except OSError as exc:
        return Outcome(False, str(exc), skipped=True,
                       lines=("TCP connect fail to create socket. Rescheduling.",))
    try:
        res = await connect(sock, (str(c.conn.ip), c.conn.port), timeout)
    finally:
        sock.close()
    if res.status is Connect.SUCCESS:
        return Outcome(True, "connected")
    if res.status is Connect.FAIL_NOW:
        return Outcome(False, res.reason)
    if res.status is Connect.ERROR:
        return Outcome(False, res.reason, skipped=True,
                       lines=("TCP socket bind failed. Rescheduling.",))
    if res.status is Connect.TIMEOUT:
        return Outcome(False, f"timeout after {seconds(timeout)}",
                       failure=f"TCP connection to {rs_name} timeout.")
    return Outcome(False, res.reason, failure=f"TCP connection to {rs_name} failed.")


def udp_reply_ok(c: UdpCheck, data: bytes) -> bool:
    """keepalived's check_udp_reply (only applied when reply bytes are configured)."""
    if c.reply_data is None:
        return True
    if not c.min_reply_length <= len(data) <= c.max_reply_length:
        return False
    n = min(len(data), len(c.reply_data))
    mask = c.reply_mask
    # bits set in the mask (``x`` nibbles of require_reply) are not compared
    return all((data[i] ^ c.reply_data[i]) & ~(mask[i] if mask else 0) & 0xFF == 0
               for i in range(n))


def _icmp_errors(sock: socket.socket) -> tuple[bool, bool]:
    """Drain the socket's error queue: (any entry, an ICMP destination unreachable among
    them). keepalived's udp_socket_error fails the check only on the second."""
    seen = unreachable = False
    for _ in range(8):
        try:
            _, ancdata, _, _ = sock.recvmsg(64, 512, socket.MSG_ERRQUEUE)
        except OSError:
            break
        for level, kind, data in ancdata:
            if len(data) < 8:
                continue
            seen = True
            _errno, origin, icmp_type = struct.unpack_from("=IBB", data)
            if (level, kind) == (_SOL_IP, _IP_RECVERR):
                unreachable |= origin == _SO_EE_ORIGIN_ICMP and icmp_type == _ICMP_DEST_UNREACH
            elif (level, kind) == (_SOL_IPV6, _IPV6_RECVERR):
                unreachable |= (origin == _SO_EE_ORIGIN_ICMP6
                                and icmp_type == _ICMPV6_DEST_UNREACH)
    return seen, unreachable


async def probe_udp(c: UdpCheck, *, rs_name: str) -> Outcome:
    timeout = c.timing.connect_timeout
    payload = c.payload if c.payload is not None else filler(UDP_DEFAULT_PAYLOAD)
    try:
        sock = open_socket(c.conn, socket.SOCK_DGRAM)
    except SetupError as exc:
        line = (f"bind failed. errno: {exc.errno}, error: {exc.line.split(': ', 1)[-1]}"
                if exc.what == "bind" else exc.line)
        return Outcome(False, exc.line, lines=(line,))
    except OSError as exc:
        return Outcome(False, str(exc), skipped=True,
                       lines=("UDP connect fail to create socket. Rescheduling.",))
    loop = asyncio.get_running_loop()
    failed_line = f"UDP connection to {rs_name} failed."
    try:
        v6 = c.conn.ip.version == 6
        with contextlib.suppress(OSError):
            sock.setsockopt(_SOL_IPV6 if v6 else _SOL_IP, _IPV6_RECVERR if v6 else _IP_RECVERR,
                            1)
        try:
            sock.connect((str(c.conn.ip), c.conn.port))
            sent = sock.send(payload)
        except OSError as exc:
            return Outcome(False, f"send failed: {exc}")
        if sent != len(payload):
            return Outcome(False, "short send")
        size = c.max_reply_length + 1 if c.require_reply else 1
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(sock, size)
        except TimeoutError:
            if c.require_reply:
                return Outcome(False, f"no reply within {seconds(timeout)}",
                               failure=failed_line)
            return Outcome(True, f"no ICMP error within {seconds(timeout)}")
        except OSError as exc:
            seen, unreachable = _icmp_errors(sock)
            if unreachable or not seen:
                return Outcome(False, f"{exc.strerror or exc}".lower(), failure=failed_line)
            return Outcome(True, "ICMP error other than unreachable (ignored)")
        if c.require_reply and not udp_reply_ok(c, data):
            return Outcome(False, "reply data mismatch",
                           failure=f"UDP check to {rs_name} reply data mismatch.")
        return Outcome(True, f"reply of {len(data)} bytes")
    finally:
        sock.close()


async def run_checker(state: CheckerState, checker: Checker, *, rs_name: str,
                      clock: Callable[[], float] = time.monotonic, emit: Emit,
                      vs_name: str = "",
                      sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                      rand: Callable[[], float] = random.random,
                      bootstrap: float | None = None,
                      probe_fn: ProbeFn | None = None) -> None:
    """Run ``checker`` forever: first delay, probe, ``state.on_result``, ``emit(step,
    outcome)``, sleep ``step.delay``. Cancel the task to stop it; it leaves nothing open.
    ``bootstrap`` overrides keepalived's 1 s start-up delay (BOOTSTRAP_DELAY); ``probe_fn``
    replaces :func:`probe` (same keyword arguments)."""
    do_probe = probe if probe_fn is None else probe_fn
    first = state.first_delay(rand()) if bootstrap is None else \
        state.first_delay(rand(), bootstrap=bootstrap)
    await sleep(first)
    while True:
        started = clock()
        outcome = await do_probe(checker, rs_name=rs_name, vs_name=vs_name or state.vs_name,
                                 url_index=state.url_index)
        step = state.on_result(clock(), outcome, started=started)
        emit(step, outcome)
        await sleep(step.delay)
