"""The daemon's operations side: control socket, maintenance, and the wiring of metrics and
split-brain detection.

Control protocol (documented in docs/operations.md): a Unix stream socket (default
``/run/pykeepalived/control.sock``, mode 0600, or 0660 with ``--control-group``). The client
sends one JSON object on one line; the daemon answers with one JSON object on one line and
closes. Every answer has ``"ok"``; failures carry ``"error"`` (a sentence for humans).

- ``{"command": "status"}`` -> ``{"ok": true, "daemon": {...}, "instances": [...]}``
- ``{"command": "maintenance", "action": "on"|"off", "instances": [...], "wait": 5.0}``
  (an empty instance list means all instances; ``wait`` is optional)

Requests are served on the event loop as tasks; nothing in them blocks it (the only kernel
question, which VIPs are present, goes to a worker thread).

Maintenance lowers an instance's effective priority to 1 through the core's priority override.
A MASTER keeps its VIPs and keeps advertising at priority 1, so a healthy backup preempts it
(fast preempt: within about one advert interval) and the MASTER lets go only when it hears the
better advert: no gap. The set of instances in maintenance is a plain file (``--maintenance-file``,
default ``STATE_DIR/maintenance``): one instance name per line, ``*`` or an empty file for all.
It is the single source of truth: the daemon reads it at start (maintenance survives a restart),
polls it every second (tools may create or delete it), and rewrites it for socket requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import grp
import json
import os
import socket
import time
from collections.abc import Iterable
from ipaddress import ip_address
from typing import Any, Protocol

from pykeepalived.core.actions import State, Transition
from pykeepalived.core.packet import AUTH_AH, AUTH_PASS, DropReason
from pykeepalived.core.priority import TrackerKind
from pykeepalived.daemon.conflict import DEFAULT_PROBE_INTERVAL, ConflictDetector
from pykeepalived.daemon.pulse import sleep_chore
from pykeepalived.daemon.view import DaemonView, RouterView
from pykeepalived.errors import DaemonError, LocalError

DEFAULT_CONTROL_SOCKET = "/run/pykeepalived/control.sock"
DEFAULT_STATE_DIR = "/var/lib/pykeepalived"


def _pid_tag(pid_file: str | None) -> str | None:
    """A per-daemon name derived from a non-default ``-p`` pid file, or None.

    keepalived runs several daemons on one host (one per network namespace) when each gets its
    own pid file; pykeepalived then gives each its own control socket and state directory
    without further options. The tag is the pid file's stem plus a hash of its full path, so
    that ``/run/a/n1.pid`` and ``/run/b/n1.pid`` never collide.
    """
    if not pid_file or os.path.abspath(pid_file) == "/run/keepalived.pid":
        return None
    full = os.path.abspath(pid_file)
    stem = os.path.splitext(os.path.basename(full))[0] or "pid"
    try:  # CPython's own SHA-1: the same digest without loading OpenSSL (memory)
        from _sha1 import sha1
    except ImportError:  # pragma: no cover - another Python
        from hashlib import sha1
    return f"{stem}-{sha1(full.encode()).hexdigest()[:8]}"


def default_control_socket(pid_file: str | None = None) -> str:
    """The control socket a daemon started with ``-p pid_file`` listens on by default."""
    tag = _pid_tag(pid_file)
    return DEFAULT_CONTROL_SOCKET if tag is None else f"/run/pykeepalived/{tag}.sock"


def default_state_dir(pid_file: str | None = None) -> str:
    tag = _pid_tag(pid_file)
    return DEFAULT_STATE_DIR if tag is None else os.path.join(DEFAULT_STATE_DIR, tag)


MAINTENANCE_FILE = "maintenance"
#: The lowest priority a VRRP router may advertise short of "I am leaving" (0).
MAINTENANCE_PRIORITY = 1
ALL = "*"
FLAG_POLL_INTERVAL = 1.0
WAIT_POLL_INTERVAL = 0.02
MAX_REQUEST = 64 * 1024
REQUEST_TIMEOUT = 10.0
MAX_WAIT = 3600.0


class ControlError(LocalError):
    """A control request cannot be carried out; the message goes back to the client."""


# ---------------------------------------------------------------------------- maintenance


def read_flag(path: str) -> set[str] | None:
    """The instance names in the maintenance file, ``{"*"}`` for all; None when absent."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_REQUEST)
    except FileNotFoundError:
        return None
    names = {line.strip() for line in text.splitlines()}
    names = {n for n in names if n and not n.startswith("#")}
    return names or {ALL}


