"""The chaos soak in CI: 60 s of random faults on a 3-node cluster (see chaos.py for the faults
and the invariants), then the never-killed node's fds, threads, children and memory are compared
with their values before the soak."""

from __future__ import annotations

import os
import time

import pytest

from pykeepalived.daemon.conflict import DEFAULT_PROBE_INTERVAL
from tests.netns.daemons import fd_targets
from tests.netns.lab import Lab
from tests.reliability.chaos import VIP, Chaos
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("PYKEEPALIVED_SOAK_SECONDS", "60"))


def test_chaos_soak(lab: Lab) -> None:
    chaos = Chaos.build(lab, seed=int(os.environ.get("PYKEEPALIVED_SOAK_SEED", "0")) or
                        int(time.time()))
    try:
        chaos.cluster.start_all()
        chaos.settle()
        # Warm-up: n3 goes through every fault once, so that what the daemon opens lazily (the
        # ARP/ND packet socket when it first becomes MASTER, reload state) is in the baseline.
        for fault in ("block_vrrp", "link_flap", "check_hang", "check_crash", "sighup"):
            getattr(chaos, fault)("n3")
            chaos.settle()
        # n3 as MASTER for longer than a conflict-probe round: the detector opens its ARP
        # listener and probe sender (two packet sockets, kept per interface) on its first round
        # as MASTER, which a short block_vrrp above may not reach.
        node = chaos.d("n3").node
        lab.block_vrrp(node)
        try:
            wait_until(lambda: "n3" in chaos.cluster.holders(VIP), 10, what="n3 to take the VIP")
            chaos.sleep(2.5 * DEFAULT_PROBE_INTERVAL)
        finally:
            lab.unblock_vrrp(node)
        chaos.settle()
        chaos.sleep(1.0)  # a quiet second after the warm-up, then the baseline
        before = chaos.resources()
        fds_before = fd_targets(chaos.d("n3").vrrp_pid())
        end = time.monotonic() + SOAK_SECONDS
        while time.monotonic() < end:
            chaos.one_fault()
            chaos.sleep(chaos.rng.uniform(0.0, 0.5))  # the scenario: random gaps between faults
        # A health-check run in flight holds a child and its fds (pidfd, pipes) for a moment:
        # measure between runs, as the baseline was, not in the middle of one.
        after = chaos.resources()
        deadline = time.monotonic() + 10
        while (after.children or after.fds > before.fds) and time.monotonic() < deadline:
            chaos.sleep(0.1)
            after = chaos.resources()
        assert sum(chaos.faults.values()) >= 5, chaos.faults
        assert chaos.cluster.holders("192.0.2.100") == ["n1"]
        assert after.zombies == 0, after
        assert after.children <= 1, after
        fds_after = fd_targets(chaos.d("n3").vrrp_pid())
        new_fds = sorted(set(fds_after) - set(fds_before))
        assert after.fds <= before.fds, (before, after, "new:", new_fds)
        assert after.threads <= before.threads + 1, (before, after)
        assert after.rss_kib <= before.rss_kib + 4096, (before, after)
        print(f"\nchaos soak {SOAK_SECONDS:.0f}s: faults {dict(chaos.faults)}; settle times "
              f"max {max(chaos.settle_times):.2f}s; n3 before {before} after {after}")
    finally:
        chaos.close()
