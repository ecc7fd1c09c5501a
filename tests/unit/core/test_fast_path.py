"""The receive fast path cannot accept what the full path would reject, nor do anything else.

Two nodes with the same instances are driven through the same random histories (adverts from
the master, from strangers, altered, repeated; timer expiries; tracker changes; maintenance
overrides; reloads), one with the fast path and one without. After every step both must have
returned the same actions and be in the same state: the fast path is an optimisation only.
"""

from __future__ import annotations

import dataclasses
import random
from ipaddress import IPv4Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.core import packet
from pykeepalived.core.actions import State
from pykeepalived.core.node import Node
from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.core.router import RouterParams, VirtualRouter

GROUP = IPv4Address("224.0.0.18")
OWN = IPv4Address("192.0.2.2")
MASTER = IPv4Address("192.0.2.1")
STRANGER = IPv4Address("192.0.2.9")
VIP = IPv4Address("192.0.2.100")
TRACK = TrackerSpec(TrackerKind.SCRIPT, "chk", weight=-60)
FAULT = TrackerSpec(TrackerKind.INTERFACE, "eth1")  # weight 0: down means FAULT


def make_params(version: int, **kw: object) -> RouterParams:
    base = RouterParams(name="VI_1", vrid=51, priority=100, src=OWN, addresses=(VIP,),
                        destinations=(GROUP,), version=version, advert_int=1.0,
                        trackers=(TRACK, FAULT))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def advert(version: int, priority: int, src: IPv4Address = MASTER, interval: int | None = None,
           vip: IPv4Address = VIP) -> bytes:
    units = interval if interval is not None else (1 if version == 2 else 100)
    return packet.encode(packet.Advertisement(version, 51, priority, units, (vip,)), src, GROUP)


def snapshot(node: Node) -> tuple[object, ...]:
    r: VirtualRouter = node.routers["VI_1"]
    return (r.state, r.want, r.effective_priority, r.master_address, r.master_priority,
            r.master_adver_int, r.deadline(), dataclasses.astuple(r.stats), node.rejected,
            node.last_accepted, sorted(node.drops.items()))


def datagrams(version: int) -> list[tuple[bytes, IPv4Address, IPv4Address, int]]:
    good = advert(version, 150)
    return [
        (good, MASTER, GROUP, 255),
        (good, MASTER, GROUP, 255),
        (advert(version, 100), MASTER, GROUP, 255),  # equal to ours
        (advert(version, 50), MASTER, GROUP, 255),  # lower: fast preempt
        (advert(version, 0), MASTER, GROUP, 255),  # priority 0
        (good, STRANGER, GROUP, 255),  # same bytes, another source
        (advert(version, 150, STRANGER), STRANGER, GROUP, 255),
        (good, MASTER, GROUP, 254),  # TTL
        (good, MASTER, IPv4Address("224.0.0.19"), 255),  # checksum (v3) / other group
        (good[:-1], MASTER, GROUP, 255),  # truncated
        (good[:6] + bytes([good[6] ^ 0xFF]) + good[7:], MASTER, GROUP, 255),  # checksum
        (advert(version, 150, interval=2 if version == 2 else 200), MASTER, GROUP, 255),
        (advert(version, 150, vip=IPv4Address("192.0.2.101")), MASTER, GROUP, 255),
        (good, OWN, GROUP, 255),  # our own
    ]


# Mostly adverts, mostly the master's good one again, mostly well inside an interval: the
# histories where the fast path has something to take.
rx = st.tuples(st.just("rx"), st.sampled_from([0, 0, 0, *range(14)]), st.floats(0.0, 1.2))
step = st.one_of(
    rx, rx, rx, rx, rx, rx,
    st.tuples(st.just("timer"), st.just(0), st.floats(0.0, 4.0)),
    st.tuples(st.just("track"), st.sampled_from([0, 1, 2]), st.floats(0.0, 1.0)),
    st.tuples(st.just("link"), st.sampled_from([0, 1, 2]), st.floats(0.0, 1.0)),
    st.tuples(st.just("override"), st.sampled_from([0, 1, 2]), st.floats(0.0, 1.0)),
    st.tuples(st.just("reload"), st.sampled_from([0, 1, 2, 3]), st.floats(0.0, 1.0)),
)


