"""keepalived-compatible logging: console, syslog, the systemd journal and a log file.

Where each line goes, following keepalived's flags:

* console (`-l`, effective with `-n`): stderr, prefixed by the C locale `%c` timestamp
  exactly as keepalived prints it: `Wed Nov 25 17:11:14 2026: (VI_1) Entering MASTER STATE`
  (no sub-second part; the day of month is space-padded).
* syslog (unless `-G`): when the journal's native socket exists, one native-protocol datagram
  per line with MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY, SYSLOG_PID and, when
  known, VRRP_INSTANCE / VRRP_STATE / VRRP_PRIORITY, so `journalctl -u pykeepalived` shows the
  same text and the fields can be filtered on. Otherwise a classic syslog datagram to
  /dev/log, as glibc's syslog() with LOG_PID formats it:
  `<30>Nov 25 17:11:14 Keepalived_vrrp[1234]: (VI_1) Entering MASTER STATE`.
  The facility is LOG_DAEMON, or LOG_LOCAL0..7 for `-S 0..7`.
* log file (`-g FILE`): upstream keepalived's file format, with nanoseconds:
  `Wed Nov 25 17:11:14.123456789 2026: (VI_1) Entering MASTER STATE`.

Sockets are non-blocking and unconnected (one sendto per line), so a restarted syslog daemon
or journald is picked up, and a stuck one makes us drop lines (counted) instead of stalling the
event loop. Lines from Python's `logging` under the `pykeepalived` logger are routed here too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import sys
import syslog as _syslog
import time
from dataclasses import dataclass
from typing import IO

LOG_EMERG = _syslog.LOG_EMERG
LOG_ALERT = _syslog.LOG_ALERT
LOG_CRIT = _syslog.LOG_CRIT
LOG_ERR = _syslog.LOG_ERR
LOG_WARNING = _syslog.LOG_WARNING
LOG_NOTICE = _syslog.LOG_NOTICE
LOG_INFO = _syslog.LOG_INFO
LOG_DEBUG = _syslog.LOG_DEBUG

LOG_DAEMON = _syslog.LOG_DAEMON
_LOCAL_FACILITIES = (
    _syslog.LOG_LOCAL0,
    _syslog.LOG_LOCAL1,
    _syslog.LOG_LOCAL2,
    _syslog.LOG_LOCAL3,
    _syslog.LOG_LOCAL4,
    _syslog.LOG_LOCAL5,
    _syslog.LOG_LOCAL6,
    _syslog.LOG_LOCAL7,
)

DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket"
DEFAULT_SYSLOG_SOCKET = "/dev/log"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def facility_from_option(value: int | str | None) -> int:
    """keepalived's `-S`: 0..7 or local0..local7 -> LOG_LOCALn, user, daemon; None -> LOG_DAEMON.

    Raises ValueError for anything else (keepalived then says "Invalid log facility" and keeps
    its default)."""
    if value is None:
        return LOG_DAEMON
    text = str(value)
    named = {"user": _syslog.LOG_USER, "daemon": LOG_DAEMON}
    if text in named:
        return named[text]
    digit = text.removeprefix("local")
    if len(digit) == 1 and digit in "01234567":
        return _LOCAL_FACILITIES[int(digit)]
    raise ValueError(f"Invalid log facility '{text}'")


def console_timestamp(when: float) -> str:
    """C-locale strftime("%c"), what keepalived puts before each console line."""
    t = time.localtime(when)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {t.tm_year}"
    )


def file_timestamp(when_ns: int) -> str:
    """Upstream's log-file stamp: "%a %b %d %T.<nanoseconds> %Y"."""
    seconds, nanos = divmod(when_ns, 1_000_000_000)
    t = time.localtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nanos:09d} {t.tm_year}"
    )


def syslog_datagram(
    message: str, *, priority: int, facility: int, ident: str, pid: int, when: float
) -> bytes:
    """A datagram for /dev/log in the form glibc's syslog(3) sends (RFC 3164 style)."""
    t = time.localtime(when)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"<{facility | priority}>{stamp} {ident}[{pid}]: {message}".encode(errors="replace")


def journal_field(name: str, value: str) -> bytes:
    """One field of the journal native protocol.

    Values containing a newline use the binary form: NAME, newline, the value's length as a
    little-endian 64-bit integer, the value, newline.
    """
    data = value.encode(errors="replace")
    key = name.encode()
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


def journal_datagram(fields: dict[str, str]) -> bytes:
    return b"".join(journal_field(k, v) for k, v in fields.items())


@dataclass
class LogCounters:
    sent_journal: int = 0
    sent_syslog: int = 0
    dropped: int = 0


