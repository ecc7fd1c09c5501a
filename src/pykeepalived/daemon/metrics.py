"""Prometheus metrics, opt-in with ``--metrics-listen HOST:PORT``.

The figures are read from the live objects at scrape time by a custom collector (nothing is
copied on every packet), and the exposition is produced on the daemon's own event loop by a
tiny asyncio HTTP server, so a scrape sees one consistent moment and needs no thread or lock.
A state is a gauge *value* (keepalived's numbers: INIT 0, BACKUP 1, MASTER 2, FAULT 3, STOP 4),
not a label, so ``changes()`` and alerts on it work.

The same numbers appear in ``pykeepalived status --json`` (see :mod:`pykeepalived.daemon.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pykeepalived.daemon.conflict import ConflictDetector
from pykeepalived.daemon.view import DaemonView
from pykeepalived.errors import LocalError

MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0


class MetricsError(LocalError):
    """``--metrics-listen`` is malformed or cannot be bound."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (all addresses) -> (host, port).

    Port 0 picks a free port (see :attr:`MetricsServer.bound_port`, also logged)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise MetricsError(f"--metrics-listen {text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


class DaemonCollector(Collector):
    """Builds every metric from the daemon's routers, scripts and conflict books."""

    def __init__(self, view: DaemonView, in_maintenance: Callable[[str], bool],
                 conflicts: ConflictDetector | None) -> None:
        self.view = view
        self.in_maintenance = in_maintenance
        self.conflicts = conflicts

    def collect(self) -> Iterator[Metric]:
        view = self.view
        routers = dict(view.routers())
        lab = ["instance"]

        def g(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"pykeepalived_vrrp_{name}", doc, labels=labels or lab)

        def c(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
            return CounterMetricFamily(f"pykeepalived_vrrp_{name}", doc, labels=labels or lab)

        state = g("state", "Instance state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP")
        prio = g("priority", "Effective priority (after trackers and maintenance)")
        base = g("configured_priority", "Configured priority")
        master_prio = g("master_priority", "Priority of the current master as last heard")
        maint = g("maintenance", "1 while the instance is in maintenance")
        since = g("state_seconds", "Seconds since the last state change")
        transitions = c("transitions", "State changes")
        became = c("became_master", "Transitions to MASTER")
        released = c("released_master", "Transitions out of MASTER")
        sent = c("adverts_sent", "Adverts sent")
        received = c("adverts_received", "Valid adverts received")
        zero_sent = c("priority_zero_sent", "Priority-0 adverts sent")
        zero_rx = c("priority_zero_received", "Priority-0 adverts received")
        drops = c("drops", "Received packets dropped, by reason", ["instance", "reason"])
        conflicts = c("conflicts", "Competing master claims detected (split brain)")
        active = g("conflict_active", "Competing master claims currently seen")
        now = view.now()
        for name, r in routers.items():
            state.add_metric([name], r.state.number)
            prio.add_metric([name], r.effective_priority)
            base.add_metric([name], r.base_priority)
            if r.master_priority is not None:
                master_prio.add_metric([name], r.master_priority)
            maint.add_metric([name], 1 if self.in_maintenance(name) else 0)
            since.add_metric([name], max(0.0, now - r.state_since))
            s = r.stats
            transitions.add_metric([name], s.transitions)
            became.add_metric([name], s.became_master)
            released.add_metric([name], s.released_master)
            sent.add_metric([name], s.adverts_sent)
            received.add_metric([name], s.adverts_received)
            zero_sent.add_metric([name], s.priority_zero_sent)
            zero_rx.add_metric([name], s.priority_zero_received)
            for reason, count in sorted(s.drops.items(), key=lambda kv: kv[0].value):
                drops.add_metric([name, reason.value], count)
            book = self.conflicts.books.get(name) if self.conflicts else None
            conflicts.add_metric([name], book.total if book else 0)
            active.add_metric([name], len(book.active) if book else 0)
        # Packets no instance could claim (unknown VRID, garbage): instance "".
        for reason, count in sorted(view.unattributed_drops().items(),
                                    key=lambda kv: kv[0].value):
            drops.add_metric(["", reason.value], count)
        yield from (state, prio, base, master_prio, maint, since, transitions, became, released,
                    sent, received, zero_sent, zero_rx, drops, conflicts, active)
        yield from self._scripts()

    def _scripts(self) -> Iterator[Metric]:
        lab = ["script"]
        result = GaugeMetricFamily("pykeepalived_script_result",
                                   "vrrp_script verdict: 1 good, 0 failing, -1 not yet known",
                                   labels=lab)
        runs = CounterMetricFamily("pykeepalived_script_runs", "vrrp_script runs", labels=lab)
        fails = CounterMetricFamily("pykeepalived_script_failures",
                                    "vrrp_script runs that failed (non-zero exit, signal)",
                                    labels=lab)
        timeouts = CounterMetricFamily("pykeepalived_script_timeouts",
                                       "vrrp_script runs killed after their timeout", labels=lab)
        for name, tracker in sorted(self.view.scripts().items()):
            good = tracker.good
            result.add_metric([name], -1 if good is None else int(good))
            runs.add_metric([name], tracker.stats.runs)
            fails.add_metric([name], tracker.stats.failures)
            timeouts.add_metric([name], tracker.stats.timeouts)
        yield from (result, runs, fails, timeouts)


class MetricsServer:
    """Serves ``GET /metrics`` on the event loop."""

    def __init__(self, view: DaemonView, in_maintenance: Callable[[str], bool],
                 conflicts: ConflictDetector | None, listen: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(view, in_maintenance, conflicts))
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None

    def bind(self) -> None:
        """Claim the port now (synchronously), so a clash stops the daemon early."""
        if self._sock is not None:
            return
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
            family, kind, proto, _, addr = infos[0]
            sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
                sock.listen(16)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            raise MetricsError(f"cannot listen for metrics on {self.host}:{self.port}: "
                               f"{exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def start(self) -> None:
        self.bind()
        sock, self._sock = self._sock, None
        self._server = await asyncio.start_server(self._handle, sock=sock)

    @property
    def bound_port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(line) < 2 or line[0] not in ("GET", "HEAD"):
                await self._reply(writer, 405, b"method not allowed\n", "text/plain")
            elif line[1].split("?", 1)[0] not in ("/metrics", "/"):
                await self._reply(writer, 404, b"not found\n", "text/plain")
            else:
                body = self.render()
                await self._reply(writer, 200, b"" if line[0] == "HEAD" else body,
                                  CONTENT_TYPE_LATEST, length=len(body))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, code: int, body: bytes, ctype: str,
                     length: int | None = None) -> None:
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[code]
        head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body) if length is None else length}\r\n"
                "Connection: close\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
