"""Three-node mixed clusters: pykeepalived in every position beside keepalived.

Every mix of two keepalived and one pykeepalived, and of one keepalived and two pykeepalived,
on n1 (192.0.2.1), n2 (192.0.2.2) and n3 (192.0.2.3), all reading one keepalived.conf.

- Crash chain: priorities 150 / 100 / 50. The master is SIGKILLed, then the next one: each
  time the best remaining node takes over within its Master_Down_Interval + 100 ms and the
  other one stays BACKUP; then n1 comes back and preempts them.
- Equal priorities: all 100. n3 is cut off from VRRP and makes itself MASTER beside n1; when
  the partition heals, the tie goes to the higher primary address (n3), n1 steps down, and n2
  (BACKUP throughout, accepting both equal adverts) never takes the VIP.

A SIGKILLed keepalived leaves its VIP behind (documented), so holders are counted among the
nodes whose daemon still runs.
"""

from __future__ import annotations

import time

import pytest

from tests.interop.features import global_defs, instance, wait_single_holder_on
from tests.interop.mixed import MARGIN, V3_IPV4, V3_IPV6, V3_UNICAST, Mixed, Variant
from tests.netns.daemons import crash

pytestmark = [pytest.mark.netns, pytest.mark.interop]

#: Who runs what on (n1, n2, n3).
MIXES = {
    # two keepalived, one pykeepalived
    "py-ka-ka": ("py", "ka", "ka"),
    "ka-py-ka": ("ka", "py", "ka"),
    "ka-ka-py": ("ka", "ka", "py"),
    # one keepalived, two pykeepalived
    "ka-py-py": ("ka", "py", "py"),
    "py-ka-py": ("py", "ka", "py"),
    "py-py-ka": ("py", "py", "ka"),
}
NODES = ("n1", "n2", "n3")


def check_within(elapsed: float, limit: float, what: str, mixed: Mixed) -> None:
    print(f"{what}: {elapsed:.3f}s (limit {limit:.3f}s)")  # shown with -rP, and on failure
    assert elapsed <= limit, f"{what} took {elapsed:.3f}s > {limit:.3f}s\n{mixed.logs()}"


def params(variants: dict[Variant, tuple[str, ...]]) -> list[object]:
    return [pytest.param(v, mix, id=f"{v.id}-{mix}")
            for v, mixes in variants.items() for mix in mixes]


def start_three(mixed: Mixed, variant: Variant, mix: str, prios: dict[str, int]) -> None:
    """n1 (``state MASTER``) first, then n2 and n3; n1 must win and the others back up."""
    mixed.build(MIXES[mix], global_defs(variant)
                + instance("VI_1", 51, variant, prios, masters=("n1",)))
    mixed.start("n1")
    mixed.start("n2", "n3")
    assert mixed.wait_single_holder(variant.vip) == "n1", mixed.logs()
    for n in ("n2", "n3"):
        log = mixed.daemon(n).log()
        assert "(VI_1) Entering BACKUP STATE (init)" in log, log
        assert "(VI_1) Entering MASTER STATE" not in log, mixed.logs()


CHAIN = {"n1": 150, "n2": 100, "n3": 50}


@pytest.mark.parametrize(("variant", "mix"), params({
    V3_IPV4: tuple(MIXES),
    V3_IPV6: ("ka-py-ka", "py-ka-py"),
    V3_UNICAST: ("ka-ka-py", "py-py-ka"),
}))
def test_crash_chain_the_best_remaining_node_takes_over_and_n1_preempts_back(
    mixed: Mixed, variant: Variant, mix: str
) -> None:
    vip = variant.vip
    start_three(mixed, variant, mix, CHAIN)
    # the master dies: n2 (100) takes over, n3 (50) stays BACKUP
    t = time.monotonic()
    crash(mixed.daemon("n1"))
    added = mixed.wait_added("n2", vip, after=t)
    check_within(added - t, variant.master_down(CHAIN["n2"]) + MARGIN, "takeover by n2", mixed)
    assert wait_single_holder_on(mixed, vip, live=True) == "n2"
    # n2 dies too: n3 takes over
    t = time.monotonic()
    crash(mixed.daemon("n2"))
    added = mixed.wait_added("n3", vip, after=t)
    check_within(added - t, variant.master_down(CHAIN["n3"]) + MARGIN, "takeover by n3", mixed)
    assert wait_single_holder_on(mixed, vip, live=True) == "n3"
    # n1 comes back (state MASTER, 150): it preempts the 50 master. (The pid files of the
    # killed daemon go first: keepalived refuses to start while its VRRP child's pid file
    # names a process, and the killed child can linger as a zombie.)
    d1 = mixed.daemon("n1")
    for path in (d1.pid_file, d1.vrrp_pid_file):
        path.unlink(missing_ok=True)
    t = time.monotonic()
    mixed.start("n1")
    mixed.wait_added("n1", vip, after=t)
    assert wait_single_holder_on(mixed, vip, live=True) == "n1"
    removed = mixed.wait_removed("n3", vip, after=t)
    assert removed >= t


@pytest.mark.parametrize(("variant", "mix"), params({
    V3_IPV4: tuple(MIXES),
    V3_IPV6: ("py-ka-ka", "ka-py-py"),
}))
def test_equal_priorities_three_nodes_the_highest_address_wins_after_a_partition(
    mixed: Mixed, variant: Variant, mix: str
) -> None:
    vip = variant.vip
    prio = 100
    start_three(mixed, variant, mix, dict.fromkeys(NODES, prio))
    # equal-priority backups accept the running master: nothing moves
    mixed.hold_steady(vip, ["n1"], variant.master_down(prio) + variant.advert_int)
    n3 = mixed.lab.nodes["n3"]
    t = time.monotonic()
    mixed.lab.block_vrrp(n3)
    added = mixed.wait_added("n3", vip, after=t)
    check_within(added - t, variant.master_down(prio) + MARGIN, "takeover in the partition",
                 mixed)
    assert mixed.holders(vip) == ["n1", "n3"], "split brain expected while n3 is cut off"
    # heal: n1 and n3 are both MASTER at 100; n3 has the higher primary address and wins
    t = time.monotonic()
    mixed.lab.unblock_vrrp(n3)
    removed = mixed.wait_removed("n1", vip, after=t)
    check_within(removed - t, variant.master_down(prio) + MARGIN, "convergence after the heal",
                 mixed)
    assert mixed.wait_single_holder(vip) == "n3", mixed.logs()
    mixed.hold_steady(vip, ["n3"], variant.master_down(prio))
    assert "with same priority 100 but higher IP address than ours" in mixed.daemon("n1").log()
    # n2 stayed BACKUP throughout
    assert mixed.cluster.watchers["n2"].wait_for(vip, timeout=0) is None, mixed.logs()
    assert "(VI_1) Entering MASTER STATE" not in mixed.daemon("n2").log(), mixed.logs()
