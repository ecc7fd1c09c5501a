"""One health checker's verdict logic, as keepalived 2.2.7 keeps it: pure, no I/O, no clock.

A probe (:mod:`pykeepalived.lvs.probes`) reports each attempt as an :class:`Outcome`; a
:class:`CheckerState` turns the stream of outcomes into :class:`Step` s: when to probe next, the
log lines keepalived writes, and whether the checker changed between up and down. The rules are
keepalived's per-kind epilog functions, which differ in small ways operators notice:

* Every checker starts up, or down under ``alpha``; ``has_run`` is false until its first verdict.
  keepalived sets ``retry_it = retry`` at start-up, so one failure is enough to take a checker
  down the first time (SMTP_CHECK resets it before each scheduled check, so it retries even
  then). Retries are ``retry`` extra attempts ``delay_before_retry`` apart.
* TCP_CHECK retries whether up or down; UDP_CHECK and PING_CHECK only while up; HTTP_GET /
  SSL_GET check one URL per attempt (``delay_loop`` apart, unless ``fast_recovery``), retry a
  failing URL and, once down, keep retrying the URL that failed, at the longer of
  ``delay_before_retry`` and ``delay_loop``; DNS_CHECK logs each failure once it has used its
  retries (or always, with ``log_all_failures``); MISC_CHECK measures its next run from the
  start of the last one and can set a weight (``misc_dynamic``); FILE_CHECK follows a number in
  a file (keepalived's ``track_file``: weight 0 means non-zero is a fault).
* A checker's change of state is keepalived's ``update_svr_checker_state``: the pool adds or
  removes the real server when all its checkers agree. On a first verdict that changes nothing,
  keepalived still runs the real server's notify when the checker is down or in alpha mode
  (``Step.notify_initial``).

Log texts are keepalived's, byte for byte (operators grep them), including its odd spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from pykeepalived.lvs.model import (
    Checker,
    DnsCheck,
    FileCheck,
    HttpCheck,
    MiscCheck,
    PingCheck,
    SmtpCheck,
    TcpCheck,
    Timing,
    UdpCheck,
)

#: keepalived registers every checker one second after start-up (BOOTSTRAP_DELAY), plus warmup.
BOOTSTRAP_DELAY = 1.0
#: keepalived watches a track_file with inotify; here it is read this often.
FILE_POLL_INTERVAL = 1.0
#: keepalived's IPVS_WEIGHT_FAULT (INT32_MIN): a track_file value that means fault.
WEIGHT_FAULT = -(2**31)
_INT_MAX = 2**31 - 1
#: MISC_CHECK's next run is never scheduled in the past (keepalived: at least 1 us on).
_MIN_DELAY = 1e-6

Transition: TypeAlias = Literal["up", "down"]
ExitKind: TypeAlias = Literal["exited", "signaled", "timed out"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one probe attempt found. Remote garbage is a failed Outcome, never an exception.

    ``reason`` is a short text for status output ("connection refused", "HTTP status 503").
    ``lines`` are keepalived lines the attempt always logs (e.g. "Read error with server ...").
    ``failure`` is the kind's failure message, logged by the core only where keepalived does:
    a whole line for TCP/UDP/PING ("TCP connection to [..]:tcp:80 timeout."), the step text for
    HTTP ("Timeout connecting"), the text after "DNS_CHECK (rs) " for DNS, the text after
    "SMTP_CHECK " for SMTP. ``skipped``: no verdict (the socket could not be created or bound;
    keepalived logs "... Rescheduling." and tries again after delay_loop).
    """

    ok: bool
    reason: str
    #: MISC_CHECK: the weight a misc_dynamic exit status asks for; FILE_CHECK: the number read
    #: (None: unreadable, keep the previous one)
    weight: int | None = None
    lines: tuple[str, ...] = ()
    failure: str | None = None
    #: MISC_CHECK: how the script ended, and its exit status or signal number
    exit: tuple[ExitKind, int] | None = None
    #: HTTP, when the status code was accepted: (Content-Length, or -1 without one; body bytes
    #: received). keepalived logs a mismatch once per distinct difference.
    content_length: tuple[int, int] | None = None
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """What the runner and the pool do after one outcome."""

    #: seconds until the next probe
    delay: float
    #: keepalived's log lines (LOG_INFO), in order
    lines: tuple[str, ...] = ()
    #: lines keepalived writes only with -D (detailed logging)
    detail_lines: tuple[str, ...] = ()
    #: the checker changed state (keepalived's update_svr_checker_state with a change)
    transition: Transition | None = None
    #: the checker's weight contribution changed to this (misc_dynamic, FILE_CHECK weight): the
    #: real server's weight is its configured weight plus the offsets of all its checkers
    weight_offset: int | None = None
    #: with weight_offset: the real server's weight if this were its only weighted checker
    weight: int | None = None
    #: this outcome gave the checker's first verdict (keepalived's has_run turned true)
    first_run: bool = False
    #: a first verdict without a change of state, on which keepalived still runs the real
    #: server's notify_up/notify_down for its current state (alpha mode, or a down checker)
    notify_initial: bool = False
    #: the checker's state after this outcome
    is_up: bool = True
    #: HTTP_GET / SSL_GET: the index of the URL the next probe checks
    url_index: int = 0


