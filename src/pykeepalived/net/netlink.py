"""rtnetlink for the daemon: interfaces, virtual addresses, routes, rules, VMACs and link events.

Requests go through pyroute2's ``IPRoute`` (synchronous; each call is one netlink round trip of
well under a millisecond, so the daemon may call them from the event loop). Events come from a
separate netlink socket of our own, bound to the link and address multicast groups and watched
with ``loop.add_reader``: it never blocks, and the messages are decoded with pyroute2's message
classes.

Kernel behaviours relied on:

- Address lifetimes (``IFA_CACHEINFO``) work for IPv4 and IPv6: an address added with
  ``lifetime=2`` disappears about 2 s later unless :meth:`Netlink.renew_address` (RTM_NEWADDR
  with NLM_F_REPLACE) pushes the deadline out. A crashed daemon's VIPs then vanish on their own.
- Removing an IPv4 primary address also removes the secondaries of its subnet unless
  ``promote_secondaries`` is set; that is why keepalived sets it on VMACs.
- The VMAC is a macvlan in private mode with MAC 00:00:5e:00:01:VRID (IPv6 00:00:5e:00:02:VRID),
  and keepalived's sysctls: on the VMAC arp_ignore=1, accept_local=1, rp_filter=0,
  promote_secondaries=1; on the parent arp_ignore=1, arp_filter=1 (so the parent does not answer
  ARP for addresses living on the VMAC).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from pykeepalived.errors import PyKeepalivedError
from pykeepalived.net.netns import run_in_netns

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network

# linux/rtnetlink.h
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
NLMSG_ERROR, NLMSG_DONE = 2, 3
_NLMSGHDR = struct.Struct("=IHHII")

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000
IFA_F_NODAD = 0x02
INFINITY_LIFE_TIME = 0xFFFFFFFF

SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
ROUTE_TYPES = {
    "unicast": 1,
    "local": 2,
    "broadcast": 3,
    "anycast": 4,
    "multicast": 5,
    "blackhole": 6,
    "unreachable": 7,
    "prohibit": 8,
    "throw": 9,
}
ROUTE_PROTOCOLS = {
    "unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "keepalived": 18,
}

VMAC_OUI = b"\x00\x00\x5e\x00"
_VMAC_SYSCTLS = {"arp_ignore": 1, "accept_local": 1, "rp_filter": 0, "promote_secondaries": 1}
_PARENT_SYSCTLS = {"arp_ignore": 1, "arp_filter": 1}


class NetlinkOpError(PyKeepalivedError):
    """A netlink request failed; ``errno`` is the kernel's answer."""

    def __init__(self, message: str, err: int = 0) -> None:
        super().__init__(message)
        self.errno = err


class InterfaceNotFound(NetlinkOpError):
    """No interface with that name or index in this namespace."""


@dataclass(frozen=True, slots=True)
class LinkInfo:
    name: str
    index: int
    mac: bytes
    admin_up: bool
    oper_up: bool
    mtu: int
    primary_ipv4: IPv4Address | None
    ipv6_link_local: IPv6Address | None
    kind: str | None = None
    parent_index: int | None = None


@dataclass(frozen=True, slots=True)
class AddressInfo:
    interface: IPInterface
    ifindex: int
    label: str | None
    scope: int
    broadcast: IPv4Address | None
    peer: IPAddress | None
    valid_lft: float | None  # None = forever
    preferred_lft: float | None
    secondary: bool


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One keepalived ``virtual_routes`` entry; ``dst`` None means the default route."""

    dst: IPNetwork | None = None
    gateway: IPAddress | None = None
    ifindex: int | None = None
    src: IPAddress | None = None
    metric: int | None = None
    table: int | None = None
    scope: str | int | None = None
    proto: str | int | None = None
    type: str = "unicast"
    family: int | None = None  # needed only when dst and gateway are both None

    def resolved_family(self) -> int:
        for value in (self.dst, self.gateway, self.src):
            if value is not None:
                return socket.AF_INET6 if value.version == 6 else socket.AF_INET
        return self.family or socket.AF_INET


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One keepalived ``virtual_rules`` entry (``from``/``to``/``table``/...)."""

    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    table: int | None = None
    priority: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    action: str = "to_tbl"  # or "blackhole", "unreachable", "prohibit"
    family: int | None = None

    def resolved_family(self) -> int:
        for value in (self.src, self.dst):
            if value is not None:
                return socket.AF_INET6 if value.version == 6 else socket.AF_INET
        return self.family or socket.AF_INET


