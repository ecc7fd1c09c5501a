"""MISC_CHECK and FILE_CHECK probes against real programs and files (no network needed):
exit statuses, misc_dynamic, the timeout killing the whole process group, cancellation,
user, and track_file numbers."""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from pathlib import Path

import pytest

from pykeepalived.lvs.model import FileCheck, MiscCheck, Script, Timing
from pykeepalived.lvs.probe_misc import probe_file, probe_misc


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def misc(command: str, *, dynamic: bool = False, timeout: float | None = None,
         user: str | None = None) -> MiscCheck:
    return MiscCheck(path=Script(command, user=user), dynamic=dynamic, timeout=timeout,
                     timing=Timing(delay_loop=5.0))


def gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_exit_statuses_and_dynamic_weights(tmp_path: Path) -> None:
    exit_with = script(tmp_path, "exit.sh", 'exit "$1"\n')
    ok = asyncio.run(probe_misc(misc(f"{exit_with} 0")))
    assert ok.ok and ok.exit == ("exited", 0) and ok.weight is None
    bad = asyncio.run(probe_misc(misc(f"{exit_with} 1")))
    assert not bad.ok and bad.exit == ("exited", 1) and bad.reason == "exit status 1"
    plain = asyncio.run(probe_misc(misc(f"{exit_with} 12")))
    assert not plain.ok  # without misc_dynamic only 0 is success
    dyn = asyncio.run(probe_misc(misc(f"{exit_with} 12", dynamic=True)))
    assert dyn.ok and dyn.weight == 10
    assert not asyncio.run(probe_misc(misc(f"{exit_with} 1", dynamic=True))).ok


def test_quoted_arguments_reach_the_program_without_a_shell(tmp_path: Path) -> None:
    check = script(tmp_path, "args.sh", '[ "$1" = "a b" ] && [ "$2" = \'$HOME;\' ]\n')
    assert asyncio.run(probe_misc(misc(f"{check} 'a b' '$HOME;'"))).ok


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    slow = script(tmp_path, "slow.sh", f'sleep 30 &\necho $! > {pidfile}\nwait\n')
    started = time.monotonic()
    out = asyncio.run(probe_misc(misc(str(slow), timeout=0.5)))
    assert time.monotonic() - started < 2.0
    assert not out.ok and out.exit is not None and out.exit[0] == "timed out"
    assert out.reason == "timed out after 0.5 s"
    assert gone(int(pidfile.read_text()))


def test_a_script_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    stubborn = script(tmp_path, "stubborn.sh", "trap '' TERM\nsleep 30\n")
    started = time.monotonic()
    out = asyncio.run(probe_misc(misc(str(stubborn), timeout=0.3)))
    assert 2.0 <= time.monotonic() - started < 4.0  # SIGTERM, 2 s, SIGKILL
    assert out.exit == ("timed out", 9)


def test_cancelled_probe_leaves_no_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    long = script(tmp_path, "long.sh", f"echo $$ > {pidfile}\nexec sleep 30\n")

    async def main() -> None:
        task = asyncio.create_task(probe_misc(misc(str(long), timeout=20)))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if pidfile.exists() and pidfile.read_text().strip():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert gone(int(pidfile.read_text()))


def test_exec_failure_counts_as_success_like_keepalived() -> None:
    out = asyncio.run(probe_misc(misc("/nonexistent/check-it")))
    assert out.ok and out.exit == ("exited", 0)
    assert out.lines == ("Error exec-ing command '/nonexistent/check-it', error 2: "
                         "No such file or directory",)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_runs_as_user(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    nobody = pwd.getpwnam("nobody").pw_uid
    check = script(tmp_path, "whoami.sh", f'[ "$(id -u)" = "{nobody}" ]\n')
    assert asyncio.run(probe_misc(misc(str(check), user="nobody"))).ok
    assert not asyncio.run(probe_misc(misc(str(check)))).ok


def test_track_file_numbers(tmp_path: Path) -> None:
    path = tmp_path / "weight"
    check = FileCheck(track_file="tf", path=str(path), weight=1)
    missing = asyncio.run(probe_file(check))
    assert missing.weight == 0
    path.write_text("  17\n")
    assert asyncio.run(probe_file(check)).weight == 17
    path.write_text("0x20 trailing")
    assert asyncio.run(probe_file(check)).weight == 32
    path.write_text("")
    assert asyncio.run(probe_file(check)).weight == 0
    path.write_text("99999999999")
    bad = asyncio.run(probe_file(check))
    assert bad.weight is None
    assert bad.lines == (f"Invalid number 99999999999 read from {path} - ignoring",)
