"""Fuzzing the VRRP codec and the node's receive path with hypothesis.

Properties pinned down here:

* ``decode`` of any bytes, from any IPv4 or IPv6 source, raises :class:`PacketError` or returns
  an advert: nothing else escapes (a remote peer's garbage is a counter, never an exception);
* ``decode(encode(adv)) == adv`` for every valid advert of both versions and families;
* every proper prefix of a valid advert is TOO_SHORT, every corrupted one is still only a
  PacketError or a well-formed advert;
* a packet the node rejects (any bytes, any TTL) changes no state, no timer and emits no action:
  the property that keeps a flood of forged packets from silencing a MASTER.

The long run (>= 10^6 inputs) is ``bench/fuzz_long.py``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.core import packet
from pykeepalived.core.actions import State
from pykeepalived.core.node import Node
from pykeepalived.core.packet import Advertisement, DropReason, PacketError
from pykeepalived.core.router import RouterParams

V4_SRC, V4_DST = IPv4Address("192.0.2.7"), IPv4Address("224.0.0.18")
V6_SRC, V6_DST = IPv6Address("fe80::7"), IPv6Address("ff02::12")

v4_addrs = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6_addrs = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
endpoints = st.sampled_from([(V4_SRC, V4_DST), (V6_SRC, V6_DST)])


@st.composite
def adverts(draw: st.DrawFn) -> tuple[Advertisement, IPv4Address | IPv6Address,
                                      IPv4Address | IPv6Address]:
    """A valid advert together with the source and destination it travels between."""
    src, dst = draw(endpoints)
    ipv6 = isinstance(src, IPv6Address)
    version = 3 if ipv6 else draw(st.sampled_from([2, 3]))
    addrs = v6_addrs if ipv6 else v4_addrs
    count_min = 1 if version == 2 else 0
    addresses = tuple(draw(st.lists(addrs, min_size=count_min, max_size=20)))
    if version == 2:
        interval = draw(st.integers(1, 255))
        auth_type = draw(st.integers(0, 255))
        auth_data = draw(st.binary(min_size=8, max_size=8))
    else:
        interval = draw(st.integers(1, packet.MAX_V3_INTERVAL_CS))
        auth_type, auth_data = packet.AUTH_NONE, b""
    adv = Advertisement(version=version, vrid=draw(st.integers(0, 255)),
                        priority=draw(st.integers(0, 255)), interval=interval,
                        addresses=addresses, auth_type=auth_type, auth_data=auth_data)
    return adv, src, dst


def decode_or_reason(data: bytes, src: IPv4Address | IPv6Address,
                     dst: IPv4Address | IPv6Address, **kw: bool) -> Advertisement | DropReason:
    try:
        return packet.decode(data, src, dst, **kw)
    except PacketError as err:
        assert isinstance(err.reason, DropReason)
        return err.reason


@settings(max_examples=1500)
@given(st.binary(max_size=400), endpoints, st.booleans())
def test_any_bytes_decode_or_raise_packet_error_only(
    data: bytes, ends: tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address],
    as_v2: bool,
) -> None:
    result = decode_or_reason(data, *ends, checksum_as_v2=as_v2)
    if isinstance(result, Advertisement):
        # Whatever decodes is well formed and re-encodes to exactly the bytes received.
        assert result.version in (2, 3) and result.interval > 0
        assert packet.encode(result, *ends, checksum_as_v2=as_v2) == data


@settings(max_examples=1000)
@given(adverts(), st.booleans())
def test_decode_of_encode_is_identity(case: tuple[Advertisement, IPv4Address | IPv6Address,
                                                  IPv4Address | IPv6Address],
                                      as_v2: bool) -> None:
    adv, src, dst = case
    wire = packet.encode(adv, src, dst, checksum_as_v2=as_v2)
    assert packet.decode(wire, src, dst, checksum_as_v2=as_v2) == adv


@given(adverts(), st.data())
def test_every_truncation_is_too_short(
    case: tuple[Advertisement, IPv4Address | IPv6Address, IPv4Address | IPv6Address],
    data: st.DataObject,
) -> None:
    adv, src, dst = case
    wire = packet.encode(adv, src, dst)
    cut = data.draw(st.integers(0, len(wire) - 1))
    assert decode_or_reason(wire[:cut], src, dst) is DropReason.TOO_SHORT


@settings(max_examples=1000)
@given(adverts(), st.data())
def test_corrupted_adverts_raise_only_packet_error(
    case: tuple[Advertisement, IPv4Address | IPv6Address, IPv4Address | IPv6Address],
    data: st.DataObject,
) -> None:
    adv, src, dst = case
    wire = bytearray(packet.encode(adv, src, dst))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(0, 255))
    extra = data.draw(st.binary(max_size=8))
    data_in = bytes(wire) + extra
    result = decode_or_reason(data_in, src, dst)
    if isinstance(result, Advertisement):
        # A corruption that still decodes (count and length changed together, checksum still
        # right) must describe exactly the bytes received.
        assert packet.encode(result, src, dst) == data_in


@given(adverts())
def test_a_wrong_checksum_is_always_caught(
    case: tuple[Advertisement, IPv4Address | IPv6Address, IPv4Address | IPv6Address],
) -> None:
    adv, src, dst = case
    wire = bytearray(packet.encode(adv, src, dst))
    csum = int.from_bytes(wire[6:8], "big")
    # 0x0000 and 0xffff are the same number in one's complement: skip to a truly different one.
    other = (csum + 1) % 0xFFFF or 1
    wire[6:8] = other.to_bytes(2, "big")
    assert decode_or_reason(bytes(wire), src, dst) is DropReason.BAD_CHECKSUM


# ------------------------------------------------------------------ the node's receive path

VIP = IPv4Address("192.0.2.100")
OURS = IPv4Address("192.0.2.1")
PEER = IPv4Address("192.0.2.2")


def node(state: State, **kw: object) -> tuple[Node, float]:
    """One instance, driven into ``state`` with a fixed clock."""
    p = RouterParams(name="VI_1", vrid=51, priority=150, src=OURS, addresses=(VIP,),
                     destinations=(V4_DST,), interface="eth0", version=2, advert_int=1.0,
                     want_master=state is State.MASTER, auth_type=packet.AUTH_PASS,
                     auth_pass=b"secret", **kw)  # type: ignore[arg-type]
    n = Node([p])
    now = 100.0
    n.start(now)
    while n.routers["VI_1"].state is not state:
        deadline = n.deadline()
        assert deadline is not None
        now = deadline
        n.handle_timer(now)
    return n, now


def forged(data: st.DataObject) -> bytes:
    """A packet aimed at our VRID that is wrong in one way an attacker might choose."""
    good = Advertisement(version=2, vrid=51, priority=254, interval=1, addresses=(VIP,),
                         auth_type=packet.AUTH_PASS, auth_data=packet.pass_auth_data("secret"))
    kind = data.draw(st.sampled_from(["random", "auth", "interval", "addresses", "version",
                                      "type", "truncated", "checksum", "count"]))
    if kind == "random":
        return bytes([0x21, 51]) + data.draw(st.binary(max_size=60))
    if kind == "auth":
        bad = data.draw(st.binary(min_size=8, max_size=8).filter(
            lambda b: b != packet.pass_auth_data("secret")))
        return packet.encode(Advertisement(2, 51, 254, 1, (VIP,), packet.AUTH_PASS, bad),
                             PEER, V4_DST)
    if kind == "interval":
        iv = data.draw(st.integers(2, 255))
        return packet.encode(Advertisement(2, 51, 254, iv, (VIP,), packet.AUTH_PASS,
                                           good.auth_data), PEER, V4_DST)
    if kind == "addresses":
        addrs = tuple(data.draw(st.lists(v4_addrs, min_size=1, max_size=4).filter(
            lambda a: set(a) != {VIP})))
        return packet.encode(Advertisement(2, 51, 254, 1, addrs, packet.AUTH_PASS,
                                           good.auth_data), PEER, V4_DST)
    wire = bytearray(packet.encode(good, PEER, V4_DST))
    if kind == "version":
        wire[0] = (data.draw(st.sampled_from([0, 1, 3, 4, 15])) << 4) | 1
    elif kind == "type":
        wire[0] = 0x20 | data.draw(st.sampled_from([0, 2, 3, 15]))
    elif kind == "truncated":
        return bytes(wire[: data.draw(st.integers(2, len(wire) - 1))])
    elif kind == "checksum":
        wire[6] ^= data.draw(st.integers(1, 255))
    else:  # count: announce more or fewer addresses than carried
        wire[3] = data.draw(st.integers(0, 255).filter(lambda c: c != 1))
    return bytes(wire)


@settings(max_examples=600)
@given(st.sampled_from([State.MASTER, State.BACKUP]), st.data(),
       st.sampled_from([255, 255, 1, 64, 254]))
def test_a_rejected_packet_changes_no_state_and_no_timer(
    state: State, data: st.DataObject, ttl: int
) -> None:
    n, now = node(state)
    router = n.routers["VI_1"]
    for _ in range(data.draw(st.integers(1, 20))):
        payload = forged(data)
        before = (router.state, dict(router._timers), router.stats.adverts_received)
        drops = sum(router.stats.drops.values()) + sum(n.drops.values())
        now += data.draw(st.floats(0.0, 0.2))
        actions = n.datagram(now, payload, PEER, V4_DST, interface="eth0", ttl=ttl)
        # Every forged packet is dropped and counted, and leaves everything as it was.
        assert sum(router.stats.drops.values()) + sum(n.drops.values()) == drops + 1
        assert actions == []
        assert (router.state, dict(router._timers), router.stats.adverts_received) == before


@settings(max_examples=300)
@given(st.binary(max_size=80), st.integers(0, 255), endpoints)
def test_node_survives_any_datagram(data: bytes, ttl: int,
                                    ends: tuple[IPv4Address | IPv6Address,
                                                IPv4Address | IPv6Address]) -> None:
    n, now = node(State.MASTER)
    n.datagram(now, data, *ends, interface="eth0", ttl=ttl)
    assert n.routers["VI_1"].state is State.MASTER


# ------------------------------------------------------------------ auth_hmac trailers

HMAC_KEY = bytes(range(32))
HMAC_NOW = 1_795_786_226.5


def hmac_node(version: int, mode: str) -> Node:
    from pykeepalived.core.hmac_auth import HmacConfig, Mode

    params = RouterParams(
        name="VI_1", vrid=51, priority=100, src=IPv4Address("192.0.2.1"),
        addresses=(IPv4Address("192.0.2.100"),), destinations=(V4_DST,), interface="eth0",
        version=version, advert_int=1.0,
        hmac=HmacConfig(keys=((1, HMAC_KEY),), active_key=1, mode=Mode(mode)))
    node = Node([params], wall=lambda: HMAC_NOW)
    node.start(0.0)
    return node


@settings(max_examples=400, deadline=None)
@given(version=st.sampled_from([2, 3]), mode=st.sampled_from(["enforce", "permissive"]),
       trailer=st.binary(min_size=0, max_size=40), prio=st.integers(0, 255),
       seconds=st.integers(0, 2**32 - 1))
def test_any_trailer_is_a_counted_drop_or_a_verified_advert(version: int, mode: str,
                                                            trailer: bytes, prio: int,
                                                            seconds: int) -> None:
    """Random trailers (and random timestamps in well-formed ones) behind a valid advert:
    nothing escapes, and nothing but a trailer made with the key is ever accepted with one."""
    node = hmac_node(version, mode)
    router = node.routers["VI_1"]
    before = (router.state, router.deadline())
    interval = 1 if version == 2 else 100
    adv = Advertisement(version, 51, prio, interval, (IPv4Address("192.0.2.100"),))
    message = packet.encode(adv, V4_SRC, V4_DST)
    if len(trailer) >= 12:  # sometimes a plausible prefix with a random timestamp
        trailer = bytes([1, 1, 0, 0]) + seconds.to_bytes(4, "big") + trailer[8:]
    node.datagram(1.0, message + trailer, V4_SRC, V4_DST, interface="eth0")
    if router.stats.adverts_received:
        assert not trailer or len(trailer) != 28, "a forged trailer was accepted"
        assert mode == "permissive" or not trailer
    else:
        assert (router.state, router.deadline()) == before
        assert sum(router.stats.drops.values()) == 1
