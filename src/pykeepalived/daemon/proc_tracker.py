"""`track_process`: counting the processes that match each spec, from the kernel's events.

As keepalived's core/track_process.c:

- Matching is by the 15-character `comm` name, or with `full_command` (implied by parameters
  or `param_match`) by argv[0] of /proc/PID/cmdline with the parameters compared exactly, as a
  leading run (`partial`), or with the last one as a prefix (`initial`). Zombies never count.
- The tracker subscribes to the kernel's process events (the proc connector,
  :mod:`pykeepalived.net.proc_events`, read on the loop with ``add_reader``), then scans /proc
  once for the processes already running. From then on only events change the counts, and only
  events of whole processes (a thread's fork, exec or exit is ignored):

  - fork: a child of a counted process counts wherever its parent counts (until it execs it
    has its parent's comm and command line);
  - exec: the process's /proc/PID/stat (and cmdline, if a spec matches on it) is read again
    and its place in every spec decided anew;
  - comm (``prctl(PR_SET_NAME)``): likewise, for the specs that match on comm only;
  - exit: it counts nowhere.

  When the kernel had to drop events (our queue was full: ENOBUFS, or a gap in a CPU's
  sequence numbers) /proc is scanned again, at most once a second, and the receive buffer
  doubled; a full scan every 60 s reconciles anything else. Scans run in a worker thread: an
  event that arrives during one wins over what the scan read of that process.
- The socket is made in the network namespace the daemon started in (``-s`` moves it later:
  keepalived too opens its socket before setns). Where the connector cannot be used (no
  CAP_NET_ADMIN, started in a network namespace other than the initial one, a user
  namespace, a kernel without CONFIG_PROC_EVENTS) keepalived's track_process does not work;
  here the tracker says why, once, and scans /proc every `interval` (1 s) instead.
  :attr:`ProcessTracker.mode` says which it does.

The tracker is "up" while the number of matching processes is within [quorum, quorum_max];
going up waits `fork_delay`, going down waits `terminate_delay` (`delay` sets both), and a
change that reverts before its delay is over is never reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pykeepalived.net.netns import origin_netns
from pykeepalived.net.proc_events import Batch, ProcEvent, ProcEventSocket, describe_error

LogFn = Callable[[str], object]
ParamMatch = Literal["none", "exact", "partial", "initial"]
Mode = Literal["proc-events", "polling"]

#: The kernel truncates `comm` to this many characters.
TASK_COMM_LEN = 15
#: How long the kernel may take to answer the subscription before it is taken as a no.
ACK_TIMEOUT = 1.0
#: Seconds between the full scans that reconcile the counts kept from events.
RECONCILE_INTERVAL = 60.0
#: After lost events, full scans are at least this many seconds apart.
MIN_RESCAN_GAP = 1.0
#: Datagrams read per wake-up of the loop, so that a storm of events cannot starve it.
READ_LIMIT = 128


@dataclass(frozen=True)
class TrackProcessSpec:
    """One `vrrp_track_process` block."""

    name: str
    process: str
    params: tuple[str, ...] | None = None
    param_match: ParamMatch = "none"
    full_command: bool = False
    quorum: int = 1
    quorum_max: int | None = None  #: None: no upper bound
    weight: int = 0
    reverse: bool = False
    fork_delay: float = 0.0
    terminate_delay: float = 0.0

    @property
    def effective_param_match(self) -> ParamMatch:
        # Giving parameters without param_match means they must match exactly.
        if self.params and self.param_match == "none":
            return "exact"
        return self.param_match

    @property
    def uses_cmdline(self) -> bool:
        return self.full_command or bool(self.params) or self.param_match != "none"

    def within_quorum(self, count: int) -> bool:
        upper = self.quorum_max if self.quorum_max is not None else count
        return self.quorum <= count <= upper


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    comm: str
    cmdline: bytes  #: NUL-separated, NUL-terminated as in /proc/PID/cmdline


def params_match(spec: TrackProcessSpec, proc_params: bytes) -> bool:
    """keepalived's check_params on the cmdline bytes after argv[0]'s terminating NUL."""
    match = spec.effective_param_match
    wanted = b"".join(p.encode() + b"\0" for p in spec.params) if spec.params else None
    if match == "none":
        return True
    if match == "exact":
        if wanted is None:
            return len(proc_params) == 0
        return proc_params == wanted
    if wanted is None:
        return True
    if len(proc_params) < len(wanted):
        return False
    if match == "partial":
        return proc_params.startswith(wanted)
    # "initial": the last parameter only has to start the process's argument.
    return proc_params.startswith(wanted[:-1])


def process_matches(spec: TrackProcessSpec, proc: ProcessInfo) -> bool:
    if spec.uses_cmdline:
        argv0, _, rest = proc.cmdline.partition(b"\0")
        if argv0.decode(errors="replace") != spec.process:
            return False
        return params_match(spec, rest)
    return proc.comm == spec.process[:TASK_COMM_LEN]


def read_process(pid: int, proc_root: str = "/proc", want_cmdline: bool = True
                 ) -> ProcessInfo | None:
    """One live process's comm and, if wanted, cmdline; None if it is gone or a zombie."""
    base = f"{proc_root}/{pid}"
    try:
        with open(f"{base}/stat", "rb") as fh:
            stat_line = fh.read()
        open_paren = stat_line.index(b"(")
        close_paren = stat_line.rindex(b")")
        if stat_line[close_paren + 2 : close_paren + 3] == b"Z":
            return None
        comm = stat_line[open_paren + 1 : close_paren].decode(errors="replace")
        cmdline = b""
        if want_cmdline:
            with open(f"{base}/cmdline", "rb") as fh:
                cmdline = fh.read()
    except (OSError, ValueError):
        return None  # the process went away while we looked
    return ProcessInfo(pid, comm, cmdline)