@dataclass(frozen=True, slots=True)
class LinkEvent:
    ifname: str
    ifindex: int
    up: bool  # administratively up and carrier present
    admin_up: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class AddressEvent:
    ifindex: int
    interface: IPInterface
    added: bool
    label: str | None


def vmac_address(vrid: int, family: int = socket.AF_INET) -> bytes:
    """RFC 5798 7.3: 00-00-5E-00-01-{VRID} (IPv4) / 00-00-5E-00-02-{VRID} (IPv6)."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"VRID must be 1..255, got {vrid}")
    return VMAC_OUI + bytes([2 if family == socket.AF_INET6 else 1, vrid])


def _mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _lifetime(value: int) -> float | None:
    return None if value == INFINITY_LIFE_TIME else float(value)


def _cacheinfo(lifetime: float | None) -> dict[str, int]:
    secs = INFINITY_LIFE_TIME if lifetime is None else max(0, round(lifetime))
    return {"ifa_preferred": secs, "ifa_valid": secs, "cstamp": 0, "tstamp": 0}


def _scope(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return SCOPES[value]


def _errno_of(exc: NetlinkError) -> int:
    return int(exc.code)


def _address_info(msg: Any) -> AddressInfo:
    family = msg["family"]
    local = msg.get_attr("IFA_LOCAL")
    address = msg.get_attr("IFA_ADDRESS")
    # IPv4 puts the local address in IFA_LOCAL and the peer (or the same) in IFA_ADDRESS.
    own = local if local is not None else address
    peer = address if (local is not None and address is not None and address != local) else None
    cache = msg.get_attr("IFA_CACHEINFO") or {}
    brd = msg.get_attr("IFA_BROADCAST")
    flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
    prefix = msg["prefixlen"]
    iface: IPInterface = (
        IPv4Interface(f"{own}/{prefix}")
        if family == socket.AF_INET
        else IPv6Interface(f"{own}/{prefix}")
    )
    return AddressInfo(
        interface=iface,
        ifindex=msg["index"],
        label=msg.get_attr("IFA_LABEL"),
        scope=msg["scope"],
        broadcast=IPv4Address(brd) if brd else None,
        peer=ip_address(peer) if peer else None,
        valid_lft=_lifetime(cache.get("ifa_valid", INFINITY_LIFE_TIME)),
        preferred_lft=_lifetime(cache.get("ifa_preferred", INFINITY_LIFE_TIME)),
        secondary=bool(flags & 0x01),
    )


def write_sysctl(path: str, value: int | str, *, netns: str | None = None) -> str:
    """Write ``/proc/sys/<path>`` in ``netns``; returns the previous value."""
    full = os.path.join("/proc/sys", path)

    def write() -> str:
        with open(full) as f:
            old = f.read().strip()
        with open(full, "w") as f:
            f.write(str(value))
        return old

    return run_in_netns(netns, write)


def read_sysctl(path: str, *, netns: str | None = None) -> str:
    full = os.path.join("/proc/sys", path)

    def read() -> str:
        with open(full) as f:
            return f.read().strip()

    return run_in_netns(netns, read)


class _WorkerBound:
    """Runs every call on one pyroute2 object in a private thread.

    pyroute2 0.9's synchronous ``IPRoute`` drives an asyncio loop of its own and refuses to run
    inside a thread whose loop is already running (``This event loop is already running``), which
    is exactly where the daemon calls it from. Each call is a sub-millisecond netlink round trip,
    so handing it to a worker thread and waiting is cheap and keeps the API synchronous.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtnl")
        self._obj = self._pool.submit(factory).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            def run() -> Any:
                result = getattr(self._obj, name)(*args, **kwargs)
                # Generators read the socket lazily: drain them in the worker thread.
                if isinstance(result, Iterator):
                    return list(result)
                return result

            return self._pool.submit(run).result()

        return call

    def shutdown(self) -> None:
        try:
            self._pool.submit(self._obj.close).result()
        finally:
            self._pool.shutdown(wait=True)


