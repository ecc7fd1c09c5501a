"""Running `vrrp_script` health checks the way keepalived does, on the asyncio loop.

The rules, as keepalived 2.x applies them (vrrp_scheduler.c):

* A script is run every `interval` seconds, measured from the start of one run to the start of
  the next. A run that is still going when the next one is due is not overlapped: the tick is
  skipped and logged ("Track script chk is already running, expect idle - skipping run").
* The command line is split into words by keepalived's quoted/escaped splitter
  (`split_command`) and exec'd directly, without a shell, in a new process group (a new
  session here) with stdin/stdout/stderr on /dev/null and no inherited descriptors.
* After `timeout` seconds (default: `interval`) the whole process group gets SIGTERM; two
  seconds later, if it is still there, SIGKILL. A run that ends by our signal is "timed_out";
  a script that catches SIGTERM and exits normally is judged by its exit status.
* Exit status 0 is success; anything else, or death by a signal we did not send, is failure.
* The good/bad verdict is a single counter (`RiseFallCounter`): `rise` consecutive successes
  make a bad script good, `fall` consecutive failures make a good one bad. At start-up the
  script is in an "init" state whose first result is always reported (one success is enough),
  unless `init_fail` is set, in which case it starts bad and needs `rise` successes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import grp
import os
import pwd
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pykeepalived.errors import LocalError

#: keepalived waits this long between SIGTERM and SIGKILL of a timed-out script.
KILL_GRACE_SECONDS = 2.0

#: Variables keepalived removes from a script's environment before exec.
_SCRUBBED_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")

_WHITESPACE = " \t\f\n\r\v"

LogFn = Callable[[str], object]


class CommandSyntaxError(LocalError):
    """A script line could not be split (unbalanced quote, trailing backslash)."""


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


def split_command(command: str) -> list[str]:
    """Split a script line into argv words as keepalived does for `script` and `notify*`.

    Words are separated by whitespace; single and double quotes group (and are removed);
    a backslash escapes the next character both inside and outside quotes, with C-like
    escapes (\\n, \\t, \\xHH, octal \\NNN, \\cX control characters). No variable expansion,
    globbing or other shell syntax: `;`, `|`, `$` are ordinary characters.
    """
    words: list[str] = []
    i, n = 0, len(command)
    while i < n:
        while i < n and command[i] in _WHITESPACE:
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = command[i]
            if ch == "\\":
                i += 1
                if i >= n:
                    raise CommandSyntaxError(f"Missing escape char at end: '{command}'")
                ch, i = _read_escape(command, i)
                word.append(ch)
                continue
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
                i += 1
                continue
            if ch in "'\"":
                quote = ch
                i += 1
                continue
            if ch in _WHITESPACE:
                break
            word.append(ch)
            i += 1
        if quote:
            raise CommandSyntaxError(f"String '{command}': missing terminating {quote}")
        words.append("".join(word))
    return words


def _read_escape(text: str, i: int) -> tuple[str, int]:
    """Decode the escape whose character (after the backslash) is at text[i]."""
    ch = text[i]
    hexdigits = "0123456789abcdefABCDEF"
    if ch == "x" and i + 1 < len(text) and text[i + 1] in hexdigits:
        i += 1
        value = 0
        for _ in range(2):
            if i < len(text) and text[i] in hexdigits:
                value = value * 16 + int(text[i], 16)
                i += 1
        return chr(value), i
    if ch == "c" and i + 1 < len(text):
        return chr(ord(text[i + 1]) & 0x1F), i + 2
    if "0" <= ch <= "7":
        value = 0
        for _ in range(3):
            if i < len(text) and "0" <= text[i] <= "7":
                value = value * 8 + int(text[i])
                i += 1
        return chr(value & 0xFF), i
    return _SIMPLE_ESCAPES.get(ch, ch), i + 1


@dataclass(frozen=True)
class ScriptSpec:
    """One `vrrp_script` block, as the daemon maps it from the configuration."""

    name: str
    command: str
    interval: float = 1.0
    timeout: float | None = None  #: None means "the interval", as in keepalived
    rise: int = 1
    fall: int = 1
    weight: int = 0
    reverse: bool = False
    user: str | None = None
    group: str | None = None
    init_fail: bool = False

    @property
    def effective_timeout(self) -> float:
        return self.interval if self.timeout is None else self.timeout


@dataclass(frozen=True)
class RunAs:
    """The credentials a script runs with; None fields mean "as the daemon itself"."""

    uid: int | None = None
    gid: int | None = None
    extra_groups: tuple[int, ...] | None = None

    @classmethod
    def from_names(cls, user: str | None, group: str | None = None) -> RunAs:
        """Resolve a `user [group]` pair as keepalived's set_uid_gid does.

        Without a group the user's primary group is used; supplementary groups are the
        user's groups from /etc/group.
        """
        if user is None:
            if group is None:
                return cls()
            return cls(gid=_group_id(group))
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise LocalError(f"Unknown user {user!r} for script") from None
        gid = pw.pw_gid if group is None else _group_id(group)
        groups = tuple(os.getgrouplist(pw.pw_name, gid))
        return cls(uid=pw.pw_uid, gid=gid, extra_groups=groups)

    def subprocess_kwargs(self) -> dict[str, object]:
        """Keyword arguments for asyncio.create_subprocess_exec; only what differs from us."""
        kwargs: dict[str, object] = {}
        if self.uid is not None and self.uid != os.geteuid():
            kwargs["user"] = self.uid
        if self.gid is not None and self.gid != os.getegid():
            kwargs["group"] = self.gid
        if self.extra_groups is not None and os.geteuid() == 0:
            kwargs["extra_groups"] = list(self.extra_groups)
        return kwargs


def _group_id(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise LocalError(f"Unknown group {group!r} for script") from None


class RunKind(enum.Enum):
    EXITED = "exited"  #: the script exited; `code` is its exit status
    SIGNALED = "signaled"  #: killed by a signal we did not send; `code` is the signal
    TIMED_OUT = "timed_out"  #: killed by us after its timeout
    EXEC_FAILED = "exec_failed"  #: could not be started; `code` is the errno


@dataclass(frozen=True)
class RunOutcome:
    kind: RunKind
    code: int
    duration: float

    @property
    def success(self) -> bool:
        return self.kind is RunKind.EXITED and self.code == 0


def script_environment() -> dict[str, str]:
    """The environment scripts inherit: ours, minus loader and field-splitting overrides."""
    env = dict(os.environ)
    for name in _SCRUBBED_ENV:
        env.pop(name, None)
    return env


def _needs_shell(path: str) -> bool:
    """True for a file the kernel cannot exec itself (no `#!` line, not ELF).

    execve() fails with ENOEXEC on such a file; like execvp() (and upstream keepalived with
    libmagic, which hands such files to /bin/sh) we run it with /bin/sh.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return not (head.startswith(b"#!") or head == b"\x7fELF")


