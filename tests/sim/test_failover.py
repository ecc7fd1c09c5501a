"""Failover scenarios on the simulated segment: crash, graceful stop, health checks, preemption."""

from __future__ import annotations

import pytest

from pykeepalived.core.actions import State
from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.core.router import master_down_interval, skew_time
from pykeepalived.testing.simnet import SimNetwork
from tests.sim.simlib import CHK, CHK_KEY, cluster


def settled(*prios: int, **kw: object) -> SimNetwork:
    net = cluster(*prios, **kw)  # type: ignore[arg-type]
    net.run_for(10)
    return net


def last_advert(net: SimNetwork, node: str, before: float) -> float:
    return max(e.time for e in net.events
               if e.kind == "advert" and e.node == node and e.time <= before)


@pytest.mark.parametrize(("version", "adv"), [(2, 1.0), (3, 1.0), (3, 0.1)])
def test_master_crash_next_best_takes_over_after_down_interval(version: int, adv: float) -> None:
    net = settled(150, 100, 120, version=version, advert_int=adv)
    assert net.masters("VI_1") == ["n1"]
    net.run_for(adv * 0.37)  # crash somewhere inside the advert cycle
    t = net.now
    net.crash("n1")
    net.run_for(10)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n3"
    expected = last_advert(net, "n1", t) + master_down_interval(version, 120, adv)
    assert ev.time == pytest.approx(expected, abs=0.002)
    assert net.masters("VI_1") == ["n3"]
    assert net.holders("VI_1") == ["n3"]


@pytest.mark.parametrize(("version", "adv"), [(2, 1.0), (3, 1.0), (3, 0.1)])
def test_graceful_stop_hands_over_within_skew_time(version: int, adv: float) -> None:
    net = settled(150, 100, 120, version=version, advert_int=adv)
    t = net.now
    net.stop("n1")
    net.run_for(10)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n3"
    assert ev.time - t == pytest.approx(skew_time(version, 120, adv), abs=0.002)
    # the stopping master sent priority 0 and removed its addresses at once
    stop_adv = [e for e in net.events if e.kind == "advert" and e.node == "n1" and e.time >= t]
    assert [e.priority for e in stop_adv] == [0]
    assert net.holders("VI_1") == ["n3"]


def test_health_check_failure_moves_vip_in_about_one_advert_with_fast_preempt() -> None:
    net = settled(150, 100, trackers=(CHK,), advert_int=0.1)
    net.set_tracker("n1", CHK_KEY, True)
    net.set_tracker("n2", CHK_KEY, True)
    net.run_for(1)
    t = net.now
    net.set_tracker("n1", CHK_KEY, False)  # 150 - 60 = 90 < 100
    assert "(VI_1) Changing effective priority from 150 to 90" in net.logs("n1")
    net.run_for(5)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n2"
    # next advert of n1 (<= 0.1 s) + n2's skew 0.1 x 156/256
    assert ev.time - t <= 0.1 + skew_time(3, 100, 0.1) + 0.002
    assert net.masters("VI_1") == ["n2"]
    assert any("received lower priority (90) advert from 192.0.2.1 - discarding" in line
               for line in net.logs("n2"))
    assert any("with higher priority 100, ours 90" in line for line in net.logs("n1"))


def test_health_check_failure_without_fast_preempt_waits_the_down_interval() -> None:
    net = settled(150, 100, trackers=(CHK,), advert_int=0.1, fast_preempt=False)
    net.set_tracker("n1", CHK_KEY, True)
    net.set_tracker("n2", CHK_KEY, True)
    net.run_for(1)
    t = net.now
    last_accepted = last_advert(net, "n1", t)
    net.set_tracker("n1", CHK_KEY, False)
    net.run_for(5)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n2"
    # keepalived behaviour: the lower adverts are discarded and the down timer runs out
    assert ev.time == pytest.approx(last_accepted + master_down_interval(3, 100, 0.1), abs=0.002)


def test_recovery_preempts_back_within_one_advert_and_skew() -> None:
    net = settled(150, 100, trackers=(CHK,), advert_int=0.1)
    net.set_tracker("n1", CHK_KEY, False)
    net.set_tracker("n2", CHK_KEY, True)
    net.run_for(3)
    assert net.masters("VI_1") == ["n2"]
    t = net.now
    net.set_tracker("n1", CHK_KEY, True)
    net.run_for(3)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n1"
    assert ev.time - t <= 0.1 + skew_time(3, 150, 0.1) + 0.002
    assert net.masters("VI_1") == ["n1"]


def test_nopreempt_keeps_the_current_master_after_recovery() -> None:
    net = settled(150, 100, trackers=(CHK,), advert_int=0.1, nopreempt=True)
    net.set_tracker("n1", CHK_KEY, True)
    net.set_tracker("n2", CHK_KEY, True)
    net.run_for(2)
    assert net.masters("VI_1") == ["n1"]
    net.crash("n1")
    net.run_for(2)
    assert net.masters("VI_1") == ["n2"]
    t = net.now
    net.restart("n1")
    net.run_for(10)
    assert net.masters("VI_1") == ["n2"]
    assert net.first_master_after("VI_1", t) is None