def scan_processes(proc_root: str = "/proc", want_cmdline: bool = True) -> list[ProcessInfo]:
    """Every live (non-zombie) process with its comm and, if wanted, its cmdline."""
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return []
    result: list[ProcessInfo] = []
    for entry in entries:
        if entry.isdigit():
            info = read_process(int(entry), proc_root, want_cmdline)
            if info is not None:
                result.append(info)
    return result


class EventSource(Protocol):
    """Where the events come from: a :class:`ProcEventSocket` (or a test's stand-in)."""

    def fileno(self) -> int: ...
    def read(self, limit: int = READ_LIMIT) -> Batch: ...
    def is_answer(self, event: ProcEvent) -> bool: ...
    def grow_rcvbuf(self) -> int: ...
    def close(self) -> None: ...


def open_proc_events() -> ProcEventSocket:
    """The connector socket, made in the namespace the daemon started in when ``-s`` moved it
    (the connector answers only in the initial network namespace)."""
    return ProcEventSocket(netns=origin_netns())


class _ProcessState:
    def __init__(self, spec: TrackProcessSpec) -> None:
        self.spec = spec
        self.pids: set[int] = set()  # the matching processes, as far as we know
        self.count = 0  # what _apply last saw
        self.up: bool | None = None  # what was last reported
        self.timer: asyncio.TimerHandle | None = None
        self.pending: bool | None = None  # the verdict the running timer would report


