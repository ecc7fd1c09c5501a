"""Helpers for cluster scenarios on the simulated segment."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.core.router import RouterParams
from pykeepalived.testing.simnet import SimNetwork

VIP = ip_address("192.0.2.100")
GROUP4 = ip_address("224.0.0.18")
ETH1 = TrackerSpec(TrackerKind.INTERFACE, "eth1")


def params(
    node: int,
    priority: int,
    *,
    name: str = "VI_1",
    vrid: int = 51,
    version: int = 3,
    advert_int: float = 1.0,
    vips: tuple[IPv4Address | IPv6Address, ...] = (VIP,),
    **kw: Any,
) -> RouterParams:
    src = ip_address(f"192.0.2.{node}")
    return RouterParams(
        name=name, vrid=vrid, priority=priority, src=src, addresses=vips,
        destinations=(GROUP4,), version=version, advert_int=advert_int, **kw,
    )


CHK = TrackerSpec(TrackerKind.SCRIPT, "chk", weight=-60)
CHK_KEY = CHK.key


def cluster(*prios: int, start: bool = True, **kw: Any) -> SimNetwork:
    """Nodes n1, n2, ... with the given priorities, all on one segment."""
    net = SimNetwork()
    for i, prio in enumerate(prios, start=1):
        net.add_node(f"n{i}", [params(i, prio, **kw)], start=start)
    return net


def group_node(net: SimNetwork, name: str, node: int, prio: int) -> None:
    """A node with sync group G1 of VI_1 (tracks eth1, up) and VI_2 (its own VIP)."""
    members = [
        params(node, prio, name="VI_1", vrid=51, advert_int=0.1, trackers=(ETH1,)),
        params(node, prio, name="VI_2", vrid=52, advert_int=0.1,
               vips=(ip_address("198.51.100.100"),)),
    ]
    net.add_node(name, members, groups=[("G1", ["VI_1", "VI_2"])])
    net.set_tracker(name, ETH1.key, True)
