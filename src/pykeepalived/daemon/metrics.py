"""Prometheus metrics, opt-in with ``--metrics-listen HOST:PORT``.

The figures are read from the live objects at scrape time by custom collectors (nothing is
copied on every packet), and the exposition is produced on the daemon's own event loop by a
tiny asyncio HTTP server, so a scrape sees one consistent moment and needs no thread or lock.
A state is a gauge *value* (keepalived's numbers: INIT 0, BACKUP 1, MASTER 2, FAULT 3), not a
label, so ``changes()`` and alerts on it work.

Two families describe the same instances (docs/metrics.md has the tables):

* ``pykeepalived_*``: everything pykeepalived knows, labelled ``iname``, ``intf``, ``vrid``
  (and ``ip_address`` per VIP), the label names keepalived's exporters use. Never
  ``instance`` or ``job``: Prometheus attaches those to every series of a target, and a
  collision renames ours to ``exported_instance``.
* ``keepalived_*``: the names, labels and values of mehdy/keepalived-exporter (the exporter
  most keepalived dashboards are built on), so such a dashboard shows pykeepalived unchanged.

Plus ``process_*`` (prometheus_client's ProcessCollector) and ``pykeepalived_build_info``.
The same numbers appear in ``pykeepalived status --json`` (see :mod:`pykeepalived.daemon.control`).
This module is imported only when metrics are enabled: it is the one that needs prometheus_client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from ipaddress import ip_interface

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from pykeepalived import __version__
from pykeepalived.core.actions import State
from pykeepalived.core.packet import DropReason
from pykeepalived.daemon.conflict import ConflictDetector
from pykeepalived.daemon.view import DaemonView, RouterView
from pykeepalived.errors import LocalError

MAX_REQUEST = 8192  #: bytes of request head read at most
REQUEST_TIMEOUT = 5.0

#: The labels of every per-instance series: keepalived's instance name, the interface VRRP
#: runs on, the virtual router id.
INSTANCE_LABELS = ("iname", "intf", "vrid")
#: Per-VIP series: as above with the VIP's own interface, and the address as keepalived
#: prints it.
VIP_LABELS = ("iname", "intf", "vrid", "ip_address")

#: keepalived's state numbers (vrrp.h), as its exporter passes them on: STOP is 98 there.
KEEPALIVED_STATE = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3,
                    State.STOP: 98}

#: The bind errors that mean "this host has no IPv6": ``:PORT`` then listens on IPv4 only.
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


class MetricsError(LocalError):
    """``--metrics-listen`` is malformed or cannot be bound."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` -> (host, port); host ``""`` for ``:PORT``,
    which means every address, IPv6 and IPv4 (see :func:`listen_socket`).

    Port 0 picks a free port (see :attr:`MetricsServer.bound_port`, also logged)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise MetricsError(f"--metrics-listen {text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _listening(family: int, addr: tuple[object, ...], *, dual_stack: bool = False
               ) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            # Whatever net.ipv6.bindv6only says: IPv4 clients arrive as ::ffff:a.b.c.d.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(addr)
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    return sock


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket. ``host`` ``""`` is every address: ``::`` with IPV6_V6ONLY off
    (IPv6 and IPv4 on one socket), or ``0.0.0.0`` on a host without IPv6. Anything else is
    resolved and the first address bound (an IPv6 one follows the system's bindv6only)."""
    if host == "":
        try:
            return _listening(socket.AF_INET6, ("::", port), dual_stack=True)
        except OSError as exc:
            if exc.errno not in _NO_IPV6:
                raise
        return _listening(socket.AF_INET, ("0.0.0.0", port))
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    return _listening(family, addr)


def keepalived_address(text: str) -> str:
    """A VIP as keepalived prints it (ipaddresstos()): the address, and /len unless a host
    prefix. This is the exporter's ``ip_address`` label."""
    try:
        iface = ip_interface(text)
    except ValueError:
        return text
    if iface.network.prefixlen == iface.max_prefixlen:
        return str(iface.ip)
    return f"{iface.ip}/{iface.network.prefixlen}"


def instance_labels(r: RouterView) -> list[str]:
    return [r.name, r.params.interface, str(r.params.vrid)]


class DaemonCollector(Collector):
    """The ``pykeepalived_*`` family, from the daemon's routers, scripts and conflict books."""

    def __init__(self, view: DaemonView, in_maintenance: Callable[[str], bool],
                 conflicts: ConflictDetector | None) -> None:
        self.view = view
        self.in_maintenance = in_maintenance
        self.conflicts = conflicts

    def collect(self) -> Iterator[Metric]:
        view = self.view
        lab = INSTANCE_LABELS

        def g(name: str, doc: str, labels: Sequence[str] = lab) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"pykeepalived_vrrp_{name}", doc, labels=labels)

        def c(name: str, doc: str, labels: Sequence[str] = lab) -> CounterMetricFamily:
            return CounterMetricFamily(f"pykeepalived_vrrp_{name}", doc, labels=labels)

        build = GaugeMetricFamily("pykeepalived_build_info",
                                  "Always 1; the version of the running pykeepalived",
                                  labels=["version"])
        build.add_metric([__version__], 1)
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
        drops = c("drops", "Received packets dropped, by reason", [*lab, "reason"])
        conflicts = c("conflicts", "Competing master claims detected (split brain)")
        active = g("conflict_active", "Competing master claims currently seen")
        auth = g("auth_hmac_info", "1 for an instance with auth_hmac: its mode and active key",
                 [*lab, "mode", "active_key"])
        failing = g("vip_removal_failing",
                    "1 while a VIP given up on leaving MASTER is still on the host "
                    "(its removal failed and is retried)", VIP_LABELS)
        now = view.now()
        for name, r in view.routers().items():
            labels = instance_labels(r)
            state.add_metric(labels, r.state.number)
            prio.add_metric(labels, r.effective_priority)
            base.add_metric(labels, r.base_priority)
            if r.master_priority is not None:
                master_prio.add_metric(labels, r.master_priority)
            maint.add_metric(labels, 1 if self.in_maintenance(name) else 0)
            since.add_metric(labels, max(0.0, now - r.state_since))
            s = r.stats
            transitions.add_metric(labels, s.transitions)
            became.add_metric(labels, s.became_master)
            released.add_metric(labels, s.released_master)
            sent.add_metric(labels, s.adverts_sent)
            received.add_metric(labels, s.adverts_received)
            zero_sent.add_metric(labels, s.priority_zero_sent)
            zero_rx.add_metric(labels, s.priority_zero_received)
            for reason, count in sorted(s.drops.items(), key=lambda kv: kv[0].value):
                drops.add_metric([*labels, reason.value], count)
            if r.params.hmac is not None:
                auth.add_metric([*labels, r.params.hmac.mode.value,
                                 str(r.params.hmac.active_key)], 1)
            book = self.conflicts.books.get(name) if self.conflicts else None
            conflicts.add_metric(labels, book.total if book else 0)
            active.add_metric(labels, len(book.active) if book else 0)
            seen: set[tuple[str, str]] = set()
            for vip in view.vips(name):
                key = (vip.interface, keepalived_address(vip.address))
                if key not in seen:
                    seen.add(key)
                    failing.add_metric([name, key[0], labels[2], key[1]], int(vip.unreleased))
        # Packets no instance could claim (unknown VRID, garbage): every label "".
        for reason, count in sorted(view.unattributed_drops().items(),
                                    key=lambda kv: kv[0].value):
            drops.add_metric(["", "", "", reason.value], count)
        yield from (build, state, prio, base, master_prio, maint, since, transitions, became,
                    released, sent, received, zero_sent, zero_rx, drops, conflicts, active,
                    auth, failing)
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


