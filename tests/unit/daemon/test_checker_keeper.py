"""The parent's keeper of the health-checker child: the first-table handshake, respawn with
keepalived's line, the restart budget, -R and a permanent error, stop by SIGTERM."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pykeepalived.daemon import checker_child
from pykeepalived.daemon.checker_child import RESPAWN_LIMIT, CheckerKeeper, announce_ready
from pykeepalived.daemon.lastword import EXIT_CANNOT_RUN


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def event(self, text: str, **_kw: object) -> None:
        self.lines.append(text)


def keeper(main: Callable[[], int], tmp: str, **kw: object) -> tuple[CheckerKeeper, Lines]:
    log = Lines()
    k = CheckerKeeper(main, log, pid_file=os.path.join(tmp, "checkers.pid"),  # type: ignore[arg-type]
                      **kw)  # type: ignore[arg-type]
    return k, log


def wait_dead(k: CheckerKeeper, timeout: float = 5.0) -> None:
    assert k.fd is not None
    select.select([k.fd], [], [], timeout)


def ready_then_wait() -> int:
    announce_ready()
    time.sleep(30)
    return 0


def test_the_parent_waits_for_the_first_table(tmp_path: object) -> None:
    k, log = keeper(ready_then_wait, str(tmp_path))
    k.spawn()
    started = time.monotonic()
    try:
        assert k.wait_ready(timeout=10) is True
        assert time.monotonic() - started < 5
        assert log.lines[0] == f"Starting Healthcheck child process, pid={k.pid}"
        assert int(Path(k.pid_file).read_text()) == k.pid
    finally:
        k.stop(timeout=5)
    assert not os.path.exists(k.pid_file)


def test_a_child_dying_before_its_table_does_not_hold_the_parent(tmp_path: object) -> None:
    k, _ = keeper(lambda: 3, str(tmp_path))
    k.spawn()
    started = time.monotonic()
    assert k.wait_ready(timeout=10) is False
    assert time.monotonic() - started < 5
    k.stop(timeout=1)


def test_a_dead_child_is_respawned_within_the_budget(tmp_path: object) -> None:
    k, log = keeper(lambda: 3, str(tmp_path))
    k.spawn()
    for _ in range(RESPAWN_LIMIT):
        first = k.pid
        wait_dead(k)
        k.poll()
        assert k.pid != first and k.gave_up is None
        assert f"Healthcheck child process({first}) died: Respawning" in log.lines
    wait_dead(k)
    k.poll()
    assert k.gave_up == 8 and k.pid is None
    assert "not respawning" in log.lines[-1]


@pytest.mark.parametrize("code, respawn, gave_up, words", [
    (3, False, 1, "died: Exiting"),
    (EXIT_CANNOT_RUN, True, EXIT_CANNOT_RUN, "permanent error"),
])
def test_no_respawn_with_dash_r_or_a_permanent_error(tmp_path: object, code: int,
                                                     respawn: bool, gave_up: int,
                                                     words: str) -> None:
    k, log = keeper(lambda: code, str(tmp_path), respawn=respawn)
    k.spawn()
    wait_dead(k)
    k.poll()
    assert k.gave_up == gave_up and k.pid is None
    assert words in log.lines[-1]


def test_announce_ready_is_a_no_op_outside_the_child() -> None:
    assert checker_child.READY_FD is None
    announce_ready()  # nothing to write to: nothing happens
