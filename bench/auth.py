"""CPU per authenticated advert, in-process: the core's receive path (``Node.datagram``: find
the instance, unwrap and check, decode, the state machine) and its send path (an advert
encoded, sealed or signed) for no authentication, PASS, IPsec AH and auth_hmac. keepalived has
no in-process equivalent; the whole-daemon CPU per advert is the ``resources`` part, so these
numbers say what authentication adds to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from ipaddress import IPv4Address

from bench.common import log
from pykeepalived.core import packet
from pykeepalived.core.hmac_auth import HmacConfig
from pykeepalived.core.node import Node
from pykeepalived.core.router import RouterParams

SRC, OWN, GROUP = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"), IPv4Address("224.0.0.18")
VIP = IPv4Address("192.0.2.100")
WALL = 1_795_786_226.5


def _params(kind: str, src: IPv4Address, priority: int) -> RouterParams:
    version = 3 if kind in ("none", "auth_hmac") else 2
    auth = {"pass": packet.AUTH_PASS, "ah": packet.AUTH_AH}.get(kind, packet.AUTH_NONE)
    hmac = HmacConfig(keys=((1, bytes(range(32))),), active_key=1) if kind == "auth_hmac" \
        else None
    return RouterParams(name="VI_1", vrid=51, priority=priority, src=src, addresses=(VIP,),
                        destinations=(GROUP,), interface="eth0", version=version,
                        advert_int=1.0, auth_type=auth, auth_pass=b"secret12", hmac=hmac)


def _per_call(fn: Callable[[int], None], n: int) -> float:
    """Microseconds per call of ``fn(i)``, best of three rounds."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def measure(kind: str, n: int) -> dict[str, object]:
    clock = [WALL]
    sender = Node([_params(kind, SRC, 150)], wall=lambda: clock[0])
    sender.start(0.0)
    router = sender.routers["VI_1"]
    sender.handle_timer(10.0)  # MASTER
    adverts = []
    for i in range(n):
        clock[0] = WALL + i * 1e-4
        router._send_advert(150, out := [])
        adverts.append(out[0].packets[0][1])  # type: ignore[attr-defined]

    def send(i: int) -> None:
        router._send_advert(150, [])

    send_us = _per_call(send, n)
    clock[0] = WALL
    receiver = Node([_params(kind, OWN, 100)], wall=lambda: clock[0])
    receiver.start(0.0)
    header = b""

    def receive(i: int) -> None:
        data = adverts[i]
        if kind == "ah":
            receiver.datagram(1.0, data[20:], SRC, GROUP, interface="eth0",
                              ip_header=data[:20])
        else:
            receiver.datagram(1.0, data, SRC, GROUP, interface="eth0", ip_header=header)

    # every advert once, in order: sequence numbers must rise (a second pass would be replays)
    t = time.perf_counter()
    for i in range(n):
        receive(i)
    receive_us = (time.perf_counter() - t) / n * 1e6
    accepted = receiver.routers["VI_1"].stats.adverts_received
    return {"auth": kind, "send_us": round(send_us, 2), "receive_us": round(receive_us, 2),
            "accepted": accepted, "n": n}


def run(n: int = 5000) -> list[dict[str, object]]:
    rows = [measure(kind, n) for kind in ("none", "pass", "ah", "auth_hmac")]
    for r in rows:
        log(f"auth {r['auth']}: send {r['send_us']} us, receive {r['receive_us']} us per "
            f"advert ({r['accepted']}/{r['n']} accepted)")
    return rows


if __name__ == "__main__":
    run()
