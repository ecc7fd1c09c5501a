"""Notify scripts and notify FIFOs, run the way keepalived runs them (vrrp_notify.c).

On every state change of an instance or sync group keepalived, in this order:

1. runs the state's own script (`notify_master`, `notify_backup`, `notify_fault`,
   `notify_stop`, `notify_deleted`) exactly as configured, with no extra arguments;
2. runs the generic `notify` script with four extra argv words appended:
   `INSTANCE|GROUP`, the name, `MASTER|BACKUP|FAULT|STOP|DELETED` and the priority
   (always 0 for a group);
3. writes a line `INSTANCE "VI_1" MASTER 100` to the global `notify_fifo` and to
   `vrrp_notify_fifo`. Priority changes are also written to the FIFOs, as
   `MASTER_PRIORITY` / `BACKUP_PRIORITY`, and `MASTER_RX_LOWER_PRI` events too.

Scripts are exec'd without a shell (arguments stay intact, whatever characters a name holds)
in their own process group; keepalived forks them and never waits. keepalived has no timeout
for notify scripts; here a hung one is killed (its whole group) after `timeout` seconds,
30 by default, so that it cannot pile up. At shutdown running scripts get `stop_grace`
seconds (keepalived allows one) and are then killed.

A FIFO is created (mode 0644) when missing and removed at close only if we created it. It is
opened read-write and non-blocking, so a FIFO without a reader never blocks the daemon: the
kernel buffers up to 64 KiB and further lines are dropped. An existing path that is not a FIFO
we own is refused (it could be a file planted by someone else). `notify_fifo_script` is started
with the FIFO's path appended as its last argument before the FIFO is opened, and runs until
the FIFO is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pykeepalived.core.actions import NotifyKind
from pykeepalived.daemon.scripts import (
    RunAs,
    RunKind,
    RunOutcome,
    run_command,
    split_command,
)

LogFn = Callable[[str], object]

#: Script states, as keepalived writes them into notify arguments and FIFO lines.
STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
#: FIFO-only events.
FIFO_EVENTS = ("MASTER_RX_LOWER_PRI", "MASTER_PRIORITY", "BACKUP_PRIORITY")

DEFAULT_NOTIFY_TIMEOUT = 30.0
DEFAULT_STOP_GRACE = 1.0


@dataclass(frozen=True)
class NotifyScript:
    """One notify script line and who runs it (None: the default script user)."""

    command: str
    run_as: RunAs | None = None


@dataclass(frozen=True)
class NotifySpec:
    """The notify scripts configured on one instance or sync group."""

    master: NotifyScript | None = None
    backup: NotifyScript | None = None
    fault: NotifyScript | None = None
    stop: NotifyScript | None = None
    deleted: NotifyScript | None = None
    notify: NotifyScript | None = None  #: the generic script, given 4 extra arguments
    master_rx_lower_pri: NotifyScript | None = None

    def for_state(self, state: str) -> NotifyScript | None:
        return {
            "MASTER": self.master,
            "BACKUP": self.backup,
            "FAULT": self.fault,
            "STOP": self.stop,
            "DELETED": self.deleted,
        }.get(state)


@dataclass(frozen=True)
class FifoSpec:
    """A `notify_fifo` / `vrrp_notify_fifo` with its optional reader script."""

    path: str
    script: NotifyScript | None = None


def fifo_line(kind: str, name: str, state: str, priority: int) -> str:
    """The line keepalived writes to a notify FIFO."""
    return f'{kind} "{name}" {state} {priority}\n'


class NotifyFifo:
    """One notify FIFO, written without ever blocking."""

    def __init__(self, spec: FifoSpec, log: LogFn | None = None, type_prefix: str = "") -> None:
        self.spec = spec
        self._log: LogFn = log or (lambda _m: None)
        self._type = type_prefix
        self.fd: int | None = None
        self.created = False
        self.dropped = 0  #: lines lost because the FIFO was full

    def open(self) -> bool:
        """Create (if missing) and open the FIFO; False, logged, if it cannot be used."""
        path = self.spec.path
        try:
            os.mkfifo(path, 0o644)
            self.created = True
        except FileExistsError:
            pass
        except OSError:
            self._log(f"Unable to create {self._type}notify fifo {path}")
            return False
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            self._log(f"Unable to open {self._type}notify fifo {path} - errno {exc.errno}")
            self._unlink_if_created()
            return False
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode) or st.st_uid != os.geteuid():
            self._log(f"{self._type}notify fifo {path} is not a fifo we own - not using")
            os.close(fd)
            return False
        self.fd = fd
        return True

    def write(self, line: str) -> bool:
        """Write one line; a full FIFO (nobody reading) drops it rather than block."""
        if self.fd is None:
            return False
        try:
            os.write(self.fd, line.encode())
        except BlockingIOError:
            self.dropped += 1
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EAGAIN):
                self._log(f"Error writing to notify fifo {self.spec.path} - errno {exc.errno}")
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        # Unlink first, so that a reader looping on re-opening the FIFO cannot reopen ours.
        self._unlink_if_created()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _unlink_if_created(self) -> None:
        if self.created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.spec.path)
            self.created = False


class Notifier:
    """Runs notify scripts and feeds notify FIFOs for state changes, never blocking the loop.

    `notify()` returns at once; the scripts run as tasks on the running loop. `close()` gives
    running scripts `stop_grace` seconds, kills what is left and closes the FIFOs.
    """

    def __init__(
        self,
        *,
        log: LogFn | None = None,
        timeout: float | None = DEFAULT_NOTIFY_TIMEOUT,
        stop_grace: float = DEFAULT_STOP_GRACE,
        default_run_as: RunAs | None = None,
        fifos: Sequence[FifoSpec] = (),
    ) -> None:
        self._log: LogFn = log or (lambda _m: None)
        self.timeout = timeout
        self.stop_grace = stop_grace
        self.default_run_as = default_run_as
        self._fifo_specs = list(fifos)
        self.fifos: list[NotifyFifo] = []
        self._tasks: set[asyncio.Task[RunOutcome | None]] = set()
        self._fifo_scripts: list[asyncio.Task[RunOutcome | None]] = []
        self.outcomes: list[tuple[tuple[str, ...], RunOutcome]] = []  #: last few results
        self.max_outcomes = 50

    async def open(self) -> None:
        """Start each FIFO's reader script (if any) and open the FIFOs."""
        for spec in self._fifo_specs:
            fifo = NotifyFifo(spec, self._log)
            if spec.script is not None:
                # Make sure the FIFO exists before its reader starts.
                with contextlib.suppress(FileExistsError):
                    os.mkfifo(spec.path, 0o644)
                    fifo.created = True
                argv = [*split_command(spec.script.command), spec.path]
                task = self._spawn(argv, spec.script.run_as, timeout=None)
                if task is not None:
                    self._fifo_scripts.append(task)
            if fifo.open():
                self.fifos.append(fifo)

    def notify(
        self,
        kind: NotifyKind | str,
        name: str,
        state: str,
        priority: int,
        scripts: NotifySpec | None = None,
    ) -> None:
        """Announce that instance/group `name` entered `state` with `priority`."""
        if scripts is not None:
            own = scripts.for_state(state)
            if own is not None:
                self._spawn(split_command(own.command), own.run_as, timeout=self.timeout)
            if scripts.notify is not None:
                argv = [
                    *split_command(scripts.notify.command),
                    kind,
                    name,
                    state,
                    str(priority),
                ]
                self._spawn(argv, scripts.notify.run_as, timeout=self.timeout)
        self.write_fifos(kind, name, state, priority)

    def write_fifos(self, kind: str, name: str, state: str, priority: int) -> None:
        """Only the FIFO line (priority changes, MASTER_RX_LOWER_PRI events)."""
        line = fifo_line(kind, name, state, priority)
        for fifo in self.fifos:
            fifo.write(line)

    def run_script(self, script: NotifyScript) -> asyncio.Task[RunOutcome | None] | None:
        """Run one script as configured (e.g. `notify_master_rx_lower_pri`)."""
        return self._spawn(split_command(script.command), script.run_as, timeout=self.timeout)

    @property
    def running(self) -> int:
        return sum(not t.done() for t in self._tasks)

    async def wait_idle(self) -> None:
        """Wait until every notify script started so far has ended (tests, reload)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        pending = [t for t in (*self._tasks, *self._fifo_scripts) if not t.done()]
        fifo_scripts = [t for t in self._fifo_scripts if not t.done()]
        for task in fifo_scripts:
            task.cancel()
        notify_tasks = [t for t in pending if t not in fifo_scripts]
        if notify_tasks:
            _done, still = await asyncio.wait(notify_tasks, timeout=self.stop_grace)
            for task in still:
                task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for fifo in self.fifos:
            fifo.close()
        self.fifos.clear()
        self._fifo_scripts.clear()

    def _spawn(
        self, argv: list[str], run_as: RunAs | None, *, timeout: float | None
    ) -> asyncio.Task[RunOutcome | None] | None:
        if not argv:
            return None
        task = asyncio.get_running_loop().create_task(
            self._run(argv, run_as or self.default_run_as, timeout)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(
        self, argv: list[str], run_as: RunAs | None, timeout: float | None
    ) -> RunOutcome | None:
        def timed_out(pgid: int) -> None:
            self._log(f"Notify script {argv[0]} (pid {pgid}) timed out after {timeout}s - killing")

        outcome = await run_command(argv, timeout=timeout, run_as=run_as, on_timeout=timed_out)
        if outcome.kind is RunKind.EXEC_FAILED:
            self._log(
                f"Error exec-ing command '{argv[0]}', error {outcome.code}: "
                f"{os.strerror(outcome.code)}"
            )
        self.outcomes.append((tuple(argv), outcome))
        del self.outcomes[: -self.max_outcomes]
        return outcome


__all__ = [
    "FIFO_EVENTS",
    "STATES",
    "FifoSpec",
    "Notifier",
    "NotifyFifo",
    "NotifyScript",
    "NotifySpec",
    "fifo_line",
]
