"""The daemon's VRRP sockets: one raw socket per (interface, family, protocol), one per IPv4
VMAC interface, the kernel flood filter, and which instance a received datagram belongs to.
The protocol is VRRP's (112), or IPsec AH's (51) for ``auth_type AH`` instances, whose
datagrams the core builds and checks whole (see pykeepalived.core.ah).

The driver registers :meth:`AdvertSockets.open_for` for each instance and gets called back with
``(socket, interface the core knows)`` when datagrams are waiting; it sends an instance's
adverts through :meth:`AdvertSockets.send`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from pykeepalived.core.actions import IPAddress
from pykeepalived.core.packet import AUTH_AH
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.errors import PyKeepalivedError
from pykeepalived.net.vrrp_socket import (
    AH_HEADER_LEN,
    IPPROTO_AH,
    IPPROTO_VRRP,
    Received,
    VrrpSocket,
    vrrp_filter,
)

ReadableCallback = Callable[[VrrpSocket, str], None]
_ALL_VRIDS = frozenset(range(256))
_NONE: frozenset[int] = frozenset()
SocketKey = tuple[str, int, int]  #: (interface, family, IP protocol)


def protocol_of(rt: InstanceRuntime) -> int:
    """The IP protocol the instance's adverts travel in."""
    return IPPROTO_AH if rt.params.auth_type == AUTH_AH else IPPROTO_VRRP


def vrid_offset(sock: VrrpSocket) -> int:
    """Where a received payload has the VRID (behind the AH header on an AH socket)."""
    return AH_HEADER_LEN + 1 if sock.protocol == IPPROTO_AH else 1


