"""The supervising parent: keepalived's parent process, with a last word for its VRRP child.

keepalived runs its VRRP work in a child process that its parent respawns when it dies. This
parent does that too, and one thing more: the moment its child dies without a graceful stop
(SIGKILL, the OOM killer, an unhandled error) or hangs (no heartbeat from its event loop for
the hang limit: it is SIGKILLed first), the parent says the child's last word for it
(:func:`pykeepalived.daemon.lastword.hand_over`): a priority-0 advert for every instance that
was MASTER, so the best backup takes over after its skew time instead of its whole
Master_Down_Interval, and the VIPs removed, so no two nodes answer for them. Then it respawns
the child (not with ``-R``; and not after :data:`RESPAWN_LIMIT` deaths within
:data:`RESPAWN_WINDOW` seconds: a child that keeps crashing must not keep flapping the cluster).
docs/supervision.md has the design and the measurements.

The parent stays small: it is forked before the daemon's heavy imports (asyncio, the driver)
and never makes them. It is one poll loop over the child's channel, a signal wakeup fd
and the child's death bell (:mod:`pykeepalived.daemon.deathbell`: it rings at the start of the
child's exit, before the kernel tears its memory down), with a timeout at the next heartbeat
deadline. It passes on what keepalived's parent passes
on: TERM / INT (a graceful stop of the child, then the parent exits), HUP, USR1, USR2 and the
real-time JSON / STATS_CLEAR signals, and it is systemd's main process: the child's sd_notify
lines reach systemd through it.

Pure decisions (the restart budget, hang detection, what a death means) are separate classes
and functions, tested with a fake clock.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.daemon.checker_child import CheckerKeeper
from pykeepalived.daemon.deathbell import DeathBell
from pykeepalived.daemon.lastword import (
    EXIT_CANNOT_RUN,
    EXIT_UNHANDLED,
    STARTUP_HANG_LIMIT,
    Beat,
    Busy,
    Farewell,
    Handover,
    HangLimit,
    LastWordError,
    Prepared,
    Say,
    SdNotify,
    Unsay,
    decode,
    hand_over,
    prepare,
)
from pykeepalived.daemon.log import LOG_ALERT, LOG_ERR, EventLog
from pykeepalived.daemon.pulse import Pulse
from pykeepalived.daemon.sdnotify import SystemdNotifier, watchdog_interval

#: A child that dies this many times within this many seconds is not respawned again
#: (systemd's default StartLimitBurst / keepalived-like: a crash loop must end).
RESPAWN_LIMIT = 5
RESPAWN_WINDOW = 60.0
#: The parent's exit status when it gave up respawning (for RestartPreventExitStatus=).
EXIT_GAVE_UP = 8
#: The largest message the channel carries (a word with thousands of VIPs).
MAX_MESSAGE = 1 << 20
#: How long a child whose channel closed may take to exit before it is SIGKILLed, and how
#: long a SIGKILLed child may take to be collected.
EXIT_GRACE = 2.0
KILL_GRACE = 5.0

#: What the parent passes on to the child (keepalived's parent forwards the same).
FORWARDED: tuple[int, ...] = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                              signal.SIGRTMIN + 2,  # JSON dump
                              signal.SIGRTMAX - 1)  # STATS_CLEAR
STOPPING: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
HANDLED: tuple[int, ...] = (*STOPPING, *FORWARDED, signal.SIGCHLD, signal.SIGRTMAX)


# ---------------------------------------------------------------------------- pure decisions


class RestartBudget:
    """At most ``limit`` deaths within ``window`` seconds are followed by a respawn."""

    def __init__(self, limit: int = RESPAWN_LIMIT, window: float = RESPAWN_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.deaths: deque[float] = deque()

    def death(self, now: float) -> bool:
        """Count a death at ``now``; True when a respawn is still allowed."""
        self.deaths.append(now)
        while self.deaths and self.deaths[0] <= now - self.window:
            self.deaths.popleft()
        return len(self.deaths) < self.limit


class HangWatch:
    """The child's event loop must be heard from at least every ``limit`` seconds.

    Every message from the child counts (each is sent from its event loop); the child says
    which limit it keeps (:class:`~pykeepalived.daemon.lastword.HangLimit`). A new child gets
    the generous start-up limit until it does."""

    def __init__(self, now: float, limit: float = STARTUP_HANG_LIMIT) -> None:
        self.limit = limit
        self.last = now
        self.grace_until: float | None = None

    def heard(self, now: float) -> None:
        self.last = now

    def beat(self, now: float) -> None:
        """A heartbeat: the loop is free again, so a grace it asked for is over."""
        self.last = now
        self.grace_until = None

    def pulse(self, at: float) -> None:
        """The child's pulse says its loop ran at ``at``: a heartbeat, if newer than
        anything heard (one from before a :meth:`busy` ends no grace)."""
        if at > self.last:
            self.beat(at)

    def busy(self, seconds: float, now: float) -> None:
        self.last = now
        self.grace_until = now + seconds

    def set_limit(self, seconds: float, now: float) -> None:
        self.limit = seconds
        self.last = now

    def deadline(self) -> float:
        return max(self.last + self.limit, self.grace_until or 0.0)

    def overdue(self, now: float) -> bool:
        return now > self.deadline()

    def silent_for(self, now: float) -> float:
        return now - self.last


@dataclass(frozen=True)
class Death:
    """How a child ended."""

    pid: int
    exit_status: int | None = None  #: its exit status, when it exited
    signal: int | None = None  #: the signal that killed it
    hung_for: float | None = None  #: seconds without a heartbeat when it was killed as hung
    farewell: str | None = None  #: the reason it gave for exiting on its own

    @classmethod
    def from_wait_status(cls, pid: int, status: int, *, hung_for: float | None = None,
                         farewell: str | None = None) -> Death:
        if os.WIFSIGNALED(status):
            return cls(pid, signal=os.WTERMSIG(status), hung_for=hung_for, farewell=farewell)
        return cls(pid, exit_status=os.waitstatus_to_exitcode(status), hung_for=hung_for,
                   farewell=farewell)

    def reason(self) -> str:
        if self.hung_for is not None:
            return f"hung (no heartbeat for {self.hung_for:.2f}s), killed"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by signal {self.signal} ({name})"
        text = f"exited with status {self.exit_status}"
        return f"{text} ({self.farewell})" if self.farewell else text


@dataclass(frozen=True)
class Verdict:
    respawn: bool
    exit_code: int  #: the parent's exit status when it does not respawn
    words: str  #: what the parent's log line says it does


def verdict(death: Death, *, stopping: bool, respawn: bool, budget_left: bool,
            budget: RestartBudget | None = None) -> Verdict:
    """What the parent does after a child's death (``budget`` only names its limits)."""
    if stopping:
        return Verdict(False, death.exit_status or 0, "Stopped")
    if death.exit_status == EXIT_CANNOT_RUN:
        return Verdict(False, EXIT_CANNOT_RUN, "permanent error, Terminating")
    if not respawn:
        return Verdict(False, 1, "Exiting (-R: no respawn)")
    if not budget_left:
        limit, window = (budget.limit, budget.window) if budget else (RESPAWN_LIMIT,
                                                                      RESPAWN_WINDOW)
        return Verdict(False, EXIT_GAVE_UP,
                       f"died {limit} times within {window:g}s, not respawning")
    return Verdict(True, 0, "Respawning")


