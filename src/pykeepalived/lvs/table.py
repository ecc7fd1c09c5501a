"""What the forwarding plane is asked to install: the services and their live destinations.

The pool logic (:mod:`pykeepalived.lvs.pool`) turns checker verdicts, weights, quorum and sorry
servers into a tuple of :class:`Service`; a plane (:mod:`pykeepalived.lvs.nft_plane`) makes the
kernel match it in one transaction. Plain data, compared whole: an unchanged tuple is not
applied again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pykeepalived.lvs.model import IPAddress, LbKind, Protocol


@dataclass(frozen=True)
class Destination:
    """A real server (or the sorry server) that takes new connections at ``weight`` (> 0)."""

    address: IPAddress
    #: 0: the client's destination port is kept (port-less / fwmark services, DR)
    port: int
    weight: int
    lb_kind: LbKind = "NAT"


@dataclass(frozen=True)
class Service:
    """One virtual service as the plane installs it.

    ``key`` is stable across reloads and names the service's objects in the plane (counters,
    sets): keepalived's FMT_VS text of the virtual server. Traffic matches when its destination
    is one of ``endpoints`` (address, port; port 0 any port) with ``protocol``, or carries one
    of ``fwmarks``. ``destinations`` empty: the service exists but has nobody to send to (quorum
    lost without a sorry server): new connections are refused, as IPVS does.
    """

    key: str
    family: Literal[4, 6]
    protocol: Protocol
    endpoints: tuple[tuple[IPAddress, int], ...]
    fwmarks: tuple[int, ...] = ()
    #: rr, wrr, sh, mh, dh, fo (what the nftables plane schedules; see docs/compatibility.md)
    lb_algo: str = "wrr"
    #: seconds a client keeps its destination; None: not persistent
    persistence_timeout: int | None = None
    #: IPv4 netmask or IPv6 prefix length applied to the client address for persistence
    persistence_granularity: int | None = None
    #: sh / mh: hash the source port as well as the address
    hash_port: bool = False
    destinations: tuple[Destination, ...] = ()


@dataclass(frozen=True)
class Counters:
    """Traffic a destination was sent (client to real server), from the plane's counters."""

    packets: int = 0
    bytes: int = 0
