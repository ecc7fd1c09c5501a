"""run_checker: the loop around the core, driven by a fake clock, a fake sleep and a scripted
probe (the real probes are exercised in tests/netns/test_lvs_probes.py)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

from pykeepalived.lvs.checker import CheckerState, Outcome, Step
from pykeepalived.lvs.model import Checker, Connection, TcpCheck, Timing
from pykeepalived.lvs.probes import run_checker

RS = "[192.0.2.11]:tcp:80"


def test_runner_sleeps_warmup_then_each_steps_delay() -> None:
    checker = TcpCheck(conn=Connection(ip_address("192.0.2.11"), 80),
                       timing=Timing(delay_loop=6.0, delay_before_retry=1.5, retry=1))
    script = [Outcome(True, "ok"), Outcome(False, "refused"), Outcome(False, "refused"),
              Outcome(True, "ok")]
    now = [0.0]
    sleeps: list[float] = []
    seen: list[tuple[float, int]] = []
    steps: list[Step] = []
    done = asyncio.Event()

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        now[0] += delay
        await asyncio.sleep(0)

    async def fake_probe(c: Checker, *, rs_name: str, vs_name: str = "",
                         url_index: int = 0) -> Outcome:
        assert c is checker and rs_name == RS
        seen.append((now[0], url_index))
        if len(seen) > len(script):
            done.set()
            await asyncio.Event().wait()  # hang until cancelled
        return script[len(seen) - 1]

    async def main() -> None:
        state = CheckerState(checker, rs_name=RS)
        task = asyncio.create_task(run_checker(
            state, checker, rs_name=RS, clock=lambda: now[0],
            emit=lambda step, outcome: steps.append(step), sleep=sleep, rand=lambda: 0.5,
            probe_fn=fake_probe))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

    asyncio.run(main())
    assert sleeps == [1.0 + 3.0, 6.0, 1.5, 6.0, 6.0]
    assert [t for t, _ in seen] == [4.0, 10.0, 11.5, 17.5, 23.5]
    assert [s.transition for s in steps] == [None, None, "down", "up"]
    assert steps[2].lines == (f"TCP_CHECK on service {RS} failed after 1 retries.",)