def write_flag(path: str, names: set[str] | None) -> None:
    """Atomically replace the maintenance file (None removes it)."""
    if names is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    body = "# pykeepalived: instances in maintenance ('*' = all); delete to end maintenance\n"
    body += "".join(f"{n}\n" for n in sorted(names))
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def resolve(flag: set[str] | None, known: Iterable[str]) -> set[str]:
    if not flag:
        return set()
    known = list(known)
    if ALL in flag:
        return set(known)
    return {n for n in known if n in flag}


class Maintenance:
    """Keeps the routers' priority overrides in line with the maintenance file."""

    def __init__(self, view: DaemonView, path: str) -> None:
        self.view = view
        self.path = path
        self.applied: set[str] = set()
        self._last_stat: tuple[int, int, int] | None = None
        self._lock: asyncio.Lock | None = None

    def flag(self) -> set[str] | None:
        try:
            return read_flag(self.path)
        except OSError as exc:
            self.view.log_event(f"cannot read maintenance file {self.path}: {exc}")
            return None

    def is_on(self, name: str) -> bool:
        return name in self.applied

    def wanted(self) -> set[str]:
        return resolve(self.flag(), self.view.routers())

    def sync(self) -> None:
        """Apply or clear overrides so that the routers match the file."""
        wanted = self.wanted()
        routers = self.view.routers()
        for name, router in routers.items():
            if name in wanted and router.priority_override != MAINTENANCE_PRIORITY:
                self.view.log_event(f"({name}) maintenance on: priority "
                                    f"{router.effective_priority} -> {MAINTENANCE_PRIORITY}")
                self.applied.add(name)
                self.view.set_priority_override(name, MAINTENANCE_PRIORITY)
            elif name not in wanted and name in self.applied:
                self.applied.discard(name)
                self.view.set_priority_override(name, None)
                self.view.log_event(f"({name}) maintenance off: priority "
                                    f"{routers[name].effective_priority}")
            elif name in wanted:
                self.applied.add(name)
        self.applied &= set(routers)

    async def update(self, on: bool, names: list[str]) -> None:
        """Turn maintenance on or off for ``names`` (empty: all) in the file, then apply.

        The file is written (and fsynced) in a worker thread: a slow disk must not stall
        the adverts."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # read-modify-write of the file, one request at a time
            await self._update(on, names)

    async def _update(self, on: bool, names: list[str]) -> None:
        known = list(self.view.routers())
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ControlError(f"no such instance: {', '.join(unknown)} "
                               f"(known: {', '.join(known) or 'none'})")
        current = self.flag()
        if on:
            new = {ALL} if not names or (current and ALL in current) else \
                (set() if current is None else set(current)) | set(names)
        elif not names:
            new = set()
        else:
            new = resolve(current, known) - set(names)
            if current and ALL not in current:
                # keep names for instances this daemon does not run (another config)
                new |= {n for n in current if n not in known}
        try:
            await asyncio.get_running_loop().run_in_executor(None, write_flag, self.path,
                                                             new or None)
        except OSError as exc:
            raise ControlError(f"cannot write maintenance file {self.path}: {exc}") from exc
        self._last_stat = None
        self.sync()

    def stamp(self) -> tuple[int, int, int] | None:
        """What tells one version of the file from the next (None: no file)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def start(self) -> None:
        """At start-up: apply the file as it is now, and remember which version that was
        (a file deleted before the first poll is then "maintenance off", not missed)."""
        self._last_stat = self.stamp()
        self.sync()

    async def run(self) -> None:
        """Follow changes made to the file by other tools."""
        while True:
            await sleep_chore(FLAG_POLL_INTERVAL)
            stamp = self.stamp()
            routers = self.view.routers()
            if stamp != self._last_stat:
                self._last_stat = stamp
                self.sync()
            elif any(routers[n].priority_override != MAINTENANCE_PRIORITY
                     for n in self.applied if n in routers):
                self.sync()  # a reload replaced a router

    async def wait_handover(self, names: list[str], timeout: float) -> list[str]:
        """Wait until no instance in ``names`` is MASTER and each hears another master.

        Returns the instances that did not hand over in time (empty on success).
        """
        deadline = self.view.now() + timeout
        while True:
            routers = self.view.routers()
            pending = [n for n in names if n in routers and not handed_over(routers[n])]
            if not pending or self.view.now() >= deadline:
                return pending
            await asyncio.sleep(WAIT_POLL_INTERVAL)


