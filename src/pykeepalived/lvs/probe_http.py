"""HTTP_GET and SSL_GET probes, and the HTTP fetch genhash shares: keepalived's check_http.c.

One probe checks one URL (the checker core says which). keepalived's request, byte for byte::

    GET <path> HTTP/1.<0|1>\\r\\n
    User-Agent: KeepAliveClient\\r\\n
    [Connection: close\\r\\n]             (http_protocol 1.0C and 1.1)
    Host: <virtualhost | ip:port | [ip6]:port>\\r\\n\\r\\n

The virtualhost is the URL's, else the checker's (already resolved from the real and virtual
server by the configuration). The response is read to end of stream; its header must end within
4095 bytes (keepalived's buffer). The status code must be in the URL's ranges (default 200-299);
``digest`` is the MD5 of the body, cut at Content-Length when there is one; ``regex`` is searched
in the body (Python ``re`` on bytes, from ``regex_min_offset``, a match starting at most at
``regex_max_offset``; at most the first MiB of the body is kept for it). SSL_GET uses the stdlib
``ssl`` module (imported only when needed) without certificate verification, as keepalived does
without an ``SSL`` block, and sends SNI only with ``enable_sni``.

Bounds: connect plus TLS handshake within connect_timeout, then each write and each read within
connect_timeout (keepalived's per-step timers), and the whole probe within 4 x connect_timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pykeepalived.lvs.checker import Outcome
from pykeepalived.lvs.model import Connection, HttpCheck, HttpUrl, IPAddress, Ssl
from pykeepalived.lvs.probe_sock import Connect, SetupError, connect, open_socket, seconds

if TYPE_CHECKING:
    import ssl

#: keepalived's MAX_BUFFER_LENGTH - 1: the header must fit, and reads are this big.
READ_SIZE = 4095
#: the part of the body kept for ``regex``.
REGEX_SUBJECT_LIMIT = 1 << 20
#: the whole probe is bounded by this many connect_timeouts.
WHOLE_CHECK_FACTOR = 4
#: keepalived's HTTP_STATUS_CODE_MIN / MAX and its default range.
STATUS_MIN, STATUS_MAX = 100, 599
DEFAULT_STATUS = ((200, 299),)

#: http_protocol -> (minor version, "Connection: close" line)
_PROTOCOLS = {"1.0": (0, False), "1.0C": (0, True), "1.0c": (0, True), "1.1": (1, True)}

#: trace events for genhash's verbose output: (event, bytes)
Trace = Callable[[str, bytes], None]


class HttpFailure(Exception):
    """One step failed: ``step`` is keepalived's text for it ("Timeout connecting")."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


