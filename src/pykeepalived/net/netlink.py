"""rtnetlink requests for the daemon: interfaces, virtual addresses, routes, rules and VMACs.

Requests go through pyroute2's ``IPRoute`` (synchronous; each call is one netlink round trip of
well under a millisecond, so the daemon may call them from the event loop). Link and address
events are read by :mod:`pykeepalived.net.rtnl_events`; the batched, unacknowledged VIP lifetime
renewal lives in :mod:`pykeepalived.net.addr_renewer`.

Kernel behaviours relied on:

- Address lifetimes (``IFA_CACHEINFO``) work for IPv4 and IPv6: an address added with
  ``lifetime=2`` disappears about 2 s later unless :meth:`Netlink.renew_address` (RTM_NEWADDR
  with NLM_F_REPLACE) or :class:`~pykeepalived.net.addr_renewer.AddressRenewer` pushes the
  deadline out. A crashed daemon's VIPs then vanish on their own.
- Removing an IPv4 primary address also removes the secondaries of its subnet unless
  ``promote_secondaries`` is set; that is why keepalived sets it on VMACs.
- The VMAC is a macvlan in private mode with MAC 00:00:5e:00:01:VRID (IPv6 00:00:5e:00:02:VRID),
  and keepalived's sysctls: on the VMAC arp_ignore=1, accept_local=1, rp_filter=0,
  promote_secondaries=1; on the parent arp_ignore=1, arp_filter=1 (so the parent does not answer
  ARP for addresses living on the VMAC).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
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
)
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, IFA_F_SECONDARY
from pyroute2.netlink.rtnl.ifinfmsg import IFF_LOWER_UP, IFF_UP

from pykeepalived.errors import HostError
from pykeepalived.net.netns import enter_netns, run_in_netns

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network

INFINITY_LIFE_TIME = 0xFFFFFFFF  # linux/if_addr.h: a lifetime that never runs out

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


class NetlinkOpError(HostError):
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

    def default_source(self, family: int) -> IPAddress | None:
        """keepalived's default advert source on this interface: its primary IPv4 address, or
        its first IPv6 link-local address; None until it has one."""
        return self.ipv6_link_local if family == socket.AF_INET6 else self.primary_ipv4


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


def vmac_address(vrid: int, family: int = socket.AF_INET) -> bytes:
    """RFC 5798 7.3: 00-00-5E-00-01-{VRID} (IPv4) / 00-00-5E-00-02-{VRID} (IPv6)."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"VRID must be 1..255, got {vrid}")
    return VMAC_OUI + bytes([2 if family == socket.AF_INET6 else 1, vrid])


def eui64_link_local(mac: bytes) -> IPv6Address | None:
    """fe80::/64 with the modified EUI-64 interface identifier of ``mac`` (RFC 4291 App. A)."""
    if len(mac) != 6:
        return None
    iid = bytes([mac[0] ^ 0x02, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]])
    return IPv6Address(b"\xfe\x80" + bytes(6) + iid)


def _mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _lifetime(value: int) -> float | None:
    return None if value == INFINITY_LIFE_TIME else float(value)


def _cacheinfo(lifetime: float | None) -> dict[str, int]:
    """``IFA_CACHEINFO`` for an address request. pyroute2 0.9 sends the ``ifa_*`` fields as
    given; 0.7 (Debian 12's) rewrites them from ``preferred`` / ``valid`` keys in the same dict
    (forever when absent). The encoder ignores the keys it does not know, so both are given."""
    secs = INFINITY_LIFE_TIME if lifetime is None else max(0, round(lifetime))
    return {"ifa_preferred": secs, "ifa_valid": secs, "cstamp": 0, "tstamp": 0,
            "preferred": secs, "valid": secs}


def scope_number(value: str | int | None) -> int | None:
    """An address or route scope by name (``"link"``) or number, as rtnetlink wants it."""
    if value is None or isinstance(value, int):
        return value
    return SCOPES[value]


def _errno_of(exc: NetlinkError) -> int:
    return int(exc.code)


def decode_address(msg: Any) -> AddressInfo:
    """An :class:`AddressInfo` from one decoded pyroute2 ``ifaddrmsg`` (a dump or an event)."""
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
        secondary=bool(flags & IFA_F_SECONDARY),
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

        def open_in_netns() -> Any:
            # The worker thread moves into ``netns`` for good, so every socket pyroute2 opens
            # there belongs to it. (pyroute2 0.7, Debian 12's, has no ``IPRoute(netns=...)``.)
            if netns:
                enter_netns(netns)
            return IPRoute()

        self._ipr = _WorkerBound(open_in_netns)

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
        return [decode_address(m) for m in self._ipr.get_addr(**kwargs)]

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
            kwargs["scope"] = scope_number(scope)
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
            kwargs["scope"] = scope_number(spec.scope)
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
        source: IPv6Address | None = None,
    ) -> LinkInfo:
        """Create keepalived's ``use_vmac`` interface on ``parent`` (reused if it already fits).

        Returns the new link. The sysctls keepalived sets are applied (see module docstring);
        an IPv4 VMAC gets IPv6 disabled. An IPv6 one gets no automatic link-local address but,
        as keepalived gives it, the advert source: ``source`` (a configured one), else the
        parent's link-local address, else the EUI-64 one of the parent's MAC; so adverts leave
        the VMAC from the node's own address (RFC 5798 7.4) and the virtual MAC.
        """
        parent_index = parent if isinstance(parent, int) else self.ifindex(parent)
        name = ifname or (f"vrrp6.{vrid}" if family == socket.AF_INET6 else f"vrrp.{vrid}")
        mac = vmac_address(vrid, family)
        existing = self._ipr.link_lookup(ifname=name)
        if existing:
            info = self.link(existing[0])
            if info.mac == mac and info.parent_index == parent_index and info.kind == "macvlan":
                if family == socket.AF_INET6:
                    self._vmac_link_local(info.index, parent_index, source)
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
        if family == socket.AF_INET6:
            self._vmac_link_local(index, parent_index, source)
        if up:
            self.set_link_up(index)
        return self.link(index)

    def _vmac_link_local(self, index: int, parent_index: int,
                         source: IPv6Address | None) -> None:
        parent = self.link(parent_index)
        address = source or parent.ipv6_link_local or eui64_link_local(parent.mac)
        if address is None:
            return
        # No DAD: the same address is on the parent, and adverts must go out at once.
        self.add_address(index, IPv6Interface(f"{address}/64"), nodad=True)

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