def handed_over(router: RouterView) -> bool:
    """Another node is MASTER for this instance, as far as this node can tell."""
    if router.state is State.FAULT:
        return True  # we hold nothing; maintenance makes nothing worse
    return (router.state is State.BACKUP and router.master_address is not None
            and router.master_address != router.params.src)


# ---------------------------------------------------------------------------- status


def _tracker_state(kind: TrackerKind, value: bool | int | None) -> str:
    if value is None:
        return "unknown"
    if kind is TrackerKind.FILE:
        return str(int(value))
    good = bool(value)
    return {
        TrackerKind.INTERFACE: "up" if good else "down",
        TrackerKind.SCRIPT: "ok" if good else "failing",
        TrackerKind.PROCESS: "running" if good else "not running",
    }.get(kind, str(value))


def instance_status(ops: Operations, name: str, router: RouterView,
                    now: float, wall: float) -> dict[str, Any]:
    """One instance's status (VIP presence filled in later, it needs netlink)."""
    p = router.params
    contributions = dict(router.priority_contributions())
    trackers = []
    for spec in p.trackers:
        value = router.tracker_values.get(spec.key)
        trackers.append({
            "key": spec.key, "kind": spec.kind.value, "name": spec.name,
            "weight": spec.weight, "reverse": spec.reverse,
            "value": value, "state": _tracker_state(spec.kind, value),
            "delta": contributions.get(spec.key, 0),
            "fault": spec.key in router.fault_reasons,
        })
    reasons: list[dict[str, Any]] = [{"source": key, "delta": delta}
                                     for key, delta in contributions.items()]
    if router.priority_override is not None:
        reasons.append({"source": "maintenance" if ops.maintenance.is_on(name) else "override",
                        "delta": router.priority_override - router.base_priority,
                        "override": router.priority_override})
    vips = [{"address": v.address, "interface": v.interface, "present": None,
             "excluded": v.excluded, "removal_failing": v.unreleased}
            for v in ops.view.vips(name)]
    is_self = router.master_address is not None and router.master_address == p.src
    s = router.stats
    book = ops.conflicts.books.get(name) if ops.conflicts is not None else None
    return {
        "name": name,
        "state": router.state.value,
        "state_number": router.state.number,
        "since": wall - max(0.0, now - router.state_since),
        "for_seconds": round(max(0.0, now - router.state_since), 3),
        "interface": p.interface,
        "vrid": p.vrid,
        "version": p.version,
        "advert_int": p.advert_int,
        "source": str(p.src),
        "priority": {
            "configured": router.base_priority,
            "effective": router.effective_priority,
            "reasons": reasons,
            "fault_reasons": list(router.fault_reasons),
        },
        "maintenance": ops.maintenance.is_on(name),
        "master": {
            "address": None if router.master_address is None else str(router.master_address),
            "priority": router.master_priority,
            "self": router.state is State.MASTER or is_self,
        },
        "vips": vips,
        "authentication": authentication_status(router),
        "trackers": trackers,
        "counters": {
            "adverts_sent": s.adverts_sent,
            "adverts_received": s.adverts_received,
            "priority_zero_sent": s.priority_zero_sent,
            "priority_zero_received": s.priority_zero_received,
            "became_master": s.became_master,
            "released_master": s.released_master,
            "transitions": s.transitions,
            "drops": {r.value: n for r, n in sorted(s.drops.items(), key=lambda kv: kv[0].value)},
        },
        "conflicts": {
            "total": book.total if book else 0,
            "active": [c.as_dict() for c in book.active.values()] if book else [],
        },
    }