async def run_command(
    argv: list[str],
    *,
    timeout: float | None,
    run_as: RunAs | None = None,
    kill_grace: float = KILL_GRACE_SECONDS,
    on_timeout: Callable[[int], object] | None = None,
) -> RunOutcome:
    """Run argv to completion without a shell and return how it ended.

    The child gets its own session (so its process group id is its pid), /dev/null for
    stdin/stdout/stderr and no descriptors beyond those. On timeout the whole group gets
    SIGTERM, then SIGKILL after `kill_grace`; the child is always reaped before returning,
    also when the calling task is cancelled.
    """
    started = time.monotonic()
    kwargs = (run_as or RunAs()).subprocess_kwargs()
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                env=script_environment(),
                **kwargs,  # type: ignore[arg-type]
            )
        except OSError as exc:
            if exc.errno != errno.ENOEXEC or not _needs_shell(argv[0]):
                raise
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                env=script_environment(),
                **kwargs,  # type: ignore[arg-type]
            )
    except OSError as exc:
        return RunOutcome(RunKind.EXEC_FAILED, exc.errno or 0, time.monotonic() - started)

    pgid = proc.pid
    sent: int | None = None
    try:
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            if on_timeout is not None:
                on_timeout(pgid)
            sent = signal.SIGTERM
            _kill_group(pgid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), kill_grace)
            except TimeoutError:
                sent = signal.SIGKILL
                _kill_group(pgid, signal.SIGKILL)
                await proc.wait()
    except asyncio.CancelledError:
        # Stopping: never leave the child (or its group) behind unreaped.
        _kill_group(pgid, signal.SIGKILL)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(proc.wait())
        raise
    rc = proc.returncode
    assert rc is not None
    duration = time.monotonic() - started
    if sent is not None:
        # The leader is gone; make sure nothing it started lingers in its group.
        _kill_group(pgid, signal.SIGKILL)
    if rc >= 0:
        return RunOutcome(RunKind.EXITED, rc, duration)
    signum = -rc
    if (sent == signal.SIGTERM and signum == signal.SIGTERM) or (
        sent == signal.SIGKILL and signum in (signal.SIGKILL, signal.SIGTERM)
    ):
        return RunOutcome(RunKind.TIMED_OUT, signum, duration)
    return RunOutcome(RunKind.SIGNALED, signum, duration)


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class RiseFallCounter:
    """keepalived's `result` counter for one script: good iff result >= rise.

    Successes count up to rise + fall - 1 (a bad script crossing rise turns good); failures
    count down from there (a good script at exactly rise that fails turns bad and restarts
    from 0). `record()` returns the new verdict when it should be reported, else None.
    """

    def __init__(self, rise: int, fall: int, init_fail: bool = False) -> None:
        if rise < 1 or fall < 1:
            raise LocalError("rise and fall must be at least 1")
        self.rise = rise
        self.fall = fall
        #: True until the first result is in, for a script that did not start failed.
        self.init = not init_fail
        # "One success is enough" at start-up; init_fail assumes failure.
        self.result = rise - 1 if self.init else 0

    @property
    def good(self) -> bool | None:
        """The verdict: None while still in the initial unknown state."""
        if self.init:
            return None
        return self.result >= self.rise

    def record(self, success: bool) -> bool | None:
        top = self.rise + self.fall - 1
        report: bool | None = None
        if success:
            if self.result < self.rise - 1:
                self.result += 1
            elif self.result != top:
                if self.result < self.rise:
                    report = True
                self.result = top
        elif self.result > self.rise:
            self.result -= 1
        else:
            if self.result == self.rise or self.init:
                report = False
            self.result = 0
        self.init = False
        return report