#: mehdy/keepalived-exporter's per-instance counters: (name without _total, help, value).
#: The error counters are keepalived's own groupings of drop reasons (its keepalived.stats).
_EXPORTER_COUNTERS: tuple[tuple[str, str, Callable[[RouterView], float]], ...] = (
    ("advertisements_received", "Advertisements received", lambda r: r.stats.adverts_received),
    ("advertisements_sent", "Advertisements sent", lambda r: r.stats.adverts_sent),
    ("become_master", "Became master", lambda r: r.stats.became_master),
    ("release_master", "Released master", lambda r: r.stats.released_master),
    ("packet_length_errors", "Packet length errors",
     lambda r: r.stats.drops[DropReason.TOO_SHORT] + r.stats.drops[DropReason.BAD_LENGTH]),
    ("advertisements_interval_errors", "Advertisement interval errors",
     lambda r: r.stats.drops[DropReason.INTERVAL_MISMATCH]),
    ("ip_ttl_errors", "TTL errors", lambda r: r.stats.drops[DropReason.BAD_TTL]),
    ("invalid_type_received", "Invalid type errors",
     lambda r: r.stats.drops[DropReason.BAD_TYPE]),
    ("address_list_errors", "Address list errors",
     lambda r: r.stats.drops[DropReason.ADDRESS_MISMATCH]),
    # keepalived counts an unknown auth type here; pykeepalived drops those as a mismatch.
    ("authentication_invalid", "Authentication invalid", lambda r: 0),
    ("authentication_mismatch", "Authentication mismatch",
     lambda r: r.stats.drops[DropReason.AUTH_TYPE_MISMATCH]),
    ("authentication_failure", "Authentication failure",
     lambda r: r.stats.drops[DropReason.AUTH_FAILURE] + r.stats.drops[DropReason.AH_REPLAY]),
    ("priority_zero_received", "Priority zero received",
     lambda r: r.stats.priority_zero_received),
    ("priority_zero_sent", "Priority zero sent", lambda r: r.stats.priority_zero_sent),
    # Not a count: the configured garp_master_delay in seconds, typed as the exporter types it.
    ("gratuitous_arp_delay", "Gratuitous ARP delay", lambda r: r.params.garp_master_delay),
)