class EventLog:
    """Where the daemon's keepalived-style log lines go. Build it with `setup_logging`."""

    def __init__(
        self,
        *,
        console: IO[str] | None = None,
        syslog: bool = True,
        facility: int = LOG_DAEMON,
        log_file: str | None = None,
        detailed: bool = False,
        ident: str = "Keepalived_vrrp",
        journal_socket: str | None = DEFAULT_JOURNAL_SOCKET,
        syslog_socket: str = DEFAULT_SYSLOG_SOCKET,
    ) -> None:
        self.console = console
        self.syslog = syslog
        self.facility = facility
        self.detailed = detailed
        self.ident = ident
        self.journal_socket = journal_socket
        self.syslog_socket = syslog_socket
        self.counters = LogCounters()
        self._file: IO[str] | None = None
        if log_file is not None:
            self._file = open(log_file, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._sock: socket.socket | None = None
        if syslog:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def uses_journal(self) -> bool:
        return self.journal_socket is not None and os.path.exists(self.journal_socket)

    def event(
        self,
        message: str,
        *,
        level: int = LOG_INFO,
        instance: str | None = None,
        state: str | None = None,
        priority: int | None = None,
    ) -> None:
        """Log one line everywhere configured; structured fields go to the journal only."""
        now_ns = time.time_ns()
        now = now_ns / 1e9
        if self.console is not None:
            with contextlib.suppress(OSError, ValueError):
                self.console.write(f"{console_timestamp(now)}: {message}\n")
                self.console.flush()
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.write(f"{file_timestamp(now_ns)}: {message}\n")
                self._file.flush()
        if self._sock is not None:
            self._send(message, level, now, instance, state, priority)

    def detail(self, message: str, **fields: object) -> None:
        """A line keepalived only writes with -D (detailed logging)."""
        if self.detailed:
            self.event(message, **fields)  # type: ignore[arg-type]

    def __call__(self, message: str) -> None:
        """Lets an EventLog be passed wherever a plain `log(message)` callable is wanted."""
        self.event(message)

    def _send(
        self,
        message: str,
        level: int,
        now: float,
        instance: str | None,
        state: str | None,
        priority: int | None,
    ) -> None:
        assert self._sock is not None
        if self.uses_journal:
            assert self.journal_socket is not None
            fields = {
                "MESSAGE": message,
                "PRIORITY": str(level),
                "SYSLOG_IDENTIFIER": self.ident,
                "SYSLOG_FACILITY": str(self.facility >> 3),
                "SYSLOG_PID": str(os.getpid()),
            }
            if instance is not None:
                fields["VRRP_INSTANCE"] = instance
            if state is not None:
                fields["VRRP_STATE"] = state
            if priority is not None:
                fields["VRRP_PRIORITY"] = str(priority)
            if self._sendto(journal_datagram(fields), self.journal_socket):
                self.counters.sent_journal += 1
                return
        data = syslog_datagram(
            message,
            priority=level,
            facility=self.facility,
            ident=self.ident,
            pid=os.getpid(),
            when=now,
        )
        if self._sendto(data, self.syslog_socket):
            self.counters.sent_syslog += 1
        else:
            self.counters.dropped += 1

    def _sendto(self, data: bytes, path: str) -> bool:
        assert self._sock is not None
        try:
            self._sock.sendto(data, path)
        except OSError:
            return False
        return True

    def handler(self) -> logging.Handler:
        """A logging.Handler that writes records through this EventLog."""
        return _EventLogHandler(self)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._file is not None:
            self._file.close()
            self._file = None


_PY_TO_SYSLOG = {
    logging.CRITICAL: LOG_CRIT,
    logging.ERROR: LOG_ERR,
    logging.WARNING: LOG_WARNING,
    logging.INFO: LOG_INFO,
    logging.DEBUG: LOG_DEBUG,
}


class _EventLogHandler(logging.Handler):
    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = _PY_TO_SYSLOG.get(record.levelno, LOG_INFO)
            self._log.event(
                record.getMessage(),
                level=level,
                instance=getattr(record, "vrrp_instance", None),
                state=getattr(record, "vrrp_state", None),
                priority=getattr(record, "vrrp_priority", None),
            )
        except Exception:
            self.handleError(record)


def setup_logging(
    *,
    console: bool,
    syslog: bool = True,
    facility: int | str | None = None,
    log_file: str | None = None,
    detailed: bool = False,
    ident: str = "Keepalived_vrrp",
    journal_socket: str | None = DEFAULT_JOURNAL_SOCKET,
    syslog_socket: str = DEFAULT_SYSLOG_SOCKET,
    logger_name: str | None = "pykeepalived",
) -> EventLog:
    """Build the daemon's EventLog from keepalived's flags (-l, -G, -S, -g, -D).

    `facility` is the `-S` value (see :func:`facility_from_option`); None means LOG_DAEMON. Unless
    logger_name is None, Python logging under that logger is routed to the EventLog as well.
    """
    event_log = EventLog(
        console=sys.stderr if console else None,
        syslog=syslog,
        facility=facility_from_option(facility),
        log_file=log_file,
        detailed=detailed,
        ident=ident,
        journal_socket=journal_socket,
        syslog_socket=syslog_socket,
    )
    if logger_name is not None:
        logger = logging.getLogger(logger_name)
        for old in [h for h in logger.handlers if isinstance(h, _EventLogHandler)]:
            logger.removeHandler(old)
        logger.addHandler(event_log.handler())
        logger.setLevel(logging.DEBUG if detailed else logging.INFO)
        logger.propagate = False
    return event_log
