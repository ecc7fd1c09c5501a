"""The node: demultiplexing, its running reject count, and the order of shutdown actions."""

from __future__ import annotations

from ipaddress import ip_address

from pykeepalived.core import packet
from pykeepalived.core.actions import RemoveAddresses, SendAdvert
from pykeepalived.core.node import Node
from pykeepalived.core.router import RouterParams

GROUP = ip_address("224.0.0.18")


def params(name: str, vrid: int, vip: str) -> RouterParams:
    return RouterParams(name=name, vrid=vrid, priority=255, want_master=True,
                        src=ip_address("192.0.2.1"), addresses=(ip_address(vip),),
                        destinations=(GROUP,), version=3, advert_int=0.1)


def test_rejected_counts_every_refused_datagram_and_no_accepted_one() -> None:
    node = Node([params("A", 1, "192.0.2.100")])
    node.start(0.0)
    src = ip_address("192.0.2.2")
    good = packet.encode(packet.Advertisement(3, 1, 100, 10, (ip_address("192.0.2.100"),)),
                         src, GROUP)
    wrong_vip = packet.encode(packet.Advertisement(3, 1, 100, 10, (ip_address("192.0.2.7"),)),
                              src, GROUP)
    node.datagram(1.0, good, src, GROUP, interface="eth0")
    assert node.rejected == 0
    node.datagram(1.0, b"\x31\x09", src, GROUP, interface="eth0")  # unknown VRID
    node.datagram(1.0, good, src, GROUP, interface="eth0", ttl=1)  # TTL
    node.datagram(1.0, good[:-1], src, GROUP, interface="eth0")  # malformed
    node.datagram(1.0, wrong_vip, src, GROUP, interface="eth0")  # checks in the router
    assert node.rejected == 4


def test_stop_sends_every_priority_zero_advert_before_removing_addresses() -> None:
    node = Node([params("A", 1, "192.0.2.100"), params("B", 2, "192.0.2.101")])
    node.start(0.0)
    out = node.stop(1.0)
    kinds = [type(a) for a in out if isinstance(a, (SendAdvert, RemoveAddresses))]
    assert kinds == [SendAdvert, SendAdvert, RemoveAddresses, RemoveAddresses]
    assert all(a.priority == 0 for a in out if isinstance(a, SendAdvert))


def test_adopt_keeps_a_running_router_in_the_new_nodes_table_and_sync_group() -> None:
    plist = [params("A", 1, "192.0.2.100"), params("B", 2, "192.0.2.101")]
    old = Node(plist, [("G", ["A", "B"])])
    old.start(0.0)
    kept = old.routers["A"]
    new = Node(plist, [("G", ["A", "B"])])
    new.adopt(kept)
    assert new.routers["A"] is kept
    assert new.router_for("eth0", 4, 1) is kept
    group = new.groups["G"]
    assert group.members[0] is kept and kept.group is group
    assert group.members[1] is new.routers["B"]
