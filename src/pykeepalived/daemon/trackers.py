"""`track_file` and `track_process`: trackers that feed instance priorities, on the loop.

track_file (keepalived trackers/track_file.c):
  The tracked value is the integer at the start of the file, read like C's strtol(buf, 0, 0)
  from its first 127 bytes: leading blanks, a sign, `0x` hex or leading-0 octal, and parsing
  stops at the first other character. A missing or empty file, or one without digits, is 0.
  A number outside the 32-bit range is logged and ignored (the previous value stays). The
  file's directory is watched with inotify (through ctypes, read on the loop): a close after
  writing, or a rename onto the name, re-reads it; a delete or rename away counts as 0.
  What a value means to an instance is `track_file_priority(value, weight, reverse)`.

track_process (keepalived core/track_process.c):
  keepalived listens to the kernel's process-events connector. Here the process table is
  scanned from /proc every `interval` seconds (in a worker thread, so the loop never waits
  on /proc): simpler, needs no CAP_NET_ADMIN, and at the cost of noticing a change up to one
  interval late. Matching is as keepalived's: by the 15-character `comm` name, or with
  `full_command` (implied by parameters or `param_match`) by argv[0] of /proc/PID/cmdline with
  the parameters compared exactly, as a leading run (`partial`), or with the last one as a
  prefix (`initial`). Zombies never count. The tracker is "up" while the number of matching
  processes is within [quorum, quorum_max]; going up waits `fork_delay`, going down waits
  `terminate_delay` (`delay` sets both), and a change that reverts before its delay is over
  is never reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pykeepalived.errors import LocalError

LogFn = Callable[[str], object]

# inotify(7) constants.
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT_HEADER = struct.Struct("iIII")

#: The priority a tracker reports to mean "this instance goes to FAULT".
FAULT_PRIORITY = -254

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


class TrackerError(LocalError):
    """A tracker could not be set up (inotify unavailable, bad spec)."""


# ---------------------------------------------------------------------------------------
# track_file


@dataclass(frozen=True)
class TrackFileSpec:
    """One `track_file` (or legacy `vrrp_track_file`) block."""

    name: str
    path: str
    weight: int = 1
    reverse: bool = False
    init_file: int | None = None  #: value written when the file is missing, if set
    init_overwrite: bool = False  #: write init_file even when the file exists


def parse_strtol(text: str) -> int | None:
    """C strtol(text, NULL, 0); None when it would overflow a C long (ERANGE)."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    base = 10
    if text[i : i + 2].lower() == "0x" and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
    elif i < n and text[i] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    start = i
    while i < n and text[i].lower() in digits:
        i += 1
    if i == start:
        return 0
    value = sign * int(text[start:i], base)
    if not -(2**63) <= value <= 2**63 - 1:
        return None
    return value


def read_track_file(path: str) -> int | None:
    """The value keepalived reads from a tracked file; None means "invalid, keep the old"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 127)
    except OSError:
        return 0
    finally:
        os.close(fd)
    if not data:
        return 0
    value = parse_strtol(data.split(b"\0", 1)[0].decode("latin-1"))
    if value is None or not _INT32_MIN <= value <= _INT32_MAX + 1:
        return None
    return value


def track_file_priority(value: int, weight: int, reverse: bool = False) -> int:
    """How a tracked file's value moves an instance's priority; FAULT_PRIORITY means FAULT.

    With weight 0 any non-zero value is a fault (with `reverse`, zero is). Otherwise the
    value times the weight (negated with `reverse`), clamped to -254..253, is added, and
    -254 or below means FAULT.
    """
    if weight == 0:
        fault = value == 0 if reverse else value != 0
        return FAULT_PRIORITY if fault else 0
    delta = value * weight * (-1 if reverse else 1)
    return max(FAULT_PRIORITY, min(253, delta))


class _Inotify:
    """A minimal inotify(7) binding through libc."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        self._libc = ctypes.CDLL(name, use_errno=True)
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise TrackerError(f"inotify_init1 failed: {os.strerror(err)}")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            err = ctypes.get_errno()
            raise TrackerError(f"inotify_add_watch({path}) failed: {os.strerror(err)}")
        return int(wd)

    def read_events(self) -> list[tuple[int, int, str]]:
        """(wd, mask, name) of every queued event; empty when none are queued."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            except InterruptedError:
                continue
            if not buf:
                return events
            offset = 0
            while offset + _EVENT_HEADER.size <= len(buf):
                wd, mask, _cookie, length = _EVENT_HEADER.unpack_from(buf, offset)
                offset += _EVENT_HEADER.size
                raw = buf[offset : offset + length].split(b"\0", 1)[0]
                offset += length
                events.append((wd, mask, os.fsdecode(raw)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class FileTracker:
    """Watches track files and calls on_change(name, value) when a file's value changes."""

    def __init__(
        self,
        specs: Sequence[TrackFileSpec],
        on_change: Callable[[str, int], object],
        log: LogFn | None = None,
    ) -> None:
        self.specs = {s.name: s for s in specs}
        self._on_change = on_change
        self._log: LogFn = log or (lambda _m: None)
        self.values: dict[str, int] = {}
        self._inotify: _Inotify | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # watch descriptor -> file name in that directory -> tracker names
        self._watches: dict[int, dict[str, list[str]]] = {}

    def value(self, name: str) -> int:
        return self.values.get(name, 0)

    def start(self) -> None:
        """Initialise the files, read their values (no callbacks for these) and watch them."""
        self._loop = asyncio.get_running_loop()
        self._inotify = _Inotify()
        dirs: dict[str, int] = {}
        for spec in self.specs.values():
            self._init_file(spec)
            value = read_track_file(spec.path)
            self.values[spec.name] = 0 if value is None else value
            directory, base = os.path.split(os.path.abspath(spec.path))
            if directory not in dirs:
                dirs[directory] = self._inotify.add_watch(
                    directory, IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
                )
            self._watches.setdefault(dirs[directory], {}).setdefault(base, []).append(spec.name)
        self._loop.add_reader(self._inotify.fd, self._on_readable)

    async def stop(self) -> None:
        if self._inotify is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        self._watches.clear()

    def _init_file(self, spec: TrackFileSpec) -> None:
        if spec.init_file is None:
            return
        if os.path.exists(spec.path) and not spec.init_overwrite:
            return
        try:
            with open(spec.path, "w", encoding="ascii") as fh:
                fh.write(f"{spec.init_file}\n")
        except OSError as exc:
            self._log(f"Unable to write track file {spec.path} - {exc.strerror}")

    def _on_readable(self) -> None:
        assert self._inotify is not None
        for wd, mask, name in self._inotify.read_events():
            if mask & IN_ISDIR:
                continue
            for tracker in self._watches.get(wd, {}).get(name, []):
                if mask & (IN_DELETE | IN_MOVED_FROM):
                    # The file has gone: treated as though it held 0.
                    self._update(tracker, 0)
                else:
                    self.refresh(tracker)

    def refresh(self, name: str) -> None:
        """Re-read one file now (inotify does this by itself)."""
        spec = self.specs[name]
        value = read_track_file(spec.path)
        if value is None:
            self._log(f"Invalid number read from {spec.path} - ignoring")
            return
        self._update(name, value)

    def _update(self, name: str, value: int) -> None:
        if self.values.get(name) == value:
            return
        self.values[name] = value
        self._on_change(name, value)


