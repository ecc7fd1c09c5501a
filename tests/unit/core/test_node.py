"""The node: demultiplexing, its running reject count, and the order of shutdown actions."""

from __future__ import annotations

from ipaddress import ip_address

from pykeepalived.core import packet
from pykeepalived.core.actions import IPAddress, RemoveAddresses, SendAdvert
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


def test_only_adverts_that_pass_every_check_are_reported_as_accepted() -> None:
    """Split-brain evidence comes from Node.last_accepted: never from a packet any check
    (TTL, version, checksum, authentication, interval, addresses, VRID) refused."""
    p = RouterParams(name="A", vrid=1, priority=100, src=ip_address("192.0.2.1"),
                     addresses=(ip_address("192.0.2.100"),), destinations=(GROUP,), version=2,
                     auth_type=packet.AUTH_PASS, auth_pass=b"secret")
    node = Node([p])
    node.start(0.0)
    src = ip_address("192.0.2.2")

    def advert(**changes: object) -> bytes:
        fields: dict[str, object] = dict(version=2, vrid=1, priority=150, interval=1,
                                         addresses=(ip_address("192.0.2.100"),),
                                         auth_type=packet.AUTH_PASS,
                                         auth_data=packet.pass_auth_data(b"secret"))
        fields.update(changes)
        return packet.encode(packet.Advertisement(**fields), src, GROUP)  # type: ignore[arg-type]

    refused = {
        "ttl": (advert(), 64),
        "password": (advert(auth_data=packet.pass_auth_data(b"wrong")), 255),
        "auth type": (advert(auth_type=packet.AUTH_NONE, auth_data=b""), 255),
        "interval": (advert(interval=2), 255),
        "addresses": (advert(addresses=(ip_address("192.0.2.7"),)), 255),
        "vrid": (advert(vrid=9), 255),
    }
    for what, (data, ttl) in refused.items():
        node.datagram(1.0, data, src, GROUP, interface="eth0", ttl=ttl)
        assert node.last_accepted is None, what
    node.datagram(1.0, advert(), src, GROUP, interface="eth0")
    accepted = node.last_accepted
    assert accepted is not None and (accepted.instance, accepted.src, accepted.priority) == \
        ("A", src, 150)
    node.datagram(1.1, advert()[:-1], src, GROUP, interface="eth0")  # malformed: cleared
    assert node.last_accepted is None


def backup_params() -> RouterParams:
    return RouterParams(name="B", vrid=7, priority=100, want_master=False,
                        src=ip_address("192.0.2.2"), addresses=(ip_address("192.0.2.107"),),
                        destinations=(GROUP,), version=3, advert_int=1.0)


def advert(priority: int) -> tuple[bytes, IPAddress]:
    master = ip_address("192.0.2.1")
    adv = packet.Advertisement(3, 7, priority, 100, (ip_address("192.0.2.107"),))
    return packet.encode(adv, master, GROUP), master


def test_down_timer_runs_from_the_kernels_receipt_not_from_the_read() -> None:
    """A backup's Master_Down_Interval (and a priority-0 advert's skew) starts when the advert
    reached the host: ``age`` before the read. Implausible ages (a wall-clock step between the
    kernel's stamp and the read) are ignored; the fast path and the full path agree."""
    mdi = 3 * 1.0 + (256 - 100) / 256 * 1.0
    skew = (256 - 100) / 256 * 1.0
    for age, backdated in ((0.004, True), (0.0, False), (-0.5, False), (0.5, False)):
        node = Node([backup_params()])
        node.start(0.0)
        data, master = advert(200)
        node.datagram(10.0, data, master, GROUP, interface="eth0", age=age)  # full path
        expect = 10.0 - (age if backdated else 0.0)
        assert node.deadline() == expect + mdi, age
        node.datagram(11.0, data, master, GROUP, interface="eth0", age=age)  # fast path
        assert node.repeats == 1
        assert node.deadline() == 11.0 - (age if backdated else 0.0) + mdi, age
        goodbye, _ = advert(0)
        node.datagram(12.0, goodbye, master, GROUP, interface="eth0", age=age)
        assert node.deadline() == 12.0 - (age if backdated else 0.0) + skew, age