class AdvertSockets:
    """Opens, demultiplexes and closes the VRRP sockets of every instance."""

    def __init__(self, loop: asyncio.AbstractEventLoop, log: Callable[[str], None],
                 detail: Callable[[str], None], on_readable: ReadableCallback) -> None:
        self.loop = loop
        self.log = log
        self.detail = detail
        self.on_readable = on_readable
        self.sockets: dict[SocketKey, VrrpSocket] = {}
        #: VMAC interface -> the socket adverts of its instance go out on and come in by
        self.vmac_senders: dict[str, VrrpSocket] = {}
        #: receiving interface -> the interface the core knows the instance by (VMAC -> parent)
        self._demux_if: dict[str, str] = {}
        #: VMAC interface -> ((parent, family, protocol), VRID) of a multicast instance heard
        #: there: the macvlan gets every multicast advert its parent gets, so the parent's copy
        #: is ignored
        self._heard_on_vmac: dict[str, tuple[SocketKey, int]] = {}
        #: (interface, family, protocol) of a socket -> the VRIDs it must not pass on (see
        #: ignored_vrids)
        self._ignored: dict[SocketKey, frozenset[int]] = {}

    @staticmethod
    def key(rt: InstanceRuntime) -> SocketKey:
        return (rt.base_if, int(rt.family), protocol_of(rt))

    def has_socket(self, rt: InstanceRuntime) -> bool:
        return self.key(rt) in self.sockets

    def open_for(self, rt: InstanceRuntime) -> None:
        """Make sure the instance can send and receive; failures are logged (a missing
        interface gets its socket when its link comes up)."""
        if rt.vmac and not rt.cfg.vmac_xmit_base and rt.vip_if not in self.vmac_senders:
            # keepalived sends and receives a VMAC instance's adverts on the VMAC interface, so
            # switches learn the virtual MAC from every advert (vmac_xmit_base: the parent).
            # An IPv6 VMAC carries the node's link-local address for that (see add_vmac).
            # The receiving side must listen there too: the kernel hands a multicast frame whose
            # source is a local private macvlan's MAC (the peer's VMAC has ours) to that
            # macvlan only, never to the parent.
            try:
                # The source is always given: the driver looked it up once already, and a
                # lookup here would open a netlink socket of its own.
                sender = VrrpSocket.open(
                    rt.family, rt.vip_if, src=rt.params.src,
                    group=None if rt.params.unicast else rt.params.destinations[0],
                    join_group=not rt.params.unicast, protocol=protocol_of(rt))
                self.vmac_senders[rt.vip_if] = sender
                self._demux_if[rt.vip_if] = rt.base_if
                if not rt.params.unicast:  # unicast adverts reach the parent's MAC only
                    self._heard_on_vmac[rt.vip_if] = (self.key(rt), rt.params.vrid)
                    self._update_ignored()
                self.loop.add_reader(sender.fileno(), self._readable, sender)
            except (PyKeepalivedError, OSError) as exc:
                self.log(f"({rt.name}) cannot use {rt.vip_if} for adverts: {exc}")
        key = self.key(rt)
        if key in self.sockets:
            return
        try:
            sock = VrrpSocket.open(
                rt.family, rt.base_if, src=rt.params.src,
                group=None if rt.params.unicast else rt.params.destinations[0],
                join_group=not rt.params.unicast, protocol=key[2],
            )
        except (PyKeepalivedError, OSError) as exc:
            self.log(f"({rt.name}) cannot open VRRP socket on {rt.base_if}: {exc}")
            return
        self.sockets[key] = sock
        self.loop.add_reader(sock.fileno(), self._readable, sock)

    def close_vmac(self, ifname: str) -> None:
        """The VMAC interface goes away (its instance was removed by a reload)."""
        sender = self.vmac_senders.pop(ifname, None)
        self._demux_if.pop(ifname, None)
        if self._heard_on_vmac.pop(ifname, None) is not None:
            self._update_ignored()
        if sender is not None:
            self.loop.remove_reader(sender.fileno())
            sender.close()

    def ignored_vrids(self, sock: VrrpSocket) -> frozenset[int]:
        """VRIDs whose adverts this socket must not pass on, so one advert is acted on once.

        A macvlan gets every multicast advert of its parent: a VMAC socket passes on only its
        own instance's VRID, and the parent's socket leaves that VRID to the VMAC socket.
        Looked up on every read, so worked out only when a VMAC socket comes or goes."""
        return self._ignored.get((sock.ifname, sock.family, sock.protocol), _NONE)

    def passed_on(self, sock: VrrpSocket, batch: list[Received]) -> list[Received]:
        """What of ``batch`` the core must see: not the adverts an instance hears on its VMAC
        socket (see :meth:`ignored_vrids`)."""
        ignored = self.ignored_vrids(sock)
        if not ignored:
            return batch
        at = vrid_offset(sock)
        return [rx for rx in batch if not (len(rx.payload) > at and rx.payload[at] in ignored)]

    def _update_ignored(self) -> None:
        ignored: dict[SocketKey, set[int]] = {}
        for vmac_if, (parent, vrid) in self._heard_on_vmac.items():
            ignored[(vmac_if, parent[1], parent[2])] = set(_ALL_VRIDS - {vrid})
            ignored.setdefault(parent, set()).add(vrid)
        self._ignored = {key: frozenset(vrids) for key, vrids in ignored.items()}

    def _readable(self, sock: VrrpSocket) -> None:
        self.on_readable(sock, self._demux_if.get(sock.ifname, sock.ifname))

    def send(self, rt: InstanceRuntime, src: IPAddress,
             packets: Iterable[tuple[IPAddress, bytes]]) -> None:
        sock = self.vmac_senders.get(rt.vip_if) or self.sockets.get(self.key(rt))
        if sock is None:
            return
        if not src.is_unspecified:
            sock.set_source(src)
        for dst, data in packets:
            sock.send(data, dst)

    def close(self) -> None:
        for sock in [*self.sockets.values(), *self.vmac_senders.values()]:
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()
        self.vmac_senders.clear()
        self._demux_if.clear()
        self._heard_on_vmac.clear()
        self._ignored = {}

    # A flood of rejected packets costs no timer (the core ignores them, and asyncio runs due
    # timers on every loop pass, between our bounded batches), but it costs CPU: while rejects
    # arrive faster than the guard's threshold, a kernel filter drops wrong TTLs, versions and
    # VRIDs before they reach Python. See net/vrrp_socket.py FloodGuard.

    def engage_flood_filter(self, sock: VrrpSocket, runtimes: Iterable[InstanceRuntime]) -> None:
        mine = [rt for rt in runtimes if self.key(rt) == (sock.ifname, sock.family, sock.protocol)]
        vrids = {rt.params.vrid for rt in mine}
        check_ttl = not any(rt.params.unicast for rt in mine)
        try:
            sock.attach_filter(vrrp_filter(sock.family, vrids=vrids, check_ttl=check_ttl,
                                           protocol=sock.protocol))
        except OSError as exc:
            self.log(f"VRRP flood on {sock.ifname}: cannot attach kernel filter: {exc}")
            return
        self.log(f"VRRP flood on {sock.ifname}: {sock.flood.peak_rate:.0f} rejected "
                 f"packets/s; kernel filter attached for {sock.flood.hold:g}s (packets "
                 "it drops are not counted by reason)")
        self.loop.call_later(sock.flood.hold, self._release_flood_filter, sock)

    def _release_flood_filter(self, sock: VrrpSocket) -> None:
        sock.flood.released()
        if sock not in self.sockets.values():
            return  # closed meanwhile
        try:
            sock.detach_filter()
        except OSError as exc:
            self.log(f"VRRP flood on {sock.ifname}: cannot detach kernel filter: {exc}")
            return
        self.detail(f"VRRP flood filter on {sock.ifname} detached")