# ---------------------------------------------------------------------------- the process

ChildMain = Callable[[socket.socket, Mapping[str, object]], int]


def _write_pid(path: str, pid: int) -> bool:
    try:
        with open(path, "w") as fh:
            fh.write(f"{pid}\n")
    except OSError:
        return False
    return True


def _remove_pid(path: str, pid: int | None = None) -> None:
    """Remove a pid file (only if it still names ``pid``, when given)."""
    with contextlib.suppress(OSError, ValueError):
        if pid is not None and int(Path(path).read_text().strip() or 0) != pid:
            return
        os.unlink(path)


class Supervisor:
    """The parent process: spawns the VRRP child, hands over for it, respawns it.

    ``child_main(channel, supervision)`` runs in the forked child and returns its exit status;
    ``supervision`` tells it about the runs before (for ``pykeepalived status``)."""

    def __init__(self, child_main: ChildMain, log: EventLog, *, pid_file: str,
                 vrrp_pid_file: str, respawn: bool = True,
                 budget: RestartBudget | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 checker: CheckerKeeper | None = None, vrrp: bool = True) -> None:
        self.child_main = child_main
        #: the health-checker child, when it runs; ``vrrp`` False: no VRRP child (-C)
        self.checker = checker
        self.vrrp = vrrp
        self.log = log
        self.pid_file = pid_file
        self.vrrp_pid_file = vrrp_pid_file
        self.respawn = respawn
        self.budget = budget or RestartBudget()
        self.clock = clock
        self.sd = SystemdNotifier()
        self.child: int | None = None
        #: the child's last word, made ready to say, per instance
        self.words: dict[str, Prepared] = {}
        self.respawns = 0
        self.last_exit: dict[str, object] | None = None
        self._chan: socket.socket | None = None
        self._hang = HangWatch(clock())
        self._farewell: str | None = None
        self._status: int | None = None
        self._stop_requested = False
        self._stop_sent = False
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._bell: DeathBell | None = None
        #: the child's loop clock, in shared memory (see pykeepalived.daemon.pulse)
        self._pulse: Pulse | None = None
        self._bell_r: socket.socket | None = None
        self._bell_w: socket.socket | None = None

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        own_pid_file = _write_pid(self.pid_file, os.getpid())
        self._install_signals()
        try:
            if self.checker is not None:
                self.checker.spawn(close_in_child=(self._wake_r, self._wake_w, self._bell_r,
                                                   self._bell_w))
                if self.vrrp:
                    # The VIP must not arrive before the table that balances it: a director
                    # that preempts at once would answer its first clients itself.
                    self.checker.wait_ready()
            if not self.vrrp:
                return self._checkers_only()
            while not self._stop_requested:
                self._spawn()
                death, done = self._watch()
                code = self._after(death, done)
                if self.checker is not None and self.checker.gave_up is not None:
                    return self.checker.gave_up
                if code is not None:
                    return code
            return 0
        finally:
            if self.checker is not None:
                self.checker.stop()
            self._restore_signals()
            if own_pid_file:
                _remove_pid(self.pid_file, os.getpid())
            self.sd.close()

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._bell_r, self._bell_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w, self._bell_r, self._bell_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for sig in STOPPING:
            signal.signal(sig, self._on_stop)
        for sig in FORWARDED:
            signal.signal(sig, self._on_forward)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)  # the wakeup fd is what matters
        signal.signal(signal.SIGRTMAX, signal.SIG_IGN)  # TDATA: ignored, as Debian's keepalived

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for s in (self._wake_r, self._wake_w, self._bell_r, self._bell_w):
            if s is not None:
                s.close()

    def _on_stop(self, _signum: int, _frame: object) -> None:
        self._stop_requested = True

    def _on_forward(self, signum: int, _frame: object) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signum)
        if self.checker is not None:
            self.checker.signal(signum)

    def _checkers_only(self) -> int:
        """No VRRP child (-C, or a configuration with only virtual servers): the parent keeps
        the checker child, if any, until told to stop (keepalived's parent stays too)."""
        assert self._wake_r is not None
        if self.checker is None:
            self.log.event("No VRRP or health-checker configuration to run (see -P / -C / "
                           "--all); waiting to be stopped")
            self.sd.ready("no VRRP or health-checker configuration")
        else:
            # systemd (Type=notify) hears READY and the watchdog's pings from this process:
            # there is no VRRP child to send them.
            self.checker.wait_ready()
            self.sd.ready("health checkers only")
        ping = watchdog_interval()
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        watched: int | None = None
        try:
            while not self._stop_requested:
                watched = self._watch_checker(poller, watched)
                if ping is not None:
                    self.sd.watchdog()
                poller.poll(int(min(1.0, ping or 1.0) * 1000))
                with contextlib.suppress(BlockingIOError):
                    while self._wake_r.recv(512):
                        pass
                self._reap()
                if self.checker is not None:
                    self.checker.poll()
                    if self.checker.gave_up is not None:
                        return self.checker.gave_up
            return 0
        finally:
            self.sd.stopping()

    def _watch_checker(self, poller: select.poll, watched: int | None) -> int | None:
        """Keep the checker child's pidfd (a new one after a respawn) in the poll set."""
        fd = self.checker.fd if self.checker is not None else None
        if fd != watched:
            if watched is not None:
                with contextlib.suppress(KeyError, ValueError):
                    poller.unregister(watched)
            if fd is not None:
                poller.register(fd, select.POLLIN)
        return fd

    # ------------------------------------------------------------------ the child

    def supervision(self) -> dict[str, object]:
        return {"supervisor_pid": os.getpid(), "respawns": self.respawns,
                "last_exit": self.last_exit}

    def _spawn(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        supervision = self.supervision()
        if self._pulse is not None:
            self._pulse.close()
        self._pulse = Pulse()
        bell = self._bell = DeathBell.create()
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            parent_end.close()
            child_end.close()
            raise
        if pid == 0:  # the VRRP child: never returns into the parent's code
            code = EXIT_UNHANDLED
            if bell is not None:
                bell.hold()  # first of all: from here on its death rings at once
            try:
                signal.set_wakeup_fd(-1)
                for sig in HANDLED:
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                # A reload or dump asked for before the daemon has its handlers must not
                # kill it (their default action): ignored until the driver installs them.
                for sig in FORWARDED:
                    signal.signal(sig, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                for s in (parent_end, self._wake_r, self._wake_w, self._bell_r, self._bell_w):
                    if s is not None:
                        s.close()
                self.sd.close()
                _write_pid(self.vrrp_pid_file, os.getpid())
                code = self.child_main(child_end, {**supervision, "pulse": self._pulse})
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        child_end.close()
        parent_end.setblocking(False)
        self.child, self._chan = pid, parent_end
        self.words.clear()
        self._hang = HangWatch(self.clock())
        self._farewell = None
        self._status = None
        self._stop_sent = False
        self.log.event(f"Starting VRRP child process, pid={pid}")

    def _watch(self) -> tuple[Death, Handover]:
        """Until the child is gone: pass on its messages and signals; when it dies or hangs,
        hand over for it at once. Returns how it ended and what was said for it."""
        assert self._chan is not None and self._wake_r is not None and self.child is not None
        assert self._bell_r is not None
        pid = self.child
        poller = select.poll()
        for fd in (self._wake_r, self._chan, self._bell_r):
            poller.register(fd, select.POLLIN)
        eof = False
        watched: int | None = None
        while True:
            watched = self._watch_checker(poller, watched)
            wait = max(0.0, self._hang.deadline() - self.clock())
            poller.poll(int(wait * 1000) + 1)
            if self.checker is not None and not self._stop_requested:
                self.checker.poll()
                if self.checker.gave_up is not None:
                    self._stop_requested = True  # keepalived stops the whole daemon then
            if self._stop_requested and not self._stop_sent:
                # First thing after the wake-up: the child's goodbye adverts wait for it.
                self._stop_sent = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                if self.checker is not None:
                    self.checker.signal(signal.SIGTERM)
                self.sd.stopping()
            for ring in (self._wake_r, self._bell_r):
                with contextlib.suppress(BlockingIOError):
                    while ring.recv(512):
                        pass
            eof = self._read() or eof
            if self._bell is not None and self._bell.rang:
                eof = True  # it has begun to exit: nothing of it runs any more
            self._reap()
            now = self.clock()
            if self._status is None and not eof:
                if self._hang.overdue(now) and self._pulse is not None:
                    self._hang.pulse(self._pulse.last())
                if not self._hang.overdue(now):
                    continue
                # Hung: it must not wake up after the handover, so it dies first.
                silent = self._hang.silent_for(now)
                status = self._kill(pid)
                self._read()  # whatever it managed to say before it stopped
                done = hand_over(self.words.values())
                return Death.from_wait_status(pid, status, hung_for=silent), done
            # Dead, or dying (its end of the channel closed: no socket of its own is left
            # to send or to hold addresses with): the last word goes out now, with anything
            # it said between the read above and its death.
            self._read()
            done = hand_over(self.words.values())
            exited = self._wait(pid, EXIT_GRACE)
            status = self._kill(pid) if exited is None else exited
            return Death.from_wait_status(pid, status, farewell=self._farewell), done

    def _read(self) -> bool:
        """Every message waiting on the channel; True at its end (the child is gone)."""
        assert self._chan is not None
        while True:
            try:
                data = self._chan.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
            if not data:
                return True
            self._hang.heard(self.clock())
            if self._bell is not None and self._bell_w is not None:
                self._bell.watch(self._bell_w.fileno())  # it holds the bell by now
            try:
                message = decode(data)
            except LastWordError as exc:
                self.log.event(f"VRRP child sent a malformed message: {exc}", level=LOG_ERR)
                continue
            match message:
                case Say(word):
                    self.words[word.name] = prepare(word)
                case Unsay(name):
                    self.words.pop(name, None)
                case Beat():
                    self._hang.beat(self.clock())
                case HangLimit(seconds):
                    self._hang.set_limit(seconds, self.clock())
                case Busy(seconds):
                    self._hang.busy(seconds, self.clock())
                case SdNotify(text):
                    self.sd.send(*text.split("\n"))
                case Farewell(reason):
                    self._farewell = reason

    def _reap(self) -> None:
        """Collect every dead child (orphaned scripts too when we are PID 1)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self._status = status
            elif self.checker is not None:
                self.checker.reaped(pid, status)

    def _kill(self, pid: int) -> int:
        """SIGKILL the child and collect it; its wait status (a SIGKILL death if it cannot
        even die now, stuck in the kernel: it never runs again, and is reaped later)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        status = self._wait(pid, KILL_GRACE)
        return signal.SIGKILL if status is None else status

    def _wait(self, pid: int, timeout: float) -> int | None:
        """The child's wait status once it has exited, or None after ``timeout`` seconds."""
        if self._status is not None:
            return self._status
        deadline = self.clock() + timeout
        try:
            exited: int | None = os.pidfd_open(pid)
        except OSError:
            exited = None
        try:
            while True:
                try:
                    got, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    return 0
                if got == pid:
                    return status
                left = deadline - self.clock()
                if left <= 0:
                    return None
                if exited is not None:
                    select.select([exited], [], [], left)
                else:
                    time.sleep(min(0.005, left))
        finally:
            if exited is not None:
                os.close(exited)

    def _log_handover(self, pid: int, done: Handover) -> None:
        self.log.event(f"VRRP child process({pid}) {done.summary()}")
        for line in done.details():
            self.log.detail(line)
        for line in done.problems:
            self.log.event(line, level=LOG_ERR)

    def _after(self, death: Death, done: Handover) -> int | None:
        """Log what happened and decide: respawn (None) or exit with a status."""
        assert self._chan is not None
        self._chan.close()
        self._chan = None
        self.child = None
        if self._bell is not None:
            self._bell.close()
            self._bell = None
        _remove_pid(self.vrrp_pid_file, death.pid)
        said = done.adverts or done.removed or done.problems
        if self._stop_requested:
            if said:
                self._log_handover(death.pid, done)
            return verdict(death, stopping=True, respawn=self.respawn, budget_left=True).exit_code
        reason = death.reason()
        budget_left = self.budget.death(self.clock())
        decision = verdict(death, stopping=False, respawn=self.respawn, budget_left=budget_left,
                           budget=self.budget)
        self.log.event(f"VRRP child process({death.pid}) {reason}: {decision.words}",
                       level=LOG_ALERT)
        if said:
            self._log_handover(death.pid, done)
        self.last_exit = {"at": time.time(), "pid": death.pid, "reason": reason,
                          "handed_over": [name for name, _ in done.adverts]}
        self.sd.status(f"VRRP child {reason}; {decision.words}")
        if not decision.respawn:
            if decision.exit_code == EXIT_GAVE_UP:
                print(f"pykeepalived: VRRP child {decision.words}", file=sys.stderr)
            return decision.exit_code
        self.respawns += 1
        return None