@dataclass
class ScriptStats:
    """Counters for status output."""

    runs: int = 0
    successes: int = 0
    failures: int = 0
    timeouts: int = 0
    skipped: int = 0
    last_status: int | None = None  #: last exit status (None before any normal exit)
    last_run: float | None = None  #: wall-clock time (time.time()) the last run started
    last_duration: float | None = None
    last_outcome: RunOutcome | None = field(default=None, repr=False)


class ScriptTracker:
    """Runs one vrrp_script periodically and reports good/bad changes.

    `on_change(name, good)` is called on the loop when the verdict changes (and once for the
    first result of a script in the initial state). `log` receives keepalived's log texts.
    """

    def __init__(
        self,
        spec: ScriptSpec,
        on_change: Callable[[str, bool], object],
        log: LogFn | None = None,
        *,
        run_as: RunAs | None = None,
        argv: list[str] | None = None,
        kill_grace: float = KILL_GRACE_SECONDS,
    ) -> None:
        self.spec = spec
        self._on_change = on_change
        self._log: LogFn = log or (lambda _msg: None)
        self.argv = argv if argv is not None else split_command(spec.command)
        if not self.argv:
            raise CommandSyntaxError(f"Empty script for vrrp_script {spec.name}")
        self.run_as = run_as if run_as is not None else RunAs.from_names(spec.user, spec.group)
        self.kill_grace = kill_grace
        self.counter = RiseFallCounter(spec.rise, spec.fall, spec.init_fail)
        self.stats = ScriptStats()
        # keepalived's last_status starts zeroed, so a first exit 0 is not announced.
        self._last_exit_status = 0
        self._timing_out = False
        self._ticker: asyncio.Task[None] | None = None
        self._run: asyncio.Task[None] | None = None

    @property
    def good(self) -> bool | None:
        return self.counter.good

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.done()

    def start(self) -> None:
        """Start the periodic runs (the first one at once); needs a running loop."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_forever(), name=f"vrrp_script {self.spec.name}"
            )

    async def stop(self) -> None:
        """Stop scheduling, kill a run in progress (its whole group) and reap it."""
        for task in (self._ticker, self._run):
            if task is not None:
                task.cancel()
        for task in (self._ticker, self._run):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker = self._run = None

    async def run_once(self) -> RunOutcome:
        """Run the script once now and account for the result (used by tests and ticks)."""
        self.stats.runs += 1
        self.stats.last_run = time.time()
        self._timing_out = False
        outcome = await run_command(
            self.argv,
            timeout=self.spec.effective_timeout,
            run_as=self.run_as,
            kill_grace=self.kill_grace,
            on_timeout=self._mark_timing_out,
        )
        self._timing_out = False
        self._account(outcome)
        return outcome

    def _mark_timing_out(self, _pgid: int) -> None:
        self._timing_out = True

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            if self.running:
                self.stats.skipped += 1
                what = "being timed out" if self._timing_out else "already running"
                self._log(f"Track script {self.spec.name} is {what}, expect idle - skipping run")
            else:
                self._run = loop.create_task(self._run_and_swallow())
            due += self.spec.interval
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _run_and_swallow(self) -> None:
        try:
            await self.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken callback must not kill the schedule
            self._log(f"VRRP_Script({self.spec.name}) internal error: {exc!r}")

    def _account(self, outcome: RunOutcome) -> None:
        name = self.spec.name
        stats = self.stats
        stats.last_outcome = outcome
        stats.last_duration = outcome.duration
        reason: str | None = None
        if outcome.kind is RunKind.EXITED:
            status = outcome.code
            if status != self._last_exit_status:
                self._log(f"Script `{name}` now returning {status}")
            self._last_exit_status = status
            stats.last_status = status
            word = "succeeded" if status == 0 else "failed"
            if status:
                reason = f"exited with status {status}"
        elif outcome.kind is RunKind.TIMED_OUT:
            word = "timed_out"
            stats.timeouts += 1
        elif outcome.kind is RunKind.SIGNALED:
            word = "failed"
            reason = f"due to signal {outcome.code}"
        else:
            word = "failed"
            self._log(
                f"Error exec-ing command '{self.argv[0]}', error {outcome.code}: "
                f"{os.strerror(outcome.code)}"
            )
            reason = f"exec error {outcome.code}"
        success = outcome.success
        if success:
            stats.successes += 1
        else:
            stats.failures += 1
        verdict = self.counter.record(success)
        if verdict is None:
            return
        self._log(f"VRRP_Script({name}) {word}" + (f" ({reason})" if reason else ""))
        self._on_change(name, verdict)
