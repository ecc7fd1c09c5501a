"""auth_type AH: the core seals adverts byte for byte as keepalived 2.2.7 does, checks received
ones (ICV, SPI, sequence) as keepalived does, and keeps keepalived's sequence rules."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pykeepalived.core import ah, packet
from pykeepalived.core.actions import Action, SendAdvert, State
from pykeepalived.core.node import Node
from pykeepalived.core.packet import DropReason, PacketError
from pykeepalived.core.router import RouterParams

VECTORS = Path(__file__).parents[2] / "vectors" / "ah"
KEY = ah.ah_key("secret12")
N1, N2 = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
GROUP = IPv4Address("224.0.0.18")
VIP = IPv4Address("192.0.2.100")


def captured(name: str) -> list[bytes]:
    return [bytes.fromhex(line) for line in (VECTORS / name).read_text().split()]


@pytest.mark.parametrize(("name", "dst", "unicast"), [("v2_ah_multicast.hex", GROUP, False),
                                                      ("v2_ah_unicast.hex", N2, True)])
def test_sealing_matches_keepalived_byte_for_byte(name: str, dst: IPv4Address,
                                                  unicast: bool) -> None:
    for n, datagram in enumerate(captured(name), start=1):
        message = datagram[ah.IPV4_HEADER_LEN + ah.AH_LEN:]
        ours = ah.seal(message, src=N1, dst=dst, ident=n, ttl=255, seq=n, key=KEY,
                       unicast=unicast)
        assert ours == datagram
        opened = ah.open_datagram(datagram[:20], datagram[20:], key=KEY, unicast=unicast)
        assert opened.seq == n and opened.message == message


def test_the_unicast_icv_leaves_the_ttl_out_and_the_multicast_one_does_not() -> None:
    datagram = captured("v2_ah_unicast.hex")[0]
    with pytest.raises(PacketError) as err:
        ah.open_datagram(datagram[:20], datagram[20:], key=KEY, unicast=False)
    assert err.value.reason is DropReason.AUTH_FAILURE
    hops = bytearray(datagram[:20])
    hops[8] = 64  # a routed unicast advert: TTL changed on the way, still authentic
    assert ah.open_datagram(bytes(hops), datagram[20:], key=KEY, unicast=True).seq == 1


@pytest.mark.parametrize("tamper", ["password", "priority", "ident", "spi", "source"])
def test_anything_changed_fails_authentication(tamper: str) -> None:
    datagram = bytearray(captured("v2_ah_multicast.hex")[0])
    key = KEY
    if tamper == "password":
        key = ah.ah_key("secret13")
    elif tamper == "priority":
        datagram[44 + 2] = 254
    elif tamper == "ident":
        datagram[5] ^= 1
    elif tamper == "spi":
        datagram[24:28] = N2.packed
    else:
        datagram[12:16] = N2.packed
    with pytest.raises(PacketError) as err:
        ah.open_datagram(bytes(datagram[:20]), bytes(datagram[20:]), key=key, unicast=False)
    assert err.value.reason is DropReason.AUTH_FAILURE


def test_mutable_fields_do_not_count() -> None:
    datagram = bytearray(captured("v2_ah_multicast.hex")[0])
    datagram[1] = 0x00  # TOS re-marked
    datagram[6] = 0x40  # DF set on the way
    datagram[10:12] = b"\xbe\xef"  # checksum
    assert ah.open_datagram(bytes(datagram[:20]), bytes(datagram[20:]), key=KEY,
                            unicast=False).seq == 1


def test_an_ah_header_for_another_protocol_is_not_vrrp() -> None:
    datagram = bytearray(captured("v2_ah_multicast.hex")[0])
    datagram[20] = 6
    with pytest.raises(PacketError) as err:
        ah.strip(bytes(datagram[20:]))
    assert err.value.reason is DropReason.NOT_VRRP


def test_identification_never_zero() -> None:
    assert ah.next_ident(0xFFFE) == 0xFFFF
    assert ah.next_ident(0xFFFF) == 1


# ---------------------------------------------------------------- the sequence, in the core

def params(name: str, src: IPv4Address, priority: int) -> RouterParams:
    return RouterParams(name=name, vrid=51, priority=priority, src=src, addresses=(VIP,),
                        destinations=(GROUP,), interface="eth0", version=2, advert_int=1.0,
                        auth_type=packet.AUTH_AH, auth_pass=b"secret12")


def node(src: IPv4Address, priority: int) -> Node:
    return Node([params("VI_1", src, priority)])


def deliver(to: Node, now: float, datagram: bytes) -> list[Action]:
    return to.datagram(now, datagram[20:], IPv4Address(datagram[12:16]),
                       IPv4Address(datagram[16:20]), interface="eth0", ip_header=datagram[:20])


def sent(actions: list[Action]) -> list[bytes]:
    return [data for a in actions if isinstance(a, SendAdvert) for _, data in a.packets]


def test_a_backup_follows_keepalived_s_numbers_and_refuses_a_replay() -> None:
    backup = node(N2, 100)
    backup.start(0.0)
    router = backup.routers["VI_1"]
    adverts = captured("v2_ah_multicast.hex")
    for n, datagram in enumerate(adverts, start=1):
        deliver(backup, 0.1 * n, datagram)
        assert router.stats.adverts_received == n
        assert router.ah is not None and router.ah.seq == n
    deliver(backup, 1.0, adverts[1])  # replayed
    assert router.stats.adverts_received == 3
    assert router.stats.drops[DropReason.AH_REPLAY] == 1
    assert router.master_address == N1


def test_a_new_master_continues_the_numbers_it_heard() -> None:
    backup = node(N2, 100)
    backup.start(0.0)
    for datagram in captured("v2_ah_multicast.hex"):
        deliver(backup, 0.5, datagram)
    actions = backup.handle_timer(100.0)  # keepalived's master went quiet
    assert backup.routers["VI_1"].state is State.MASTER
    first = sent(actions)[0]
    assert first[9] == ah.IPPROTO_AH
    assert int.from_bytes(first[28:32], "big") == 4  # after keepalived's 3
    opened = ah.open_datagram(first[:20], first[20:], key=KEY, unicast=False)
    assert packet.decode(opened.message, N2, GROUP).priority == 100


def test_plain_vrrp_and_ah_do_not_mix() -> None:
    backup = node(N2, 100)
    backup.start(0.0)
    plain = packet.encode(packet.Advertisement(2, 51, 150, 1, (VIP,), packet.AUTH_AH), N1, GROUP)
    backup.datagram(0.5, plain, N1, GROUP, interface="eth0")
    router = backup.routers["VI_1"]
    assert router.stats.drops[DropReason.AUTH_TYPE_MISMATCH] == 1
    pass_node = Node([RouterParams(
        name="VI_1", vrid=51, priority=100, src=N2, addresses=(VIP,), destinations=(GROUP,),
        auth_type=packet.AUTH_PASS, auth_pass=b"secret12")])
    pass_node.start(0.0)
    deliver(pass_node, 0.5, captured("v2_ah_multicast.hex")[0])
    assert pass_node.routers["VI_1"].stats.drops[DropReason.AUTH_TYPE_MISMATCH] == 1


def test_a_master_hearing_a_lower_priority_jumps_past_its_number() -> None:
    master = node(N1, 200)
    master.start(0.0)
    master.handle_timer(100.0)
    router = master.routers["VI_1"]
    assert router.state is State.MASTER and router.ah is not None
    lower = ah.seal(packet.encode(packet.Advertisement(2, 51, 100, 1, (VIP,), packet.AUTH_AH),
                                  N2, GROUP),
                    src=N2, dst=GROUP, ident=7, ttl=255, seq=500, key=KEY, unicast=False)
    # keepalived: "Syncing seq_num - Increment seq" to 501, then the answer goes out as 502
    answer = sent(deliver(master, 100.5, lower))[0]
    assert int.from_bytes(answer[28:32], "big") == 502
    assert router.ah.seq == 502


def test_goodbye_is_the_next_number_and_not_counted() -> None:
    master = node(N1, 200)
    master.start(0.0)
    master.handle_timer(100.0)
    router = master.routers["VI_1"]
    assert router.ah is not None
    seq = router.ah.seq
    goodbye = router.goodbye_packets()[0][1]
    assert router.ah.seq == seq
    opened = ah.open_datagram(goodbye[:20], goodbye[20:], key=KEY, unicast=False)
    assert opened.seq == seq + 1
    assert packet.decode(opened.message, N1, GROUP).priority == 0


def test_the_counter_stops_at_keepalived_s_limit_and_restarts_on_the_next_master() -> None:
    seq = ah.AhSequence(KEY)
    seq.seq = ah.SEQ_LIMIT + 1
    seq.seal_next(((GROUP, b"x" * 20),), N1, unicast=False)
    assert seq.cycled and seq.seq == ah.SEQ_LIMIT + 1
    seq.becoming_master()
    assert seq.seq == 0 and not seq.cycled
