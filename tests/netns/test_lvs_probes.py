"""The health-check probes and genhash against real servers in a namespace lab.

Two nodes: ``srv`` (192.0.2.1, 2001:db8::1) runs small asyncio servers (HTTP, HTTPS with a
self-signed certificate, DNS, SMTP, UDP echo, a listener that never accepts) on a loop whose
thread lives in its namespace; ``cli`` (192.0.2.2) runs the probes the same way. nftables on
``srv`` blackholes a few ports to make timeouts; on ``cli`` it counts marked packets.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from pykeepalived.lvs import genhash
from pykeepalived.lvs.checker import CheckerState, Outcome, Step
from pykeepalived.lvs.model import (
    Checker,
    Connection,
    DnsCheck,
    HttpCheck,
    HttpUrl,
    PingCheck,
    SmtpCheck,
    TcpCheck,
    Timing,
    UdpCheck,
)
from pykeepalived.lvs.probes import probe, run_checker
from pykeepalived.net.netns import enter_netns, run_in_netns
from pykeepalived.net.nft import nft

from .lab import Lab

pytestmark = pytest.mark.netns

T = TypeVar("T")
SRV, SRV6 = ip_address("192.0.2.1"), ip_address("2001:db8::1")
RS = "[192.0.2.1]:tcp:80"
BODY = b"hello world\n" * 3
BIG = bytes(range(256)) * 1024  # many reads
FAST = Timing(delay_loop=5.0, connect_timeout=1.0)
BLACKHOLED_TCP, CLOSED_TCP, NEVER_ACCEPTS = 82, 81, 8081


class NsLoop:
    """An asyncio loop on a thread that entered a network namespace for good."""

    def __init__(self, ns: str) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        error: list[BaseException] = []

        def target() -> None:
            try:
                enter_netns(ns)
            except BaseException as exc:
                error.append(exc)
                return
            finally:
                ready.set()
            asyncio.set_event_loop(self.loop)
            self.loop.run_forever()

        self.thread = threading.Thread(target=target, name=f"loop:{ns}", daemon=True)
        self.thread.start()
        ready.wait(10)
        if error:
            raise error[0]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def response(status: str, body: bytes = BODY, *, length: int | None = -1,
             extra: bytes = b"") -> bytes:
    head = f"HTTP/1.0 {status}\r\n".encode()
    if length is not None:
        head += b"Content-Length: %d\r\n" % (len(body) if length < 0 else length)
    return head + extra + b"\r\n" + body


@dataclass
class Servers:
    """What the servers saw."""

    http: list[tuple[tuple[str, int], bytes]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    helo: list[bytes] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)

    async def http_handler(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                OSError):
            writer.close()
            return
        self.http.append((writer.get_extra_info("peername")[:2], request))
        path = request.split(b" ")[1].decode()
        try:
            if path == "/slow":
                await asyncio.sleep(3)
            elif path == "/drip":
                writer.write(response("200 OK", b"", length=None))
                for _ in range(40):
                    writer.write(b".")
                    await writer.drain()
                    await asyncio.sleep(0.2)
            elif path == "/noheader":
                writer.write(b"HTTP/1.0 200 OK\r\nServer: half\r\n")
            elif path == "/garbage":
                writer.write(bytes(range(256)) * 20)
            else:
                writer.write({
                    "/ok": response("200 OK"),
                    "/503": response("503 Service Unavailable"),
                    "/302": response("302 Found", b""),
                    "/short": response("200 OK", b"only ten b", length=100),
                    "/nolength": response("200 OK", length=None),
                    "/longer": response("200 OK", BODY + b"trailing junk", length=len(BODY)),
                    "/status": response("200 OK", b"<p>status: up</p>"),
                    "/big": response("200 OK", BIG),
                }.get(path, response("404 Not Found", b"")))
            await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def smtp_handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           banner: bytes, answer: bool = True) -> None:
        try:
            writer.write(banner)
            helo = await asyncio.wait_for(reader.readline(), 5)
            self.helo.append(helo)
            if answer:
                writer.write(b"250 pleased to meet you\r\n")
                if (await asyncio.wait_for(reader.readline(), 5)).startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                await writer.drain()
            else:
                await asyncio.sleep(5)
        except (OSError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class DnsServer(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        qid = struct.unpack_from("!H", data)[0]
        labels, i = [], 12
        while i < len(data) and data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode())
            i += 1 + data[i]
        name = ".".join(labels)
        question = data[12:i + 5]

        def reply(rid: int, flags: int) -> bytes:
            return struct.pack("!HHHHHH", rid, flags, 1, 0, 0, 0) + question

        if name == "silent.example":
            return
        if name == "wrongid.example":
            self.transport.sendto(reply(qid ^ 1, 0x8180), addr)
        if name == "query.example":
            self.transport.sendto(reply(qid, 0x0100), addr)
        if name == "short.example":
            self.transport.sendto(b"\x00\x01\x02", addr)
        self.transport.sendto(reply(qid, 0x8183 if name == "nx.example" else 0x8180), addr)


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(b"\xab\xcd" + data[:6], addr)


class Silent(asyncio.DatagramProtocol):
    pass


@dataclass
class Net:
    lab: Lab
    srv_ns: str
    cli_ns: str
    srv: NsLoop
    cli: NsLoop
    servers: Servers
    certdir: Path

    def probe(self, checker: Any, **kwargs: Any) -> Outcome:
        return self.cli.run(probe(checker, rs_name=RS, vs_name="[192.0.2.100]:tcp:80",
                                  **kwargs))


def _self_signed(tmp: Path) -> ssl.SSLContext:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem"), "-days", "1", "-subj", "/CN=rs.example"],
                   check=True, capture_output=True, timeout=30)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx


async def _start_servers(s: Servers, tls: ssl.SSLContext) -> None:
    loop = asyncio.get_running_loop()
    tls.sni_callback = lambda sslobj, name, ctx: s.sni.append(name)
    for host in ("192.0.2.1", "2001:db8::1"):
        s.closers.append(await asyncio.start_server(s.http_handler, host, 8080))
    s.closers.append(await asyncio.start_server(s.http_handler, "192.0.2.1", 8443, ssl=tls))
    for port, banner, answer in ((2525, b"220 test ESMTP\r\n", True),
                                 (2526, b"554 go away\r\n", True),
                                 (2527, b"220-multi\r\n220 line\r\n", True),
                                 (2528, b"220 slow\r\n", False)):
        handler = functools.partial(s.smtp_handler, banner=banner, answer=answer)
        s.closers.append(await asyncio.start_server(handler, "192.0.2.1", port))
    for proto, port in ((DnsServer, 5353), (UdpEcho, 9999), (Silent, 9998)):
        transport, _ = await loop.create_datagram_endpoint(proto, local_addr=("192.0.2.1", port))
        s.closers.append(transport)
    never = socket.socket()
    never.bind(("192.0.2.1", NEVER_ACCEPTS))
    never.listen(4096)
    s.closers.append(never)


@pytest.fixture(scope="module")
def net(lab_host: None) -> Iterator[Net]:
    with Lab() as lab:
        srv, cli = lab.add_node("srv"), lab.add_node("cli")
        nft(f"""table inet lvsprobe {{
            chain input {{ type filter hook input priority 0;
                tcp dport {BLACKHOLED_TCP} drop
                udp dport 5354 drop
            }}
        }}""", netns=srv.ns)
        nft("""table inet lvsprobe {
            chain output { type filter hook output priority 0;
                meta mark 0x7 tcp dport 8080 counter
            }
        }""", netns=cli.ns)
        servers = Servers()
        tls = _self_signed(lab.tmpdir)
        srv_loop, cli_loop = NsLoop(srv.ns), NsLoop(cli.ns)
        try:
            srv_loop.run(_start_servers(servers, tls))
            yield Net(lab, srv.ns, cli.ns, srv_loop, cli_loop, servers, lab.tmpdir)
        finally:
            for closer in servers.closers:
                srv_loop.loop.call_soon_threadsafe(closer.close)
            cli_loop.close()
            srv_loop.close()


def tcp(port: int, ip: Any = SRV, **conn: Any) -> TcpCheck:
    return TcpCheck(conn=Connection(ip, port, **conn), timing=FAST)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def client_sockets(net: Net) -> list[str]:
    """This process's sockets in the client namespace (the servers' are elsewhere)."""
    out = subprocess.run(["ip", "netns", "exec", net.cli_ns, "ss", "-Htuwanp"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return [line for line in out.splitlines() if f"pid={os.getpid()}," in line]


def test_tcp_up_refused_timeout(net: Net) -> None:
    up = net.probe(tcp(8080))
    assert up.ok and up.failure is None
    assert net.probe(tcp(8080, SRV6)).ok
    refused = net.probe(tcp(CLOSED_TCP))
    assert not refused.ok and refused.reason == "connection refused"
    assert refused.failure == f"TCP connection to {RS} failed."
    started = time.monotonic()
    timeout = net.probe(tcp(BLACKHOLED_TCP))
    assert 0.9 < time.monotonic() - started < 2.0
    assert timeout.reason == "timeout after 1.0 s"
    assert timeout.failure == f"TCP connection to {RS} timeout."


def test_tcp_socket_options(net: Net) -> None:
    bound = net.probe(tcp(8080, bindto=ip_address("192.0.2.2"), bind_port=40123,
                          bind_if="eth0"))
    assert bound.ok
    out = net.probe(HttpCheck(conn=Connection(SRV, 8080, bindto=ip_address("192.0.2.2"),
                                              bind_port=40124, fwmark=7),
                              urls=(HttpUrl("/ok"),), timing=FAST))
    assert out.ok
    assert net.servers.http[-1][0] == ("192.0.2.2", 40124)
    counted = nft("list chain inet lvsprobe output", netns=net.cli_ns)
    assert int(re.search(r"counter packets (\d+)", counted).group(1)) > 0  # type: ignore[union-attr]
    nodev = net.probe(tcp(8080, bind_if="nosuch0"))
    assert nodev.skipped and nodev.lines == (
        "Checker can't bind to device nosuch0: No such device",
        "TCP socket bind failed. Rescheduling.")


def test_cancelled_probes_leave_no_socket(net: Net) -> None:
    slow = Timing(connect_timeout=10)
    checks: list[Checker] = [
        replace(tcp(BLACKHOLED_TCP), timing=slow),  # connecting
        replace(http("/slow"), timing=slow),  # waiting for the response
        replace(http("/drip"), timing=slow),  # reading the body
        replace(http("/ok"), ssl=True, timing=slow),  # TLS handshake with a plain server
        replace(smtp(2528), timing=slow),  # waiting for the HELO reply
    ]

    async def cancel_midway() -> None:
        tasks = [asyncio.create_task(probe(c, rs_name=RS)) for c in checks]
        await asyncio.sleep(0.5)
        assert not any(t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.05)  # transports close on the next loop iteration

    assert client_sockets(net) == []
    net.cli.run(cancel_midway())
    assert client_sockets(net) == []


def test_many_checks_on_one_loop(net: Net) -> None:
    """The probes share one loop: 1000 TCP checks complete quickly and close their sockets."""
    async def many() -> list[Outcome]:
        sem = asyncio.Semaphore(200)

        async def one() -> Outcome:
            async with sem:
                return await probe(tcp(NEVER_ACCEPTS), rs_name=RS)

        return await asyncio.gather(*(one() for _ in range(1000)))

    before = open_fds()
    started = time.monotonic()
    results = net.cli.run(many())
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed < 5.0, elapsed
    assert open_fds() == before


def http(*paths: str, ip: Any = SRV, port: int = 8080, **kwargs: Any) -> HttpCheck:
    urls = tuple(HttpUrl(p) for p in paths)
    return HttpCheck(conn=Connection(ip, port), urls=urls, timing=FAST, **kwargs)


def test_http_status_and_ranges(net: Net) -> None:
    assert net.probe(http("/ok")).reason == "HTTP status 200"
    bad = net.probe(http("/503"))
    assert not bad.ok and bad.reason == "HTTP status 503"
    assert bad.failure == "HTTP status code error to"
    redirect = HttpCheck(conn=Connection(SRV, 8080), timing=FAST, urls=(
        HttpUrl("/302", status_codes=((300, 399),)), HttpUrl("/503", status_codes=((503, 503),)),
        HttpUrl("/ok", status_codes=((300, 399),))))
    assert net.probe(redirect, url_index=0).ok
    assert net.probe(redirect, url_index=1).ok
    assert not net.probe(redirect, url_index=2).ok
    assert net.probe(http("/missing")).reason == "HTTP status 404"


def test_http_digest_regex_and_length(net: Net) -> None:
    good = hashlib.md5(BODY).hexdigest()
    check = HttpCheck(conn=Connection(SRV, 8080), timing=FAST, urls=(
        HttpUrl("/ok", digest=good), HttpUrl("/ok", digest="0" * 32),
        HttpUrl("/longer", digest=good), HttpUrl("/nolength", digest=good.upper()),
        HttpUrl("/status", regex=r"status:\s+up"),
        HttpUrl("/status", regex="down", regex_no_match=True),
        HttpUrl("/status", regex="up"), HttpUrl("/status", regex="up", regex_no_match=True),
        HttpUrl("/short"), HttpUrl("/big", digest=hashlib.md5(BIG).hexdigest())))
    results = [net.probe(check, url_index=i) for i in range(len(check.urls))]
    assert [r.ok for r in results] == [True, False, True, True, True, True, True, False, True,
                                       True]
    assert results[1].reason == "digest mismatch" and results[1].failure == "MD5 digest error to"
    assert results[2].content_length == (len(BODY), len(BODY) + 13)
    assert results[3].content_length == (-1, len(BODY))
    assert results[7].failure == "Regex match failed"
    assert results[8].content_length == (100, 10)


def test_http_request_headers_and_virtualhost(net: Net) -> None:
    net.probe(http("/ok"))
    assert net.servers.http[-1][1] == (
        b"GET /ok HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.1:8080\r\n\r\n")
    check = HttpCheck(conn=Connection(SRV, 8080), timing=FAST, virtualhost="checker.example",
                      http_protocol="1.1",
                      urls=(HttpUrl("/ok"), HttpUrl("/ok", virtualhost="url.example")))
    net.probe(check, url_index=0)
    assert b"Host: checker.example\r\n" in net.servers.http[-1][1]
    assert b"HTTP/1.1\r\n" in net.servers.http[-1][1]
    assert b"Connection: close\r\n" in net.servers.http[-1][1]
    net.probe(check, url_index=1)
    assert b"Host: url.example\r\n" in net.servers.http[-1][1]
    assert net.probe(http("/ok", ip=SRV6)).ok
    assert b"Host: [2001:db8::1]:8080\r\n" in net.servers.http[-1][1]


def test_http_failures_are_named_like_keepalived(net: Net) -> None:
    assert net.probe(http("/ok", port=CLOSED_TCP)).failure == "Connection failed"
    assert net.probe(http("/ok", port=BLACKHOLED_TCP)).failure == "Timeout connecting"
    assert net.probe(http("/slow")).failure == "Timeout WEB read"
    assert net.probe(http("/noheader")).failure == "Read, no data received from "
    garbage = net.probe(http("/garbage"))
    assert not garbage.ok and garbage.failure == "Read, no data received from "
    started = time.monotonic()
    drip = net.probe(replace(http("/drip"), timing=replace(FAST, connect_timeout=0.5)))
    assert 1.9 < time.monotonic() - started < 3.0  # 4 x connect_timeout in all
    assert drip.reason == "timeout after 2.0 s (whole check)"


def test_ssl_get_without_verification_and_sni(net: Net) -> None:
    check = HttpCheck(conn=Connection(SRV, 8443), urls=(HttpUrl("/ok",
                      digest=hashlib.md5(BODY).hexdigest()),), ssl=True, timing=FAST,
                      virtualhost="www.example", kind="SSL_GET")
    count = len(net.servers.sni)
    assert net.probe(check).ok
    assert net.servers.sni[count:] == [None]  # no SNI unless enable_sni
    assert b"Host: www.example\r\n" in net.servers.http[-1][1]
    assert net.probe(replace(check, enable_sni=True)).ok
    assert net.servers.sni[-1] == "www.example"
    # a plain HTTP server waits for a request: the handshake times out
    assert net.probe(replace(check, conn=Connection(SRV, 8080))).failure == "Timeout connecting"
    # a server that talks first is no TLS server
    talker = net.probe(replace(check, conn=Connection(SRV, 2526)))
    assert talker.failure == "SSL handshake/communication error connecting to"
    assert not net.probe(replace(check, ssl=False)).ok


def test_ssl_get_presents_the_ssl_blocks_client_certificate(net: Net) -> None:
    """A server that demands a client certificate: SSL_GET passes with the SSL block's
    certificate and key, fails without."""
    from pykeepalived.lvs.model import Ssl

    cert, key = net.certdir / "cert.pem", net.certdir / "key.pem"
    strict = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    strict.load_cert_chain(cert, key)
    strict.verify_mode = ssl.CERT_REQUIRED
    strict.load_verify_locations(cert)  # the self-signed certificate is its own CA

    async def serve() -> asyncio.Server:
        return await asyncio.start_server(net.servers.http_handler, "192.0.2.1", 8444,
                                          ssl=strict)

    server = net.srv.run(serve())
    try:
        check = HttpCheck(conn=Connection(SRV, 8444), urls=(HttpUrl("/ok"),), ssl=True,
                          timing=FAST, kind="SSL_GET")
        assert not net.probe(check).ok
        client = Ssl(certificate=str(cert), key=str(key))
        assert net.probe(replace(check, client_cert=client)).ok
    finally:
        server.close()


def dns(name: str, qtype: str = "SOA", port: int = 5353) -> DnsCheck:
    return DnsCheck(conn=Connection(SRV, port), type=qtype, name=name,
                    timing=replace(FAST, connect_timeout=0.5))


def test_dns_check(net: Net) -> None:
    assert net.probe(dns("example.com", "A")).ok
    assert net.probe(dns(".")).ok
    assert net.probe(dns("wrongid.example")).ok  # the other ID is ignored
    assert net.probe(dns("query.example")).ok  # so is a query
    assert net.probe(dns("short.example")).ok  # and a runt
    nx = net.probe(dns("nx.example"))
    assert not nx.ok and nx.failure == "read error occurred. (rcode = 3)"
    assert net.probe(dns("silent.example")).failure == "read timeout from socket"
    assert net.probe(dns("x", port=5354)).failure == "read timeout from socket"
    refused = net.probe(dns("x", port=5355))
    assert refused.failure == "failed to read socket; errno 111 (Connection refused)"


def smtp(port: int, **kwargs: Any) -> SmtpCheck:
    return SmtpCheck(conn=Connection(SRV, port), timing=replace(FAST, connect_timeout=0.5),
                     **kwargs)


def test_smtp_check(net: Net) -> None:
    assert net.probe(smtp(2525, helo_name="checker.example")).ok
    assert net.servers.helo[-1] == b"HELO checker.example\r\n"
    assert net.probe(smtp(2526)).failure == "Bad greeting banner from server [192.0.2.1]:2526"
    assert net.probe(smtp(2527)).failure == "Bad greeting banner from server [192.0.2.1]:2527"
    assert net.probe(smtp(2528)).failure == "Read timeout from server [192.0.2.1]:2528"
    assert net.probe(smtp(CLOSED_TCP)).failure == "Could not connect to server [192.0.2.1]:81"


def udp(port: int, **kwargs: Any) -> UdpCheck:
    return UdpCheck(conn=Connection(SRV, port), timing=replace(FAST, connect_timeout=0.5),
                    **kwargs)


def test_udp_check(net: Net) -> None:
    assert net.probe(udp(9998)).ok  # silence is success without require_reply
    assert not net.probe(udp(9998, require_reply=True)).ok
    unreachable = net.probe(udp(9997))
    assert not unreachable.ok and unreachable.failure == f"UDP connection to {RS} failed."
    assert net.probe(udp(9999, require_reply=True)).ok
    assert net.probe(udp(9999, payload=b"ping", require_reply=True, reply_data=b"\xab\xcdpi",
                         min_reply_length=4, max_reply_length=8)).ok
    mismatch = net.probe(udp(9999, require_reply=True, reply_data=b"\xab\xce"))
    assert mismatch.failure == f"UDP check to {RS} reply data mismatch."
    too_long = net.probe(udp(9999, require_reply=True, reply_data=b"\xab", max_reply_length=4))
    assert not too_long.ok


def test_ping_check_raw_and_datagram(net: Net) -> None:
    ping = PingCheck(conn=Connection(SRV, 0), timing=FAST)
    assert net.probe(ping).ok  # ping_group_range excludes root here: a raw socket
    assert net.probe(replace(ping, conn=Connection(SRV6, 0))).ok
    missing = net.probe(replace(ping, conn=Connection(ip_address("192.0.2.9"), 0)))
    assert missing.failure == "ICMP connection to address [192.0.2.1]:tcp:80 timeout."
    path = "/proc/sys/net/ipv4/ping_group_range"
    old = run_in_netns(net.cli_ns, lambda: Path(path).read_text())
    run_in_netns(net.cli_ns, lambda: Path(path).write_text("0 2147483647"))
    try:
        assert net.probe(ping).ok
        assert net.probe(replace(ping, conn=Connection(SRV6, 0))).ok
        assert not net.probe(replace(ping, conn=Connection(ip_address("192.0.2.9"), 0))).ok
    finally:
        run_in_netns(net.cli_ns, lambda: Path(path).write_text(old))


def test_runner_against_a_real_server(net: Net) -> None:
    check = TcpCheck(conn=Connection(SRV, 8080),
                     timing=Timing(delay_loop=0.05, connect_timeout=0.5, warmup=0))
    steps: list[Step] = []

    async def run_a_while() -> None:
        state = CheckerState(check, rs_name=RS)
        task = asyncio.create_task(run_checker(state, check, rs_name=RS, bootstrap=0,
                                               emit=lambda s, o: steps.append(s)))
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    net.cli.run(run_a_while())
    assert len(steps) >= 3
    assert steps[0].lines == (f"TCP connection to {RS} success.",) and steps[0].first_run
    assert all(s.lines == () and s.is_up for s in steps[1:])


def run_genhash(net: Net, *args: str) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    rc = run_in_netns(net.cli_ns, lambda: genhash.main(list(args), prog="keepalived",
                                                       stdout=out, stderr=err))
    return rc, out.getvalue().decode("latin-1"), err.getvalue()


def test_genhash_prints_the_body_digest(net: Net) -> None:
    assert run_genhash(net, "-s", "192.0.2.1", "-p", "8080", "-u", "/ok") == (
        0, hashlib.md5(BODY).hexdigest() + "\n", "")
    rc, out, _ = run_genhash(net, "--use-ssl", "--server", "192.0.2.1", "--port=8443",
                             "--url", "/longer", "-I", "-V", "sni.example")
    assert (rc, out) == (0, hashlib.md5(BODY).hexdigest() + "\n")
    assert net.servers.sni[-1] == "sni.example"
    assert run_genhash(net, "-s", "192.0.2.1", "-p", "8080", "-u", "/big")[1] == (
        hashlib.md5(BIG).hexdigest() + "\n")
    assert run_genhash(net, "-s", "192.0.2.1", "-p", "81", "-u", "/") == (
        0, "Connection failed\n", "")
    assert run_genhash(net, "-s", "192.0.2.1", "-p", "8080", "-u", "/noheader", "-t", "2") == (
        0, "", "no data received from remote webserver\n")
    rc, _, err = run_genhash(net, "-s", "192.0.2.1", "-p", "8080")
    assert rc == 1 and err.startswith("Usage: keepalived --genhash COMMAND [OPTIONS]\n")


@pytest.mark.skipif(shutil.which("genhash") is None, reason="keepalived's genhash not installed")
@pytest.mark.parametrize("args", [
    ("-s", "192.0.2.1", "-p", "8080", "-u", "/ok"),
    ("-v", "-s", "192.0.2.1", "-p", "8080", "-u", "/longer", "-V", "x.example", "-P", "1.1"),
    ("-v", "-s", "192.0.2.1", "-p", "8080", "-u", "/302"),
    ("-s", "192.0.2.1", "-p", "81", "-u", "/"),
    ("-s", "192.0.2.1", "-p", "8080", "-u", "/", "stray"),
    ("-s", "192.0.2.1", "-x"),
])
def test_genhash_output_matches_keepalived(net: Net, args: tuple[str, ...]) -> None:
    theirs = subprocess.run(["ip", "netns", "exec", net.cli_ns, "keepalived", "-T", *args],
                            capture_output=True, timeout=30)
    rc, out, err = run_genhash(net, *args)

    def usecs(text: str) -> str:
        return re.sub(r"= \d+ usecs", "= N usecs", text)

    assert rc == theirs.returncode
    assert usecs(out) == usecs(theirs.stdout.decode("latin-1"))
    assert err == theirs.stderr.decode()