class KeepalivedExporterCollector(Collector):
    """The ``keepalived_*`` family: mehdy/keepalived-exporter's metrics, names, labels and
    values, for the dashboards and alerts written against keepalived with that exporter."""

    def __init__(self, view: DaemonView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("keepalived_up", "Status")
        up.add_metric([], 1)  # this page is served by the VRRP daemon itself
        state = GaugeMetricFamily("keepalived_vrrp_state", "State of vrrp", labels=VIP_LABELS)
        excluded = GaugeMetricFamily("keepalived_vrrp_excluded_state",
                                     "State of vrrp with excluded VIP", labels=VIP_LABELS)
        counters = [(CounterMetricFamily(f"keepalived_{name}", doc, labels=INSTANCE_LABELS),
                     value) for name, doc, value in _EXPORTER_COUNTERS]
        for name, r in self.view.routers().items():
            labels = instance_labels(r)
            number = KEEPALIVED_STATE[r.state]
            for family, value in counters:
                family.add_metric(labels, value(r))
            # One series per VIP, on the VIP's interface; without VIPs, one on the instance's
            # interface with ip_address "" (as the exporter does).
            seen: set[tuple[bool, str, str]] = set()
            for vip in self.view.vips(name):
                key = (vip.excluded, vip.interface, keepalived_address(vip.address))
                if key not in seen:
                    seen.add(key)
                    (excluded if vip.excluded else state).add_metric(
                        [name, key[1], labels[2], key[2]], number)
            if not any(not excl for excl, _, _ in seen):
                state.add_metric([*labels, ""], number)
        yield up
        yield state
        yield excluded
        for family, _ in counters:
            yield family
        yield from self._scripts()

    def _scripts(self) -> Iterator[Metric]:
        # keepalived's Status GOOD 1 / BAD 0; a script with no verdict yet is left out, as
        # the exporter leaves out a status it does not know. keepalived_script_state (is the
        # script running) has no counterpart and is not served.
        status = GaugeMetricFamily("keepalived_script_status", "Tracker Script Status",
                                   labels=["name"])
        for name, tracker in sorted(self.view.scripts().items()):
            if tracker.good is not None:
                status.add_metric([name], int(tracker.good))
        yield status


class MetricsServer:
    """Serves ``GET /metrics`` on the event loop."""

    def __init__(self, view: DaemonView | None, in_maintenance: Callable[[str], bool],
                 conflicts: ConflictDetector | None, listen: str, *,
                 extra: Callable[[], Awaitable[bytes]] | None = None) -> None:
        self._listen_host, self.port = parse_listen(listen)
        #: more exposition text, appended to each scrape (the health checkers' families,
        #: asked of their process; see pykeepalived.lvs.report)
        self.extra = extra
        #: Where metrics are served, for the log line: ``[::]`` (or ``0.0.0.0`` without
        #: IPv6) for ``:PORT``, IPv6 addresses in brackets.
        self.host = self._display(self._listen_host or "::")
        self.registry = CollectorRegistry(auto_describe=False)
        if view is not None:  # None: the health checkers' process alone (-C)
            self.registry.register(DaemonCollector(view, in_maintenance, conflicts))
            self.registry.register(KeepalivedExporterCollector(view))
        ProcessCollector(registry=self.registry)
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None

    @staticmethod
    def _display(host: str) -> str:
        return f"[{host}]" if ":" in host else host

    def bind(self) -> None:
        """Claim the port now (synchronously), so a clash stops the daemon early."""
        if self._sock is not None:
            return
        try:
            sock = listen_socket(self._listen_host, self.port)
        except OSError as exc:
            raise MetricsError(f"cannot listen for metrics on {self.host}:{self.port}: "
                               f"{exc.strerror or exc}") from exc
        if sock.family == socket.AF_INET and self._listen_host == "":
            self.host = "0.0.0.0"  # no IPv6 on this host
        sock.setblocking(False)
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def start(self) -> None:
        self.bind()
        sock, self._sock = self._sock, None
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=MAX_REQUEST)

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
                if self.extra is not None:
                    with contextlib.suppress(Exception):  # a scrape never fails on it
                        body += await self.extra()
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