# ---------------------------------------------------------------------------------------
# track_process

ParamMatch = Literal["none", "exact", "partial", "initial"]

#: The kernel truncates `comm` to this many characters.
TASK_COMM_LEN = 15


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


def scan_processes(proc_root: str = "/proc", want_cmdline: bool = True) -> list[ProcessInfo]:
    """Every live (non-zombie) process with its comm and, if wanted, its cmdline."""
    result: list[ProcessInfo] = []
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return result
    for entry in entries:
        if not entry.isdigit():
            continue
        base = f"{proc_root}/{entry}"
        try:
            with open(f"{base}/stat", "rb") as fh:
                stat_line = fh.read()
            open_paren = stat_line.index(b"(")
            close_paren = stat_line.rindex(b")")
            comm = stat_line[open_paren + 1 : close_paren].decode(errors="replace")
            state = stat_line[close_paren + 2 : close_paren + 3]
            if state == b"Z":
                continue
            cmdline = b""
            if want_cmdline:
                with open(f"{base}/cmdline", "rb") as fh:
                    cmdline = fh.read()
        except (OSError, ValueError):
            continue  # the process went away while we looked
        result.append(ProcessInfo(int(entry), comm, cmdline))
    return result


class _ProcessState:
    def __init__(self, spec: TrackProcessSpec) -> None:
        self.spec = spec
        self.count = 0
        self.up: bool | None = None  # what was last reported
        self.timer: asyncio.TimerHandle | None = None
        self.pending: bool | None = None  # the verdict the running timer would report


class ProcessTracker:
    """Counts matching processes and calls on_change(name, up) when a quorum is won or lost.

    The first scan reports every tracker's initial state (no delay applies to it).
    """

    def __init__(
        self,
        specs: Sequence[TrackProcessSpec],
        on_change: Callable[[str, bool], object],
        log: LogFn | None = None,
        *,
        interval: float = 1.0,
        proc_root: str = "/proc",
    ) -> None:
        self._states = {s.name: _ProcessState(s) for s in specs}
        self._on_change = on_change
        self._log: LogFn = log or (lambda _m: None)
        self.interval = interval
        self.proc_root = proc_root
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.scans = 0

    def up(self, name: str) -> bool | None:
        return self._states[name].up

    def count(self, name: str) -> int:
        return self._states[name].count

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name="track_process scan")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for state in self._states.values():
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None

    async def scan_once(self) -> None:
        """One scan of the process table and the resulting (possibly delayed) reports."""
        want_cmdline = any(s.spec.uses_cmdline for s in self._states.values())
        procs = await asyncio.to_thread(scan_processes, self.proc_root, want_cmdline)
        self.scans += 1
        for state in self._states.values():
            count = sum(1 for p in procs if process_matches(state.spec, p))
            self._apply(state, count)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self.scan_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep tracking whatever one scan ran into
                self._log(f"track_process scan failed: {exc!r}")
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))

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