def authentication_status(router: RouterView) -> dict[str, Any] | None:
    """How the instance's adverts are authenticated (never the keys themselves), and for
    auth_hmac what became of the adverts it checked, by outcome."""
    p = router.params
    if p.hmac is not None:
        h = p.hmac
        drops = router.stats.drops
        outcomes = {"accepted": router.stats.adverts_received}
        outcomes |= {r.value: drops[r] for r in DropReason if r.value.startswith("auth_ext_")}
        return {"kind": "auth_hmac", "mode": h.mode.value, "active_key": h.active_key,
                "keys": [key_id for key_id, _ in h.keys],
                "anti_replay": "time" if h.anti_replay_time else "monotonic",
                "time_window": h.time_window, "outcomes": outcomes}
    kind = {AUTH_PASS: "PASS", AUTH_AH: "AH"}.get(p.auth_type)
    return {"kind": kind} if kind else None


async def build_status(ops: Operations) -> dict[str, Any]:
    view = ops.view
    now, wall = view.now(), time.time()
    instances = [instance_status(ops, name, r, now, wall)
                 for name, r in dict(view.routers()).items()]
    ifnames = {v["interface"] for inst in instances for v in inst["vips"]}
    try:
        present = await asyncio.get_running_loop().run_in_executor(
            None, view.present_addresses, ifnames)
    except Exception:  # netlink closing during shutdown: say "unknown"
        present = {}
    for inst in instances:
        for v in inst["vips"]:
            have = present.get(v["interface"])
            if have is not None:
                v["present"] = str(ip_address(v["address"].split("/")[0])) in have
    info = view.info()
    return {
        "ok": True,
        "daemon": {
            "pid": info.pid,
            "started_at": info.started_at,
            "version": info.version,
            "config_file": info.config_file,
            "control_socket": ops.socket_path,
            "maintenance_file": ops.maintenance.path,
            "metrics_listen": info.metrics_listen,
            "supervisor": info.supervision,
            "unattributed_drops": {r.value: n for r, n in view.unattributed_drops().items()},
        },
        "instances": instances,
    }


# ---------------------------------------------------------------------------- socket


