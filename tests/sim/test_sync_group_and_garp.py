"""Sync groups move together; gratuitous ARPs follow keepalived's schedule; auth is checked."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from pykeepalived.core import packet
from pykeepalived.core.actions import State
from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.testing.simnet import SimNetwork
from tests.sim.simlib import ETH1, group_node, params


def test_sync_group_members_fail_over_together() -> None:
    net = SimNetwork()
    group_node(net, "n1", 1, 150)
    group_node(net, "n2", 2, 100)
    net.run_for(3)
    assert net.masters("VI_1") == ["n1"] and net.masters("VI_2") == ["n1"]
    t = net.now
    net.set_tracker("n1", ETH1.key, False)  # only VI_1 tracks eth1, VI_2 must follow
    assert net.nodes["n1"].state("VI_1") is State.FAULT
    assert net.nodes["n1"].state("VI_2") is State.FAULT
    assert "VRRP_Group(G1) Syncing instances to FAULT state" in net.logs("n1")
    net.run_for(2)
    assert net.masters("VI_1") == ["n2"] and net.masters("VI_2") == ["n2"]
    for inst in ("VI_1", "VI_2"):
        ev = net.first_master_after(inst, t)
        assert ev is not None and ev.time - t < 0.1
    net.set_tracker("n1", ETH1.key, True)
    net.run_for(3)
    assert net.masters("VI_1") == ["n1"] and net.masters("VI_2") == ["n1"]
    assert net.holders("VI_2") == ["n1"]


def test_sync_group_steps_down_together_when_one_member_hears_a_better_master() -> None:
    net = SimNetwork()
    group_node(net, "n1", 1, 100)
    net.run_for(3)
    assert net.masters("VI_2") == ["n1"]
    # a node with only VI_1 at a higher priority: n1 must drop VI_2 as well
    net.add_node("n2", [params(2, 200, name="VI_1", vrid=51, advert_int=0.1)])
    net.run_for(3)
    assert net.masters("VI_1") == ["n2"]
    assert net.nodes["n1"].state("VI_2") is State.BACKUP
    assert "VRRP_Group(G1) Syncing instances to BACKUP state" in net.logs("n1")


def test_gratuitous_arp_schedule_on_becoming_master() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 150, garp_master_delay=5, garp_master_repeat=5,
                               garp_master_refresh=20, garp_master_refresh_repeat=2)])
    t0 = net.now
    net.run_for(60)
    garps = [(round(e.time - t0, 2), e.detail) for e in net.events if e.kind == "garp"]
    became = net.first_master_after("VI_1", t0)
    assert became is not None
    m = round(became.time - t0, 2)
    assert garps[:4] == [(m, "5"), (m + 5, "5"), (m + 20, "2"), (m + 40, "2")]
    # VIPs are added after the first advert and before the ARPs (keepalived's order)
    kinds = [e.kind for e in net.events if e.time == became.time and e.node == "n1"
             and e.kind in ("advert", "vip_add", "garp")]
    assert kinds == ["advert", "vip_add", "garp"]


def test_v2_pass_authentication_mismatch_is_dropped() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 150, version=2, auth_type=packet.AUTH_PASS,
                               auth_pass=b"secret12")])
    net.add_node("n2", [params(2, 100, version=2, auth_type=packet.AUTH_PASS,
                               auth_pass=b"wrong")])
    net.run_for(10)
    assert sorted(net.masters("VI_1")) == ["n1", "n2"]
    drops = net.nodes["n2"].node.routers["VI_1"].stats.drops
    assert drops[packet.DropReason.AUTH_FAILURE] > 0


def test_v2_pass_authentication_match_elects_one_master() -> None:
    net = SimNetwork()
    for i, prio in ((1, 150), (2, 100)):
        net.add_node(f"n{i}", [params(i, prio, version=2, auth_type=packet.AUTH_PASS,
                                      auth_pass=b"secret12")])
    net.run_for(10)
    assert net.masters("VI_1") == ["n1"]


def test_rejected_packets_change_no_timer() -> None:
    net = SimNetwork()
    net.add_node("n1", [params(1, 150, advert_int=0.1)])
    net.run_for(2)
    router = net.nodes["n1"].node.routers["VI_1"]
    before = router.deadline()
    good = packet.encode(packet.Advertisement(3, 51, 200, 10, (ip_address("192.0.2.100"),)),
                         ip_address("192.0.2.9"), ip_address("224.0.0.18"))
    bad_sum = good[:6] + b"\0\0" + good[8:]
    for data, ttl in [(bad_sum, 255), (good, 64), (b"\x31\x33", 255), (b"\x21" + good[1:], 255)]:
        acts = net.nodes["n1"].node.datagram(net.now, data, ip_address("192.0.2.9"),
                                             ip_address("224.0.0.18"), interface="eth0", ttl=ttl)
        assert acts == []
    assert router.deadline() == before and router.state is State.MASTER
    d = router.stats.drops
    assert (d[packet.DropReason.BAD_CHECKSUM], d[packet.DropReason.BAD_TTL],
            d[packet.DropReason.TOO_SHORT]) == (1, 1, 2)  # a v2 header needs 8 auth bytes
    assert sum(d.values()) == 4


@pytest.mark.parametrize("weight", [0, -60])
def test_weight_semantics(weight: int) -> None:
    spec = TrackerSpec(TrackerKind.SCRIPT, "chk", weight=weight)
    net = SimNetwork()
    net.add_node("n1", [params(1, 150, trackers=(spec,))])
    r = net.nodes["n1"].node.routers["VI_1"]
    if weight == 0:
        # a weight-0 script that has not reported keeps the instance down
        assert r.state is State.FAULT
        net.set_tracker("n1", spec.key, True)
        assert r.state is State.BACKUP
        net.set_tracker("n1", spec.key, False)
        assert r.state is State.FAULT and r.effective_priority == 150
    else:
        assert r.state is State.BACKUP
        net.set_tracker("n1", spec.key, False)
        assert r.effective_priority == 90
        net.set_tracker("n1", spec.key, True)
        assert r.effective_priority == 150