class Netlink:
    """Synchronous rtnetlink requests in one namespace (the current one when ``netns`` is None).

    Safe to call from inside a running asyncio loop (see :class:`_WorkerBound`).
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._ipr = _WorkerBound(lambda: IPRoute(netns=netns) if netns else IPRoute())

    def close(self) -> None:
        self._ipr.shutdown()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- links ---------------------------------------------------------------------------

    def ifindex(self, ifname: str) -> int:
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise InterfaceNotFound(f"no interface {ifname!r}", errno.ENODEV)
        return int(found[0])

    def link(self, ifname: str | int) -> LinkInfo:
        """Everything the daemon needs to know about one interface."""
        index = ifname if isinstance(ifname, int) else self.ifindex(ifname)
        try:
            msg = self._ipr.get_links(index)[0]
        except NetlinkError as exc:
            raise InterfaceNotFound(f"no interface {ifname!r}", _errno_of(exc)) from exc
        flags = msg["flags"]
        mac = msg.get_attr("IFLA_ADDRESS")
        linkinfo = msg.get_attr("IFLA_LINKINFO")
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None
        primary_v4: IPv4Address | None = None
        link_local: IPv6Address | None = None
        for addr in self.addresses(index):
            ip = addr.interface.ip
            if isinstance(ip, IPv4Address) and primary_v4 is None and not addr.secondary:
                primary_v4 = ip
            elif isinstance(ip, IPv6Address) and link_local is None and ip.is_link_local:
                link_local = ip
        return LinkInfo(
            name=msg.get_attr("IFLA_IFNAME"),
            index=index,
            mac=bytes.fromhex(mac.replace(":", "")) if mac else b"",
            admin_up=bool(flags & IFF_UP),
            oper_up=bool(flags & IFF_UP) and bool(flags & IFF_LOWER_UP),
            mtu=int(msg.get_attr("IFLA_MTU") or 0),
            primary_ipv4=primary_v4,
            ipv6_link_local=link_local,
            kind=kind,
            parent_index=msg.get_attr("IFLA_LINK"),
        )

    def set_link_up(self, ifindex: int, up: bool = True) -> None:
        self._ipr.link("set", index=ifindex, state="up" if up else "down")

    # --- addresses -------------------------------------------------------------------------

    def addresses(self, ifindex: int | None = None, family: int | None = None) -> list[AddressInfo]:
        kwargs: dict[str, Any] = {}
        if ifindex is not None:
            kwargs["index"] = ifindex
        if family is not None:
            kwargs["family"] = family
        return [_address_info(m) for m in self._ipr.get_addr(**kwargs)]

    def has_address(self, ifindex: int, address: IPAddress | IPInterface) -> bool:
        ip = address.ip if isinstance(address, IPv4Interface | IPv6Interface) else address
        return any(a.interface.ip == ip for a in self.addresses(ifindex))

    def _addr_request(
        self,
        command: str,
        ifindex: int,
        interface: IPInterface,
        *,
        brd: IPv4Address | None = None,
        scope: str | int | None = None,
        label: str | None = None,
        peer: IPAddress | None = None,
        lifetime: float | None = None,
        nodad: bool = False,
        with_cacheinfo: bool = True,
    ) -> None:
        kwargs: dict[str, Any] = {
            "index": ifindex,
            "prefixlen": interface.network.prefixlen,
            "family": socket.AF_INET6 if interface.version == 6 else socket.AF_INET,
        }
        if peer is not None:
            kwargs["local"] = str(interface.ip)
            kwargs["address"] = str(peer)
        else:
            kwargs["address"] = str(interface.ip)
        if brd is not None:
            kwargs["broadcast"] = str(brd)
        if scope is not None:
            kwargs["scope"] = _scope(scope)
        if label is not None:
            kwargs["label"] = label
        if nodad:
            kwargs["flags"] = IFA_F_NODAD
        if with_cacheinfo and lifetime is not None:
            kwargs["IFA_CACHEINFO"] = _cacheinfo(lifetime)
        try:
            self._ipr.addr(command, **kwargs)
        except NetlinkError as exc:
            raise NetlinkOpError(
                f"{command} address {interface} on ifindex {ifindex}: {exc}", _errno_of(exc)
            ) from exc

    def add_address(
        self,
        ifindex: int,
        interface: IPInterface,
        *,
        brd: IPv4Address | None = None,
        scope: str | int | None = None,
        label: str | None = None,
        peer: IPAddress | None = None,
        lifetime: float | None = None,
        nodad: bool = False,
    ) -> bool:
        """Add a VIP; returns False when it was already there (EEXIST is not an error)."""
        try:
            self._addr_request(
                "add", ifindex, interface, brd=brd, scope=scope, label=label, peer=peer,
                lifetime=lifetime, nodad=nodad,
            )
        except NetlinkOpError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def renew_address(
        self,
        ifindex: int,
        interface: IPInterface,
        lifetime: float | None,
        *,
        peer: IPAddress | None = None,
    ) -> None:
        """Replace the valid/preferred lifetime of an existing address (None = forever)."""
        kwargs: dict[str, Any] = {
            "index": ifindex,
            "prefixlen": interface.network.prefixlen,
            "family": socket.AF_INET6 if interface.version == 6 else socket.AF_INET,
            "IFA_CACHEINFO": _cacheinfo(lifetime),
        }
        if peer is not None:
            kwargs["local"] = str(interface.ip)
            kwargs["address"] = str(peer)
        else:
            kwargs["address"] = str(interface.ip)
        try:
            self._ipr.addr("replace", **kwargs)
        except NetlinkError as exc:
            raise NetlinkOpError(f"renew {interface}: {exc}", _errno_of(exc)) from exc

    def remove_address(
        self, ifindex: int, interface: IPInterface, *, peer: IPAddress | None = None
    ) -> bool:
        """Remove a VIP; returns False when it was not present."""
        try:
            self._addr_request("del", ifindex, interface, peer=peer, with_cacheinfo=False)
        except NetlinkOpError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV):
                return False
            raise
        return True

    # --- routes and rules ------------------------------------------------------------------

    def _route_kwargs(self, spec: RouteSpec) -> dict[str, Any]:
        family = spec.resolved_family()
        kwargs: dict[str, Any] = {"family": family, "type": ROUTE_TYPES[spec.type]}
        if spec.dst is not None:
            kwargs["dst"] = str(spec.dst.network_address)
            kwargs["dst_len"] = spec.dst.prefixlen
        else:
            kwargs["dst_len"] = 0
        if spec.gateway is not None:
            kwargs["gateway"] = str(spec.gateway)
        if spec.ifindex is not None:
            kwargs["oif"] = spec.ifindex
        if spec.src is not None:
            kwargs["prefsrc"] = str(spec.src)
        if spec.metric is not None:
            kwargs["priority"] = spec.metric
        if spec.table is not None:
            kwargs["table"] = spec.table
        if spec.scope is not None:
            kwargs["scope"] = _scope(spec.scope)
        # Like ``ip route add``, default to proto boot (pyroute2 would say static).
        proto = spec.proto if spec.proto is not None else "boot"
        kwargs["proto"] = proto if isinstance(proto, int) else ROUTE_PROTOCOLS[proto]
        return kwargs

    def add_route(self, spec: RouteSpec, *, replace: bool = False) -> bool:
        """Install a route; False when an identical one already exists."""
        try:
            self._ipr.route("replace" if replace else "add", **self._route_kwargs(spec))
        except NetlinkError as exc:
            if _errno_of(exc) == errno.EEXIST:
                return False
            raise NetlinkOpError(f"add route {spec}: {exc}", _errno_of(exc)) from exc
        return True

    def remove_route(self, spec: RouteSpec) -> bool:
        kwargs = self._route_kwargs(spec)
        try:
            self._ipr.route("del", **kwargs)
        except NetlinkError as exc:
            if _errno_of(exc) in (errno.ESRCH, errno.ENOENT):
                return False
            raise NetlinkOpError(f"remove route {spec}: {exc}", _errno_of(exc)) from exc
        return True

    def routes(
        self, table: int | None = None, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        """Routes as plain dicts (dst, dst_len, gateway, oif, prefsrc, priority, table, type)."""
        out = []
        for msg in self._ipr.get_routes(family=family, table=table or 254):
            out.append(
                {
                    "dst": msg.get_attr("RTA_DST"),
                    "dst_len": msg["dst_len"],
                    "gateway": msg.get_attr("RTA_GATEWAY"),
                    "oif": msg.get_attr("RTA_OIF"),
                    "prefsrc": msg.get_attr("RTA_PREFSRC"),
                    "priority": msg.get_attr("RTA_PRIORITY"),
                    "table": msg.get_attr("RTA_TABLE") or msg["table"],
                    "type": msg["type"],
                    "scope": msg["scope"],
                    "proto": msg["proto"],
                }
            )
        return out

    def _rule_kwargs(self, spec: RuleSpec) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"family": spec.resolved_family(), "action": spec.action}
        if spec.src is not None:
            kwargs["src"] = str(spec.src.network_address)
            kwargs["src_len"] = spec.src.prefixlen
        if spec.dst is not None:
            kwargs["dst"] = str(spec.dst.network_address)
            kwargs["dst_len"] = spec.dst.prefixlen
        if spec.table is not None:
            kwargs["table"] = spec.table
        if spec.priority is not None:
            kwargs["priority"] = spec.priority
        if spec.iif is not None:
            kwargs["iifname"] = spec.iif
        if spec.oif is not None:
            kwargs["oifname"] = spec.oif
        if spec.fwmark is not None:
            kwargs["fwmark"] = spec.fwmark
        if spec.fwmask is not None:
            kwargs["fwmask"] = spec.fwmask
        return kwargs

    def add_rule(self, spec: RuleSpec) -> bool:
        try:
            self._ipr.rule("add", **self._rule_kwargs(spec))
        except NetlinkError as exc:
            if _errno_of(exc) == errno.EEXIST:
                return False
            raise NetlinkOpError(f"add rule {spec}: {exc}", _errno_of(exc)) from exc
        return True

    def remove_rule(self, spec: RuleSpec) -> bool:
        try:
            self._ipr.rule("del", **self._rule_kwargs(spec))
        except NetlinkError as exc:
            if _errno_of(exc) in (errno.ENOENT, errno.ESRCH):
                return False
            raise NetlinkOpError(f"remove rule {spec}: {exc}", _errno_of(exc)) from exc
        return True

    def rules(self, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        out = []
        for msg in self._ipr.get_rules(family=family):
            out.append(
                {
                    "priority": msg.get_attr("FRA_PRIORITY"),
                    "table": msg.get_attr("FRA_TABLE") or msg["table"],
                    "src": msg.get_attr("FRA_SRC"),
                    "src_len": msg["src_len"],
                    "dst": msg.get_attr("FRA_DST"),
                    "dst_len": msg["dst_len"],
                    "iif": msg.get_attr("FRA_IIFNAME"),
                    "oif": msg.get_attr("FRA_OIFNAME"),
                    "fwmark": msg.get_attr("FRA_FWMARK"),
                }
            )
        return out

    # --- VMAC ------------------------------------------------------------------------------

    def add_vmac(
        self,
        parent: str | int,
        vrid: int,
        *,
        family: int = socket.AF_INET,
        ifname: str | None = None,
        up: bool = True,
    ) -> LinkInfo:
        """Create keepalived's ``use_vmac`` interface on ``parent`` (reused if it already fits).

        Returns the new link. The sysctls keepalived sets are applied (see module docstring);
        an IPv4 VMAC gets IPv6 disabled and an IPv6 one no automatic link-local address, so the
        advert source stays the parent's link-local address (RFC 5798 7.4).
        """
        parent_index = parent if isinstance(parent, int) else self.ifindex(parent)
        name = ifname or (f"vrrp6.{vrid}" if family == socket.AF_INET6 else f"vrrp.{vrid}")
        mac = vmac_address(vrid, family)
        existing = self._ipr.link_lookup(ifname=name)
        if existing:
            info = self.link(existing[0])
            if info.mac == mac and info.parent_index == parent_index and info.kind == "macvlan":
                if up and not info.admin_up:
                    self.set_link_up(info.index)
                return self.link(info.index)
            if info.kind != "macvlan":
                raise NetlinkOpError(f"{name} exists and is not a macvlan", errno.EEXIST)
            self._ipr.link("del", index=info.index)
        try:
            self._ipr.link(
                "add",
                ifname=name,
                kind="macvlan",
                link=parent_index,
                macvlan_mode="private",
                address=_mac_str(mac),
            )
        except NetlinkError as exc:
            raise NetlinkOpError(f"create VMAC {name}: {exc}", _errno_of(exc)) from exc
        parent_name = self.link(parent_index).name
        if family == socket.AF_INET:
            for key, value in _VMAC_SYSCTLS.items():
                write_sysctl(f"net/ipv4/conf/{name}/{key}", value, netns=self.netns)
            for key, value in _PARENT_SYSCTLS.items():
                write_sysctl(f"net/ipv4/conf/{parent_name}/{key}", value, netns=self.netns)
            write_sysctl(f"net/ipv6/conf/{name}/disable_ipv6", 1, netns=self.netns)
        else:
            # addr_gen_mode 1 = none: no EUI-64 link-local from the virtual MAC.
            write_sysctl(f"net/ipv6/conf/{name}/addr_gen_mode", 1, netns=self.netns)
        index = self.ifindex(name)
        if up:
            self.set_link_up(index)
        return self.link(index)

    def remove_vmac(self, ifname: str, *, restore_parent: bool = True) -> bool:
        """Delete a VMAC (only macvlans are ever deleted); False when it does not exist."""
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            return False
        info = self.link(found[0])
        if info.kind != "macvlan":
            raise NetlinkOpError(f"refusing to delete non-macvlan {ifname}", errno.EPERM)
        if restore_parent and info.parent_index:
            parent_name = self.link(info.parent_index).name
            for key in _PARENT_SYSCTLS:
                write_sysctl(f"net/ipv4/conf/{parent_name}/{key}", 0, netns=self.netns)
        self._ipr.link("del", index=info.index)
        return True


# --- events --------------------------------------------------------------------------------


def parse_rtnl_events(data: bytes) -> Iterator[LinkEvent | AddressEvent]:
    """Decode link and address notifications from one netlink datagram; skip anything else."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        chunk = data[offset : offset + length]
        offset += (length + 3) & ~3
        try:
            if msg_type in (RTM_NEWLINK, RTM_DELLINK):
                link = ifinfmsg(chunk)
                link.decode()
                flags = link["flags"]
                admin = bool(flags & IFF_UP)
                yield LinkEvent(
                    ifname=link.get_attr("IFLA_IFNAME") or "",
                    ifindex=link["index"],
                    up=admin and bool(flags & IFF_LOWER_UP) and msg_type == RTM_NEWLINK,
                    admin_up=admin,
                    deleted=msg_type == RTM_DELLINK,
                )
            elif msg_type in (RTM_NEWADDR, RTM_DELADDR):
                addr = ifaddrmsg(chunk)
                addr.decode()
                info = _address_info(addr)
                yield AddressEvent(
                    ifindex=info.ifindex,
                    interface=info.interface,
                    added=msg_type == RTM_NEWADDR,
                    label=info.label,
                )
        except Exception:
            continue