class HttpSkipped(Exception):
    """No socket could be set up: keepalived logs ``lines`` and reschedules."""

    def __init__(self, reason: str, lines: tuple[str, ...]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lines = lines


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    header: bytes
    content_length: int | None
    #: body bytes received
    received: int
    #: MD5 of the body (up to Content-Length)
    md5: bytes
    #: the start of the body, for regex
    body: bytes


def build_request(path: str, protocol: str, ip: IPAddress, port: int,
                  virtualhost: str | None) -> bytes:
    """keepalived's GET request (request_template / request_template_ipv6)."""
    minor, close = _PROTOCOLS.get(protocol, (0, False))
    if virtualhost:
        host = virtualhost
    elif ip.version == 6:
        host = f"[{ip}]:{port}"
    else:
        host = f"{ip}:{port}"
    text = (f"GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n"
            + ("Connection: close\r\n" if close else "") + f"Host: {host}\r\n\r\n")
    return text.encode("utf-8", "surrogateescape")


def status_code(header: bytes) -> int:
    """keepalived's extract_status_code: the three digits after the first space, followed by a
    space; 0 when the status line is not like that."""
    i = 0
    while i < len(header) and header[i] not in b" \r":
        i += 1
    if i >= len(header) or header[i] != 0x20:
        return 0
    code = header[i + 1:i + 4]
    if len(header) <= i + 4 or header[i + 4] != 0x20 or not code.isdigit():
        return 0
    return int(code)


_CONTENT_LENGTH = re.compile(rb"Content-Length:[ \t\n\v\f\r]*(\+?)([0-9]+)")


def content_length(header: bytes) -> int | None:
    """keepalived's extract_content_length: ``Content-Length:`` (case as written) and a number
    ending the line; None when absent or not a plain number."""
    at = header.find(b"Content-Length:")
    if at < 0:
        return None
    m = _CONTENT_LENGTH.match(header, at)
    if m is None:
        rest = header[at + 15:at + 16]
        return 0 if rest in (b"", b"\r", b"\n") else None
    after = header[m.end():m.end() + 1]
    if after not in (b"", b"\r", b"\n"):
        return None
    return int(m.group(2))


def status_accepted(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    if not STATUS_MIN <= status <= STATUS_MAX:
        return False
    return any(lo <= status <= hi for lo, hi in ranges or DEFAULT_STATUS)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[bytes]:
    return re.compile(pattern.encode("utf-8", "surrogateescape"))


def regex_matches(url: HttpUrl, body: bytes) -> bool:
    """Whether ``url.regex`` matches the body as keepalived looks for it (re.error: False)."""
    assert url.regex is not None
    try:
        m = _compiled(url.regex).search(body, url.regex_min_offset)
    except re.error:
        return False
    return m is not None and (url.regex_max_offset is None or m.start() <= url.regex_max_offset)


@functools.cache
def ssl_context(client: Ssl | None = None) -> ssl.SSLContext:
    """keepalived's client context: any server certificate is accepted; with the SSL block's
    certificate and key, they are presented to servers that ask for one. A certificate that
    cannot be loaded leaves the context without one (keepalived logs "SSL error : Cant load
    certificate file..." and goes on)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client is not None and client.certificate:
        with contextlib.suppress(OSError, ssl.SSLError):
            ctx.load_cert_chain(client.certificate, client.key or None,
                                password=client.password)
    return ctx


async def http_get(conn: Connection, request: bytes, *, use_ssl: bool, sni: str | None,
                   timeout: float, keep_body: int = 0, trace: Trace | None = None,
                   client_cert: Ssl | None = None) -> Response:
    """Send ``request`` and read the response to end of stream, keepalived's way.

    Raises HttpFailure (a step failed, named as keepalived names it) or HttpSkipped; never
    anything else for what the server sends.
    """
    loop = asyncio.get_running_loop()
    try:
        sock = open_socket(conn, socket.SOCK_STREAM)
    except SetupError as exc:
        raise HttpSkipped(exc.line, (exc.line, "WEB socket bind failed. Rescheduling")) from None
    except OSError as exc:
        raise HttpSkipped(str(exc), ("WEB connection fail to create socket. Rescheduling.",)) \
            from None
    writer: asyncio.StreamWriter | None = None
    try:
        started = loop.time()
        res = await connect(sock, (str(conn.ip), conn.port), timeout)
        if res.status is Connect.FAIL_NOW:
            raise HttpFailure("HTTP_CHECK - network unreachable", res.reason)
        if res.status is Connect.ERROR:
            raise HttpSkipped(res.reason, ("WEB socket bind failed. Rescheduling",))
        if res.status is Connect.TIMEOUT:
            raise HttpFailure("Timeout connecting", f"connect timeout after {seconds(timeout)}")
        if res.status is Connect.FAILED:
            raise HttpFailure("Connection failed", res.reason)
        ctx = ssl_context(client_cert) if use_ssl else None
        try:
            async with asyncio.timeout(timeout - (loop.time() - started)):
                reader, writer = await asyncio.open_connection(
                    sock=sock, ssl=ctx, server_hostname=(sni or "") if ctx else None,
                    ssl_handshake_timeout=timeout + 1 if ctx else None)
        except TimeoutError:
            raise HttpFailure("Timeout connecting",
                              f"TLS handshake timeout after {seconds(timeout)}") from None
        except OSError as exc:
            raise HttpFailure("SSL handshake/communication error connecting to",
                              f"TLS handshake failed: {exc}") from None
        try:
            writer.write(request)
            async with asyncio.timeout(timeout):
                await writer.drain()
        except TimeoutError:
            raise HttpFailure("Timeout WEB write", "write timeout") from None
        except OSError as exc:
            raise HttpFailure("Cannot send get request to", f"send failed: {exc}") from None
        return await _read_response(reader, use_ssl=use_ssl, timeout=timeout,
                                    keep_body=keep_body, trace=trace)
    finally:
        if writer is not None:
            writer.transport.abort()
        sock.close()


async def _read_response(reader: asyncio.StreamReader, *, use_ssl: bool, timeout: float,
                         keep_body: int, trace: Trace | None) -> Response:
    buf = b""
    header: bytes | None = None
    clen: int | None = None
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    body = bytearray()
    first = True
    while True:
        want = READ_SIZE - len(buf) if header is None else READ_SIZE
        try:
            async with asyncio.timeout(timeout):
                data = await reader.read(want) if want > 0 else b""
        except TimeoutError:
            step = "Timeout WEB read" if first else \
                "Timeout SSL read" if use_ssl else "Timeout HTTP read"
            raise HttpFailure(step, f"read timeout after {seconds(timeout)}") from None
        except OSError as exc:
            if not use_ssl:
                raise HttpFailure("Read error with", f"read error: {exc}") from None
            data = b""  # keepalived ends an SSL stream at any error
            tls_error = True
        else:
            tls_error = False
        first = False
        if not data:
            if use_ssl and header is None and not tls_error:
                # keepalived: a clean TLS close (close_notify) before any header
                raise HttpFailure("SSL read error from", "TLS closed before a response")
            break
        if header is None:
            if trace:
                trace("header-read", b"")
            buf += data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            header, data = buf[:end + 4], buf[end + 4:]
            clen = content_length(header)
            if trace:
                trace("header", header)
            if not data:
                continue
            event = "body-first"
        else:
            event = "body"
        if clen is None or clen > received:
            part = data if clen is None else data[:clen - received]
            md5.update(part)
            if trace:
                trace(event, part)
        received += len(data)
        if len(body) < keep_body:
            body += data[:keep_body - len(body)]
    if header is None:
        raise HttpFailure("Read, no data received from ", "no data received")
    digest = md5.digest()
    if trace:
        trace("digest", digest)
    return Response(status_code(header), header, clen, received, digest, bytes(body))


async def probe_http(c: HttpCheck, *, url_index: int = 0) -> Outcome:
    """Check URL ``url_index`` of an HTTP_GET / SSL_GET checker."""
    if not c.urls:
        return Outcome(True, "no URL to check")
    url = c.urls[min(max(url_index, 0), len(c.urls) - 1)]
    vhost = url.virtualhost or c.virtualhost
    request = build_request(url.path, c.http_protocol, c.conn.ip, c.conn.port, vhost)
    timeout = c.timing.connect_timeout
    whole = WHOLE_CHECK_FACTOR * timeout
    try:
        async with asyncio.timeout(whole):
            resp = await http_get(c.conn, request, use_ssl=c.ssl, client_cert=c.client_cert,
                                  sni=vhost if c.enable_sni else None, timeout=timeout,
                                  keep_body=REGEX_SUBJECT_LIMIT if url.regex else 0)
    except HttpSkipped as exc:
        return Outcome(False, exc.reason, lines=exc.lines, skipped=True)
    except HttpFailure as exc:
        return Outcome(False, exc.reason, failure=exc.step)
    except TimeoutError:
        return Outcome(False, f"timeout after {seconds(whole)} (whole check)",
                       failure="Timeout SSL read" if c.ssl else "Timeout HTTP read")
    if not status_accepted(resp.status, url.status_codes):
        return Outcome(False, f"HTTP status {resp.status}", failure="HTTP status code error to")
    length = (-1 if resp.content_length is None else resp.content_length, resp.received)
    if url.digest and resp.md5.hex() != url.digest.lower():
        return Outcome(False, "digest mismatch", failure="MD5 digest error to",
                       content_length=length)
    if url.regex is not None and regex_matches(url, resp.body) == url.regex_no_match:
        return Outcome(False, "regex matched" if url.regex_no_match else "regex not matched",
                       failure="Regex match failed", content_length=length)
    return Outcome(True, f"HTTP status {resp.status}", content_length=length)
