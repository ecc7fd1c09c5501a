"""SMTP_CHECK: keepalived's check_smtp.c conversation.

Connect, read the greeting (its first line must start "220 " or be exactly "220"), send
``HELO <helo_name>``, read a "250" line, send ``QUIT``, read any line. A line is read by
receiving until a newline arrives (what follows it in the same read is dropped, as keepalived
does: it looks only at the status code starting each reply). Each connect, read and write has
connect_timeout; the whole probe is bounded by 6 x connect_timeout (its six steps).
"""

from __future__ import annotations

import asyncio
import socket

from pykeepalived.lvs.checker import Outcome
from pykeepalived.lvs.model import SmtpCheck
from pykeepalived.lvs.probe_sock import (
    Connect,
    SetupError,
    connect,
    open_socket,
    pair,
    seconds,
)

#: keepalived's SMTP_BUFF_MAX
BUFF_MAX = 512
STEPS = 6


class _Failed(Exception):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(text)
        self.text = text
        self.reason = reason


def smtp_status(line: bytes) -> int:
    """keepalived's smtp_get_status: three digits ending the line or followed by a space;
    -1 otherwise (so "220\\r" and "220-..." are not 220)."""
    code = line[:3]
    if len(code) == 3 and code.isdigit() and line[3:4] in (b"", b" "):
        return int(code)
    return -1


def rs_pair(rs_name: str) -> str:
    """``[ip]:tcp:port`` -> ``[ip]:port`` (keepalived's inet_sockaddrtopair of the RS)."""
    head, _, port = rs_name.rpartition(":")
    return f"{head.rpartition(':')[0]}:{port}" if head.count("]:") else rs_name


async def _get_line(sock: socket.socket, host: str, timeout: float,
                    lines: list[str]) -> bytes:
    loop = asyncio.get_running_loop()
    buf = b""
    while True:
        if len(buf) >= BUFF_MAX - 1:
            lines.append(f"SMTP_CHECK Buffer overflow reading from server {host}. "
                         "Increase SMTP_BUFF_MAX in check_smtp.h")
            buf = b""
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(sock, BUFF_MAX - 1 - len(buf))
        except TimeoutError:
            raise _Failed(f"Read timeout from server {host}", "read timeout") from None
        except OSError as exc:
            raise _Failed(f"Read failure from server {host}", f"read error: {exc}") from None
        if not data:
            raise _Failed(f"Read failure from server {host}", "connection closed")
        buf += data
        end = buf.find(b"\n")
        if end >= 0:
            return buf[:end].split(b"\0", 1)[0]


async def _put_line(sock: socket.socket, text: str, host: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_sendall(sock, text.encode("utf-8", "surrogateescape"))
    except TimeoutError:
        raise _Failed(f"Write timeout to server {host}", "write timeout") from None
    except OSError as exc:
        raise _Failed(f"Write failure to server {host}", f"write error: {exc}") from None


async def probe_smtp(c: SmtpCheck, *, rs_name: str) -> Outcome:
    timeout = c.timing.connect_timeout
    host = pair(c.conn)
    try:
        sock = open_socket(c.conn, socket.SOCK_STREAM)
    except SetupError as exc:
        return Outcome(False, exc.line, skipped=True,
                       lines=(exc.line, "SMTP_CHECK socket bind failed. Rescheduling."))
    except OSError as exc:
        return Outcome(False, str(exc), skipped=True, lines=(
            "SMTP_CHECK connection failed to create socket. Rescheduling.",))
    lines: list[str] = []
    try:
        async with asyncio.timeout(STEPS * timeout):
            res = await connect(sock, (str(c.conn.ip), c.conn.port), timeout)
            if res.status is Connect.FAIL_NOW:
                raise _Failed(f"Network unreachable for server {c.conn.ip} - real server "
                              f"{rs_pair(rs_name)}", res.reason)
            if res.status is Connect.ERROR:
                return Outcome(False, res.reason, skipped=True,
                               lines=("SMTP_CHECK socket bind failed. Rescheduling.",))
            if res.status is Connect.TIMEOUT:
                raise _Failed(f"Connection timeout to server {host}",
                              f"connect timeout after {seconds(timeout)}")
            if res.status is Connect.FAILED:
                raise _Failed(f"Could not connect to server {host}", res.reason)
            if smtp_status(await _get_line(sock, host, timeout, lines)) != 220:
                raise _Failed(f"Bad greeting banner from server {host}", "bad SMTP banner")
            await _put_line(sock, f"HELO {c.helo_name}\r\n", host, timeout)
            if smtp_status(await _get_line(sock, host, timeout, lines)) != 250:
                raise _Failed(f"Bad HELO response from server {host}", "bad HELO reply")
            await _put_line(sock, "QUIT\r\n", host, timeout)
            await _get_line(sock, host, timeout, lines)
    except _Failed as exc:
        return Outcome(False, exc.reason, lines=tuple(lines), failure=exc.text)
    except TimeoutError:
        return Outcome(False, f"timeout after {seconds(STEPS * timeout)} (whole check)",
                       lines=tuple(lines), failure=f"Read timeout from server {host}")
    finally:
        sock.close()
    return Outcome(True, "SMTP HELO accepted", lines=tuple(lines))
