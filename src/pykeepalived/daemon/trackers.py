"""`track_file` and `track_process`: trackers that feed instance priorities, on the loop.

track_file (keepalived trackers/track_file.c):
  The tracked value is the integer at the start of the file, read like C's strtol(buf, 0, 0)
  from its first 127 bytes: leading blanks, a sign, `0x` hex or leading-0 octal, and parsing
  stops at the first other character. A missing or empty file, or one without digits, is 0.
  A number outside the 32-bit range is logged and ignored (the previous value stays). The
  file's directory is watched with inotify (through ctypes, read on the loop): a close after
  writing, or a rename onto the name, re-reads it; a delete or rename away counts as 0.
  What a value means to an instance is `track_file_priority(value, weight, reverse)`.

track_process (keepalived core/track_process.c) lives in :mod:`.proc_tracker` and is
re-exported here: the counts follow the kernel's process events (the proc connector: fork,
exec, comm, exit) after one scan of /proc, as keepalived's do, with a full scan after lost
events and every 60 s; where the connector cannot be used, /proc is scanned every second.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pykeepalived.daemon.proc_tracker import (
    TASK_COMM_LEN,
    ParamMatch,
    ProcessInfo,
    ProcessTracker,
    TrackProcessSpec,
    params_match,
    process_matches,
    scan_processes,
)
from pykeepalived.errors import LocalError

__all__ = [
    "FAULT_PRIORITY",
    "TASK_COMM_LEN",
    "FileTracker",
    "ParamMatch",
    "ProcessInfo",
    "ProcessTracker",
    "TrackFileSpec",
    "TrackProcessSpec",
    "TrackerError",
    "params_match",
    "parse_strtol",
    "process_matches",
    "read_track_file",
    "scan_processes",
    "track_file_priority",
]

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
        self._libc = ctypes.CDLL(None, use_errno=True)  # libc, which the interpreter links
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
