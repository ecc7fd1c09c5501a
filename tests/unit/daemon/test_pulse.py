"""The VRRP child's pulse: shared across fork, never from the future, and chores on a grid."""

from __future__ import annotations

import asyncio
import os
import time

from pykeepalived.daemon.pulse import Pulse, sleep_on_grid


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


def test_chores_of_one_period_wake_on_the_same_grid() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        woke: list[float] = []

        async def chore(delay: float) -> None:
            await asyncio.sleep(delay)
            await sleep_on_grid(0.2)
            woke.append(loop.time())

        await sleep_on_grid(0.2)  # start just after a grid point: all three wait for the next
        await asyncio.gather(chore(0.0), chore(0.043), chore(0.091))
        return woke

    woke = asyncio.run(main())
    # one wake-up for all three (they started 0.09 s apart), on the grid of their period
    assert max(woke) - min(woke) < 0.03
    assert all(abs(t / 0.2 - round(t / 0.2)) < 0.2 for t in woke)