def open_event_socket(
    groups: int = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
    *,
    netns: str | None = None,
    blocking: bool = False,
) -> socket.socket:
    """A NETLINK_ROUTE socket subscribed to ``groups`` in ``netns``."""

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, groups))
            sock.setblocking(blocking)
        except BaseException:
            sock.close()
            raise
        return sock

    return run_in_netns(netns, make)


class LinkMonitor:
    """Pushes link up/down and address add/remove notifications into an asyncio loop.

    ``on_overrun`` is called when the kernel dropped notifications (ENOBUFS): the caller should
    re-read the state it cares about with :class:`Netlink`.
    """

    def __init__(
        self,
        on_link: Callable[[str, int, bool], None] | None = None,
        on_address: Callable[[AddressEvent], None] | None = None,
        *,
        on_overrun: Callable[[], None] | None = None,
        netns: str | None = None,
    ) -> None:
        self.on_link = on_link
        self.on_address = on_address
        self.on_overrun = on_overrun
        self.netns = netns
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_up: dict[int, bool] = {}

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        # Address events only when asked for: a master renewing hundreds of VIPs would
        # otherwise wake us with a notification per renewal.
        groups = RTMGRP_LINK
        if self.on_address is not None:
            groups |= RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
        self._sock = open_event_socket(groups, netns=self.netns)
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def stop(self) -> None:
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def _readable(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # bounded, so a storm of events cannot starve the loop
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS and self.on_overrun is not None:
                    self.on_overrun()
                continue
            for event in parse_rtnl_events(data):
                self._dispatch(event)

    def _dispatch(self, event: LinkEvent | AddressEvent) -> None:
        if isinstance(event, LinkEvent):
            # The kernel repeats RTM_NEWLINK for unrelated changes; report transitions only.
            if self._last_up.get(event.ifindex) == event.up and not event.deleted:
                return
            self._last_up[event.ifindex] = event.up
            if event.deleted:
                self._last_up.pop(event.ifindex, None)
            if self.on_link is not None:
                self.on_link(event.ifname, event.ifindex, event.up)
        elif self.on_address is not None:
            self.on_address(event)


def parse_interface(text: str) -> IPInterface:
    """``"192.0.2.100/24"`` -> IPv4Interface (a bare address gets /32 or /128)."""
    return ip_interface(text)


def parse_network(text: str) -> IPNetwork:
    return ip_network(text, strict=False)


# --- batched lifetime renewal ---------------------------------------------------------------

RTM_NEWADDR = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x01
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO = 1, 2, 3, 4, 6


def _rtattr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def encode_newaddr(
    ifindex: int,
    interface: IPInterface,
    *,
    lifetime: float | None,
    brd: IPv4Address | None = None,
    scope: str | int | None = None,
    label: str | None = None,
    peer: IPAddress | None = None,
    nodad: bool = False,
    seq: int = 0,
) -> bytes:
    """One RTM_NEWADDR (create or replace) message, as ``ip addr replace`` sends it.

    Used for crash-safe VIP renewal: replacing an existing address only refreshes its
    lifetimes, and one that has already expired is created again with all its attributes.
    """
    family = socket.AF_INET6 if interface.version == 6 else socket.AF_INET
    body = struct.pack("=BBBBI", family, interface.network.prefixlen,
                       IFA_F_NODAD if nodad else 0, _scope(scope) or 0, ifindex)
    local = interface.ip.packed
    if family == socket.AF_INET:
        body += _rtattr(IFA_LOCAL, local)
        body += _rtattr(IFA_ADDRESS, peer.packed if peer is not None else local)
    else:
        if peer is not None:
            body += _rtattr(IFA_LOCAL, local)
        body += _rtattr(IFA_ADDRESS, peer.packed if peer is not None else local)
    if brd is not None:
        body += _rtattr(IFA_BROADCAST, brd.packed)
    if label is not None:
        body += _rtattr(IFA_LABEL, label.encode() + b"\0")
    secs = INFINITY_LIFE_TIME if lifetime is None else max(0, round(lifetime))
    body += _rtattr(IFA_CACHEINFO, struct.pack("=IIII", secs, secs, 0, 0))
    flags = NLM_F_REQUEST | NLM_F_REPLACE | NLM_F_CREATE
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWADDR, flags, seq, 0) + body


