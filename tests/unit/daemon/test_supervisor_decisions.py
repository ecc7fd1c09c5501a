"""The supervisor's pure decisions, with a clock that is a plain number: how many deaths are
respawned, when a silent child counts as hung, and what each kind of death leads to."""

from __future__ import annotations

import io
import signal

import pytest

from pykeepalived import ctl
from pykeepalived.daemon.lastword import (
    EXIT_CANNOT_RUN,
    EXIT_UNHANDLED,
    HANG_FLOOR,
    STARTUP_HANG_LIMIT,
    default_hang_limit,
)
from pykeepalived.daemon.supervisor import (
    EXIT_GAVE_UP,
    RESPAWN_LIMIT,
    RESPAWN_WINDOW,
    Death,
    HangWatch,
    RestartBudget,
    verdict,
)


def test_five_quick_deaths_exhaust_the_budget() -> None:
    budget = RestartBudget()
    now = 100.0
    allowed = []
    for _ in range(RESPAWN_LIMIT):
        allowed.append(budget.death(now))
        now += 1.0
    assert allowed == [True] * (RESPAWN_LIMIT - 1) + [False]


def test_deaths_older_than_the_window_are_forgotten() -> None:
    budget = RestartBudget(limit=3, window=60.0)
    assert budget.death(0.0) and budget.death(10.0)
    assert budget.death(60.5)  # the one at 0 s no longer counts: 2 in the window
    assert not budget.death(61.0)  # 10, 60.5, 61: three within 60 s
    # A child that runs for a while between crashes is respawned for ever.
    slow = RestartBudget(limit=RESPAWN_LIMIT, window=RESPAWN_WINDOW)
    assert all(slow.death(t * (RESPAWN_WINDOW / (RESPAWN_LIMIT - 1) + 0.1))
               for t in range(100))


def test_a_child_is_hung_after_its_limit_without_a_message() -> None:
    watch = HangWatch(now=0.0)
    assert watch.limit == STARTUP_HANG_LIMIT  # start-up: imports, configuration
    assert not watch.overdue(STARTUP_HANG_LIMIT - 0.1)
    watch.set_limit(1.0, now=5.0)  # the child knows its instances now
    assert watch.deadline() == 6.0
    watch.heard(5.8)
    assert not watch.overdue(6.7) and watch.overdue(6.81)
    assert watch.silent_for(6.81) == pytest.approx(1.01)


def test_default_hang_limit_is_two_adverts_but_never_below_the_floor() -> None:
    assert default_hang_limit([1.0, 3.0]) == 2.0
    assert default_hang_limit([0.1, 1.0]) == HANG_FLOOR
    assert default_hang_limit([]) == HANG_FLOOR


def test_what_each_death_leads_to() -> None:
    killed = Death(10, signal=signal.SIGKILL)
    assert killed.reason() == "killed by signal 9 (SIGKILL)"
    assert verdict(killed, stopping=False, respawn=True, budget_left=True).respawn
    hung = Death(11, signal=signal.SIGKILL, hung_for=1.234)
    assert hung.reason() == "hung (no heartbeat for 1.23s), killed"
    crashed = Death(12, exit_status=EXIT_UNHANDLED, farewell="unhandled KeyError: 'x'")
    assert crashed.reason() == "exited with status 70 (unhandled KeyError: 'x')"
    assert verdict(crashed, stopping=False, respawn=True, budget_left=True).respawn
    # -R: the handover happens, the respawn does not (keepalived -R)
    no = verdict(killed, stopping=False, respawn=False, budget_left=True)
    assert (no.respawn, no.exit_code) == (False, 1)
    # a crash loop ends, with a status a unit can refuse to restart on
    gave_up = verdict(killed, stopping=False, respawn=True, budget_left=False)
    assert (gave_up.respawn, gave_up.exit_code) == (False, EXIT_GAVE_UP)
    assert "not respawning" in gave_up.words
    # the configuration or the host is at fault: restarting cannot help
    bad = verdict(Death(13, exit_status=EXIT_CANNOT_RUN), stopping=False, respawn=True,
                  budget_left=True)
    assert (bad.respawn, bad.exit_code) == (False, EXIT_CANNOT_RUN)
    # stopping: whatever the child's end, the parent follows it out
    for death, code in ((Death(14, exit_status=0), 0), (killed, 0),
                        (Death(15, exit_status=3), 3)):
        stop = verdict(death, stopping=True, respawn=True, budget_left=True)
        assert (stop.respawn, stop.exit_code) == (False, code)


def test_death_from_a_wait_status() -> None:
    assert Death.from_wait_status(1, signal.SIGKILL).signal == signal.SIGKILL
    assert Death.from_wait_status(1, 70 << 8).exit_status == 70
    assert Death.from_wait_status(1, 0).exit_status == 0


def test_a_busy_loop_gets_its_grace_until_its_next_heartbeat() -> None:
    watch = HangWatch(now=0.0)
    watch.set_limit(1.0, now=0.0)
    watch.busy(60.0, now=0.5)  # a reload begins: the loop blocks for a while
    watch.heard(0.7)  # what the reload sends (words) does not end the grace
    assert not watch.overdue(30.0)
    assert watch.overdue(60.6)  # but a reload that never ends is a hang
    watch.beat(31.0)  # the loop is free again: the normal limit is back
    assert watch.deadline() == 32.0 and watch.overdue(32.1)


def test_status_says_who_supervises_and_why_the_last_process_ended() -> None:
    out = io.StringIO()
    ctl.render_status({"daemon": {"pid": 42, "started_at": 0, "config_file": "k.conf",
                                  "supervisor": {"supervisor_pid": 41, "respawns": 2,
                                                 "last_exit": {"at": 0, "pid": 40,
                                                               "reason": "killed by signal 9 "
                                                                         "(SIGKILL)"}}},
                       "instances": []}, out)
    text = out.getvalue()
    assert "supervised by pid 41, respawned 2x" in text
    assert "VRRP process(40) killed by signal 9 (SIGKILL)" in text


def test_a_pulse_counts_as_a_heartbeat_only_when_newer_than_what_was_heard() -> None:
    hang = HangWatch(0.0, limit=2.0)
    hang.pulse(1.5)
    assert hang.deadline() == 3.5
    hang.busy(10.0, now=2.0)  # a reload: the loop may block until 12.0
    hang.pulse(1.9)  # a pulse from before it asked: no end to the grace
    assert hang.deadline() == 12.0
    hang.pulse(4.0)  # the loop ran again: the grace is over
    assert hang.deadline() == 6.0
