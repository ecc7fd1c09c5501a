"""Start-up elections, tie-breaks and the address owner, timed to the centisecond."""

from __future__ import annotations

import pytest

from pykeepalived.core.actions import State
from pykeepalived.core.router import master_down_interval, skew_time
from pykeepalived.testing.simnet import SimNetwork
from tests.sim.simlib import cluster, params


def test_two_nodes_start_highest_priority_wins_after_its_down_interval() -> None:
    net = cluster(150, 100)
    t0 = net.now
    net.run_for(10)
    assert net.masters("VI_1") == ["n1"]
    ev = net.first_master_after("VI_1", t0)
    assert ev is not None and ev.node == "n1"
    # v3 at 1 s: 3 x 1 + (256-150)/256 = 3.41 s
    assert ev.time - t0 == pytest.approx(3.41, abs=0.01)
    assert net.transitions("VI_1", State.MASTER) == [ev]  # n2 never became master
    assert net.holders("VI_1") == ["n1"]
    assert "(VI_1) Entering BACKUP STATE (init)" in net.logs("n2")
    assert "(VI_1) Entering MASTER STATE" in net.logs("n1")


def test_three_nodes_start_only_the_best_becomes_master() -> None:
    net = cluster(100, 200, 150)
    t0 = net.now
    net.run_for(20)
    assert net.masters("VI_1") == ["n2"]
    masters = net.transitions("VI_1", State.MASTER)
    assert [e.node for e in masters] == ["n2"]
    assert masters[0].time - t0 == pytest.approx(3 + 56 / 256, abs=0.01)


def test_equal_priority_is_broken_by_the_higher_primary_address() -> None:
    net = cluster(100, 100, 100)
    net.run_for(20)
    assert net.masters("VI_1") == ["n3"]
    assert net.holders("VI_1") == ["n3"]
    logs = net.logs("n1") + net.logs("n2")
    assert any("with same priority 100 but higher IP address than ours" in line for line in logs)


def test_address_owner_with_state_master_is_master_at_once() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 100)])
    net.run_for(10)
    t1 = net.now
    net.add_node("n2", [params(2, 255, want_master=True)])
    ev = net.first_master_after("VI_1", t1, exclude="n1")
    assert ev is not None and ev.node == "n2" and ev.time == t1
    net.run_for(5)
    assert net.masters("VI_1") == ["n2"]
    assert any("with higher priority 255, ours 100" in line for line in net.logs("n1"))


def test_state_master_below_255_waits_one_advert_plus_minimum_skew() -> None:
    net = SimNetwork()
    t0 = net.now
    net.add_node("n1", [params(1, 150, want_master=True)])
    ev = net.first_master_after("VI_1", t0)
    net.run_for(5)
    ev = net.first_master_after("VI_1", t0)
    assert ev is not None
    assert ev.time - t0 == pytest.approx(1 + 1 / 256, abs=0.001)
    assert "(VI_1) Entering BACKUP STATE (init)" in net.logs("n1")


def test_state_master_below_255_defers_to_an_existing_master() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 200)])
    net.run_for(10)
    t1 = net.now
    net.add_node("n2", [params(2, 150, want_master=True)])
    net.run_for(10)
    assert net.masters("VI_1") == ["n1"]
    assert net.first_master_after("VI_1", t1, exclude="n1") is None


@pytest.mark.parametrize(
    ("version", "advert_int", "priority", "expected"),
    [
        (2, 1.0, 100, 3 + 156 / 256),
        (2, 2.0, 100, 6 + 156 / 256),  # v2 skew does not scale with the interval
        (3, 2.0, 100, 6 + 2 * 156 / 256),
        (3, 0.1, 100, 0.3 + 0.1 * 156 / 256),
        (3, 0.01, 254, 0.03 + 0.01 * 2 / 256),
    ],
)
def test_down_interval_per_version(
    version: int, advert_int: float, priority: int, expected: float
) -> None:
    assert master_down_interval(version, priority, advert_int) == pytest.approx(expected)
    net = cluster(priority, version=version, advert_int=advert_int)
    t0 = net.now
    net.run_for(expected + 1)
    ev = net.first_master_after("VI_1", t0)
    assert ev is not None and ev.time - t0 == pytest.approx(expected, abs=0.005)


def test_skew_time_formulas() -> None:
    assert skew_time(2, 156, 5.0) == pytest.approx(100 / 256)
    assert skew_time(3, 156, 5.0) == pytest.approx(5 * 100 / 256)


def test_v3_backup_learns_the_masters_advert_interval() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 200, advert_int=0.5)])
    net.add_node("n2", [params(2, 100, advert_int=2.0)])
    net.run_for(20)
    assert net.masters("VI_1") == ["n1"]
    n2 = net.nodes["n2"].node.routers["VI_1"]
    assert n2.master_adver_int == pytest.approx(0.5)
    t = net.now
    net.crash("n1")
    net.run_for(10)
    ev = net.first_master_after("VI_1", t)
    # learned 0.5 s interval: 3 x 0.5 + 156 x 0.5 / 256, measured from n1's last advert
    assert ev is not None and ev.node == "n2"
    assert ev.time - t <= 1.5 + 0.5 * 156 / 256 + 0.01


def test_v2_interval_mismatch_is_dropped_and_counted() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 200, version=2, advert_int=1)])
    net.add_node("n2", [params(2, 100, version=2, advert_int=2)])
    net.run_for(20)
    # RFC 3768 7.1: mismatched intervals are discarded, so both end up MASTER.
    assert sorted(net.masters("VI_1")) == ["n1", "n2"]
    from pykeepalived.core.packet import DropReason
    assert net.nodes["n2"].node.routers["VI_1"].stats.drops[DropReason.INTERVAL_MISMATCH] > 0
