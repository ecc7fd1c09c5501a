"""The protocol timer fires at its deadline, to well under asyncio's millisecond, once."""

from __future__ import annotations

import asyncio

from pykeepalived.daemon.ptimer import ProtocolTimer


def test_the_timer_fires_once_near_its_deadline_and_can_be_moved_or_disarmed() -> None:
    async def main() -> tuple[list[float], list[float], bool]:
        loop = asyncio.get_running_loop()
        fired: list[float] = []
        timer = ProtocolTimer(loop, lambda: fired.append(loop.time()))
        lateness = []
        for _ in range(20):
            due = loop.time() + 0.0123
            timer.set(due)
            while timer.when is not None:
                await asyncio.sleep(0.001)
            lateness.append(fired[-1] - due)
        timer.set(loop.time() + 0.01)
        timer.set(loop.time() + 0.03)  # moved later: fires once, at the new deadline
        moved_from = len(fired)
        await asyncio.sleep(0.05)
        timer.set(loop.time() + 0.01)
        timer.set(None)
        await asyncio.sleep(0.03)
        precise = timer.precise
        timer.close()
        return lateness, fired[moved_from:], precise

    lateness, after, precise = asyncio.run(main())
    assert precise  # Linux: a timerfd
    assert all(x >= 0 for x in lateness)
    lateness.sort()
    assert lateness[len(lateness) // 2] < 0.0005, lateness  # asyncio's own: 0-1 ms late
    assert len(after) == 1