class ProcessTracker:
    """Counts matching processes and calls on_change(name, up) when a quorum is won or lost.

    The first scan reports every tracker's initial state (no delay applies to it). ``events``:
    follow the kernel's process events (None: when ``proc_root`` is the real /proc), from
    what ``event_source`` opens (it raises OSError when it cannot).
    """

    def __init__(
        self,
        specs: Sequence[TrackProcessSpec],
        on_change: Callable[[str, bool], object],
        log: LogFn | None = None,
        *,
        interval: float = 1.0,
        proc_root: str = "/proc",
        events: bool | None = None,
        reconcile_interval: float = RECONCILE_INTERVAL,
        event_source: Callable[[], EventSource] = open_proc_events,
    ) -> None:
        self._states = {s.name: _ProcessState(s) for s in specs}
        self._on_change = on_change
        self._log: LogFn = log or (lambda _m: None)
        self.interval = interval
        self.proc_root = proc_root
        self.use_events = proc_root == "/proc" if events is None else events
        self.reconcile_interval = reconcile_interval
        self._open_events = event_source
        #: "proc-events" while following the kernel's events, "polling" otherwise
        self.mode: Mode = "polling"
        self.fallback_reason: str | None = None  #: why the events are not followed
        self._want_cmdline = any(s.uses_cmdline for s in specs)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: EventSource | None = None
        self._ack: asyncio.Future[int] | None = None
        self._rescan = asyncio.Event()
        self._scan_lock = asyncio.Lock()
        self._scanning = False
        self._touched: set[int] = set()  # processes with an event during the running scan
        self._initialised = False  # a full scan has set the counts
        self._last_scan_end = -math.inf
        self.scans = 0
        self.events_handled = 0
        self.overruns = 0

    def up(self, name: str) -> bool | None:
        return self._states[name].up

    def count(self, name: str) -> int:
        return self._states[name].count

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._task is not None:
            return
        if self.use_events:
            self._subscribe(self._loop)
        self._task = self._loop.create_task(self._run(), name="track_process")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for state in self._states.values():
            self._cancel_timer(state)

    def _subscribe(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            sock = self._open_events()
        except OSError as exc:
            self._fall_back(describe_error(exc))
            return
        self._socket = sock
        self._ack = loop.create_future()
        loop.add_reader(sock.fileno(), self._readable)
        self.mode = "proc-events"

    def _unsubscribe(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        if self._ack is not None and not self._ack.done():
            self._ack.cancel()

    def _fall_back(self, reason: str) -> None:
        self._unsubscribe()
        self.mode = "polling"
        self.fallback_reason = reason
        self._log(f"track_process: cannot follow the kernel's process events ({reason});"
                  f" scanning /proc every {self.interval:g}s instead")

    async def _run(self) -> None:
        if self.mode == "proc-events":
            await self._confirm()
        if self.mode == "proc-events":
            await self._follow_events()
        else:
            await self._poll()

    async def _confirm(self) -> None:
        """Wait for the kernel's answer to the subscription; fall back to polling on a no."""
        assert self._ack is not None
        try:
            err = await asyncio.wait_for(asyncio.shield(self._ack), ACK_TIMEOUT)
        except TimeoutError:
            self._fall_back("the kernel does not answer: is CONFIG_PROC_EVENTS enabled?")
            return
        if err:
            self._fall_back(describe_error(OSError(err, os.strerror(err))))

    async def _follow_events(self) -> None:
        loop = asyncio.get_running_loop()
        await self._scan_logged()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan.wait(), self.reconcile_interval)
            if self._rescan.is_set():
                await asyncio.sleep(max(0.0, self._last_scan_end + MIN_RESCAN_GAP - loop.time()))
                self._rescan.clear()
            await self._scan_logged()

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self._scan_logged()
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _scan_logged(self) -> None:
        try:
            await self.scan_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep tracking whatever one scan ran into
            self._log(f"track_process scan failed: {exc!r}")

    # ------------------------------------------------------------------ counting

    async def scan_once(self) -> None:
        """One full scan of the process table and the resulting (possibly delayed) reports.

        The scan runs in a worker thread. A process with an event while it runs keeps what
        the event made of it: the scan may have read it before the event.
        """
        async with self._scan_lock:
            self._scanning, self._touched = True, set()
            try:
                procs = await asyncio.to_thread(scan_processes, self.proc_root,
                                                self._want_cmdline)
            finally:
                self._scanning = False
            touched, self._touched = self._touched, set()
            self.scans += 1
            self._initialised = True
            for state in self._states.values():
                found = {p.pid for p in procs if process_matches(state.spec, p)}
                state.pids = (found - touched) | (state.pids & touched)
                self._apply(state, len(state.pids))
            self._last_scan_end = asyncio.get_running_loop().time()

    def _readable(self) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            batch = sock.read(READ_LIMIT)
        except OSError as exc:
            self._log(f"process monitor netlink recv error {exc.errno} - {exc.strerror}")
            self._rescan.set()
            return
        for event in batch.events:
            if sock.is_answer(event) and self._ack is not None and not self._ack.done():
                self._ack.set_result(event.err)
        if batch.overrun:
            self.overruns += 1
            size = sock.grow_rcvbuf()
            if not self._rescan.is_set():
                self._log("track_process: the kernel dropped process events (receive queue"
                          f" full), rescanning /proc; receive buffer now {size} bytes")
            self._rescan.set()
        for cpu, missed in batch.missed:
            if not self._rescan.is_set():
                self._log(f"Missed {missed} messages on CPU {cpu}")
            self._rescan.set()
        if self._initialised or self._scanning:
            # Before the first scan starts, what the events did is in /proc for it to see.
            self.handle_events(batch.events)

    def handle_events(self, events: Iterable[ProcEvent]) -> None:
        """Apply process events to the counts (the connector's reader calls this)."""
        for event in events:
            if not event.leader:
                continue  # a thread's fork, exec or exit
            pid = event.tgid
            if event.kind == "exit":
                self._place(pid, None, comm_only=False)
            elif event.kind == "fork":
                self._forked(event.parent, pid)
            elif event.kind == "exec":
                self._recheck(pid, comm_only=False)
            elif event.kind == "comm":
                self._recheck(pid, comm_only=True)
            else:
                continue
            self.events_handled += 1
            if self._scanning:
                self._touched.add(pid)

    def _forked(self, parent: int, child: int) -> None:
        if self._scanning:
            # The parent's place may be what the running scan is correcting: look instead.
            self._recheck(child, comm_only=False)
            return
        for state in self._states.values():
            if parent in state.pids:
                self._set(state, child, True)

    def _recheck(self, pid: int, comm_only: bool) -> None:
        want_cmdline = self._want_cmdline and not comm_only
        self._place(pid, read_process(pid, self.proc_root, want_cmdline), comm_only)

    def _place(self, pid: int, info: ProcessInfo | None, comm_only: bool) -> None:
        """Count ``pid`` in the specs it matches and nowhere else (None: nowhere).
        ``comm_only``: leave the specs that match on the command line alone."""
        for state in self._states.values():
            if comm_only and state.spec.uses_cmdline:
                continue
            self._set(state, pid, info is not None and process_matches(state.spec, info))

    def _set(self, state: _ProcessState, pid: int, member: bool) -> None:
        if member == (pid in state.pids):
            return
        if member:
            state.pids.add(pid)
        else:
            state.pids.discard(pid)
        if self._initialised:  # during the first scan, that scan reports
            self._apply(state, len(state.pids))

    # ------------------------------------------------------------------ reporting

    def _apply(self, state: _ProcessState, count: int) -> None:
        spec = state.spec
        if count != state.count:
            self._log(
                f"Process {spec.name}, number of current processes changed from "
                f"{state.count} to {count}"
            )
        state.count = count
        now_up = spec.within_quorum(count)
        if state.up is None:
            self._report(state, now_up)
            return
        if now_up == state.up:
            self._cancel_timer(state)
            return
        delay = spec.fork_delay if now_up else spec.terminate_delay
        if delay <= 0:
            self._cancel_timer(state)
            self._report(state, now_up)
        elif state.pending != now_up:
            self._cancel_timer(state)
            state.pending = now_up
            state.timer = asyncio.get_running_loop().call_later(delay, self._delay_expired, state)

    def _delay_expired(self, state: _ProcessState) -> None:
        state.timer = None
        state.pending = None
        now_up = state.spec.within_quorum(state.count)
        if now_up != state.up:
            self._report(state, now_up)

    def _cancel_timer(self, state: _ProcessState) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        state.pending = None

    def _report(self, state: _ProcessState, now_up: bool) -> None:
        state.up = now_up
        self._on_change(state.spec.name, now_up)
