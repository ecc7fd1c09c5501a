"""The suites' one waiting helper: returns what it waited for, or fails saying what that was."""

from __future__ import annotations

import itertools

import pytest

from tests.support import wait_until


def test_returns_the_conditions_first_truthy_value() -> None:
    values = iter([None, [], ["n1"]])
    assert wait_until(lambda: next(values), 1, what="a holder", step=0) == ["n1"]


def test_a_timeout_names_what_was_awaited_the_last_value_and_the_context() -> None:
    with pytest.raises(AssertionError) as failure:
        wait_until(lambda: [], 0.05, what="exactly one holder", step=0.01,
                   context=lambda: "daemon logs here")
    message = str(failure.value)
    assert "exactly one holder" in message and "0.05s" in message
    assert "last value []" in message and message.endswith("\ndaemon logs here")


def test_stable_for_waits_out_a_flap() -> None:
    flapping = itertools.chain(["n1", "n2", "n1"], itertools.repeat("n2"))
    seen: list[str] = []

    def holder() -> str:
        seen.append(next(flapping))
        return seen[-1]

    assert wait_until(holder, 2, what="a settled holder", stable_for=0.05, step=0.01) == "n2"
    assert len(seen) > 4  # the same value was seen again and again before it counted


def test_a_condition_that_never_holds_still_enough_times_out() -> None:
    alternating = itertools.cycle(["n1", "n2"])
    with pytest.raises(AssertionError, match=r"the same for 0\.2s"):
        wait_until(lambda: next(alternating), 0.1, what="a settled holder", stable_for=0.2,
                   step=0.01)


def test_errors_in_the_condition_are_not_swallowed() -> None:
    def broken() -> bool:
        raise RuntimeError("daemon exited")

    with pytest.raises(RuntimeError, match="daemon exited"):
        wait_until(broken, 1, what="anything")