def test_preempt_delay_holds_back_a_recovered_higher_node() -> None:
    net = settled(150, 100, advert_int=1.0, preempt_delay=5.0)
    net.crash("n1")
    net.run_for(10)
    assert net.masters("VI_1") == ["n2"]
    t = net.now
    net.restart("n1")
    net.run_for(30)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n1"
    # n1 hears n2 (lower) from its first advert on, starts the 5 s delay, then preempts
    # after its own skew from the next lower advert (fast preempt).
    assert 5.0 <= ev.time - t <= 1.0 + 5.0 + 1.0 + skew_time(3, 150, 1.0) + 0.01


def test_interface_tracker_weight_zero_means_fault_and_priority_zero() -> None:
    eth = TrackerSpec(TrackerKind.INTERFACE, "eth1")
    net = settled(150, 100, trackers=(eth,), advert_int=0.1)
    net.set_tracker("n1", eth.key, True)
    net.set_tracker("n2", eth.key, True)
    net.run_for(2)
    assert net.masters("VI_1") == ["n1"]
    t = net.now
    net.set_tracker("n1", eth.key, False)
    assert net.nodes["n1"].state("VI_1") is State.FAULT
    assert "(VI_1) Entering FAULT STATE" in net.logs("n1")
    net.run_for(2)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n2"
    assert ev.time - t == pytest.approx(skew_time(3, 100, 0.1), abs=0.002)
    t = net.now
    net.set_tracker("n1", eth.key, True)
    assert net.nodes["n1"].state("VI_1") is State.BACKUP
    net.run_for(2)
    assert net.masters("VI_1") == ["n1"]
    # back from FAULT, n1 preempts on n2's next advert plus its own skew (fast preempt)
    back = net.first_master_after("VI_1", t)
    assert back is not None and back.node == "n1"
    assert back.time - t <= 0.1 + skew_time(3, 150, 0.1) + 0.002


def test_link_down_on_master_backups_wait_the_full_down_interval() -> None:
    net = settled(150, 100, advert_int=0.1)
    t = net.now
    net.link_down("n1")
    net.run_for(2)
    ev = net.first_master_after("VI_1", t)
    assert ev is not None and ev.node == "n2"
    assert ev.time - last_advert(net, "n1", t) == pytest.approx(
        master_down_interval(3, 100, 0.1), abs=0.002)
    net.link_up("n1")
    net.run_for(2)
    assert net.masters("VI_1") == ["n1"]


def test_partition_gives_two_masters_and_heal_gives_one() -> None:
    net = settled(150, 100, 120, advert_int=0.1)
    net.partition(["n1"], ["n2", "n3"])
    net.run_for(3)
    assert sorted(net.masters("VI_1")) == ["n1", "n3"]
    t = net.now
    net.heal()
    net.run_for(master_down_interval(3, 100, 0.1))
    assert net.masters("VI_1") == ["n1"]
    assert net.holders("VI_1") == ["n1"]
    ends = [e for e in net.transitions("VI_1", State.BACKUP) if e.time >= t]
    assert [e.node for e in ends] == ["n3"]


def test_three_nodes_fast_preempt_no_lower_backup_holds_vip_longer_than_one_advert() -> None:
    net = settled(150, 100, 120, trackers=(CHK,), advert_int=0.1)
    for n in ("n1", "n2", "n3"):
        net.set_tracker(n, CHK_KEY, True)
    net.run_for(1)
    net.set_tracker("n1", CHK_KEY, False)  # n1: 90 -> n3 (120) must take over, not n2
    net.run_for(3)
    assert net.masters("VI_1") == ["n3"]
    assert not [e for e in net.transitions("VI_1", State.MASTER) if e.node == "n2"]
    t = net.now
    net.set_tracker("n1", CHK_KEY, True)
    net.run_for(3)
    assert net.masters("VI_1") == ["n1"]
    # n3 held the VIP until n1 preempted, n2 never
    held = [e for e in net.events if e.kind == "vip_add" and e.node == "n2"]
    assert held == []
    n1_master = net.first_master_after("VI_1", t)
    assert n1_master is not None and n1_master.time - t <= 0.1 + skew_time(3, 150, 0.1) + 0.002


def test_master_answers_lower_priority_adverts_and_rate_limits_answers() -> None:
    net = settled(150, advert_int=1.0)
    router = net.nodes["n1"].node.routers["VI_1"]
    from ipaddress import ip_address

    from pykeepalived.core import packet
    from tests.sim.simlib import GROUP4, VIP
    adv = packet.Advertisement(3, 51, 100, 100, (VIP,))
    data = packet.encode(adv, ip_address("192.0.2.9"), GROUP4)
    sent_before = router.stats.adverts_sent
    for i in range(100):
        acts = net.nodes["n1"].node.datagram(net.now + i * 0.001, data,
                                             ip_address("192.0.2.9"), GROUP4, interface="eth0")
        assert all(a.__class__.__name__ != "Transition" for a in acts)
    # 100 lower adverts within 0.1 s: at most one answer per quarter interval
    assert router.stats.adverts_sent - sent_before == 1
    assert router.stats.lower_prio_answers_suppressed == 99
    assert router.state is State.MASTER
