"""Kernel effects of VRRP: virtual addresses, routes and rules, VMAC interfaces, announcements.

One object, :class:`VipManager`, owns everything an instance changes on the host when it
becomes or stops being MASTER: it installs and releases VIPs (and the instance's virtual routes
and rules), keeps their crash-safe lifetimes topped up, sends gratuitous ARPs / unsolicited
neighbour adverts, creates and removes VMAC interfaces, and keeps the accept-mode nftables
filter in step. The driver calls it with an :class:`~pykeepalived.daemon.runtime.InstanceRuntime`
and never touches netlink for addresses itself; tests replace it with a fake that records the
calls (see :class:`KernelEffects`).

Crash-safe VIPs: with a ``lifetime`` every VIP is added with a kernel address lifetime that a
MASTER renews every quarter of it, so a daemon that is SIGKILLed or hangs loses its VIPs by
itself instead of holding them beside the new master forever. ``lifetime=None`` (``-V``) makes
them permanent, as keepalived's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Interface
from typing import Protocol

from pykeepalived.config.model import KeepalivedConfig, VirtualIP, VrrpInstance
from pykeepalived.core import frames
from pykeepalived.core.actions import IPAddress
from pykeepalived.daemon.pulse import sleep_chore
from pykeepalived.daemon.routes import route_spec, rule_spec
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.errors import PyKeepalivedError
from pykeepalived.net.addr_renewer import AddressRenewer, encode_newaddr
from pykeepalived.net.netlink import (
    AddressRequest,
    Netlink,
    NetlinkOpError,
    RouteSpec,
    RuleSpec,
)
from pykeepalived.net.nft import VipFilter
from pykeepalived.net.packet_socket import PacketSocket

DEFAULT_VIP_LIFETIME = 4.0
#: How often a VIP whose removal failed is tried again.
RELEASE_RETRY_INTERVAL = 1.0
#: VIP renewals per datagram: the kernel replaces these in one system call (about 0.3 ms)
RENEW_CHUNK = 64


class KernelEffects(Protocol):
    """What the driver asks of the host's address side; :class:`VipManager` is the real one."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...

    def setup_accept_filter(self, runtimes: Iterable[InstanceRuntime]) -> None: ...

    def static_setup(self, config: KeepalivedConfig) -> None: ...

    def create_vmac(self, cfg: VrrpInstance, base_if: str, family: int) -> str | None: ...

    def remove_vmac(self, rt: InstanceRuntime) -> None: ...

    def install(self, rt: InstanceRuntime) -> None: ...

    def release(self, rt: InstanceRuntime) -> None: ...

    def announce(self, rt: InstanceRuntime, count: int) -> None: ...

    def held(self, name: str) -> set[str]: ...

    def unreleased(self, name: str) -> set[str]: ...

    def holder_of(self, ifindex: int, ip: IPAddress) -> str | None: ...

    def link_changed(self, ifname: str) -> None: ...