def check_history(version: int, steps: list[tuple[str, int, float]], nopreempt: bool,
                  skip_check: bool) -> int:
    """Drive a fast-path node and a full-path node through ``steps``; they must agree after
    every step. Returns how many adverts the fast path took."""
    params = make_params(version, nopreempt=nopreempt, skip_check_adv_addr=skip_check)
    reloads = [params, dataclasses.replace(params, priority=120),
               dataclasses.replace(params, preempt_delay=2.0),
               dataclasses.replace(params, fast_preempt=False)]
    fast, slow = Node([params]), Node([params], fast_path=False)
    pool = datagrams(version)
    now = 0.0
    assert fast.start(now) == slow.start(now)
    for kind, arg, dt in steps:
        now += dt
        if kind == "rx":
            data, src, dst, ttl = pool[arg]
            a = fast.datagram(now, data, src, dst, interface="eth0", ttl=ttl)
            b = slow.datagram(now, data, src, dst, interface="eth0", ttl=ttl)
        elif kind == "timer":
            a, b = fast.handle_timer(now), slow.handle_timer(now)
        elif kind in ("track", "link"):
            key, value = (TRACK if kind == "track" else FAULT).key, [None, True, False][arg]
            a, b = fast.update_tracker(now, key, value), slow.update_tracker(now, key, value)
        elif kind == "override":
            prio = [None, 1, 250][arg]
            a = fast.routers["VI_1"].set_priority_override(now, prio)
            b = slow.routers["VI_1"].set_priority_override(now, prio)
        else:
            a = fast.routers["VI_1"].reconfigure(now, reloads[arg])
            b = slow.routers["VI_1"].reconfigure(now, reloads[arg])
        assert a == b, (kind, arg)
        assert snapshot(fast) == snapshot(slow), (kind, arg)
    assert slow.repeats == 0
    return fast.repeats


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from([2, 3]), steps=st.lists(step, min_size=4, max_size=40),
       nopreempt=st.booleans(), skip_check=st.booleans())
def test_fast_path_changes_nothing_but_speed(version: int, steps: list[tuple[str, int, float]],
                                             nopreempt: bool, skip_check: bool) -> None:
    check_history(version, steps, nopreempt, skip_check)


def test_fast_path_changes_nothing_over_long_random_histories() -> None:
    """Long walks (hypothesis keeps its lists short): every pair of neighbouring inputs
    occurs many times over."""
    kinds = ["rx"] * 8 + ["timer", "track", "link", "override", "reload"]
    taken = 0
    for seed in range(120):
        rng = random.Random(seed)
        steps = []
        for _ in range(250):
            kind = rng.choice(kinds)
            if kind == "rx":
                steps.append((kind, rng.choice([0, 0, 0, *range(14)]), rng.uniform(0, 1.2)))
            elif kind == "timer":
                steps.append((kind, 0, rng.uniform(0, 4.0)))
            else:
                steps.append((kind, rng.randrange(4 if kind == "reload" else 3),
                              rng.uniform(0, 1.0)))
        taken += check_history(rng.choice([2, 3]), steps, rng.random() < 0.3,
                               rng.random() < 0.3)
    assert taken > 500  # the fast path was exercised, not just agreed with


def test_a_backup_following_its_master_takes_the_fast_path_for_repeats() -> None:
    node = Node([make_params(3)])
    node.start(0.0)
    good = advert(3, 150)
    for i in range(5):
        assert node.datagram(1.0 + i, good, MASTER, GROUP, interface="eth0") == []
    router = node.routers["VI_1"]
    assert node.repeats == 4
    assert router.stats.adverts_received == 5
    assert router.state is State.BACKUP
    assert router.deadline() == 5.0 + router.master_down_interval()
    assert node.last_accepted is not None and node.last_accepted.src == MASTER


def test_the_fast_path_never_takes_ah_auth_hmac_or_preempt_delay_adverts() -> None:
    for params in (make_params(3, preempt_delay=1.0),
                   make_params(2, auth_type=packet.AUTH_AH, auth_pass=b"secret")):
        node = Node([params])
        node.start(0.0)
        good = advert(params.version, 150)
        for i in range(3):
            node.datagram(1.0 + i, good, MASTER, GROUP, interface="eth0")
        assert node.repeats == 0


def test_a_reload_that_adopts_a_router_forgets_its_repeat() -> None:
    params = make_params(3)
    old = Node([params])
    old.start(0.0)
    good = advert(3, 150)
    old.datagram(1.0, good, MASTER, GROUP, interface="eth0")
    new = Node([params])
    new.adopt(old.routers["VI_1"])
    new.datagram(2.0, good, MASTER, GROUP, interface="eth0")
    assert new.repeats == 0  # the new node's first advert took the full path
    assert ip_address("192.0.2.1") == new.routers["VI_1"].master_address
