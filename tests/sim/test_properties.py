"""Property: whatever faults happen, the cluster converges to one MASTER and never idles long."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.core.actions import State
from pykeepalived.core.router import master_down_interval
from pykeepalived.testing.simnet import SimNetwork
from tests.sim.simlib import CHK, CHK_KEY, params

ADV = 0.1
NODES = ("n1", "n2", "n3")

fault = st.tuples(
    st.sampled_from(["crash", "stop", "restart", "link_down", "link_up", "partition", "heal",
                     "check_fail", "check_ok"]),
    st.sampled_from(NODES),
    st.floats(min_value=0.0, max_value=1.5),  # wait before the next fault
)


def masters_on_the_wire(net: SimNetwork) -> list[str]:
    return [n for n, s in net.nodes.items()
            if s.alive and s.link_up and s.state("VI_1") is State.MASTER]


def healthy(net: SimNetwork) -> bool:
    return any(s.alive and s.link_up and s.state("VI_1") in (State.BACKUP, State.MASTER)
               for s in net.nodes.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prios=st.lists(st.integers(min_value=1, max_value=254), min_size=3, max_size=3),
    faults=st.lists(fault, min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_one_master_after_faults_heal_and_no_long_gaps(
    prios: list[int], faults: list[tuple[str, str, float]], seed: int
) -> None:
    net = SimNetwork(seed=seed)
    for i, prio in enumerate(prios, start=1):
        net.add_node(f"n{i}", [params(i, prio, advert_int=ADV, trackers=(CHK,))])
        net.set_tracker(f"n{i}", CHK_KEY, True)
    net.run_for(1.0)
    # the check fails at -60; the gap bound uses the largest possible down interval
    worst_mdi = max(master_down_interval(3, max(1, p - 60), ADV) for p in prios)
    gap_limit = worst_mdi + ADV + 0.01
    gap_start: float | None = None

    def sample(until: float) -> None:
        nonlocal gap_start
        while net.now < until:
            net.run_for(0.005)
            if masters_on_the_wire(net) or not healthy(net):
                gap_start = None
            elif gap_start is None:
                gap_start = net.now
            else:
                assert net.now - gap_start <= gap_limit, f"no master for {net.now - gap_start:.3f}s"

    for kind, node, wait in faults:
        sim = net.nodes[node]
        if kind == "crash" and sim.alive:
            net.crash(node)
        elif kind == "stop" and sim.alive:
            net.stop(node)
        elif kind == "restart" and not sim.alive:
            net.restart(node)
            net.set_tracker(node, CHK_KEY, True)
        elif kind == "link_down":
            net.link_down(node)
        elif kind == "link_up":
            net.link_up(node)
        elif kind == "partition":
            others = [n for n in NODES if n != node]
            net.partition([node], others)
        elif kind == "heal":
            net.heal()
        elif kind == "check_fail":
            net.set_tracker(node, CHK_KEY, False)
        elif kind == "check_ok":
            net.set_tracker(node, CHK_KEY, True)
        sample(net.now + wait)

    # heal everything
    net.heal()
    for name, sim in net.nodes.items():
        net.link_up(name)
        if not sim.alive:
            net.restart(name)
        net.set_tracker(name, CHK_KEY, True)
    healed = net.now
    sample(healed + worst_mdi + 0.01)
    masters = masters_on_the_wire(net)
    assert len(masters) == 1, f"masters {masters} at {net.now - healed:.3f}s after heal"
    # and it stays that way
    sample(net.now + 2.0)
    assert masters_on_the_wire(net) == masters or len(masters_on_the_wire(net)) == 1
    # The master has the highest priority. Among equals, a running master keeps the role
    # (a BACKUP compares no addresses), so any of the tied best may hold it.
    (winner,) = masters_on_the_wire(net)
    assert prios[NODES.index(winner)] == max(prios)