def _timing(checker: Checker) -> Timing:
    return Timing(delay_loop=FILE_POLL_INTERVAL) if isinstance(checker, FileCheck) else \
        checker.timing


def _retries(n: int) -> str:
    return "retry" if n == 1 else "retries"


def parse_track_file_value(data: bytes) -> tuple[int, bool]:
    """The number at the start of a track_file as keepalived reads it (strtol, base 0: decimal,
    0x hex, 0 octal; leading blanks and a sign; no digits is 0), and whether keepalived accepts
    it (within [INT32_MIN, INT32_MAX + 1]; otherwise it logs "Invalid number %d read from %s -
    ignoring" and keeps the previous value). Out of 64-bit range, strtol's clamped value."""
    text = data.decode("latin-1").lstrip(" \t\n\r\f\v")
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    base, digits = 10, "0123456789"
    if text[:2].lower() == "0x" and text[2:3] and text[2:3].lower() in "0123456789abcdef":
        base, digits, text = 16, "0123456789abcdef", text[2:]
    elif text[:1] == "0":
        base, digits = 8, "01234567"
    n = 0
    for ch in text.lower():
        if ch not in digits:
            break
        n = n * base + digits.index(ch)
    value = sign * n
    if not -(2**63) <= value <= 2**63 - 1:  # strtol's ERANGE
        return (2**63 - 1 if value > 0 else -(2**63)), False
    return value, -(2**31) <= value <= 2**31


def misc_timeout(c: MiscCheck) -> float:
    """``misc_timeout``, or delay_loop when unset or 0 (keepalived: the virtual server's)."""
    return c.timeout if c.timeout else c.timing.delay_loop


def track_file_status(value: int, weight: int, reverse: bool) -> int:
    """keepalived's status of a track_file value for one tracker: WEIGHT_FAULT, or the weight
    offset it contributes. Weight 0: non-zero is a fault (zero with ``reverse``)."""
    if weight == 0:
        return WEIGHT_FAULT if (value == 0) == reverse else 0
    product = value * weight * (-1 if reverse else 1)
    return max(-(2**31), min(_INT_MAX, product))


