"""Notify requests on the simulated segment: who is told what, and when, on failover.

keepalived runs the notify scripts (and writes the FIFO) on every instance state change, and
once per sync group change with ``GROUP``; the simulator records each request per node.
"""

from __future__ import annotations

from pykeepalived.core.actions import NotifyKind, State
from pykeepalived.testing.simnet import SimNetwork
from tests.sim.simlib import ETH1, cluster, group_node, params


def told(net: SimNetwork, node: str, *, since: float | None = None,
         kind: NotifyKind = NotifyKind.INSTANCE, subject: str | None = None
         ) -> list[tuple[str, State, int]]:
    return [(n.name, n.state, n.priority)
            for _, n in net.notifies(node, kind=kind, subject=subject, since=since)]


def test_start_up_and_preemption_tell_each_instance_its_new_state() -> None:
    net = cluster(100, start=False, advert_int=0.1)
    net.restart("n1")
    net.run_for(2)
    assert told(net, "n1") == [("VI_1", State.BACKUP, 100), ("VI_1", State.MASTER, 100)]
    t = net.now
    net.add_node("n2", [params(2, 150, advert_int=0.1)])
    net.run_for(2)
    assert net.masters("VI_1") == ["n2"]
    assert told(net, "n2", since=t) == [("VI_1", State.BACKUP, 150), ("VI_1", State.MASTER, 150)]
    assert told(net, "n1", since=t) == [("VI_1", State.BACKUP, 100)]
    # the old master steps down as soon as the new master's first advert reaches it
    became = net.notifies("n2", since=t)[-1][0]
    stepped_down = net.notifies("n1", since=t)[-1][0]
    assert 0 < stepped_down - became <= 2 * net.delay
    assert all(n.kind is NotifyKind.INSTANCE and n.kind == "INSTANCE"
               for _, n in net.notifies("n1") + net.notifies("n2"))


def test_fault_on_the_master_notifies_fault_there_and_master_on_the_backup() -> None:
    net = cluster(150, 100, advert_int=0.1, trackers=(ETH1,))
    net.set_tracker("n1", ETH1.key, True)
    net.set_tracker("n2", ETH1.key, True)
    net.run_for(2)
    t = net.now
    net.set_tracker("n1", ETH1.key, False)
    net.run_for(1)
    assert told(net, "n1", since=t) == [("VI_1", State.FAULT, 150)]
    assert told(net, "n2", since=t) == [("VI_1", State.MASTER, 100)]
    (when, _), = net.notifies("n2", since=t)
    assert when > t  # after the skew time, on hearing n1's priority-0 advert


def test_crash_tells_only_the_new_master_and_graceful_stop_tells_stop() -> None:
    net = cluster(150, 100, advert_int=0.1)
    net.run_for(2)
    t = net.now
    net.crash("n1")
    net.run_for(1)
    assert told(net, "n1", since=t) == []
    assert told(net, "n2", since=t) == [("VI_1", State.MASTER, 100)]
    t = net.now
    net.stop("n2")
    assert told(net, "n2", since=t) == [("VI_1", State.STOP, 100)]



def test_sync_group_failover_notifies_the_group_once_per_change() -> None:
    net = SimNetwork()
    group_node(net, "n1", 1, 150)
    group_node(net, "n2", 2, 100)
    net.run_for(3)
    group = NotifyKind.GROUP
    assert told(net, "n1", kind=group) == [("G1", State.MASTER, 0)]
    assert told(net, "n2", kind=group) == []  # a group starts BACKUP: nothing changed
    t = net.now
    net.set_tracker("n1", ETH1.key, False)
    net.run_for(2)
    assert told(net, "n1", kind=group, since=t) == [("G1", State.FAULT, 0)]
    assert told(net, "n2", kind=group, since=t) == [("G1", State.MASTER, 0)]
    assert sorted(told(net, "n1", since=t)) == [("VI_1", State.FAULT, 150),
                                                ("VI_2", State.FAULT, 150)]
    assert sorted(told(net, "n2", since=t)) == [("VI_1", State.MASTER, 100),
                                                ("VI_2", State.MASTER, 100)]
    t = net.now
    net.set_tracker("n1", ETH1.key, True)
    net.run_for(3)
    assert told(net, "n1", kind=group, since=t) == [("G1", State.BACKUP, 0),
                                                    ("G1", State.MASTER, 0)]
    assert told(net, "n2", kind=group, since=t) == [("G1", State.BACKUP, 0)]
    assert told(net, "n2", subject="VI_2", since=t) == [("VI_2", State.BACKUP, 100)]


def test_master_hearing_a_lower_priority_advert_is_recorded() -> None:
    net = cluster(150, 100, advert_int=0.1)
    net.run_for(2)
    net.partition(["n1"], ["n2"])
    net.run_for(1)
    assert sorted(net.masters("VI_1")) == ["n1", "n2"]
    t = net.now
    net.heal()  # n1 hears n2's lower advert (and answers it); n2 hears n1's and steps down
    net.run_for(1)
    heard = [e for e in net.events if e.kind == "master_rx_lower_pri" and e.time >= t]
    assert heard and {(e.node, e.instance, e.detail) for e in heard} == {
        ("n1", "VI_1", "192.0.2.2")}
    assert net.masters("VI_1") == ["n1"]
    assert told(net, "n2", since=t) == [("VI_1", State.BACKUP, 100)]
    assert told(net, "n1", since=t) == []
