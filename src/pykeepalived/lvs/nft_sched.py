"""Scheduling tables for the nftables plane: which destination each slot of a map selects.

IPVS schedules in the kernel with per-destination state; nftables has no scheduler, so every
algorithm the plane offers is turned here into a fixed table of slots, and the ruleset picks a
slot per new connection (``numgen inc mod N`` for rr / wrr, ``jhash ... mod N`` for the hash
algorithms). A slot holds the index of a destination in the list given. Pure functions of the
weights (and, for Maglev, of stable destination names): rendering the same service twice gives
the same table, so a re-applied ruleset sends a hashed client where it went before.

- :func:`round_robin`: each destination once (``rr`` ignores weights, as IPVS does).
- :func:`weighted_slots`: ``size`` slots shared in proportion to the weights, interleaved
  (smooth weighted round robin) rather than in runs, so a numgen walking them alternates
  between servers as IPVS's wrr does instead of sending a burst to each in turn.
- :func:`bucket_slots`: the same shares in runs, for the hash tables of sh and dh.
- :func:`maglev`: Maglev hashing (Eisenbud et al., NSDI 2016) with weights as turns per
  round: when a destination leaves, the slots of the others mostly stay where they were.
- :func:`runs`: consecutive equal slots as ``(first, last, index)`` intervals, which is how the
  verdict maps hold them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

#: Slots of a wrr table at most: beyond, weights are approximated to 1/MAX_WRR_SLOTS.
MAX_WRR_SLOTS = 1024
#: Buckets of the sh / dh tables (IPVS's IP_VS_SH_TAB_SIZE / IP_VS_DH_TAB_SIZE).
HASH_BUCKETS = 256
#: The Maglev table sizes IPVS's mh offers (primes); the plane takes the smallest that gives
#: every turn of a round at least MAGLEV_SLOTS_PER_TURN slots, up to MAGLEV_MAX_SIZE.
MAGLEV_PRIMES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521)
MAGLEV_SLOTS_PER_TURN = 64
#: IPVS's default (CONFIG_IP_VS_MH_TAB_INDEX 12): a larger map only costs memory and load time.
MAGLEV_MAX_SIZE = 4093


def round_robin(count: int) -> list[int]:
    return list(range(count))


def apportion(weights: Sequence[int], size: int) -> list[int]:
    """Split ``size`` slots in proportion to ``weights`` (largest remainder); every positive
    weight gets at least one slot while there are slots enough."""
    total = sum(weights)
    if total <= 0 or size <= 0:
        return [0] * len(weights)
    exact = [w * size / total for w in weights]
    counts = [int(x) for x in exact]
    if size >= len(weights):
        counts = [max(c, 1) if w > 0 else 0 for c, w in zip(counts, weights, strict=True)]
    left = size - sum(counts)
    # Short: the largest shortfalls get one more. Over (the minimum of one slot each): the
    # largest excesses give one back, never below one.
    while left > 0:
        j = min(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
        counts[j] += 1
        left -= 1
    while left < 0:
        j = max((i for i in range(len(weights)) if counts[i] > 1),
                key=lambda i: (counts[i] - exact[i], -i))
        counts[j] -= 1
        left += 1
    return counts


def smooth_sequence(counts: Sequence[int]) -> list[int]:
    """A sequence holding index ``i`` ``counts[i]`` times, spread evenly (nginx's smooth
    weighted round robin: each step every index gains its count, the richest is chosen and
    pays the total)."""
    total = sum(counts)
    current = [0] * len(counts)
    out: list[int] = []
    for _ in range(total):
        for i, c in enumerate(counts):
            current[i] += c
        best = max(range(len(counts)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(best)
    return out


def weighted_slots(weights: Sequence[int], size: int | None = None) -> list[int]:
    """Slots for wrr: ``size`` slots (default: the weights' sum over their gcd,
    capped at :data:`MAX_WRR_SLOTS`) in proportion to ``weights``, interleaved."""
    positive = [w for w in weights if w > 0]
    if not positive:
        return []
    if size is None:
        g = math.gcd(*positive)
        size = min(sum(positive) // g, MAX_WRR_SLOTS)
    return smooth_sequence(apportion(weights, size))


def bucket_slots(weights: Sequence[int], size: int) -> list[int]:
    """Slots for sh / dh: ``size`` buckets in proportion to ``weights``, each destination's
    together (a hash spreads the clients anyway, and runs keep the map short)."""
    return [i for i, count in enumerate(apportion(weights, size)) for _ in range(count)]


def _hash64(name: str, salt: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8, salt=salt).digest(),
                          "big")


def maglev_turns(weights: Sequence[int], size: int) -> list[int]:
    """Slots each destination takes per round: the weights over their gcd, scaled down so a
    round is at most 1/:data:`MAGLEV_SLOTS_PER_TURN` of the table (the last, partial round is
    where the proportions err)."""
    positive = [w for w in weights if w > 0]
    if not positive:
        return [0] * len(weights)
    g = math.gcd(*positive)
    turns = [w // g for w in weights]
    budget = max(len(positive), size // MAGLEV_SLOTS_PER_TURN)
    total = sum(turns)
    if total > budget:
        turns = [max(1, round(t * budget / total)) if t > 0 else 0 for t in turns]
    return turns


def maglev_size(weights: Sequence[int]) -> int:
    """The table size for these weights: the smallest of :data:`MAGLEV_PRIMES` with room for
    :data:`MAGLEV_SLOTS_PER_TURN` slots a turn, at most :data:`MAGLEV_MAX_SIZE`."""
    positive = [w for w in weights if w > 0]
    g = math.gcd(*positive) if positive else 1
    want = MAGLEV_SLOTS_PER_TURN * max(1, sum(w // g for w in positive))
    for prime in MAGLEV_PRIMES:
        if prime >= want or prime >= MAGLEV_MAX_SIZE:
            return prime
    return MAGLEV_MAX_SIZE


def maglev(names: Sequence[str], weights: Sequence[int], size: int | None = None) -> list[int]:
    """The Maglev lookup table: slot -> index into ``names``.

    Each destination walks its own permutation of the slots (``offset + j * skip`` mod a
    prime, both from a hash of its name) and, round after round, takes the next free slots of
    it, as many per round as its turns. A destination's permutation depends on its name only,
    so removing one moves the slots it held and few others.
    """
    if size is None:
        size = maglev_size(weights)
    turns = maglev_turns(weights, size)
    members = [i for i, t in enumerate(turns) if t > 0]
    if not members:
        return []
    offset = {i: _hash64(names[i], b"offset") % size for i in members}
    skip = {i: _hash64(names[i], b"skip") % (size - 1) + 1 for i in members}
    nexts = dict.fromkeys(members, 0)
    table = [-1] * size
    filled = 0
    rounds = max(turns)
    while True:
        # Turns interleaved within a round (turn 0 of each, then turn 1 ...), so the last,
        # partial round favours nobody in particular.
        for turn in range(rounds):
            for i in members:
                if turn >= turns[i]:
                    continue
                while True:
                    c = (offset[i] + nexts[i] * skip[i]) % size
                    nexts[i] += 1
                    if table[c] < 0:
                        break
                table[c] = i
                filled += 1
                if filled == size:
                    return table


def runs(slots: Sequence[int]) -> list[tuple[int, int, int]]:
    """Consecutive equal slots as ``(first, last, value)``."""
    out: list[tuple[int, int, int]] = []
    for n, value in enumerate(slots):
        if out and out[-1][2] == value and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n, value)
        else:
            out.append((n, n, value))
    return out
