"""The health-checker process (keepalived's Keepalived_healthcheckers), on asyncio.

One event loop runs every checker of every real server (:mod:`pykeepalived.lvs.checker`),
feeds their verdicts to the pools (:mod:`pykeepalived.lvs.pool`), and after each change makes
the forwarding plane (:mod:`pykeepalived.lvs.nft_plane`) match the pools in one nftables
transaction. Changes that land in the same loop iteration are applied together.

The plane is installed on every director, MASTER or BACKUP: its rules match only traffic to an
address that is local (``fib daddr type local``), so the director that becomes MASTER has its
table complete the moment VRRP adds the VIP, and nothing here needs to know the VRRP state.

Signals, as keepalived's checker child: TERM / INT stop (every service "Shutting down", the
table removed unless ``-I``), HUP reloads (real servers unchanged by the reload keep their
state and their running checkers; a bad configuration is logged and the running one kept).
A control socket beside the VRRP one answers ``status`` and ``metrics`` (see
:mod:`pykeepalived.lvs.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pykeepalived.config import load_config
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.checker_child import announce_ready
from pykeepalived.daemon.log import LOG_ERR, EventLog
from pykeepalived.daemon.notify import Notifier, NotifyScript
from pykeepalived.daemon.scripts import RunAs
from pykeepalived.errors import DaemonError, HostError, LocalError
from pykeepalived.lvs import checker_socket, dump, report
from pykeepalived.lvs.checker import CheckerState, Outcome, Step
from pykeepalived.lvs.model import Checker, LvsConfig
from pykeepalived.lvs.pool import Action, Log, Notify, Pool
from pykeepalived.lvs.probes import run_checker
from pykeepalived.lvs.security import vet
from pykeepalived.lvs.table import Counters, Service

MAX_REQUEST = 64 * 1024
#: How long a stopping checker process keeps its table for VIPs still on this host.
VIP_RELEASE_WAIT = 3.0


def _is_local(address: object) -> bool:
    """The address is one of this host's (a socket can be bound to it)."""
    family = socket.AF_INET6 if ":" in str(address) else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((str(address), 0))
        except OSError:
            return False
    return True


@dataclass
class Slot:
    """One checker of one real server, and what it last said."""

    checker: Checker
    rs_name: str
    pool: Pool
    server: int
    index: int
    task: asyncio.Task[None] | None = None
    last_ok: bool | None = None
    last_reason: str = ""
    last_at: float | None = None
    results: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})


class Plane(Protocol):
    """What the daemon needs of a forwarding plane (the nftables one, or a test's)."""

    def apply(self, services: Sequence[Service]) -> None: ...
    def counters(self) -> Mapping[tuple[str, Any, int], Counters]: ...
    def remove(self) -> None: ...


def nft_plane(cfg: LvsConfig, options: argparse.Namespace) -> Plane:
    from pykeepalived.lvs.nft_plane import NftPlane

    return NftPlane(cfg.table, masquerade=bool(getattr(options, "lvs_masquerade", False)))


