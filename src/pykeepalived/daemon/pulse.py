"""The VRRP child's pulse: a timestamp in memory it shares with its supervising parent.

The parent must notice within the hang limit that the child's event loop stopped running.
Heartbeat messages did that at a cost that does not scale with anything: a wake-up of both
processes several times per limit, which for an idle instance cost more than its adverts. The
pulse costs no system call: the child stores the loop's clock (``time.monotonic_ns``) into an
8-byte slot of an anonymous shared mapping made before the fork, on its natural wake-ups
(adverts received and sent, timers, script results) and from a fallback timer when it has none;
the parent reads it only when its hang deadline comes, and sleeps on if it moved.

An aligned 8-byte store is a single instruction on the machines we run on; the reader still
reads until two reads agree, and a value from the future is not believed, so a torn read can
never make a live child look hung or a hung one look alive for longer than one more look.
"""

from __future__ import annotations

import ctypes
import mmap
import time
from typing import Any


class Pulse:
    """One child's pulse: :meth:`beat` in the child, :meth:`last` in the parent."""

    def __init__(self) -> None:
        self._mem = mmap.mmap(-1, mmap.PAGESIZE)  # anonymous and shared across fork()
        self._slot = ctypes.c_int64.from_buffer(self._mem)
        self._slot.value = time.monotonic_ns()

    def beat(self, now_ns: int | None = None) -> None:
        """The child's loop is running (now, or at ``now_ns``)."""
        self._slot.value = time.monotonic_ns() if now_ns is None else now_ns

    def last(self) -> float:
        """When the child's loop last ran, in seconds of ``time.monotonic()`` (read until two
        reads agree; while they keep changing, the child is busy writing it: alive now)."""
        now = time.monotonic_ns()
        value = self._slot.value
        for _ in range(3):
            again = self._slot.value
            if again == value:
                return min(value, now) / 1e9
            value = again
        return now / 1e9

    def close(self) -> None:
        del self._slot  # the buffer export must end before the mapping can close
        self._mem.close()


class Chores:
    """Where the daemon's periodic chores sleep (VIP lifetime renewal, conflict probes, the
    maintenance file's poll, retries of failed VIP removals): on the loop's wake-ups.

    A chore that sleeps for ``period`` runs again at the first wake-up of the loop once 0.9 of
    it has passed (an advert sent or received, a timer), or after 1.25 of it if the loop had
    none; a chore woken so late takes along every other that is at least half due, so chores
    that have no wake-up to ride on fall into step. An idle instance's loop then wakes once
    per advert for everything, instead of once more for its chores."""

    EARLY = 0.9
    ALONG = 0.5
    LATE = 1.25

    def __init__(self) -> None:
        self._waiters: list[tuple[float, float, Any]] = []  # (early, along, future)
        self._earliest = float("inf")

    async def sleep(self, period: float) -> None:
        import asyncio  # here: the supervising parent imports this module and never asyncio

        loop = asyncio.get_running_loop()
        now = loop.time()
        fut = loop.create_future()
        entry = (now + self.EARLY * period, now + self.ALONG * period, fut)
        self._waiters.append(entry)
        self._earliest = min(self._earliest, entry[0])
        handle = loop.call_at(now + self.LATE * period, self._late)
        try:
            await fut
        finally:
            handle.cancel()
            if entry in self._waiters:
                self._waiters.remove(entry)

    def woke(self, now: float, *, late: bool = False) -> None:
        """The loop is awake (a natural wake-up): run every chore whose moment came."""
        if now < self._earliest and not late:
            return
        keep = []
        for entry in self._waiters:
            if (entry[1] if late else entry[0]) <= now:
                if not entry[2].done():
                    entry[2].set_result(None)
            else:
                keep.append(entry)
        self._waiters = keep
        self._earliest = min((e[0] for e in keep), default=float("inf"))

    def _late(self) -> None:
        self.woke(time.monotonic(), late=True)


#: The daemon's one set of chores (its loop is the only one that sleeps here).
CHORES = Chores()


async def sleep_chore(period: float) -> None:
    """Sleep a chore for about ``period``, riding on the loop's wake-ups (:class:`Chores`)."""
    await CHORES.sleep(period)
