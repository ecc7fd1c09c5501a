"""vrrp_script runs: real scripts in temp files, timeouts, rise/fall, reaping and fd hygiene."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pykeepalived.daemon.scripts import (
    CommandSyntaxError,
    RiseFallCounter,
    RunAs,
    RunKind,
    ScriptSpec,
    ScriptTracker,
    run_command,
    split_command,
)
from tests.support import wait_until

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def zombie_children() -> list[int]:
    """Our own children that have exited but were not reaped."""
    me = str(os.getpid())
    zombies = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        if fields[1].decode() == me and fields[0] == b"Z":
            zombies.append(int(entry))
    return zombies


def pid_alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rindex(b")") + 2 : data.rindex(b")") + 3] != b"Z"


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str, bool]] = []
        self.lines: list[str] = []

    def on_change(self, name: str, good: bool) -> None:
        self.changes.append((name, good))

    def log(self, line: str) -> None:
        self.lines.append(line)


# --- splitting the script line ---------------------------------------------------------


def test_split_command_quotes_and_escapes_like_keepalived() -> None:
    assert split_command("/bin/chk a 'b c' \"d\\x41\"") == ["/bin/chk", "a", "b c", "dA"]
    assert split_command("x a\\ b 'it''s' \"q\\\"q\"") == ["x", "a b", "its", 'q"q']
    assert split_command("x \\101\\t\\n") == ["x", "A\t\n"]
    # No shell: metacharacters are plain characters.
    assert split_command("x ; rm -rf / $(id) `id` | cat") == [
        "x",
        ";",
        "rm",
        "-rf",
        "/",
        "$(id)",
        "`id`",
        "|",
        "cat",
    ]
    assert split_command("   ") == []


@pytest.mark.parametrize("bad", ["x 'open", 'x "open', "x trailing\\"])
def test_split_command_rejects_unbalanced(bad: str) -> None:
    with pytest.raises(CommandSyntaxError):
        split_command(bad)


# --- the rise/fall counter (pure) ------------------------------------------------------


def feed(counter: RiseFallCounter, results: str) -> list[bool | None]:
    return [counter.record(c == "+") for c in results]


def test_initial_state_one_success_is_enough() -> None:
    c = RiseFallCounter(rise=3, fall=2)
    assert c.good is None
    assert feed(c, "+") == [True]
    assert c.good is True


def test_initial_state_first_failure_is_reported() -> None:
    c = RiseFallCounter(rise=3, fall=2)
    assert feed(c, "-") == [False]
    assert c.good is False
    # Now bad: needs rise consecutive successes, a failure restarts the count.
    assert feed(c, "++-+++") == [None, None, None, None, None, True]


def test_fall_consecutive_failures_turn_good_to_bad() -> None:
    c = RiseFallCounter(rise=2, fall=3)
    feed(c, "+")
    assert feed(c, "--+---") == [None, None, None, None, None, False]
    assert c.good is False


def test_init_fail_starts_bad_and_silent() -> None:
    c = RiseFallCounter(rise=2, fall=1, init_fail=True)
    assert c.good is False
    assert feed(c, "-+-++") == [None, None, None, None, True]


def test_rise_one_fall_one_flips_each_change_only() -> None:
    c = RiseFallCounter(rise=1, fall=1)
    assert feed(c, "++--+-") == [True, None, False, None, True, False]


# --- real runs ---------------------------------------------------------------------------


def test_success_and_failure_logged_with_keepalived_texts(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.write_text("0")
    script = write_script(tmp_path / "chk.sh", f'exit $(cat "{code}")\n')
    rec = Recorder()

    async def main() -> None:
        t = ScriptTracker(ScriptSpec("chk_ok", str(script), timeout=5), rec.on_change, rec.log)
        await t.run_once()
        code.write_text("1")
        await t.run_once()
        await t.run_once()
        code.write_text("0")
        await t.run_once()
        assert t.stats.runs == 4
        assert t.stats.successes == 2
        assert t.stats.failures == 2
        assert t.stats.last_status == 0

    run(main())
    assert rec.changes == [("chk_ok", True), ("chk_ok", False), ("chk_ok", True)]
    assert rec.lines == [
        "VRRP_Script(chk_ok) succeeded",
        "Script `chk_ok` now returning 1",
        "VRRP_Script(chk_ok) failed (exited with status 1)",
        "Script `chk_ok` now returning 0",
        "VRRP_Script(chk_ok) succeeded",
    ]


def test_arguments_reach_the_script_intact(tmp_path: Path) -> None:
    out = tmp_path / "args"
    script = write_script(
        tmp_path / "a.sh", f'for a in "$@"; do printf "%s\\n" "$a"; done > "{out}"\n'
    )
    name = "VI_1; touch /tmp/pwned $(id) `x` | & > <"

    async def main() -> None:
        outcome = await run_command([str(script), name, "two words"], timeout=5)
        assert outcome.success

    run(main())
    assert out.read_text().splitlines() == [name, "two words"]


def test_script_without_shebang_runs_through_sh(tmp_path: Path) -> None:
    script = tmp_path / "plain"
    script.write_text("exit 7\n")
    script.chmod(0o755)
    outcome = run(run_command([str(script)], timeout=5))
    assert (outcome.kind, outcome.code) == (RunKind.EXITED, 7)


def test_missing_script_is_a_failure(tmp_path: Path) -> None:
    rec = Recorder()

    async def main() -> None:
        t = ScriptTracker(ScriptSpec("chk", str(tmp_path / "nope")), rec.on_change, rec.log)
        outcome = await t.run_once()
        assert outcome.kind is RunKind.EXEC_FAILED

    run(main())
    assert rec.changes == [("chk", False)]
    assert rec.lines[0].startswith(f"Error exec-ing command '{tmp_path / 'nope'}', error 2")


def test_signal_death_is_failure_due_to_signal(tmp_path: Path) -> None:
    script = write_script(tmp_path / "k.sh", "kill -9 $$\n")
    rec = Recorder()

    async def main() -> None:
        t = ScriptTracker(ScriptSpec("chk", str(script), timeout=5), rec.on_change, rec.log)
        await t.run_once()

    run(main())
    assert rec.lines == ["VRRP_Script(chk) failed (due to signal 9)"]


def test_hung_script_and_its_children_are_killed_at_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = write_script(tmp_path / "hang.sh", f'sleep 30 & echo $! > "{pidfile}"\nwait\n')
    rec = Recorder()

    async def main() -> None:
        t = ScriptTracker(
            ScriptSpec("chk", str(script), interval=10, timeout=0.3), rec.on_change, rec.log
        )
        started = time.monotonic()
        outcome = await t.run_once()
        elapsed = time.monotonic() - started
        assert outcome.kind is RunKind.TIMED_OUT
        assert 0.25 < elapsed < 2.0
        assert t.stats.timeouts == 1

    run(main())
    child = int(pidfile.read_text())
    wait_until(lambda: not pid_alive(child), 2, step=0.02,
               what="the script's own child to be gone after the timeout")
    assert rec.lines == ["VRRP_Script(chk) timed_out"]
    assert rec.changes == [("chk", False)]
    assert zombie_children() == []


def test_script_ignoring_sigterm_gets_sigkill_after_grace(tmp_path: Path) -> None:
    script = write_script(tmp_path / "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.05; done\n")

    async def main() -> None:
        started = time.monotonic()
        outcome = await run_command([str(script)], timeout=0.2, kill_grace=0.3)
        assert outcome.kind is RunKind.TIMED_OUT
        assert outcome.code == signal.SIGKILL
        assert time.monotonic() - started < 3

    run(main())
    assert zombie_children() == []


def test_script_catching_sigterm_is_judged_by_its_exit_status(tmp_path: Path) -> None:
    script = write_script(tmp_path / "polite.sh", "trap 'exit 0' TERM\nsleep 5 & wait\n")
    outcome = run(run_command([str(script)], timeout=0.2, kill_grace=2))
    assert (outcome.kind, outcome.code) == (RunKind.EXITED, 0)


def test_periodic_runs_with_rise_and_fall(tmp_path: Path) -> None:
    # The script pops its exit code from a queue file: 0 0 1 1 1 0 0 0 0 ...
    queue = tmp_path / "queue"
    queue.write_text("1\n0\n1\n1\n1\n0\n0\n")
    script = write_script(
        tmp_path / "q.sh",
        f'q="{queue}"\nc=$(head -n1 "$q")\n'
        f'tail -n +2 "$q" > "$q.new"; mv "$q.new" "$q"\nexit ${{c:-0}}\n',
    )
    rec = Recorder()

    async def main() -> None:
        spec = ScriptSpec("chk", str(script), interval=0.05, timeout=2, rise=2, fall=2)
        t = ScriptTracker(spec, rec.on_change, rec.log)
        t.start()
        deadline = time.monotonic() + 5
        while t.stats.runs < 9 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await t.stop()
        assert not t.running

    run(main())
    # 1: init failure -> bad; 0,1: no rise; 1,1 still bad; 0,0 -> good (rise 2).
    assert rec.changes == [("chk", False), ("chk", True)]
    assert "VRRP_Script(chk) succeeded" in rec.lines


def test_runs_never_overlap(tmp_path: Path) -> None:
    marker = tmp_path / "running"
    script = write_script(
        tmp_path / "slow.sh",
        f'[ -e "{marker}" ] && exit 9\ntouch "{marker}"\nsleep 0.2\nrm "{marker}"\n',
    )
    rec = Recorder()

    async def main() -> None:
        spec = ScriptSpec("chk", str(script), interval=0.05, timeout=2)
        t = ScriptTracker(spec, rec.on_change, rec.log)
        t.start()
        await asyncio.sleep(0.6)
        await t.stop()
        assert t.stats.skipped >= 4
        assert t.stats.runs <= 4
        assert t.stats.failures == 0

    run(main())
    assert "Track script chk is already running, expect idle - skipping run" in rec.lines


def test_stop_kills_and_reaps_a_running_script(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = write_script(tmp_path / "long.sh", f'echo $$ > "{pidfile}"\nexec sleep 30\n')

    async def main() -> None:
        t = ScriptTracker(ScriptSpec("chk", str(script), interval=60, timeout=60), lambda *_: None)
        t.start()
        deadline = time.monotonic() + 3
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await t.stop()

    run(main())
    assert not pid_alive(int(pidfile.read_text()))
    assert zombie_children() == []


def test_two_hundred_quick_runs_leave_no_zombies_or_fds(tmp_path: Path) -> None:
    script = write_script(tmp_path / "ok.sh", "exit 0\n")

    async def main() -> int:
        t = ScriptTracker(ScriptSpec("chk", str(script)), lambda *_: None)
        # Warm up once so lazily created loop resources are not counted as leaks.
        await t.run_once()
        fds_before = len(os.listdir("/proc/self/fd"))
        for _ in range(200):
            await t.run_once()
        assert t.stats.successes == 201
        return fds_before

    fds_before = run(main())
    assert zombie_children() == []
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_child_gets_devnull_and_no_inherited_fds(tmp_path: Path) -> None:
    out = tmp_path / "fds"
    script = tmp_path / "fds.py"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os\n"
        "fds = {int(n): os.readlink(f'/proc/self/fd/{n}') for n in os.listdir('/proc/self/fd')\n"
        "       if os.path.exists(f'/proc/self/fd/{n}')}\n"
        f"open({str(out)!r}, 'w').write(repr(fds))\n"
    )
    script.chmod(0o755)
    leak = os.open(str(tmp_path), os.O_RDONLY)  # a descriptor of ours, made inheritable
    os.set_inheritable(leak, True)
    try:
        assert run(run_command([str(script)], timeout=10)).success
    finally:
        os.close(leak)
    fds = ast.literal_eval(out.read_text())
    assert [fds[0], fds[1], fds[2]] == ["/dev/null"] * 3
    assert str(tmp_path) not in fds.values()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_script_runs_as_configured_user() -> None:
    # pytest's tmp_path lives under a 0700 directory that nobody cannot enter.
    tmp_path = Path(tempfile.mkdtemp(prefix="pyka-user-", dir="/tmp"))
    tmp_path.chmod(0o777)
    try:
        _check_runs_as_nobody(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _check_runs_as_nobody(tmp_path: Path) -> None:
    out = tmp_path / "id"
    script = write_script(tmp_path / "id.sh", f'id -u > "{out}"; id -g >> "{out}"\n')
    script.chmod(0o755 | stat.S_IROTH)
    outcome = run(run_command([str(script)], timeout=5, run_as=RunAs.from_names("nobody")))
    assert outcome.success
    uid, gid = out.read_text().split()
    assert int(uid) == RunAs.from_names("nobody").uid
    assert int(gid) == RunAs.from_names("nobody").gid


def test_environment_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent.so")
    monkeypatch.setenv("IFS", "x")
    out = tmp_path / "env"
    script = write_script(tmp_path / "env.sh", f'env > "{out}"\n')
    assert run(run_command([str(script)], timeout=5)).success
    names = {line.split("=", 1)[0] for line in out.read_text().splitlines()}
    assert "LD_PRELOAD" not in names
    assert "PATH" in names
