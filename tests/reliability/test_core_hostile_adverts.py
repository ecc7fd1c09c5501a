"""Valid-looking adverts from a node that is not the master (a stray neighbour, or an attacker
who read the cleartext PASS password off the wire) must not move the election.

Pure core, no kernel: a BACKUP following a priority-150 MASTER hears priority-50 adverts from a
third address. Before the fix, fast preempt treated them as "the master's priority dropped" and
took over after its skew time: one forged packet made a second MASTER.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from pykeepalived.core import packet
from pykeepalived.core.actions import State
from pykeepalived.core.node import Node
from pykeepalived.core.packet import Advertisement
from pykeepalived.core.router import RouterParams

GROUP = IPv4Address("224.0.0.18")
VIP = IPv4Address("192.0.2.100")
MASTER, ATTACKER = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.66")


def backup() -> Node:
    p = RouterParams(name="VI_1", vrid=51, priority=100, src=IPv4Address("192.0.2.2"),
                     addresses=(VIP,), destinations=(GROUP,), version=3, advert_int=1.0)
    node = Node([p])
    node.start(0.0)
    return node


def advert(prio: int, src: IPv4Address) -> bytes:
    return packet.encode(Advertisement(3, 51, prio, 100, (VIP,)), src, GROUP)


def test_lower_priority_adverts_from_a_non_master_change_nothing() -> None:
    node = backup()
    router = node.routers["VI_1"]
    now = 1.0
    node.datagram(now, advert(150, MASTER), MASTER, GROUP, interface="eth0")
    # The master keeps advertising every second; the stranger floods in between.
    for _ in range(10):
        for i in range(50):
            node.datagram(now + i * 0.019, advert(50, ATTACKER), ATTACKER, GROUP,
                          interface="eth0")
            deadline = node.deadline()
            assert deadline is not None and deadline > now + 3
        now += 1.0
        node.datagram(now, advert(150, MASTER), MASTER, GROUP, interface="eth0")
        deadline = node.deadline()
        assert deadline is not None
        node.handle_timer(min(now, deadline))
        assert router.state is State.BACKUP
        assert router.master_address == MASTER


def test_fast_preempt_still_follows_the_real_master() -> None:
    node = backup()
    router = node.routers["VI_1"]
    node.datagram(1.0, advert(150, MASTER), MASTER, GROUP, interface="eth0")
    node.datagram(2.0, advert(90, MASTER), MASTER, GROUP, interface="eth0")
    deadline = node.deadline()
    assert deadline is not None and deadline <= 2.0 + router.skew_time() + 1e-9
    node.handle_timer(deadline)
    assert router.state is State.MASTER
