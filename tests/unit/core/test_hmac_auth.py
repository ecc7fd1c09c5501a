"""auth_hmac (keepalived 2.4): every captured keepalived 2.4.3 frame verifies in the core, the
same fields with the same key and sequence encode to the same bytes, and each way of failing
has its own drop reason and keepalived's log line."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest

from pykeepalived.core import hmac_auth, packet
from pykeepalived.core.actions import Action, IPAddress, Log, SendAdvert, State
from pykeepalived.core.hmac_auth import HmacConfig, Mode, Outcome
from pykeepalived.core.node import Node
from pykeepalived.core.packet import DropReason
from pykeepalived.core.router import RouterParams

VECTORS = Path(__file__).parents[2] / "vectors" / "auth_hmac"
KEY = bytes(range(32))
CONFIG = HmacConfig(keys=((1, KEY),), active_key=1)


class Frame:
    def __init__(self, line: str) -> None:
        when, hexdata = line.split()
        self.time = float(when)
        frame = bytes.fromhex(hexdata)
        ip = frame[14:]
        if frame[12:14] == b"\x08\x00":
            ihl, total = (ip[0] & 15) * 4, struct.unpack("!H", ip[2:4])[0]
            self.payload, self.ttl = ip[ihl:total], ip[8]
            self.src, self.dst = ip_address(ip[12:16]), ip_address(ip[16:20])
        else:
            length = struct.unpack("!H", ip[4:6])[0]
            self.payload, self.ttl = ip[40:40 + length], ip[7]
            self.src, self.dst = ip_address(ip[8:24]), ip_address(ip[24:40])
        self.message = self.payload[:-hmac_auth.TRAILER_LEN]
        self.trailer = self.payload[-hmac_auth.TRAILER_LEN:]

    @property
    def seq(self) -> int:
        seconds, fraction, counter = struct.unpack("!IHH", self.trailer[4:12])
        return (seconds << 32) | (fraction << 16) | counter


def frames(name: str) -> list[Frame]:
    return [Frame(line) for line in (VECTORS / name).read_text().splitlines() if line.strip()]


ALL = ["v2.frames", "v3.frames", "v3ipv6.frames", "v3mono.frames"]


def params(f: Frame, priority: int = 100, config: HmacConfig = CONFIG, *,
           unicast: bool = False, destinations: tuple[IPAddress, ...] = ()) -> RouterParams:
    adv = packet.decode(f.message, f.src, f.dst, trailer=f.trailer)
    own = IPv6Address("fe80::ff:fe00:2") if f.src.version == 6 else IPv4Address("192.0.2.2")
    return RouterParams(name="VI_1", vrid=adv.vrid, priority=priority, src=own,
                        addresses=adv.addresses, destinations=destinations or (f.dst,),
                        interface="eth0", version=adv.version, advert_int=1.0, hmac=config,
                        unicast=unicast)


def backup(f: Frame, at: float, config: HmacConfig = CONFIG) -> Node:
    clock = [at]
    node = Node([params(f, config=config)], wall=lambda: clock[0])
    node.start(0.0)
    node.clock = clock  # type: ignore[attr-defined]
    return node


def deliver(node: Node, f: Frame, now: float = 1.0) -> list[Action]:
    return node.datagram(now, f.payload, f.src, f.dst, interface="eth0", ttl=f.ttl)


@pytest.mark.parametrize("name", ALL)
def test_every_keepalived_frame_verifies_in_order(name: str) -> None:
    got = frames(name)
    node = backup(got[0], got[0].time)
    router = node.routers["VI_1"]
    for n, f in enumerate(got, start=1):
        node.clock[0] = f.time  # type: ignore[attr-defined]
        deliver(node, f, now=float(n))
        assert router.stats.adverts_received == n, (n, dict(router.stats.drops))
    assert got[-1].payload[2] == 0 and router.stats.priority_zero_received == 1


@pytest.mark.parametrize("name", ALL)
def test_the_same_fields_key_and_sequence_give_keepalived_s_bytes(name: str) -> None:
    for f in frames(name):
        adv = packet.decode(f.message, f.src, f.dst, trailer=f.trailer)
        message = packet.encode(adv, f.src, f.dst)
        auth = hmac_auth.HmacAuth(CONFIG, wall=lambda f=f: (f.seq >> 32) + (
            ((f.seq >> 16) & 0xFFFF) + 0.5) / 65536)
        assert hmac_auth.clock_seq(auth.wall()) == f.seq
        ((_, data),) = auth.seal(((f.dst, message),), adv.version, adv.vrid, f.src)
        assert data == f.payload


def test_the_ipv4_checksum_leaves_the_trailer_out_and_the_ipv6_one_covers_it() -> None:
    v3, v6 = frames("v3.frames"), frames("v3ipv6.frames")
    assert len({f.message[6:8] for f in v3[:-1]}) == 1  # same checksum, changing trailers
    assert len({f.message[6:8] for f in v6[:-1]}) == len(v6) - 1
    f = v6[0]
    with pytest.raises(packet.PacketError):
        packet.decode(f.message, f.src, f.dst)  # without the trailer it does not add up


def test_a_replayed_frame_is_refused_and_logged_once() -> None:
    got = frames("v3.frames")
    node = backup(got[0], got[1].time)
    router = node.routers["VI_1"]
    deliver(node, got[1])
    logs = deliver(node, got[1]) + deliver(node, got[0])
    assert router.stats.drops[DropReason.AUTH_EXT_REPLAY] == 2
    assert [a.message for a in logs if isinstance(a, Log)] == [
        "(VI_1) replayed authentication trailer from 192.0.2.1"]


def test_outside_the_window_is_stale_before_any_hmac_is_computed() -> None:
    f = frames("v3.frames")[0]
    node = backup(f, f.time + 6)  # the default window: 5 s
    logs = deliver(node, f)
    assert node.routers["VI_1"].stats.drops[DropReason.AUTH_EXT_STALE] == 1
    assert [a.message for a in logs if isinstance(a, Log)] == [
        "(VI_1) stale authentication trailer from 192.0.2.1, clock skew 6 sec exceeds window "
        "5 sec"]


def test_monotonic_anti_replay_has_no_window() -> None:
    f = frames("v3mono.frames")[0]
    config = HmacConfig(keys=((1, KEY),), active_key=1, anti_replay_time=False)
    node = backup(f, f.time + 86400, config)
    deliver(node, f)
    assert node.routers["VI_1"].stats.adverts_received == 1


@pytest.mark.parametrize(("change", "reason", "line"), [
    ("key", DropReason.AUTH_EXT_INVALID_HMAC, "invalid authentication HMAC from 192.0.2.1"),
    ("priority", DropReason.AUTH_EXT_INVALID_HMAC, "invalid authentication HMAC from 192.0.2.1"),
    ("key id", DropReason.AUTH_EXT_UNKNOWN_KEY, "unknown authentication key id 2 from 192.0.2.1"),
    ("scheme", DropReason.AUTH_EXT_MALFORMED, "malformed authentication trailer from 192.0.2.1"),
    ("reserved", DropReason.AUTH_EXT_MALFORMED, "malformed authentication trailer from 192.0.2.1"),
    ("no trailer", DropReason.AUTH_EXT_MISSING, "missing authentication trailer from 192.0.2.1"),
])
def test_each_failure_has_its_reason_and_keepalived_s_line(change: str, reason: DropReason,
                                                          line: str) -> None:
    f = frames("v3.frames")[0]
    config = CONFIG
    payload = bytearray(f.payload)
    if change == "key":
        config = HmacConfig(keys=((1, bytes(32)),), active_key=1)
    elif change == "priority":
        # a forged takeover with a captured trailer: priority 255, checksum made right
        forged = packet.encode(packet.Advertisement(3, 51, 255, 100,
                                                    (IPv4Address("192.0.2.100"),)),
                               f.src, f.dst)
        payload[:len(forged)] = forged
    elif change == "key id":
        payload[-27] = 2
    elif change == "scheme":
        payload[-28] = 9
    elif change == "reserved":
        payload[-26] = 1
    else:
        payload = payload[:-28]
    node = backup(f, f.time, config)
    logs = node.datagram(1.0, bytes(payload), f.src, f.dst, interface="eth0", ttl=255)
    router = node.routers["VI_1"]
    assert router.stats.drops[reason] == 1 and router.stats.adverts_received == 0
    assert [a.message for a in logs if isinstance(a, Log)] == [f"(VI_1) {line}"]


@pytest.mark.parametrize("mode", [Mode.PERMISSIVE, Mode.RECEIVE_ONLY])
def test_migration_modes_accept_adverts_without_a_trailer(mode: Mode) -> None:
    f = frames("v3.frames")[0]
    config = HmacConfig(keys=((1, KEY),), active_key=1, mode=mode)
    node = backup(f, f.time, config)
    node.datagram(1.0, f.message, f.src, f.dst, interface="eth0", ttl=255)
    deliver(node, frames("v3.frames")[1], now=2.0)  # and trailers are still checked
    assert node.routers["VI_1"].stats.adverts_received == 2


def test_receive_only_sends_no_trailer_and_the_others_do() -> None:
    f = frames("v3.frames")[0]
    for mode, extra in ((Mode.RECEIVE_ONLY, 0), (Mode.PERMISSIVE, 28), (Mode.ENFORCE, 28)):
        config = HmacConfig(keys=((1, KEY),), active_key=1, mode=mode)
        node = Node([params(f, priority=200, config=config)], wall=lambda: f.time)
        node.start(0.0)
        sent = [a for a in node.handle_timer(10.0) if isinstance(a, SendAdvert)]
        assert node.routers["VI_1"].state is State.MASTER
        assert len(sent[0].packets[0][1]) == 12 + extra, mode


def test_a_sender_s_sequence_rises_even_when_the_clock_does_not() -> None:
    auth = hmac_auth.HmacAuth(CONFIG, wall=lambda: 1795786226.5)
    message = frames("v3.frames")[0].message
    src = IPv4Address("192.0.2.1")
    seqs = [int.from_bytes(auth.sign(message, 3, 51, src)[4:12], "big") for _ in range(3)]
    assert seqs[1] == seqs[0] + 1 and seqs[2] == seqs[0] + 2
    ahead = int.from_bytes(auth.sign(message, 3, 51, src, ahead=True)[4:12], "big")
    assert ahead == seqs[2] + 1 and auth.send_seq == seqs[2]


def test_multicast_replay_state_keeps_the_four_latest_senders() -> None:
    auth = hmac_auth.HmacAuth(CONFIG, wall=lambda: 0.0)
    for i in range(6):
        auth._state(IPv4Address(f"192.0.2.{i + 1}"), unicast=False)
    assert list(auth.senders) == [IPv4Address(f"192.0.2.{i}") for i in (3, 4, 5, 6)]


def test_default_window() -> None:
    assert [hmac_auth.default_window(a) for a in (0.1, 1, 2, 3, 150)] == [5, 5, 6, 9, 300]


def test_outcomes_are_drop_reasons() -> None:
    for outcome in Outcome:
        if outcome is not Outcome.OK:
            assert DropReason(outcome.value)


def test_a_clock_drifting_past_half_the_window_is_warned_once() -> None:
    got = frames("v3.frames")
    node = backup(got[0], got[0].time + 3)  # 3 s behind: within 5, past half of it
    said = deliver(node, got[0]) + deliver(node, got[1], now=2.0)
    assert node.routers["VI_1"].stats.adverts_received == 2
    assert [a.message for a in said if isinstance(a, Log)] == [
        "(VI_1) authentication clock skew 3 sec from 192.0.2.1 approaching window 5 sec"]


def test_a_unicast_advert_from_no_peer_is_refused_before_any_hmac() -> None:
    f = frames("v3.frames")[0]
    node = Node([params(f, unicast=True, destinations=(IPv4Address("192.0.2.9"),))],
                wall=lambda: f.time)
    node.start(0.0)
    deliver(node, f)
    assert node.routers["VI_1"].stats.drops[DropReason.NOT_A_PEER] == 1