class CheckerState:
    """keepalived's checker_t for one checker of one real server: feed it outcomes.

    ``rs_name`` is keepalived's FMT_RS (``[ip]:tcp:port``, the virtual server's protocol) and
    ``vs_name`` its FMT_VS; ``rs_weight`` the real server's configured weight (misc_dynamic);
    ``log_all_failures`` global_defs' ``checker_log_all_failures`` (the checker's own
    ``log_all_failures`` is in its timing); ``script_name`` the first word of a MISC_CHECK's
    command as keepalived shows it (default: the first word of the command).
    """

    def __init__(self, checker: Checker, *, rs_name: str, vs_name: str = "", rs_weight: int = 1,
                 log_all_failures: bool = False, script_name: str | None = None) -> None:
        self.checker = checker
        self.rs_name = rs_name
        self.vs_name = vs_name
        self.rs_weight = rs_weight
        self.timing = _timing(checker)
        self.log_all = log_all_failures or self.timing.log_all_failures
        alpha = self.timing.alpha and not isinstance(checker, FileCheck)
        self.alpha = alpha
        #: the checker's verdict: up (True) or down
        self.is_up = not alpha
        #: keepalived's has_run: a verdict has been given
        self.has_run = isinstance(checker, FileCheck)
        #: attempts used on the current failure; keepalived starts it at retry
        self.retry_it = 0 if isinstance(checker, SmtpCheck) else self.timing.retry
        #: this checker's contribution to the real server's weight
        self.cur_weight = 0
        self._url: int | None = 0  # HTTP url_it; None: past the last URL
        self._failed_url: int | None = None
        self._len_mismatch: dict[int, int] = {}
        self._last_exit = 0  # MISC last_exit_code
        self._file_value: int | None = None  # FILE last_status, None before the first read
        # what the outcome being applied produces
        self._lines: list[str] = []
        self._detail: list[str] = []
        self._transition: Transition | None = None
        self._notify = False
        self._weight: int | None = None
        self._first = False
        if script_name is None and isinstance(checker, MiscCheck):
            words = checker.path.command.split()
            script_name = words[0] if words else ""
        self.script_name = script_name or ""

    # -- scheduling -----------------------------------------------------------------------

    def first_delay(self, rand: float, *, bootstrap: float = BOOTSTRAP_DELAY) -> float:
        """Seconds from start-up to the first probe, ``rand`` uniform in [0, 1]: keepalived's
        BOOTSTRAP_DELAY plus a random part of ``warmup`` (None: of delay_loop; 0: none)."""
        if isinstance(self.checker, FileCheck):
            return 0.0
        warmup = self.timing.warmup
        if warmup is None:
            warmup = self.timing.delay_loop
        return bootstrap + warmup * min(max(rand, 0.0), 1.0)

    @property
    def url_index(self) -> int:
        """HTTP_GET / SSL_GET: the URL the next probe checks."""
        return self._url or 0

    @property
    def probe_timeout(self) -> float:
        """The per-step timeout of this checker's probes (connect_timeout; misc_timeout)."""
        c = self.checker
        return misc_timeout(c) if isinstance(c, MiscCheck) else self.timing.connect_timeout

    # -- the verdict ---------------------------------------------------------------------

    def on_result(self, now: float, outcome: Outcome, *, started: float | None = None) -> Step:
        """Apply one attempt's outcome; ``started`` is when it began (MISC_CHECK schedules its
        next run from there)."""
        self._lines = list(outcome.lines)
        self._detail = []
        self._transition = None
        self._notify = False
        self._weight = None
        had_run = self.has_run
        self._first = False
        c = self.checker
        if outcome.skipped:
            delay = self.timing.delay_loop
        elif isinstance(c, TcpCheck):
            delay = self._tcp(outcome)
        elif isinstance(c, HttpCheck):
            delay = self._http(outcome, c)
        elif isinstance(c, UdpCheck | PingCheck):
            delay = self._udp_ping(outcome, c)
        elif isinstance(c, DnsCheck):
            delay = self._dns(outcome)
        elif isinstance(c, SmtpCheck):
            delay = self._smtp(outcome)
        elif isinstance(c, MiscCheck):
            delay = self._misc(outcome, c)
            if started is not None:
                delay = max(_MIN_DELAY, started + delay - now)
        else:
            delay = self._file(outcome, c)
        return Step(
            delay=delay,
            lines=tuple(self._lines),
            detail_lines=tuple(self._detail),
            transition=self._transition,
            weight_offset=self._weight,
            weight=None if self._weight is None else self.rs_weight + self._weight,
            first_run=(not had_run and self.has_run) or self._first,
            notify_initial=self._notify,
            is_up=self.is_up,
            url_index=self.url_index,
        )

    def _set_state(self, alive: bool) -> None:
        """keepalived's update_svr_checker_state, minus the pool's part."""
        if self.is_up == alive:
            if not self.has_run:
                self._notify = self.alpha or not alive
                self.has_run = True
            return
        self.has_run = True
        self.is_up = alive
        self._transition = "up" if alive else "down"

    def _set_weight(self, value: int) -> None:
        if value != self.cur_weight:
            self.cur_weight = value
            self._weight = value

    def _log_failure(self, outcome: Outcome) -> None:
        """The per-attempt failure line of TCP/UDP/PING: only while up, with log_all_failures."""
        if outcome.failure and self.is_up and self.log_all:
            self._lines.append(outcome.failure)

    # -- TCP_CHECK (check_tcp.c tcp_epilog) ------------------------------------------------

    def _tcp(self, o: Outcome) -> float:
        if not o.ok:
            self._log_failure(o)
        t = self.timing
        if o.ok or self.retry_it >= t.retry:
            delay = t.delay_loop
            self.retry_it = 0
            if o.ok and (not self.is_up or not self.has_run):
                self._lines.append(f"TCP connection to {self.rs_name} success.")
                self._set_state(True)
            elif not o.ok and (self.is_up or not self.has_run):
                if t.retry and self.has_run:
                    self._lines.append(f"TCP_CHECK on service {self.rs_name} failed after "
                                       f"{t.retry} retries.")
                else:
                    self._lines.append(f"TCP_CHECK on service {self.rs_name} failed.")
                self._set_state(False)
        else:
            delay = t.delay_before_retry
            self.retry_it += 1
        self.has_run = True
        return delay

    # -- UDP_CHECK / PING_CHECK (check_udp.c udp_epilog, check_ping.c icmp_epilog) ------------

    def _udp_ping(self, o: Outcome, c: UdpCheck | PingCheck) -> float:
        if not o.ok:
            self._log_failure(o)
        t = self.timing
        delay = t.delay_loop
        rs = self.rs_name
        if o.ok or ((self.is_up or not self.has_run) and self.retry_it >= t.retry):
            self.retry_it = 0
            if o.ok and (not self.is_up or not self.has_run):
                what = "UDP" if isinstance(c, UdpCheck) else "ICMP"
                self._lines.append(f"{what} connection to {rs} success.")
                self._set_state(True)
            elif not o.ok and (self.is_up or not self.has_run):
                after = t.retry and self.has_run
                if isinstance(c, UdpCheck):
                    self._lines.append(f"UDP_CHECK on service {rs} failed after {t.retry} "
                                       "retries." if after else
                                       f"UDP_CHECK on service {rs} failed.")
                else:
                    self._lines.append(f"ICMP CHECK on service {rs} of {self.vs_name} failed "
                                       f"after {t.retry} retries." if after else
                                       f"ICMP CHECK on service {rs} failed.")
                self._set_state(False)
        elif self.is_up:
            delay = t.delay_before_retry
            self.retry_it += 1
        self.has_run = True
        return delay

    # -- HTTP_GET / SSL_GET (check_http.c http_handle_response, timeout_epilog, epilog) -----

    def _http(self, o: Outcome, c: HttpCheck) -> float:
        if not c.urls:  # keepalived: no URL, nothing to check, the server is up
            return self._http_epilog("new", c)
        index = self.url_index
        url = c.urls[index] if index < len(c.urls) else c.urls[0]
        if o.content_length is not None:
            content_len, received = o.content_length
            diff = content_len - received
            if content_len < 0 or not diff:
                self._len_mismatch[index] = 0
            elif self._len_mismatch.get(index, 0) != diff:
                self._lines.append(
                    f"http_check for RS {self.rs_name} VS {self.vs_name} url "
                    f"{url.virtualhost or ''}{url.path}: content_length ({content_len}) does "
                    f"not match received bytes ({received})")
                self._len_mismatch[index] = diff
        if o.ok:
            if not self.is_up:
                what = ("Regex match" if url.regex else "MD5 digest" if url.digest
                        else "HTTP status code")
                self._lines.append(f"{what} success to {self.rs_name} url({url.path})")
            return self._http_epilog("new", c)
        # timeout_epilog: retry while up (or before the first verdict), else keep failing
        if self.is_up or not self.has_run:
            if self.log_all and o.failure:
                self._lines.append(f"{o.failure} server {self.rs_name}.")
            self.has_run = True
            return self._http_epilog("retry", c)
        return self._http_epilog("failed", c)

    def _http_epilog(self, method: Literal["new", "retry", "failed"], c: HttpCheck) -> float:
        t = self.timing
        last = len(c.urls) - 1
        if method == "new":
            self._url = None if self._url is None or self._url >= last else self._url + 1
            self.retry_it = 0
        elif method == "retry":
            self.retry_it += 1
        if method == "new" and self._url is None and self._failed_url is None:
            # every URL passed
            if not self.is_up or not self.has_run:
                self._lines.append(f"Remote Web server {self.rs_name} succeed on service.")
                self._set_state(True)
                self.has_run = True
            self._url = 0
            self.retry_it = 0
        elif method == "retry" and self.retry_it > t.retry:
            if self.is_up or not self.has_run:
                if self.has_run and t.retry:
                    self._lines.append(f"HTTP_CHECK on service {self.rs_name} failed after "
                                       f"{self.retry_it - 1} retries.")
                else:
                    self._lines.append(f"HTTP_CHECK on service {self.rs_name} failed.")
                self._set_state(False)
            self._failed_url = self._url if self._url is not None else 0
        elif method == "new" and self._failed_url is not None:
            # the URL that failed passes again: check them all from the first
            self._failed_url = None
            self._url = 0
            self.retry_it = 0
        if method == "new":
            delay = t.delay_loop
            if not self.has_run:
                self.retry_it = t.retry
        elif self._failed_url is not None:
            delay = max(t.delay_before_retry, t.delay_loop)
        else:
            delay = t.delay_before_retry
        if c.fast_recovery and (not self.has_run
                                or (not self.is_up and self._failed_url is None)):
            delay = 0.0
        return delay

    # -- DNS_CHECK (check_dns.c dns_final) ---------------------------------------------------

    def _dns(self, o: Outcome) -> float:
        t = self.timing
        if not o.ok:
            if self.is_up or not self.has_run:
                if o.failure and (self.log_all or self.retry_it >= t.retry):
                    text = o.failure
                    if self.has_run and self.retry_it >= t.retry:
                        text += f" after {t.retry} retries"
                    self._lines.append(f"DNS_CHECK ({self.rs_name}) {text}")
                if self.retry_it < t.retry:
                    self.retry_it += 1
                    self.has_run = True
                    return t.delay_before_retry
                self._set_state(False)
        elif not self.is_up or not self.has_run:
            self._set_state(True)
        self.retry_it = 0
        return t.delay_loop

    # -- SMTP_CHECK (check_smtp.c smtp_final) -----------------------------------------------

    def _smtp(self, o: Outcome) -> float:
        t = self.timing
        if not o.ok:
            if (self.is_up or not self.has_run) and (self.log_all or self.retry_it >= t.retry):
                self._lines.append(f"SMTP_CHECK {o.failure or o.reason}")
            self.retry_it += 1
            if self.retry_it <= t.retry:
                return t.delay_before_retry
            if self.is_up or not self.has_run:
                self._set_state(False)
            self.retry_it = 0  # smtp_start_check_thread, before the next scheduled check
            return t.delay_loop
        self.retry_it = 0
        if not self.is_up or not self.has_run:
            self._lines.append(f"Remote SMTP server {self.rs_name} succeed on service.")
            self._set_state(True)
        self.has_run = True
        return t.delay_loop

    # -- MISC_CHECK (check_misc.c misc_check_child_thread) --------------------------------

    def _misc(self, o: Outcome, c: MiscCheck) -> float:
        t = self.timing
        kind, code = o.exit if o.exit is not None else ("exited", 0 if o.ok else 1)
        exit_type: str | None = None
        success = False
        reason: str | None = None
        message_only = False
        if kind == "exited":
            if code == 0 or (c.dynamic and 2 <= code <= 255):
                if code != self._last_exit:
                    self._set_weight(code - 2 - self.rs_weight if code else 0)
                    self._last_exit = code
                if not self.is_up or not self.has_run:
                    exit_type, success = "succeeded", True
                self.retry_it = 0
            elif self.is_up or not self.has_run:
                exit_type, reason = "failed", "exited with status"
                if self.retry_it < t.retry:
                    self.retry_it += 1
                    message_only = self.log_all
                    exit_type = exit_type if self.log_all else None
                else:
                    self.retry_it = 0
                    self._set_weight(0)
                    self._last_exit = code
        elif self.is_up or not self.has_run:
            if kind == "timed out":
                exit_type = "timed out"
            else:
                exit_type, reason = "failed", "due to signal"
            if self.retry_it < t.retry:
                self.retry_it += 1
                message_only = self.log_all
                exit_type = exit_type if self.log_all else None
            else:
                self.retry_it = 0
        if exit_type is not None:
            message = ""
            if not success:
                if not t.retry:
                    message = " with retry disabled"
                elif self.retry_it == 1:
                    message = f", will do {t.retry} {_retries(t.retry)}"
                elif self.retry_it > 1:
                    message = f" on retry {self.retry_it - 1}/{t.retry}"
                else:
                    message = f" after {t.retry} {_retries(t.retry)}"
            head = (f"Misc check for [{self.rs_name} VS {self.vs_name}] by [{self.script_name}] "
                    f"{exit_type}{message}")
            self._lines.append(f"{head} ({reason} {code})." if reason else f"{head}.")
            if not message_only:
                self._set_state(success)
                if not success:
                    self._set_weight(0)
        self.has_run = True
        return t.delay_before_retry if self.retry_it else t.delay_loop

    # -- FILE_CHECK (track_file.c process_update_checker_track_file_status) -----------------

    def _file(self, o: Outcome, c: FileCheck) -> float:
        value = o.weight
        if value is None:  # unreadable number: keepalived keeps the last one (at first, 0)
            if self._file_value is not None:
                return FILE_POLL_INTERVAL
            value = 0
        new = track_file_status(value, c.weight, c.reverse)
        if self._file_value is None:
            # start-up: keepalived reads the file before checking starts; a fault starts the
            # checker down and a weight starts applied, without log lines
            self._file_value = value
            self._first = True
            if new == WEIGHT_FAULT:
                self.is_up = False
                self._transition = "down"
            elif c.weight:
                self._set_weight(new)
            return FILE_POLL_INTERVAL
        prev = track_file_status(self._file_value, c.weight, c.reverse)
        self._file_value = value
        if prev == new:
            return FILE_POLL_INTERVAL
        where = f"({self.rs_name}): tracked file {c.track_file}"
        if new == WEIGHT_FAULT:
            self._detail.append(f"{where} now FAULT state")
            self._set_state(False)
            self._set_weight(0)
        elif prev == WEIGHT_FAULT:
            self._detail.append(f"{where} leaving FAULT state")
            self._set_weight(new)
            self._set_state(True)
        else:
            self._set_weight(new)
        return FILE_POLL_INTERVAL