@dataclass
class Holding:
    """What one instance has put on the host while MASTER (to be taken off again)."""

    addresses: list[tuple[int, VirtualIP]] = field(default_factory=list)
    routes: list[RouteSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    #: the lifetime renewal message of each address, built on the first renewal round
    renewals: list[bytes] = field(default_factory=list)


class VipManager:
    """The real :class:`KernelEffects`: netlink, packet sockets and nftables."""

    def __init__(self, netlink: Netlink, log: Callable[[str], None],
                 detail: Callable[[str], None], *, lifetime: float | None,
                 error: Callable[[str], None] | None = None) -> None:
        self.netlink = netlink
        self.log = log
        self.detail = detail
        self.error = error or log
        self.lifetime = lifetime
        self.holdings: dict[str, Holding] = {}
        #: VIPs whose removal failed, still on the host: (ifindex, vip) -> (instance, tries)
        self.stuck: dict[tuple[int, str], tuple[str, VirtualIP, int]] = {}
        self._retry_task: asyncio.Task[None] | None = None
        self.packet_sockets: dict[str, PacketSocket] = {}
        self.vip_filter: VipFilter | None = None
        self._frame_cache: dict[tuple[str, IPAddress], bytes] = {}
        self._mac_cache: dict[str, bytes] = {}
        self._renew_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin renewing the lifetimes of held VIPs (nothing to do with permanent VIPs)."""
        if self.lifetime is not None and self._renew_task is None:
            self._renew_task = loop.create_task(self._renew_loop(self.lifetime),
                                                name="vip-renew")
        if self._retry_task is None:
            self._retry_task = loop.create_task(self._retry_loop(), name="vip-release-retry")

    async def stop(self) -> None:
        for task in (self._renew_task, self._retry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._renew_task = self._retry_task = None

    def close(self) -> None:
        """Take down the accept-mode filter and close the packet sockets."""
        if self.vip_filter is not None:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.vip_filter.destroy()
            self.vip_filter = None
        for psock in self.packet_sockets.values():
            psock.close()
        self.packet_sockets.clear()

    # ------------------------------------------------------------------ VMAC

    def create_vmac(self, cfg: VrrpInstance, base_if: str, family: int) -> str | None:
        """Create (or reuse) the instance's VMAC interface; None when it has none or it
        cannot be created (logged; VIPs then go on the base interface)."""
        if cfg.use_vmac is None:
            return None
        try:
            source = cfg.unicast_src_ip or cfg.mcast_src_ip
            info = self.netlink.add_vmac(base_if, cfg.virtual_router_id, family=family,
                                         ifname=cfg.use_vmac or None,
                                         source=source if isinstance(source, IPv6Address)
                                         else None)
        except (PyKeepalivedError, OSError) as exc:
            self.log(f"({cfg.name}) cannot create VMAC interface: {exc}")
            return None
        return info.name

    def remove_vmac(self, rt: InstanceRuntime) -> None:
        if rt.vmac:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.netlink.remove_vmac(rt.vip_if)
            self.link_changed(rt.vip_if)

    # ------------------------------------------------------------------ accept mode

    def setup_accept_filter(self, runtimes: Iterable[InstanceRuntime]) -> None:
        """no_accept / vrrp_strict: drop traffic to the VIPs through nftables, as keepalived.
        Set up when some instance needs it, taken down when none does any more."""
        needed = any(not rt.cfg.accept for rt in runtimes)
        if needed and self.vip_filter is None:
            try:
                vip_filter = VipFilter()
                vip_filter.setup()
            except (PyKeepalivedError, OSError) as exc:
                self.log(f"cannot set up the nftables accept-mode filter: {exc}")
                return
            self.vip_filter = vip_filter
        elif not needed and self.vip_filter is not None:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.vip_filter.destroy()
            self.vip_filter = None

    # ------------------------------------------------------------------ addresses

    def held(self, name: str) -> set[str]:
        """The VIPs (as ``addr/len`` strings) the instance has put on the host."""
        h = self.holdings.get(name)
        return {str(vip.address) for _, vip in h.addresses} if h is not None else set()

    def add_address(self, vip: VirtualIP, ifname: str, *, lifetime: float | None) -> int | None:
        """Add one address; the interface index, or None when the interface is missing."""
        try:
            ifindex = self.netlink.ifindex(ifname)
        except PyKeepalivedError as exc:
            self.log(f"cannot add {vip.address}: {exc}")
            return None
        self.netlink.add_address(
            ifindex, vip.address, brd=vip.brd, scope=vip.scope, label=vip.label,
            peer=vip.peer.ip if vip.peer is not None else None, lifetime=lifetime,
            nodad=isinstance(vip.address, IPv6Interface),
        )
        return ifindex

    def install(self, rt: InstanceRuntime) -> None:
        """MASTER: the accept-mode filter, VIPs, excluded VIPs, routes, rules (keepalived's
        order)."""
        name = rt.name
        if not rt.cfg.accept and self.vip_filter is not None:
            try:
                self.vip_filter.add_vips([v.address.ip for v, _ in rt.vips()])
            except (PyKeepalivedError, OSError) as exc:
                self.log(f"({name}) accept-mode filter: {exc}")
        h = self.holdings[name] = Holding()
        # Wanted again: whatever could not be removed is ours to keep now.
        for key in [k for k, v in self.stuck.items() if v[0] == name]:
            del self.stuck[key]
        # One interface lookup per interface, and the VIPs added a few round trips for all.
        known: dict[str, int] = {}
        wanted: list[tuple[int, VirtualIP]] = []
        for vip, ifname in rt.vips():
            try:
                if ifname not in known:
                    known[ifname] = self.netlink.ifindex(ifname)
            except PyKeepalivedError as exc:
                self.log(f"({name}) cannot add {vip.address}: {exc}")
                continue
            wanted.append((known[ifname], vip))
        try:
            results = self.netlink.add_addresses([
                AddressRequest(ifindex, vip.address, brd=vip.brd, scope=vip.scope,
                               label=vip.label, peer=vip.peer.ip if vip.peer else None,
                               nodad=isinstance(vip.address, IPv6Interface))
                for ifindex, vip in wanted], self.lifetime)
        except PyKeepalivedError as exc:
            self.log(f"({name}) cannot add its VIPs: {exc}")
            results = []
        for (ifindex, vip), code in zip(wanted, results, strict=False):
            if code in (0, errno.EEXIST):
                h.addresses.append((ifindex, vip))
            else:
                self.log(f"({name}) cannot add {vip.address}: add address {vip.address} on "
                         f"ifindex {ifindex}: [Errno {code}] {os.strerror(code)}")
        for route in rt.cfg.virtual_routes:
            try:
                spec = route_spec(route.words, self.netlink.ifindex, default_dev=None)
                self.netlink.add_route(spec, replace=True)
                h.routes.append(spec)
            except (PyKeepalivedError, ValueError) as exc:
                self.log(f"({name}) cannot add route {' '.join(route.words)}: {exc}")
        for rule in rt.cfg.virtual_rules:
            try:
                rspec = rule_spec(rule.words)
                self.netlink.add_rule(rspec)
                h.rules.append(rspec)
            except (PyKeepalivedError, ValueError) as exc:
                self.log(f"({name}) cannot add rule {' '.join(rule.words)}: {exc}")

    def release(self, rt: InstanceRuntime) -> None:
        """Leaving MASTER (or starting up): rules, routes, then every VIP. With nothing
        recorded (start-up), whatever an earlier run may have left behind is removed."""
        h = self.holdings.pop(rt.name, None) or Holding()
        for rspec in h.rules:
            with contextlib.suppress(PyKeepalivedError):
                self.netlink.remove_rule(rspec)
        for spec in h.routes:
            with contextlib.suppress(PyKeepalivedError):
                self.netlink.remove_route(spec)
        installed = h.addresses
        if not installed:
            for vip, ifname in rt.vips():
                with contextlib.suppress(PyKeepalivedError):
                    installed.append((self.netlink.ifindex(ifname), vip))
            self.announcements(rt)  # ready for the first takeover (start-up)
        for ifindex, vip in installed:
            try:
                self._remove_address(ifindex, vip)
            except (PyKeepalivedError, OSError) as exc:
                # Two nodes may now answer for this address: say so loudly, keep trying.
                self.error(f"({rt.name}) cannot remove VIP {vip.address} (interface index "
                           f"{ifindex}): {exc}; retrying every {RELEASE_RETRY_INTERVAL:g}s")
                self.stuck[(ifindex, str(vip.address))] = (rt.name, vip, 1)
        if not rt.cfg.accept and self.vip_filter is not None:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.vip_filter.remove_vips([v.address.ip for v, _ in rt.vips()])

    def _remove_address(self, ifindex: int, vip: VirtualIP) -> None:
        self.netlink.remove_address(ifindex, vip.address,
                                    peer=vip.peer.ip if vip.peer is not None else None)

    def holder_of(self, ifindex: int, ip: IPAddress) -> str | None:
        """The instance that installed ``ip`` on ``ifindex`` and watches it (no ``no_track``
        on its line), if any: keepalived steps such an instance back when the address goes."""
        for name, holding in self.holdings.items():
            for index, vip in holding.addresses:
                if index == ifindex and vip.address.ip == ip and not vip.no_track:
                    return name
        return None

    def unreleased(self, name: str) -> set[str]:
        """VIPs (``addr/len``) the instance gave up but that could not be removed yet."""
        return {key[1] for key, (owner, _, _) in self.stuck.items() if owner == name}

    def retry_releases(self) -> None:
        """Try again to remove every VIP whose removal failed."""
        for (ifindex, addr), (name, vip, tries) in list(self.stuck.items()):
            try:
                self._remove_address(ifindex, vip)
            except (PyKeepalivedError, OSError) as exc:
                self.stuck[(ifindex, addr)] = (name, vip, tries + 1)
                if tries + 1 in (2, 10) or (tries + 1) % 60 == 0:
                    self.error(f"({name}) still cannot remove VIP {addr} after {tries + 1} "
                               f"attempts: {exc}")
                continue
            del self.stuck[(ifindex, addr)]
            self.log(f"({name}) VIP {addr} removed (attempt {tries + 1})")

    async def _retry_loop(self) -> None:
        while True:
            await sleep_chore(RELEASE_RETRY_INTERVAL)
            if self.stuck:
                self.retry_releases()

    def static_setup(self, config: KeepalivedConfig) -> None:
        """static_ipaddress / static_routes / static_rules: set once at start-up, permanent."""
        for sa in config.static_addresses:
            with contextlib.suppress(NetlinkOpError):
                self.add_address(sa, sa.dev or "eth0", lifetime=None)
        for route in config.static_routes:
            try:
                self.netlink.add_route(route_spec(route.words, self.netlink.ifindex),
                                       replace=True)
            except (PyKeepalivedError, ValueError) as exc:
                self.log(f"static route {' '.join(route.words)}: {exc}")
        for rule in config.static_rules:
            try:
                self.netlink.add_rule(rule_spec(rule.words))
            except (PyKeepalivedError, ValueError) as exc:
                self.log(f"static rule {' '.join(rule.words)}: {exc}")

    async def _renew_loop(self, lifetime: float) -> None:
        """Keep the lifetimes of held VIPs topped up (crash-safe VIPs).

        Prebuilt RTM_NEWADDR (create-or-replace) messages, :data:`RENEW_CHUNK` to a datagram,
        sent without waiting for answers: a round costs the loop a sendmsg per chunk, with its
        other work let in between, and a VIP that expired during a stall, or was removed by
        hand, is put back by the same message.
        """
        loop = asyncio.get_running_loop()
        renewer = AddressRenewer()
        loop.add_reader(renewer.fileno(), self._renew_failures, renewer)
        try:
            while True:
                await sleep_chore(lifetime / 4)
                held = [(name, h, msg) for name, h in self.holdings.items()  # MASTER
                        for msg in self._renewals(h, lifetime)]
                # A few dozen to a datagram, and the loop's turn in between: an advert due
                # while a thousand VIPs are renewed goes out on time. An instance that left
                # MASTER meanwhile is skipped: a renewal would put its VIPs back.
                for start in range(0, len(held), RENEW_CHUNK):
                    if start:
                        await asyncio.sleep(0)
                    holdings = self.holdings
                    renewer.send([msg for name, h, msg in held[start:start + RENEW_CHUNK]
                                  if holdings.get(name) is h])
        finally:
            loop.remove_reader(renewer.fileno())
            renewer.close()

    @staticmethod
    def _renewals(h: Holding, lifetime: float) -> list[bytes]:
        if len(h.renewals) != len(h.addresses):
            h.renewals = [encode_newaddr(ifindex, vip.address, lifetime=lifetime, brd=vip.brd,
                                         scope=vip.scope, label=vip.label,
                                         peer=vip.peer.ip if vip.peer is not None else None,
                                         nodad=isinstance(vip.address, IPv6Interface))
                          for ifindex, vip in h.addresses]
        return h.renewals

    def _renew_failures(self, renewer: AddressRenewer) -> None:
        for code, _seq in renewer.drain_errors():
            self.log(f"renewing a VIP failed: {os.strerror(code)}")

    # ------------------------------------------------------------------ announcements

    def announce(self, rt: InstanceRuntime, count: int) -> None:
        """Send ``count`` gratuitous ARPs / unsolicited NAs for each of the instance's VIPs.

        The first for each VIP goes out now; the repeats and keepalived's (-D) lines for them
        (in its words) once the loop has carried out the rest of this batch of actions, so
        that a takeover of many instances announces every VIP once before anything else."""
        ready = self.announcements(rt)
        for psock, frame, _ifname, _addr in ready:
            psock.send_frame(frame)
        try:
            asyncio.get_running_loop().call_soon(self._announced, rt.name, ready, count)
        except RuntimeError:  # no loop (tests of the effects alone)
            self._announced(rt.name, ready, count)

    def _announced(self, name: str, ready: list[tuple[PacketSocket, bytes, str, IPAddress]],
                   count: int) -> None:
        for _ in range(count - 1):
            for psock, frame, _ifname, _addr in ready:
                with contextlib.suppress(OSError):
                    psock.send_frame(frame)
        for _psock, _frame, ifname, addr in ready:
            if isinstance(addr, IPv4Address):
                what, each = "gratuitous ARPs", "gratuitous ARP"
            else:
                what, each = "Unsolicited Neighbour Adverts", "unsolicited Neighbour Advert"
            self.detail(f"({name}) Sending/queueing {what} on {ifname} for {addr}")
            for _ in range(count):
                self.detail(f"Sending {each} on {ifname} for {addr}")

    def announcements(self, rt: InstanceRuntime) -> list[tuple[PacketSocket, bytes, str,
                                                                 IPAddress]]:
        """The packet socket and frame for each VIP of the instance, made ready once (and
        when the instance starts, so that its first takeover finds them)."""
        out = []
        for vip, ifname in rt.vips():
            psock = self.packet_sockets.get(ifname)
            if psock is None:
                try:
                    psock = PacketSocket.open(ifname)
                except PyKeepalivedError as exc:
                    self.log(f"({rt.name}) cannot send gratuitous ARP: {exc}")
                    continue
                self.packet_sockets[ifname] = psock
            addr = vip.address.ip
            frame = self.gratuitous_frame(ifname, addr)
            if frame is not None:
                out.append((psock, frame, ifname, addr))
        return out

    def interface_mac(self, ifname: str) -> bytes | None:
        """The interface's MAC, looked up once until a link event says it may have changed.

        One lookup per interface, not per VIP: Netlink.link dumps the interface's addresses,
        which costs tens of ms with hundreds of VIPs on it."""
        mac = self._mac_cache.get(ifname)
        if mac is None:
            try:
                mac = self._mac_cache[ifname] = self.netlink.link(ifname).mac
            except PyKeepalivedError:
                return None
        return mac

    def gratuitous_frame(self, ifname: str, addr: IPAddress) -> bytes | None:
        """The ARP / NA frame announcing ``addr`` on ``ifname``, built once per MAC."""
        key = (ifname, addr)
        frame = self._frame_cache.get(key)
        if frame is None:
            mac = self.interface_mac(ifname)
            if mac is None:
                self.log(f"cannot announce {addr} on {ifname}: no such interface")
                return None
            if isinstance(addr, IPv4Address):
                frame = frames.build_gratuitous_arp(mac, addr)
            else:
                frame = frames.build_unsolicited_na(mac, addr, addr)
            self._frame_cache[key] = frame
        return frame

    def present_addresses(self, ifnames: set[str]) -> dict[str, set[str]]:
        """The addresses on each interface right now (blocking netlink round trips)."""
        out: dict[str, set[str]] = {}
        for ifname in ifnames:
            try:
                index = self.netlink.ifindex(ifname)
                out[ifname] = {str(a.interface.ip) for a in self.netlink.addresses(index)}
            except PyKeepalivedError:
                out[ifname] = set()
        return out

    def link_changed(self, ifname: str) -> None:
        """A link event for ``ifname``: its MAC (and so every cached frame) may have changed."""
        self._mac_cache.pop(ifname, None)
        for key in [k for k in self._frame_cache if k[0] == ifname]:
            del self._frame_cache[key]
