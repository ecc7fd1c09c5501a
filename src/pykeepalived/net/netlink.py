"""rtnetlink requests for the daemon: interfaces, virtual addresses, routes, rules and VMACs.

Requests go through :class:`pykeepalived.net.rtnl.RtnlSocket`, a small synchronous rtnetlink
client on a plain socket: each call is a netlink round trip of tens of microseconds (a dump of
2,000 addresses 3 ms, 35 ms more to decode them all into :class:`AddressInfo`), so the daemon
calls them from the event loop, with no thread of their own. pyroute2 is not imported: it cost
the VRRP child 9 MiB of its 34 MiB RSS. Link and address events are read by
:mod:`pykeepalived.net.rtnl_events`; the batched, unacknowledged VIP lifetime renewal lives in
:mod:`pykeepalived.net.addr_renewer`.

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
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Any

from pykeepalived.net import nlwire as w
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.nlwire import INFINITY_LIFE_TIME
from pykeepalived.net.rtnl import (
    RULE_ACTIONS,
    LinkMessage,
    NetlinkError,
    RtnlSocket,
    decode_route,
    decode_rule,
    encode_getlink_by_name,
    encode_macvlan,
    encode_route,
    encode_rule,
    encode_set_up,
    ifinfo,
    link_messages,
)

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network

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

#: The historical name of :class:`~pykeepalived.net.rtnl.NetlinkError`, which every failed
#: request raises (a :class:`~pykeepalived.errors.HostError` with the kernel's ``errno``).
NetlinkOpError = NetlinkError


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


def _lifetime(value: int) -> float | None:
    return None if value == INFINITY_LIFE_TIME else float(value)


def scope_number(value: str | int | None) -> int | None:
    """An address or route scope by name (``"link"``) or number, as rtnetlink wants it."""
    if value is None or isinstance(value, int):
        return value
    return SCOPES[value]


def _ip(family: int, raw: bytes) -> IPAddress:
    return IPv4Address(raw) if family == socket.AF_INET else IPv6Address(raw)


def decode_address(msg: bytes) -> AddressInfo:
    """An :class:`AddressInfo` from one RTM_NEWADDR / RTM_DELADDR message (a dump or an event).

    IPv4 puts the local address in ``IFA_LOCAL`` and the peer (or the same) in ``IFA_ADDRESS``;
    IPv6 the address in ``IFA_ADDRESS`` unless it has a peer. Raises ValueError on a message
    that is not an IPv4 or IPv6 address."""
    family, prefix, header_flags, scope, index = w.IFADDRMSG.unpack_from(msg, w.NLMSGHDR.size)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"address family {family}")
    attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.IFADDRMSG.size)
    local = attrs.get(w.IFA_LOCAL)
    address = attrs.get(w.IFA_ADDRESS)
    own = local if local is not None else address
    if own is None:
        raise ValueError("address message without an address")
    peer = address if (local is not None and address is not None and address != local) else None
    ip = _ip(family, own)
    iface: IPInterface = (IPv4Interface((ip, prefix)) if family == socket.AF_INET
                          else IPv6Interface((ip, prefix)))
    cache = attrs.get(w.IFA_CACHEINFO)
    preferred, valid = (w.IFA_CACHEINFO_STRUCT.unpack_from(cache)[:2]
                        if cache is not None and len(cache) >= 16
                        else (INFINITY_LIFE_TIME, INFINITY_LIFE_TIME))
    brd = attrs.get(w.IFA_BROADCAST)
    flags = w.attr_u32(attrs.get(w.IFA_FLAGS)) or header_flags
    return AddressInfo(
        interface=iface,
        ifindex=index,
        label=w.attr_str(attrs.get(w.IFA_LABEL)),
        scope=scope,
        broadcast=IPv4Address(brd) if brd and len(brd) == 4 else None,
        peer=_ip(family, peer) if peer else None,
        valid_lft=_lifetime(valid),
        preferred_lft=_lifetime(preferred),
        secondary=bool(flags & w.IFA_F_SECONDARY),
    )


def _first_sources(messages: list[bytes], index: int) -> tuple[IPv4Address | None,
                                                                IPv6Address | None]:
    """The first primary IPv4 address and the first IPv6 link-local address on ``index`` in
    an address dump, without decoding the rest (hundreds of VIPs may share the interface)."""
    primary: IPv4Address | None = None
    link_local: IPv6Address | None = None
    for msg in messages:
        family, _prefix, header_flags, _scope, ifindex = w.IFADDRMSG.unpack_from(
            msg, w.NLMSGHDR.size)
        if ifindex != index or w.NLMSGHDR.unpack_from(msg)[1] != w.RTM_NEWADDR:
            continue
        if family == socket.AF_INET and primary is None:
            attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.IFADDRMSG.size)
            flags = w.attr_u32(attrs.get(w.IFA_FLAGS)) or header_flags
            own = attrs.get(w.IFA_LOCAL) or attrs.get(w.IFA_ADDRESS)
            if own is not None and len(own) == 4 and not flags & w.IFA_F_SECONDARY:
                primary = IPv4Address(own)
        elif family == socket.AF_INET6 and link_local is None:
            attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.IFADDRMSG.size)
            own = attrs.get(w.IFA_LOCAL) or attrs.get(w.IFA_ADDRESS)
            if own is not None and len(own) == 16 and own[0] == 0xFE and own[1] & 0xC0 == 0x80:
                link_local = IPv6Address(own)
        if primary is not None and link_local is not None:
            break
    return primary, link_local


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


@dataclass(frozen=True)
class AddressRequest:
    """One address for :meth:`Netlink.add_addresses`."""

    ifindex: int
    interface: IPInterface
    brd: IPv4Address | None = None
    scope: str | int | None = None
    label: str | None = None
    peer: IPAddress | None = None
    nodad: bool = False


class Netlink:
    """Synchronous rtnetlink requests in one namespace (the current one when ``netns`` is None).

    Safe to call from inside a running asyncio loop and from worker threads (one request at a
    time, see :class:`~pykeepalived.net.rtnl.RtnlSocket`).
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        # The socket is created in ``netns`` and stays there; no thread has to move.
        self._rtnl = RtnlSocket(netns)

    def close(self) -> None:
        self._rtnl.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- links ---------------------------------------------------------------------------

    def _lookup(self, ifname: str) -> int | None:
        if self.netns is None:  # one ioctl (SIOCGIFINDEX) instead of a link dump round trip
            try:
                return socket.if_nametoindex(ifname)
            except OSError:
                return None
        try:
            found = link_messages(self._rtnl.request(w.RTM_GETLINK,
                                                     encode_getlink_by_name(ifname)))
        except NetlinkError:
            return None
        return found[0].index if found else None

    def ifindex(self, ifname: str) -> int:
        index = self._lookup(ifname)
        if index is None:
            raise InterfaceNotFound(f"no interface {ifname!r}", errno.ENODEV)
        return index

    def link(self, ifname: str | int) -> LinkInfo:
        """Everything the daemon needs to know about one interface."""
        index = ifname if isinstance(ifname, int) else self.ifindex(ifname)
        try:
            found = link_messages(self._rtnl.request(w.RTM_GETLINK, ifinfo(index)))
        except NetlinkError as exc:
            raise InterfaceNotFound(f"no interface {ifname!r}", exc.errno) from exc
        if not found:
            raise InterfaceNotFound(f"no interface {ifname!r}", errno.ENODEV)
        msg: LinkMessage = found[0]
        primary_v4, link_local = _first_sources(self._address_dump(index), index)
        return LinkInfo(
            name=msg.ifname or "",
            index=index,
            mac=msg.mac,
            admin_up=bool(msg.flags & w.IFF_UP),
            oper_up=bool(msg.flags & w.IFF_UP) and bool(msg.flags & w.IFF_LOWER_UP),
            mtu=msg.mtu or 0,
            primary_ipv4=primary_v4,
            ipv6_link_local=link_local,
            kind=msg.kind,
            parent_index=msg.link,
        )

    def set_link_up(self, ifindex: int, up: bool = True) -> None:
        self._rtnl.request(w.RTM_NEWLINK, encode_set_up(ifindex, up))

    # --- addresses -------------------------------------------------------------------------

    def _address_dump(self, ifindex: int | None = None, family: int | None = None) -> list[bytes]:
        """RTM_GETADDR dump; the kernel filters on ``ifindex`` itself when the socket has
        strict checking (Linux 4.20+), the callers filter again either way."""
        index = ifindex if ifindex is not None and self._rtnl.strict else 0
        try:
            return self._rtnl.dump(w.RTM_GETADDR, w.IFADDRMSG.pack(family or 0, 0, 0, 0, index))
        except NetlinkError as exc:
            if index and exc.errno == errno.ENODEV:
                return []  # no such interface: no addresses, as an unfiltered dump says
            raise

    def addresses(self, ifindex: int | None = None, family: int | None = None) -> list[AddressInfo]:
        out = []
        for msg in self._address_dump(ifindex, family):
            if w.NLMSGHDR.unpack_from(msg)[1] != w.RTM_NEWADDR:
                continue
            if ifindex is not None and w.IFADDRMSG.unpack_from(msg, w.NLMSGHDR.size)[4] != ifindex:
                continue
            try:
                out.append(decode_address(msg))
            except ValueError:
                continue
        return out

    def has_address(self, ifindex: int, address: IPAddress | IPInterface) -> bool:
        ip = address.ip if isinstance(address, IPv4Interface | IPv6Interface) else address
        return any(a.interface.ip == ip for a in self.addresses(ifindex))

    def _addr_request(self, what: str, msg_type: int, flags: int, ifindex: int,
                      interface: IPInterface, **fields: Any) -> None:
        try:
            self._rtnl.request(msg_type, w.ifaddr_body(ifindex, interface, **fields), flags)
        except NetlinkError as exc:
            raise NetlinkOpError(f"{what} {interface} on ifindex {ifindex}: {exc}",
                                 exc.errno) from exc

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
        """Add a VIP; returns False when it was already there (EEXIST is not an error).
        ``lifetime`` None: permanent (no ``IFA_CACHEINFO``)."""
        try:
            self._addr_request(
                "add address", w.RTM_NEWADDR, w.NLM_F_CREATE | w.NLM_F_EXCL, ifindex, interface,
                brd=brd, scope=scope_number(scope) or 0, label=label, peer=peer,
                cacheinfo=None if lifetime is None else w.lifetime_seconds(lifetime),
                nodad=nodad,
            )
        except NetlinkOpError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def add_addresses(self, vips: Sequence[AddressRequest], lifetime: float | None) -> list[int]:
        """:meth:`add_address` for many addresses, one round trip per 64 (the kernel adds them
        in order): each one's errno, 0 when added (EEXIST: it was there already)."""
        cacheinfo = None if lifetime is None else w.lifetime_seconds(lifetime)
        return self._rtnl.batch([
            (w.RTM_NEWADDR, w.NLM_F_CREATE | w.NLM_F_EXCL,
             w.ifaddr_body(v.ifindex, v.interface, brd=v.brd, scope=scope_number(v.scope) or 0,
                           label=v.label, peer=v.peer, cacheinfo=cacheinfo, nodad=v.nodad))
            for v in vips])

    def renew_address(
        self,
        ifindex: int,
        interface: IPInterface,
        lifetime: float | None,
        *,
        peer: IPAddress | None = None,
    ) -> None:
        """Replace the valid/preferred lifetime of an existing address (None = forever)."""
        self._addr_request("renew", w.RTM_NEWADDR, w.NLM_F_CREATE | w.NLM_F_REPLACE, ifindex,
                           interface, peer=peer, cacheinfo=w.lifetime_seconds(lifetime))

    def remove_address(
        self, ifindex: int, interface: IPInterface, *, peer: IPAddress | None = None
    ) -> bool:
        """Remove a VIP; returns False when it was not present."""
        try:
            self._addr_request("del address", w.RTM_DELADDR, 0, ifindex, interface, peer=peer)
        except NetlinkOpError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV):
                return False
            raise
        return True

    # --- routes and rules ------------------------------------------------------------------

    @staticmethod
    def _route_body(spec: RouteSpec) -> bytes:
        # Like ``ip route add``, default to proto boot (pyroute2 said static).
        proto = spec.proto if spec.proto is not None else "boot"
        return encode_route(
            spec.resolved_family(),
            dst=spec.dst.network_address.packed if spec.dst is not None else None,
            dst_len=spec.dst.prefixlen if spec.dst is not None else 0,
            gateway=spec.gateway.packed if spec.gateway is not None else None,
            oif=spec.ifindex,
            prefsrc=spec.src.packed if spec.src is not None else None,
            priority=spec.metric,
            table=spec.table,
            proto=proto if isinstance(proto, int) else ROUTE_PROTOCOLS[proto],
            scope=scope_number(spec.scope) or 0,
            rtype=ROUTE_TYPES[spec.type],
        )

    def add_route(self, spec: RouteSpec, *, replace: bool = False) -> bool:
        """Install a route; False when an identical one already exists."""
        flags = w.NLM_F_CREATE | (w.NLM_F_REPLACE if replace else w.NLM_F_EXCL)
        try:
            self._rtnl.request(w.RTM_NEWROUTE, self._route_body(spec), flags)
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise NetlinkOpError(f"add route {spec}: {exc}", exc.errno) from exc
        return True

    def remove_route(self, spec: RouteSpec) -> bool:
        try:
            self._rtnl.request(w.RTM_DELROUTE, self._route_body(spec))
        except NetlinkError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                return False
            raise NetlinkOpError(f"remove route {spec}: {exc}", exc.errno) from exc
        return True

    def routes(
        self, table: int | None = None, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        """Routes of one table (main when None) as plain dicts (dst, dst_len, gateway, oif,
        prefsrc, priority, table, type, scope, proto; addresses as text)."""
        want = table or w.RT_TABLE_MAIN
        out = []
        for msg in self._rtnl.dump(w.RTM_GETROUTE, w.RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)):
            if w.NLMSGHDR.unpack_from(msg)[1] != w.RTM_NEWROUTE:
                continue
            route = decode_route(msg)
            if route["table"] == want:
                out.append(route)
        return out

    @staticmethod
    def _rule_body(spec: RuleSpec) -> bytes:
        return encode_rule(
            spec.resolved_family(),
            RULE_ACTIONS[spec.action],
            src=spec.src.network_address.packed if spec.src is not None else None,
            src_len=spec.src.prefixlen if spec.src is not None else 0,
            dst=spec.dst.network_address.packed if spec.dst is not None else None,
            dst_len=spec.dst.prefixlen if spec.dst is not None else 0,
            table=spec.table,
            priority=spec.priority,
            iifname=spec.iif,
            oifname=spec.oif,
            fwmark=spec.fwmark,
            fwmask=spec.fwmask,
        )

    def add_rule(self, spec: RuleSpec) -> bool:
        try:
            self._rtnl.request(w.RTM_NEWRULE, self._rule_body(spec),
                               w.NLM_F_CREATE | w.NLM_F_EXCL)
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise NetlinkOpError(f"add rule {spec}: {exc}", exc.errno) from exc
        return True

    def remove_rule(self, spec: RuleSpec) -> bool:
        try:
            self._rtnl.request(w.RTM_DELRULE, self._rule_body(spec))
        except NetlinkError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return False
            raise NetlinkOpError(f"remove rule {spec}: {exc}", exc.errno) from exc
        return True

    def rules(self, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        """Every rule of ``family`` as a plain dict (priority, table, src, src_len, dst,
        dst_len, iif, oif, fwmark)."""
        body = w.FIB_RULE_HDR.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
        return [decode_rule(msg) for msg in self._rtnl.dump(w.RTM_GETRULE, body)
                if w.NLMSGHDR.unpack_from(msg)[1] == w.RTM_NEWRULE]

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
        existing = self._lookup(name)
        if existing is not None:
            info = self.link(existing)
            if info.mac == mac and info.parent_index == parent_index and info.kind == "macvlan":
                if family == socket.AF_INET6:
                    self._vmac_link_local(info.index, parent_index, source)
                if up and not info.admin_up:
                    self.set_link_up(info.index)
                return self.link(info.index)
            if info.kind != "macvlan":
                raise NetlinkOpError(f"{name} exists and is not a macvlan", errno.EEXIST)
            self._rtnl.request(w.RTM_DELLINK, ifinfo(info.index))
        try:
            self._rtnl.request(w.RTM_NEWLINK, encode_macvlan(name, parent_index, mac),
                               w.NLM_F_CREATE | w.NLM_F_EXCL)
        except NetlinkError as exc:
            raise NetlinkOpError(f"create VMAC {name}: {exc}", exc.errno) from exc
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
        found = self._lookup(ifname)
        if found is None:
            return False
        info = self.link(found)
        if info.kind != "macvlan":
            raise NetlinkOpError(f"refusing to delete non-macvlan {ifname}", errno.EPERM)
        if restore_parent and info.parent_index:
            parent_name = self.link(info.parent_index).name
            for key in _PARENT_SYSCTLS:
                write_sysctl(f"net/ipv4/conf/{parent_name}/{key}", 0, netns=self.netns)
        self._rtnl.request(w.RTM_DELLINK, ifinfo(info.index))
        return True