class ControlServer:
    """The Unix socket: one JSON request line in, one JSON answer line out."""

    def __init__(self, ops: Operations, path: str, group: str | None = None) -> None:
        self.ops = ops
        self.path = path
        self.group = group
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def _bind(self) -> socket.socket:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(0.5)
                probe.connect(self.path)
            except OSError:
                os.unlink(self.path)  # stale: its daemon is gone
            else:
                raise ControlError(f"{self.path} is in use by another running daemon; "
                                   "give each daemon its own --control-socket")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        # Created 0600 from the start (no window where others could connect).
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        if self.group:
            gid = grp.getgrnam(self.group).gr_gid
            os.chown(self.path, 0 if os.geteuid() == 0 else -1, gid)
            os.chmod(self.path, 0o660)
        sock.setblocking(False)
        return sock

    def bind(self) -> None:
        """Claim the socket path now (synchronously), so a clash stops the daemon early."""
        if self._sock is None:
            try:
                self._sock = self._bind()
            except (OSError, KeyError) as exc:
                raise ControlError(f"cannot open control socket {self.path}: {exc}") from exc

    async def start(self) -> None:
        self.bind()
        assert self._sock is not None
        sock, self._sock = self._sock, None
        self._server = await asyncio.start_unix_server(self._handle, sock=sock,
                                                       limit=MAX_REQUEST)

    async def stop(self) -> None:
        if self._sock is not None:  # bound but never served
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ControlError("a request is a JSON object")
                answer = await self.dispatch(request)
            except (ValueError, asyncio.LimitOverrunError) as exc:
                answer = {"ok": False, "error": f"malformed request: {exc}"}
            except ControlError as exc:
                answer = {"ok": False, "error": str(exc)}
            except TimeoutError:
                answer = {"ok": False, "error": "no request received"}
            writer.write(json.dumps(answer).encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        if command == "status":
            return await build_status(self.ops)
        if command == "maintenance":
            return await self.maintenance(request)
        raise ControlError(f"unknown command {command!r} (status, maintenance)")

    async def maintenance(self, request: dict[str, Any]) -> dict[str, Any]:
        action = request.get("action")
        if action not in ("on", "off"):
            raise ControlError("maintenance action must be 'on' or 'off'")
        names = request.get("instances") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ControlError("instances must be a list of names")
        wait = request.get("wait")
        if wait is not None and (not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT):
            raise ControlError(f"wait must be a number of seconds (0..{MAX_WAIT:g})")
        m = self.ops.maintenance
        view = self.ops.view
        routers = view.routers()
        targets = list(names) or list(routers)
        before = {n: routers[n].effective_priority for n in targets if n in routers}
        await m.update(action == "on", names)
        if action == "off" or wait is None:
            return {"ok": True, "instances": targets, "maintenance": action == "on"}
        pending = await m.wait_handover(targets, float(wait))
        routers = view.routers()
        if not pending:
            masters = {n: str(routers[n].master_address) for n in targets}
            return {"ok": True, "instances": targets, "maintenance": True, "masters": masters}
        # Nobody took over: never leave the service without a master. Undo for every target
        # (the ones that did hand over go back to their priority too: it is one request).
        await m.update(False, names)
        routers = view.routers()
        detail = []
        for n in pending:
            r = routers[n]
            detail.append(f"{n} is still {r.state.value} (master: {r.master_address or 'none'})")
        restored = ", ".join(f"{n} {routers[n].effective_priority}" for n in before
                             if n in routers)
        msg = (f"maintenance refused: no other node became MASTER within {wait:g}s; "
               f"{'; '.join(detail)}. Priority restored ({restored}), VIPs kept.")
        view.log_event(msg)
        return {"ok": False, "error": msg, "pending": pending}


# ---------------------------------------------------------------------------- wiring


class MetricsEndpoint(Protocol):
    """The metrics server as Operations drives it (daemon/metrics.py, imported on demand)."""

    host: str

    @property
    def bound_port(self) -> int | None: ...

    def bind(self) -> None: ...

    def close(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Operations:
    """Everything operators talk to, given a :class:`DaemonView` of the daemon.

    The driver calls :meth:`open` before it touches the network, :meth:`prepare` before the
    first election (so a node in maintenance never advertises its normal priority after a
    restart), :meth:`start` once the node runs, :meth:`transition` on every state change and
    :meth:`stop` first thing on shutdown.
    """

    def __init__(self, options: argparse.Namespace, view: DaemonView) -> None:
        opts = options
        self.view = view
        pid_file = getattr(opts, "pid_file", None)
        self.socket_path: str = (getattr(opts, "control_socket", None)
                                 or default_control_socket(pid_file))
        self.state_dir: str = getattr(opts, "state_dir", None) or default_state_dir(pid_file)
        flag = getattr(opts, "maintenance_file", None) or os.path.join(self.state_dir,
                                                                       MAINTENANCE_FILE)
        self.maintenance = Maintenance(view, flag)
        self.conflicts: ConflictDetector | None = None
        if not getattr(opts, "no_conflict_detection", False):
            self.conflicts = ConflictDetector(
                view,
                probe_interval=getattr(opts, "conflict_probe_interval", None)
                or DEFAULT_PROBE_INTERVAL,
                script=getattr(opts, "conflict_script", None),
            )
        self.metrics_listen: str | None = getattr(opts, "metrics_listen", None)
        self.metrics: MetricsEndpoint | None = None
        self.server = ControlServer(self, self.socket_path, getattr(opts, "control_group", None))
        self._tasks: list[asyncio.Task[None]] = []

    def _metrics_server(self) -> MetricsEndpoint:
        # prometheus-client is imported only when metrics are asked for (memory).
        from pykeepalived.daemon.metrics import MetricsServer

        return MetricsServer(self.view, self.maintenance.is_on, self.conflicts,
                             self.metrics_listen or "", extra=self._checker_metrics)

    async def _checker_metrics(self) -> bytes:
        """The health checkers' families, from their process's control socket (nothing
        when it does not run)."""
        from pykeepalived.lvs import checker_socket

        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(checker_socket(self.socket_path)), 1.0)
        except (OSError, TimeoutError):
            return b""
        try:
            writer.write(b'{"command": "metrics"}\n')
            line = await asyncio.wait_for(reader.readline(), 2.0)
            answer = json.loads(line or b"{}")
            text = answer.get("text", "") if isinstance(answer, dict) else ""
            return text.encode() if isinstance(text, str) else b""
        except (OSError, TimeoutError, ValueError):
            return b""
        finally:
            writer.close()

    def open(self) -> None:
        """Claim the control socket and the metrics port before the daemon touches the
        network: a clash with another daemon or a bad ``--metrics-listen`` stops it here."""
        try:
            if self.metrics_listen:
                self.metrics = self._metrics_server()
                self.metrics.bind()
            self.server.bind()
        except LocalError as exc:
            if self.metrics is not None:
                self.metrics.close()
            raise DaemonError(str(exc)) from exc

    def prepare(self) -> None:
        """Maintenance overrides for the routers about to start."""
        self.maintenance.start()

    async def start(self) -> None:
        view = self.view
        try:
            await self.server.start()
        except ControlError as exc:
            view.log_event(f"ERROR: {exc}: 'pykeepalived status' and 'maintenance' will not work")
        if self.metrics_listen and self.metrics is None:
            try:
                self.metrics = self._metrics_server()
            except LocalError as exc:
                view.log_event(f"ERROR: {exc}")
        if self.metrics is not None:
            try:
                await self.metrics.start()
                view.log_event(f"Serving Prometheus metrics on {self.metrics.host}:"
                               f"{self.metrics.bound_port}")
            except LocalError as exc:
                view.log_event(f"ERROR: {exc}")
                self.metrics = None
        if self.conflicts is not None:
            self.conflicts.start()
        loop = asyncio.get_running_loop()
        task = loop.create_task(self.maintenance.run(), name="maintenance-flag")
        task.add_done_callback(self._task_ended)
        self._tasks.append(task)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A background task must never die silently (maintenance would stop following
        its file)."""
        if not task.cancelled() and task.exception() is not None:
            self.view.log_event(f"ERROR: {task.get_name()} stopped: {task.exception()!r}")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.server.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.conflicts is not None:
            await self.conflicts.stop()

    def transition(self, tr: Transition) -> None:
        """An instance changed state. A router created by a reload starts without the
        maintenance override: apply it at once (after the current batch of actions)."""
        if tr.old is State.INIT:
            router = self.view.routers().get(tr.instance)
            if router is not None and router.priority_override is None \
                    and tr.instance in self.maintenance.wanted():
                asyncio.get_running_loop().call_soon(self.maintenance.sync)
