"""The parent's side of the health-checker child (keepalived's Keepalived_healthcheckers).

keepalived's parent forks one child per subsystem: VRRP, and the checkers when the
configuration has virtual servers (or ``--all``). The VRRP child has the supervisor's full
machinery (its last word, hang detection); the checker child needs less: it holds no address
and no peer waits for it, so when it dies the parent logs it and starts another (keepalived's
"Healthcheck child process(PID) died: Respawning"), within the same restart budget as the VRRP
child, and with ``-R`` the whole daemon stops as keepalived's does.

The keeper owns a pidfd of its child for the supervisor's poll loop; the supervisor reaps every
child with ``waitpid(-1)`` and hands this one's status over through :meth:`CheckerKeeper.reaped`.
Nothing here imports asyncio: the parent stays small.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
import traceback
from collections.abc import Callable, Sequence

from pykeepalived.daemon.lastword import EXIT_CANNOT_RUN
from pykeepalived.daemon.log import LOG_ALERT, EventLog

#: A child that dies this often this fast is not started again (as the VRRP child).
RESPAWN_LIMIT = 5
RESPAWN_WINDOW = 60.0
STOP_GRACE = 10.0

#: How long the parent waits, at start, for the checker child's first table before it starts
#: the VRRP child: a director must not take the VIP before it can balance it.
READY_WAIT = 5.0

CheckerMain = Callable[[], int]

#: In the checker child: the pipe to write one byte to once its first table is installed
#: (:func:`announce_ready`); None elsewhere.
READY_FD: int | None = None


def announce_ready() -> None:
    """The checker child's first table is in the kernel: tell the waiting parent (once)."""
    global READY_FD
    if READY_FD is not None:
        with contextlib.suppress(OSError):
            os.write(READY_FD, b"R")
            os.close(READY_FD)
        READY_FD = None


class CheckerKeeper:
    """Starts, watches, respawns and stops the checker child."""

    def __init__(self, child_main: CheckerMain, log: EventLog, *, pid_file: str,
                 respawn: bool = True, handled: Sequence[int] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.child_main = child_main
        self.log = log
        self.pid_file = pid_file
        self.respawn = respawn
        self.handled = tuple(handled)
        self.clock = clock
        self.pid: int | None = None
        self.fd: int | None = None
        self.deaths: list[float] = []
        self.respawns = 0
        #: set when the child died and must not be started again; the parent exits with it
        self.gave_up: int | None = None
        self._status: int | None = None
        self._ready: int | None = None

    def spawn(self, close_in_child: Sequence[object] = ()) -> None:
        ready_r, ready_w = os.pipe()
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.handled)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            os.close(ready_r)
            os.close(ready_w)
            raise
        if pid == 0:  # the checker child: never returns into the parent's code
            code = 1
            try:
                global READY_FD
                os.close(ready_r)
                READY_FD = ready_w
                signal.set_wakeup_fd(-1)
                for sig in self.handled:
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
                    signal.signal(sig, signal.SIG_IGN)  # until the daemon has its handlers
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                for s in close_in_child:
                    with contextlib.suppress(Exception):
                        s.close()  # type: ignore[attr-defined]
                _write_pid(self.pid_file, os.getpid())
                code = self.child_main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(ready_w)
        if self._ready is not None:
            os.close(self._ready)
        self._ready = ready_r
        self.pid = pid
        self._status = None
        try:
            self.fd = os.pidfd_open(pid)
        except OSError:
            self.fd = None
        self.log.event(f"Starting Healthcheck child process, pid={pid}")

    def wait_ready(self, timeout: float = READY_WAIT) -> bool:
        """Until the child has installed its first table (True), died or ``timeout`` passed.
        The parent calls it once, before it starts the VRRP child."""
        fd, self._ready = self._ready, None
        if fd is None:
            return False
        try:
            deadline = self.clock() + timeout
            while True:
                left = deadline - self.clock()
                if left <= 0:
                    self.log.event(f"Healthcheck child has no table after {timeout:g}s; "
                                   "starting VRRP anyway")
                    return False
                try:
                    readable, _, _ = select.select([fd], [], [], left)
                except InterruptedError:
                    continue
                if readable:
                    return os.read(fd, 1) == b"R"  # b"": it died first
        finally:
            os.close(fd)

    def reaped(self, pid: int, status: int) -> bool:
        """The supervisor collected ``pid``; True when it was this child."""
        if pid != self.pid:
            return False
        self._status = status
        return True

    def poll(self) -> None:
        """After a wake-up: if the child is gone, log it and start another (or give up)."""
        if self.pid is None:
            return
        if self._status is None:
            with contextlib.suppress(ChildProcessError):
                got, status = os.waitpid(self.pid, os.WNOHANG)
                if got == self.pid:
                    self._status = status
        if self._status is None:
            return
        pid, status = self.pid, self._status
        self._forget()
        _remove_pid(self.pid_file, pid)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_CANNOT_RUN:
            self.log.event(f"Healthcheck child process({pid}) exited with permanent error "
                           "FATAL. Terminating", level=LOG_ALERT)
            self.gave_up = EXIT_CANNOT_RUN
            return
        if not self.respawn:
            self.log.event(f"Healthcheck child process({pid}) died: Exiting", level=LOG_ALERT)
            self.gave_up = 1
            return
        now = self.clock()
        self.deaths = [t for t in self.deaths if now - t < RESPAWN_WINDOW] + [now]
        if len(self.deaths) > RESPAWN_LIMIT:
            self.log.event(f"Healthcheck child process({pid}) died {RESPAWN_LIMIT} times "
                           f"within {RESPAWN_WINDOW:g}s, not respawning", level=LOG_ALERT)
            self.gave_up = 8
            return
        self.log.event(f"Healthcheck child process({pid}) died: Respawning", level=LOG_ALERT)
        self.respawns += 1
        self.spawn()

    def signal(self, signum: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self, timeout: float = STOP_GRACE) -> None:
        """SIGTERM, wait for a graceful end (its services shut down), SIGKILL after that."""
        if self.pid is None:
            return
        pid = self.pid
        self.signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        while self._status is None:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if got == pid:
                self._status = status
                break
            left = deadline - self.clock()
            if left <= 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                break
            if self.fd is not None:
                select.select([self.fd], [], [], min(left, 0.5))
            else:
                time.sleep(0.01)
        self._forget()
        _remove_pid(self.pid_file, pid)

    def _forget(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = None
        self.pid = None
        self._status = None


def _write_pid(path: str, pid: int) -> None:
    with contextlib.suppress(OSError), open(path, "w") as fh:
        fh.write(f"{pid}\n")


def _remove_pid(path: str, pid: int) -> None:
    with contextlib.suppress(OSError, ValueError), open(path) as fh:
        if int(fh.read().strip() or 0) != pid:
            return
    with contextlib.suppress(OSError):
        os.unlink(path)