class CheckerDaemon:
    def __init__(self, options: argparse.Namespace, log: EventLog, *,
                 make_plane: Callable[[LvsConfig, argparse.Namespace], Plane] = nft_plane,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.log = log
        self.make_plane = make_plane
        self.clock = clock
        self.config: LvsConfig | None = None
        self.plane: Plane | None = None
        self.pools: list[Pool] = []
        self.slots: dict[tuple[object, ...], Slot] = {}
        self.installed: list[Service] | None = None
        self.notifier = Notifier(log=log.event)
        self.started_at = time.time()
        self.applies = 0
        self.apply_errors = 0
        self._stop = asyncio.Event()
        self._dirty = False
        self._stopping = False
        self._applying: asyncio.Task[None] | None = None
        self._plane_lock = threading.Lock()
        self._server: asyncio.AbstractServer | None = None
        self._metrics: Any = None
        #: the whole configuration last loaded (the dump's router_id, track files)
        self.full_config: KeepalivedConfig | None = None
        control = getattr(options, "control_socket", None)
        if control is None:
            from pykeepalived.daemon.control import default_control_socket

            control = default_control_socket(getattr(options, "pid_file", None))
        self.socket_path = checker_socket(control)

    # ------------------------------------------------------------------ configuration

    def load(self) -> LvsConfig:
        result = load_config(self.options.config_file, config_id=self.options.config_id,
                             all_config=getattr(self.options, "all_config", False))
        for diag in result.diagnostics:
            self.log.event(str(diag))
        if result.config is None or not result.ok:
            raise DaemonError(f"configuration {self.options.config_file} has errors")
        vetted = vet(result.config.lvs, result.config.global_defs, check_log=self.log.event)
        for line in vetted.lines:
            self.log.event(line)
        if vetted.warning:
            self.log.event(vetted.warning)
        lvs = vetted.config
        refused = report.refusals(lvs)
        if refused:
            for line in refused:
                self.log.event(line, level=LOG_ERR)
            raise DaemonError(f"configuration {self.options.config_file}: "
                              f"{len(refused)} virtual server setting(s) pykeepalived cannot "
                              "carry out (see above)")
        self.full_config = result.config
        return lvs

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        cfg = self.config = self.load()
        self.plane = self.make_plane(cfg, self.options)
        await self._open_control()
        await self._open_metrics()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGUSR1, self._dump)
        self._install(cfg, previous={})
        await self._first_apply()
        table = cfg.table
        self.log.event(f"Initializing nftables table {table}: {len(self.installed or ())} "
                       "virtual service(s)")
        announce_ready()  # the parent starts the VRRP child now
        self._warn_forwarding(cfg)
        await self._stop.wait()
        await self.shutdown()
        return 0

    def _dump(self) -> None:
        """SIGUSR1: keepalived's /tmp/keepalived_check.data."""
        dump.write_check_data(dump.CheckDumpSource(self.config, self.pools,
                                                   list(self.slots.values()),
                                                   keepalived=self.full_config),
                              self.log.event)

    def _warn_forwarding(self, cfg: LvsConfig) -> None:
        """A director forwards: without it every balanced connection dies in the kernel."""
        for family, path in ((4, "/proc/sys/net/ipv4/ip_forward"),
                             (6, "/proc/sys/net/ipv6/conf/all/forwarding")):
            if not any(vs.family == family for vs in cfg.virtual_servers):
                continue
            try:
                with open(path) as fh:
                    on = fh.read().strip() != "0"
            except OSError:
                continue
            if not on:
                name = path.removeprefix("/proc/sys/").replace("/", ".")
                self.log.event(f"WARNING - {name} is 0: this director cannot forward the "
                               "virtual servers' connections to their real servers",
                               level=LOG_ERR)

    def _install(self, cfg: LvsConfig, previous: dict[str, Pool]) -> None:
        """Pools and checkers for ``cfg``; on a reload (``previous``), what
        :meth:`Pool.take_over` keeps goes on running."""
        old_slots, self.slots = self.slots, {}
        self.pools = []
        for vs in cfg.virtual_servers:
            pool = Pool(vs)
            old = previous.get(vs.name)
            kept: dict[tuple[int, int], tuple[int, int]] = {}
            if old is None:
                self._act(pool.start())
            else:
                actions, kept = pool.take_over(old)
                self._act(actions)
            self.pools.append(pool)
            for si, s in enumerate(pool.servers):
                for ci, chk in enumerate(s.rs.checkers):
                    src = kept.get((si, ci))
                    slot = old_slots.pop((vs.name, *src), None) if src is not None else None
                    if slot is None:
                        slot = Slot(chk, s.name, pool, si, ci)
                        slot.task = self._start_checker(slot)
                    else:
                        slot.pool, slot.server, slot.index = pool, si, ci
                    self.slots[(vs.name, si, ci)] = slot
        for slot in old_slots.values():  # gone with the reload
            if slot.task is not None:
                slot.task.cancel()

    def _start_checker(self, slot: Slot) -> asyncio.Task[None]:
        server = slot.pool.servers[slot.server]
        self.log.event(f"Activating healthchecker for service {slot.rs_name} for VS "
                       f"{slot.pool.vs.name}")
        state = CheckerState(slot.checker, rs_name=slot.rs_name, vs_name=slot.pool.vs.name,
                             rs_weight=server.rs.weight,
                             log_all_failures=self._log_all_failures())

        def emit(step: Step, outcome: Outcome) -> None:
            self._result(slot, step, outcome)

        task = asyncio.get_running_loop().create_task(
            run_checker(state, slot.checker, rs_name=slot.rs_name, clock=self.clock,
                        emit=emit, vs_name=slot.pool.vs.name),
            name=f"{slot.checker.kind} {slot.rs_name}")
        task.add_done_callback(self._checker_ended)
        return task

    def _log_all_failures(self) -> bool:
        return bool(self.config is not None and self.config.checker_log_all_failures)

    def _checker_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.event(f"ERROR: checker {task.get_name()} stopped: {task.exception()!r}",
                           level=LOG_ERR)

    def _result(self, slot: Slot, step: Step, outcome: Outcome) -> None:
        if not outcome.skipped:
            slot.last_ok = outcome.ok
            slot.last_reason = outcome.reason
            slot.last_at = time.time()
            slot.results["success" if outcome.ok else "failure"] += 1
        for line in step.lines:
            self.log.event(line)
        for line in step.detail_lines:
            self.log.detail(line)
        actions: list[Action] = []
        if step.weight_offset is not None:
            server = slot.pool.servers[slot.server]
            actions += slot.pool.checker_weight(slot.server, slot.index,
                                                server.rs.weight + step.weight_offset)
        if step.transition is not None or step.first_run:
            # keepalived's update_svr_checker_state: a change, or the first verdict (which
            # may run a notify without a change)
            actions += slot.pool.verdict(slot.server, slot.index, step.is_up)
        if actions:
            self._act(actions)

    def _act(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Log):
                self.log.event(a.text)
            elif isinstance(a, Notify):
                try:
                    run_as = RunAs.from_names(a.script.user, a.script.group)
                except LocalError as exc:
                    self.log.event(f"{a.why}: {exc}", level=LOG_ERR)
                    continue
                self.notifier.run_script(NotifyScript(a.script.command, run_as))
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        """Something changed: the plane is brought in line after this loop iteration, by
        one transaction for everything that changed meanwhile."""
        if self._dirty:
            return
        self._dirty = True
        with contextlib.suppress(RuntimeError):  # no loop yet: the start applies anyway
            asyncio.get_running_loop().call_soon(self._kick)

    def services(self) -> list[Service]:
        return [s for s in (p.service() for p in self.pools) if s is not None]

    def _kick(self) -> None:
        if self._applying is None or self._applying.done():
            self._applying = asyncio.get_running_loop().create_task(self._apply_changes())

    async def _apply_changes(self) -> None:
        """Apply until nothing is left to apply. A transaction runs in a worker thread (a
        thousand destinations take a few hundred ms in libnftables): the checkers go on
        meanwhile, and what they change waits for the next transaction."""
        while self._dirty and not self._stopping and self.plane is not None:
            self._dirty = False
            wanted = self.services()
            if wanted == self.installed:
                continue
            try:
                await asyncio.to_thread(self._plane_call, self.plane.apply, wanted)
            except (HostError, ValueError) as exc:  # ValueError: a service it refuses
                self.apply_errors += 1
                self.log.event(f"ERROR: cannot update the load balancer table: {exc}",
                               level=LOG_ERR)
                continue
            self.installed = wanted
            self.applies += 1

    def _plane_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One plane operation at a time (libnftables is called from two threads)."""
        with self._plane_lock:
            return fn(*args)

    async def _first_apply(self, attempts: int = 3, pause: float = 0.5) -> None:
        """The first table. The kernel loads nftables' modules on first use, and a first
        transaction has been seen refused by that (EOPNOTSUPP): it is tried again before
        the process gives up."""
        assert self.plane is not None
        self._dirty = False
        wanted = self.services()
        for attempt in range(attempts):
            try:
                self._plane_call(self.plane.apply, wanted)
                break
            except (HostError, ValueError) as exc:
                self.apply_errors += 1
                if isinstance(exc, ValueError) or attempt == attempts - 1:
                    raise DaemonError(f"cannot install the load balancer table: {exc}") \
                        from exc
                self.log.event(f"ERROR: cannot install the load balancer table: {exc}; "
                               f"trying again in {pause:g}s", level=LOG_ERR)
                await asyncio.sleep(pause)
        self.installed = wanted
        self.applies += 1
        if self._dirty:
            self._kick()

    def reload(self) -> None:
        self.log.event("Reloading")
        try:
            cfg = self.load()
        except LocalError as exc:
            self.log.event(f"{exc}: keeping the running configuration", level=LOG_ERR)
            return
        previous = {p.vs.name: p for p in self.pools}
        names = {vs.name for vs in cfg.virtual_servers}
        for name, pool in previous.items():
            if name not in names:
                self._act(pool.stop(stopping=False))
                self.log.event(f"Removing Virtual Server {name}")
        self.config = cfg
        self._install(cfg, previous)
        self._mark_dirty()

    async def _vips_gone(self, limit: float = VIP_RELEASE_WAIT) -> None:
        """On a stop of the whole daemon, the VRRP child releases the VIPs while this process
        stops: the table goes only once they are gone (or after ``limit``), so that a client
        arriving meanwhile is balanced rather than refused by this director's own stack."""
        addresses = {a for svc in self.installed or () for a, _ in svc.endpoints}
        deadline = self.clock() + limit
        while any(_is_local(a) for a in addresses) and self.clock() < deadline:
            await asyncio.sleep(0.01)

    async def shutdown(self) -> None:
        self._stopping = True  # the table stays as it is until removed (or kept, -I)
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        for slot in self.slots.values():
            if slot.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await slot.task
        keep = bool(getattr(self.options, "dont_release_ipvs", False))
        for pool in self.pools:
            self._act(pool.stop(keep=keep))
        self._dirty = False
        if self._applying is not None:
            with contextlib.suppress(Exception):
                await self._applying  # a transaction under way ends first
        if self.plane is not None and not keep and getattr(self.options, "vrrp_running", False):
            await self._vips_gone()
        if self.plane is not None and not keep:
            try:
                self._plane_call(self.plane.remove)
            except HostError as exc:
                self.log.event(f"ERROR: cannot remove the load balancer table: {exc}",
                               level=LOG_ERR)
        await self.notifier.close()
        await self._close_control()

    # ------------------------------------------------------------------ control socket

    def status(self) -> dict[str, Any]:
        counters: Mapping[tuple[str, Any, int], Counters] = {}
        if self.plane is not None:
            with contextlib.suppress(HostError):
                counters = self._plane_call(self.plane.counters)
        return report.status(self, counters)

    async def _open_control(self) -> None:
        path = self.socket_path
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=path)
            os.chmod(path, 0o600)
        except OSError as exc:
            self.log.event(f"ERROR: control socket {path}: {exc.strerror}", level=LOG_ERR)

    async def _open_metrics(self) -> None:
        """With ``--metrics-listen`` and no VRRP child (-C), this process serves the page;
        otherwise the VRRP child's page carries these families (it asks for them)."""
        listen = getattr(self.options, "metrics_listen", None)
        if not listen or getattr(self.options, "vrrp_running", True):
            return
        from pykeepalived.daemon.metrics import MetricsServer

        async def text() -> bytes:
            return report.metrics_text(self.status()).encode()

        try:
            self._metrics = MetricsServer(None, lambda _name: False, None, listen, extra=text)
            await self._metrics.start()
            self.log.event(f"Serving Prometheus metrics on {self._metrics.host}:"
                           f"{self._metrics.bound_port}")
        except LocalError as exc:
            self.log.event(f"ERROR: {exc}", level=LOG_ERR)
            self._metrics = None

    async def _close_control(self) -> None:
        if self._metrics is not None:
            await self._metrics.stop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10.0)
            try:
                request = json.loads(line[:MAX_REQUEST] or b"{}")
                command = request.get("command") if isinstance(request, dict) else None
            except ValueError:
                command = None
            answer: dict[str, Any]
            if command == "status":
                answer = {"ok": True, **self.status()}
            elif command == "metrics":
                answer = {"ok": True, "text": report.metrics_text(self.status())}
            else:
                answer = {"ok": False, "error": "unknown request (status, metrics)"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
