"""``--metrics-listen``: ``:PORT`` serves IPv6 and IPv4, ``[::1]:PORT`` works, a host without
IPv6 falls back to IPv4, and a scrape over either family gets the same page."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest

from pykeepalived.core.node import Node
from pykeepalived.daemon import metrics
from pykeepalived.daemon.metrics import MetricsError, MetricsServer, parse_listen
from tests.unit.daemon.fakes import CoreView, owner_params


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")


async def get(host: str, port: int, path: str = "/metrics") -> bytes:
    r, w = await asyncio.open_connection(host, port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await r.read()
    w.close()
    return data


def serve_and_get(listen: str, hosts: tuple[str, ...]) -> tuple[MetricsServer, list[bytes]]:
    """Bind ``listen`` (port 0), start serving a one-instance core, GET from each host."""
    async def main() -> tuple[MetricsServer, list[bytes]]:
        view = CoreView(Node([owner_params("VI_1", 51)]))
        view.apply(view.node.start(view.now()))
        server = MetricsServer(view, lambda name: False, None, listen)
        server.bind()
        await server.start()
        try:
            assert server.bound_port
            return server, [await get(h, server.bound_port) for h in hosts]
        finally:
            await server.stop()

    return asyncio.run(main())


def test_parse_listen_forms() -> None:
    assert parse_listen(":9650") == ("", 9650)
    assert parse_listen("[::1]:9650") == ("::1", 9650)
    assert parse_listen("[::]:0") == ("::", 0)
    assert parse_listen("0.0.0.0:9650") == ("0.0.0.0", 9650)
    assert parse_listen("localhost:9650") == ("localhost", 9650)
    for bad in ("", "9650", ":", "[::1]", "host:port", ":-1", ":65536"):
        with pytest.raises(MetricsError):
            parse_listen(bad)


@needs_ipv6
def test_all_addresses_serves_ipv4_and_ipv6_on_one_socket() -> None:
    server, pages = serve_and_get(":0", ("127.0.0.1", "::1"))
    assert server.host == "[::]"
    for page in pages:
        assert page.startswith(b"HTTP/1.1 200 OK")
        assert b'pykeepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"} 2.0' in page


def test_all_addresses_is_dual_stack_whatever_bindv6only_says() -> None:
    try:
        sock = metrics.listen_socket("", 0)
    except OSError as exc:  # pragma: no cover - depends on the host
        pytest.skip(f"cannot listen: {exc}")
    with sock:
        if sock.family == socket.AF_INET6:
            assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
            assert sock.getsockname()[0] == "::"
        else:
            assert sock.getsockname()[0] == "0.0.0.0"


@needs_ipv6
def test_ipv6_loopback_in_brackets() -> None:
    server, (page,) = serve_and_get("[::1]:0", ("::1",))
    assert server.host == "[::1]"
    assert page.startswith(b"HTTP/1.1 200 OK")


def test_ipv4_address_listens_on_ipv4_only() -> None:
    server, (page,) = serve_and_get("127.0.0.1:0", ("127.0.0.1",))
    assert server.host == "127.0.0.1"
    assert page.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("err", [errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL])
def test_host_without_ipv6_falls_back_to_ipv4(monkeypatch: pytest.MonkeyPatch,
                                              err: int) -> None:
    real = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: Any, **kwargs: Any) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(err, "no IPv6 here")
        return real(family, *args, **kwargs)

    monkeypatch.setattr(metrics.socket, "socket", no_ipv6)
    server, (page,) = serve_and_get(":0", ("127.0.0.1",))
    assert server.host == "0.0.0.0"
    assert page.startswith(b"HTTP/1.1 200 OK")


def test_a_taken_port_is_not_hidden_by_the_fallback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        view = CoreView(Node([]))
        server = MetricsServer(view, lambda name: False, None, f":{port}")
        with pytest.raises(MetricsError, match=r"cannot listen for metrics on \[::\]:"):
            server.bind()


def test_only_get_of_the_metrics_path() -> None:
    async def main() -> list[bytes]:
        view = CoreView(Node([owner_params("VI_1", 51)]))
        server = MetricsServer(view, lambda name: False, None, "127.0.0.1:0")
        await server.start()
        try:
            assert server.bound_port
            out = [await get("127.0.0.1", server.bound_port, "/nothing")]
            r, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
            w.write(b"POST /metrics HTTP/1.1\r\n\r\n")
            out.append(await r.read())
            w.close()
            return out
        finally:
            await server.stop()

    missing, post = asyncio.run(main())
    assert missing.startswith(b"HTTP/1.1 404")
    assert post.startswith(b"HTTP/1.1 405")