class AddressRenewer:
    """Sends prebuilt RTM_NEWADDR messages in batches on a socket of its own, without waiting.

    No acknowledgement is requested, so the kernel answers only failures; :meth:`drain_errors`
    reads those (call it from the loop when the socket is readable). A renewal round for
    hundreds of VIPs is one or two sendmsg calls instead of a round trip per VIP.
    """

    MAX_BATCH = 32 * 1024

    def __init__(self, netns: str | None = None) -> None:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
            sock.bind((0, 0))
            sock.setblocking(False)
            return sock

        self._sock = run_in_netns(netns, make)
        self.sent = 0
        self.errors: dict[int, int] = {}

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, messages: Sequence[bytes]) -> None:
        batch = b""
        for msg in messages:
            if batch and len(batch) + len(msg) > self.MAX_BATCH:
                self._send(batch)
                batch = b""
            batch += msg
        if batch:
            self._send(batch)

    def _send(self, batch: bytes) -> None:
        try:
            self._sock.send(batch)
            self.sent += 1
        except OSError as exc:
            self.errors[exc.errno or 0] = self.errors.get(exc.errno or 0, 0) + 1

    def drain_errors(self) -> list[tuple[int, int]]:
        """(errno, sequence number) of every failure the kernel reported since the last call."""
        failures: list[tuple[int, int]] = []
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return failures
            except OSError as exc:
                self.errors[exc.errno or 0] = self.errors.get(exc.errno or 0, 0) + 1
                return failures
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if kind == NLMSG_ERROR and offset + 20 <= len(data):
                    code = -struct.unpack_from("=i", data, offset + 16)[0]
                    if code:
                        failures.append((code, seq))
                        self.errors[code] = self.errors.get(code, 0) + 1
                offset += max(length + (-length % 4), 16)

    def close(self) -> None:
        self._sock.close()
