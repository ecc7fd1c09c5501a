"""The supervising parent as a real process with real children, but no daemon and no root:
each child here is a few lines that behave like a VRRP process that crashes, hangs, cannot
start or stops when told. What is checked is the parent's side: respawns and their limit,
killing a hung child, passing signals on, and its exit status and log lines.

Each scenario runs the parent in a subprocess of its own (``python -c``: it installs signal
handlers and forks), with :func:`run_parent` as its body.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from pykeepalived.daemon.lastword import EXIT_CANNOT_RUN, Beat, HangLimit, encode
from pykeepalived.daemon.log import EventLog
from pykeepalived.daemon.supervisor import EXIT_GAVE_UP, RestartBudget, Supervisor
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[3]


def _child(scenario: str, tmp: Path, channel: socket.socket,
           supervision: Mapping[str, object]) -> int:
    """One VRRP-process stand-in, as the scenario wants it."""
    with open(tmp / "starts", "a") as fh:
        fh.write(f"{os.getpid()} {supervision.get('respawns')}\n")

    def send(message: object) -> None:
        channel.send(encode(message))  # type: ignore[arg-type]

    if scenario == "cannot":
        return EXIT_CANNOT_RUN
    if scenario == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    send(HangLimit(0.4))
    if scenario == "hang":
        time.sleep(60)  # no heartbeat: the parent must kill it
    hups = 0

    def on_hup(_signum: int, _frame: object) -> None:
        nonlocal hups
        hups += 1
        with open(tmp / "hups", "a") as fh:
            fh.write("HUP\n")

    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    (tmp / "ready").write_text(str(os.getpid()))
    while not stop:
        send(Beat())
        time.sleep(0.05)
    return 0


def run_parent(scenario: str, tmp: str, respawn: bool) -> int:
    """The body of the parent process of one scenario."""
    here = Path(tmp)
    log = EventLog(console=sys.stderr, syslog=False)
    supervisor = Supervisor(lambda chan, sup: _child(scenario, here, chan, sup), log,
                            pid_file=str(here / "p.pid"), vrrp_pid_file=str(here / "r.pid"),
                            respawn=respawn, budget=RestartBudget(limit=3, window=60.0))
    return supervisor.run()


def start(scenario: str, tmp: Path, respawn: bool = True) -> subprocess.Popen[str]:
    code = ("import sys; from tests.unit.daemon.test_supervisor_process import run_parent; "
            f"sys.exit(run_parent({scenario!r}, {str(tmp)!r}, {respawn!r}))")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def starts(tmp: Path) -> list[list[str]]:
    path = tmp / "starts"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_a_crash_loop_is_respawned_until_the_budget_is_spent(tmp_path: Path) -> None:
    code, err = finish(start("crash", tmp_path))
    assert code == EXIT_GAVE_UP, err
    # three deaths within the window: two respawns, then it stays down and says why
    assert [respawns for _, respawns in starts(tmp_path)] == ["0", "1", "2"]
    assert err.count("killed by signal 9 (SIGKILL): Respawning") == 2
    assert "died 3 times within 60s, not respawning" in err
    assert not (tmp_path / "p.pid").exists() and not (tmp_path / "r.pid").exists()


def test_without_respawn_the_parent_exits_after_the_first_death(tmp_path: Path) -> None:
    code, err = finish(start("crash", tmp_path, respawn=False))
    assert code == 1, err
    assert len(starts(tmp_path)) == 1
    assert "Exiting (-R: no respawn)" in err


def test_a_child_that_cannot_run_is_not_respawned(tmp_path: Path) -> None:
    code, err = finish(start("cannot", tmp_path))
    assert code == EXIT_CANNOT_RUN, err
    assert len(starts(tmp_path)) == 1
    assert "permanent error" in err


def test_a_hung_child_is_killed_after_its_limit_and_respawned(tmp_path: Path) -> None:
    proc = start("hang", tmp_path)
    try:
        wait_until(lambda: len(starts(tmp_path)) >= 2, 10, what="a second child")
        first, second = starts(tmp_path)[:2]
        assert second[1] == "1"  # the new child knows it is a respawn
        with pytest.raises(ProcessLookupError):
            os.kill(int(first[0]), 0)
    finally:
        proc.terminate()
    _, err = finish(proc)
    assert "hung (no heartbeat for 0.4" in err, err


def test_signals_are_passed_on_and_term_stops_child_then_parent(tmp_path: Path) -> None:
    proc = start("serve", tmp_path)
    try:
        wait_until(lambda: (tmp_path / "ready").exists() and (tmp_path / "p.pid").exists(),
                   10, what="the child to be ready")
        child = int((tmp_path / "ready").read_text())
        assert int((tmp_path / "r.pid").read_text()) == child
        assert int((tmp_path / "p.pid").read_text()) == proc.pid
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: (tmp_path / "hups").exists(), 5, what="the HUP passed on")
        proc.send_signal(signal.SIGRTMAX)  # TDATA: ignored, not fatal
        proc.terminate()
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert len(starts(tmp_path)) == 1  # stopped, not respawned
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_the_parent_stays_small_no_asyncio_no_pyroute2() -> None:
    """The supervisor is forked before the heavy imports: importing what it runs must not
    pull in asyncio or pyroute2 (a typing-only import once did)."""
    code = ("import sys, pykeepalived.daemon.supervisor\n"
            "print(sorted(m for m in sys.modules if m == 'asyncio' or m.startswith('pyroute2')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
