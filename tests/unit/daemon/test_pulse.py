"""The VRRP child's pulse (shared across fork, never from the future) and its chores."""

from __future__ import annotations

import asyncio
import os
import time

from pykeepalived.daemon.pulse import Chores, Pulse


def test_a_pulse_written_in_a_forked_child_is_read_by_the_parent() -> None:
    pulse = Pulse()
    before = pulse.last()
    stamp = time.monotonic_ns()
    pid = os.fork()
    if pid == 0:
        pulse.beat(stamp)
        os._exit(0)
    os.waitpid(pid, 0)
    assert pulse.last() == stamp / 1e9 >= before
    pulse.close()


def test_a_pulse_from_the_future_is_not_believed() -> None:
    pulse = Pulse()
    pulse.beat(time.monotonic_ns() + 10**12)
    assert pulse.last() <= time.monotonic()
    pulse.close()


def test_chores_without_wake_ups_to_ride_on_run_together() -> None:
    chores = Chores()

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        woke: list[float] = []

        async def chore(delay: float) -> None:
            await asyncio.sleep(delay)
            await chores.sleep(0.2)
            woke.append(loop.time())

        start = loop.time()
        await asyncio.gather(chore(0.0), chore(0.043), chore(0.091))
        return [t - start for t in woke]

    woke = asyncio.run(main())
    # the first one's own timer (1.25 periods) takes the others along: one wake-up for three
    assert max(woke) - min(woke) < 0.02, woke
    assert 0.24 <= min(woke) < 0.3, woke


def test_a_chore_rides_on_a_wake_up_of_the_loop_once_most_of_its_period_passed() -> None:
    chores = Chores()

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        task = asyncio.ensure_future(chores.sleep(1.0))
        await asyncio.sleep(0.7)
        chores.woke(loop.time())  # too early: the chore sleeps on
        await asyncio.sleep(0)
        early = task.done()
        await asyncio.sleep(0.25)
        chores.woke(loop.time())  # past 0.9 of its period: it runs now
        await task
        return loop.time() - start, float(early)

    took, early = asyncio.run(main())
    assert not early
    assert 0.95 <= took < 1.1
