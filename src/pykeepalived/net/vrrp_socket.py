"""Raw IP protocol-112 sockets that put VRRP messages on the wire the way keepalived does
(and protocol-51 ones for ``auth_type AH``, whose datagrams the core builds whole: see
:meth:`VrrpSocket.open`).

One socket per (interface, address family, protocol). The core hands over a VRRP message (from
the VRRP header on, checksum included) and a destination; the kernel adds the IP header. What
the wire must look like (``tests/vectors``): TTL / hop limit 255 (RFC 5798 5.1.1.3, receivers
drop anything else), TOS / traffic class 0xc0 (network control), DF clear, source = the interface's
primary IPv4 address or its IPv6 link-local address unless configured otherwise.

How that is obtained:

- ``SO_BINDTODEVICE`` ties sending and receiving to the interface;
- the source address is passed per packet with ``IP_PKTINFO`` / ``IPV6_PKTINFO`` rather than
  with ``bind()``, because a raw socket bound to a unicast address stops receiving packets sent
  to the multicast group;
- ``IP_MTU_DISCOVER = IP_PMTUDISC_DONT`` clears DF; multicast loop is off so a router never
  hears its own adverts;
- ``IP_MULTICAST_ALL`` is off so only the groups joined on this socket are delivered.

Receiving: IPv4 raw sockets hand over the IP header, which is parsed for source, destination and
TTL and stripped; IPv6 ones do not, so hop limit and destination come from ancillary data
(``IPV6_RECVHOPLIMIT``, ``IPV6_RECVPKTINFO``). Send errors caused by the network (link down,
no buffer space, unreachable) are counted and reported as ``False``: a downed link must not
take the daemon with it.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.errors import HostError
from pykeepalived.net.netns import run_in_netns

IPAddress = IPv4Address | IPv6Address

IPPROTO_VRRP = 112
IPPROTO_AH = 51  #: auth_type AH: adverts under an IPsec AH header (see pykeepalived.core.ah)
AH_HEADER_LEN = 24
VRRP_GROUP_V4 = IPv4Address("224.0.0.18")
VRRP_GROUP_V6 = IPv6Address("ff02::12")
VRRP_TOS = 0xC0
VRRP_TTL = 255

# Linux values Python's socket module does not export.
IP_TOS = 1
IP_TTL = 2
IP_HDRINCL = 3
IP_PKTINFO = 8
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_TIMESTAMPNS = 35  # also the control message's type (SCM_TIMESTAMPNS)
_TIMESPEC = struct.Struct("=qq")
SKF_NET_OFF = -0x100000
#: Above this many VRIDs on one socket the kernel filter tests TTL and version only.
MAX_FILTER_VRIDS = 200

# Errors that mean "the network is not there right now", not "the program is wrong".
TRANSIENT_SEND_ERRORS = frozenset(
    {
        errno.ENOBUFS,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENXIO,
        errno.ENODEV,
        errno.EADDRNOTAVAIL,
        errno.EAGAIN,
        errno.EPERM,  # a firewall drop in the output path
        errno.EINVAL,  # source address vanished with the interface
    }
)


class VrrpSocketError(HostError):
    """Opening or configuring the socket failed (bad interface, no permission)."""


@dataclass(frozen=True, slots=True)
class Received:
    src: IPAddress
    dst: IPAddress
    ttl: int
    payload: bytes  # the VRRP message, from the VRRP header on (AH sockets: the AH header on)
    ifindex: int
    header: bytes = b""  #: AH sockets: the IPv4 header, which the AH ICV covers
    #: seconds between the kernel's receipt of the packet and the start of the read that
    #: returned it (0.0 when the kernel gave no timestamp)
    age: float = 0.0


def _age(stamp: bytes, wall: float) -> float:
    """Seconds from the kernel's receive stamp (an SCM_TIMESTAMPNS timespec) to ``wall``."""
    sec: int
    nsec: int
    sec, nsec = _TIMESPEC.unpack_from(stamp)
    return wall - sec - nsec * 1e-9


def _sockaddr_in_ifindex(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError as exc:
        raise VrrpSocketError(f"no interface {ifname!r}") from exc


def default_source(ifname: str, family: int, *, netns: str | None = None) -> IPAddress | None:
    """keepalived's default advert source on ``ifname`` (see ``LinkInfo.default_source``)."""
    from pykeepalived.net.netlink import InterfaceNotFound, Netlink

    with Netlink(netns) as nl:
        try:
            return nl.link(ifname).default_source(family)
        except InterfaceNotFound:
            return None


def vrrp_filter(
    family: int = socket.AF_INET,
    *,
    vrids: Collection[int] = (),
    check_ttl: bool = True,
    protocol: int = IPPROTO_VRRP,
) -> bytes:
    """Classic BPF: accept only hop limit 255, VRRP version 2 or 3 and (when ``vrids`` is given)
    one of our VRIDs; drop the rest in-kernel.

    A flood of forged or routed packets then costs no Python time at all. IPv4 raw sockets see
    the packet from the IP header on; IPv6 ones from the VRRP header on, with the IPv6 header
    reachable through the SKF_NET_OFF base. ``check_ttl`` False leaves out the hop-limit test
    (unicast peers may be routed: the core does not check their TTL either). More than
    :data:`MAX_FILTER_VRIDS` VRIDs are not filtered on (the jump offsets are 8-bit).
    ``protocol`` IPPROTO_AH: the VRRP header is behind the 24-byte AH header (IPv4 only).
    """
    skip = AH_HEADER_LEN if protocol == IPPROTO_AH else 0
    ld_b_abs, ldx_msh, ld_b_ind = 0x30, 0xB1, 0x50
    jeq_k, and_k, ret_k = 0x15, 0x54, 0x06
    # (code, jump-if-true label, jump-if-false label, k); None = the next instruction.
    prog: list[tuple[int, str | None, str | None, int]] = []
    if check_ttl:
        if family == socket.AF_INET:
            prog.append((ld_b_abs, None, None, 8))
        else:
            prog.append((ld_b_abs, None, None, (SKF_NET_OFF + 7) & 0xFFFFFFFF))
        prog.append((jeq_k, None, "drop", VRRP_TTL))
    if family == socket.AF_INET:
        prog += [(ldx_msh, None, None, 0), (ld_b_ind, None, None, skip)]
    else:
        prog.append((ld_b_abs, None, None, 0))
    prog += [(and_k, None, None, 0xF0), (jeq_k, "vrid", None, 0x20), (jeq_k, "vrid", "drop", 0x30)]
    labels = {"vrid": len(prog)}
    wanted = sorted(set(vrids)) if len(set(vrids)) <= MAX_FILTER_VRIDS else []
    if wanted:
        prog.append((ld_b_ind, None, None, skip + 1) if family == socket.AF_INET
                    else (ld_b_abs, None, None, 1))
        prog += [(jeq_k, "accept", None, v) for v in wanted]
    else:
        prog.append((ret_k, None, None, 0xFFFF))  # no VRID test: version ok means accept
    labels["drop"] = len(prog)
    prog.append((ret_k, None, None, 0))
    labels["accept"] = len(prog)
    prog.append((ret_k, None, None, 0xFFFF))

    def offset(label: str | None, at: int) -> int:
        return 0 if label is None else labels[label] - at - 1

    return b"".join(struct.pack("=HBBI", code, offset(jt, i), offset(jf, i), k)
                    for i, (code, jt, jf, k) in enumerate(prog))


class FloodGuard:
    """Decides when a socket's kernel filter (:func:`vrrp_filter`) goes on and comes off.

    The filter is not on all the time because the kernel drops silently: packets it refuses
    are no longer counted by reason (bad TTL, bad version, unknown VRID), and those counters are
    how an operator finds a misconfigured neighbour. So the driver reports every batch's
    rejected-packet count here; when rejects arrive faster than ``threshold`` per second over a
    ``window``, :meth:`note` says "engage", the driver attaches the filter, and releases it
    ``hold`` seconds later (a flood still going on engages it again within one window).
    """

    def __init__(self, threshold: float = 500.0, window: float = 1.0, hold: float = 10.0) -> None:
        self.threshold = threshold
        self.window = window
        self.hold = hold
        self.active = False
        #: how often the filter was engaged, and the highest reject rate seen (per second)
        self.engaged = 0
        self.peak_rate = 0.0
        self._window_start: float | None = None
        self._rejected = 0

    def note(self, now: float, rejected: int) -> bool:
        """Count ``rejected`` packets seen at ``now``; True when the filter should go on."""
        if self._window_start is None or now - self._window_start >= self.window:
            self._window_start, self._rejected = now, 0
        self._rejected += rejected
        rate = self._rejected / self.window
        self.peak_rate = max(self.peak_rate, rate)
        if not self.active and rate >= self.threshold:
            self.active = True
            self.engaged += 1
            return True
        return False

    def released(self) -> None:
        self.active = False
        self._window_start, self._rejected = None, 0


class VrrpSocket:
    """A non-blocking raw VRRP socket on one interface; register ``fileno()`` with add_reader."""

    def __init__(
        self,
        sock: socket.socket,
        family: int,
        ifname: str,
        ifindex: int,
        src: IPAddress | None,
        group: IPAddress | None,
        protocol: int = IPPROTO_VRRP,
    ) -> None:
        self._sock = sock
        self.protocol = protocol
        self.family = family
        self.ifname = ifname
        self.ifindex = ifindex
        self.src = src
        self.group = group
        self.sent = 0
        self.send_errors = 0
        self.last_send_errno = 0
        self.dropped_malformed = 0
        self.flood = FloodGuard()

    @classmethod
    def open(
        cls,
        family: int,
        ifname: str,
        *,
        src: IPAddress | None = None,
        group: IPAddress | None = None,
        join_group: bool = True,
        netns: str | None = None,
        protocol: int = IPPROTO_VRRP,
    ) -> VrrpSocket:
        """Open, configure and (unless ``join_group`` is False) join ``group`` on ``ifname``.

        ``protocol`` IPPROTO_AH (IPv4 only): the socket receives AH datagrams whole (IP header
        included) and sends datagrams the caller built whole (IP_HDRINCL), because the AH
        ICV covers the IP header, identification included.

        ``src`` None selects keepalived's default source (see :func:`default_source`); it may
        still be None when the interface has no usable address yet (then the kernel chooses).
        ``group`` None means the VRRP group of the family; unicast peers just never use it.
        """
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError("family must be AF_INET or AF_INET6")
        if protocol not in (IPPROTO_VRRP, IPPROTO_AH) or (
                protocol == IPPROTO_AH and family != socket.AF_INET):
            raise ValueError("protocol must be VRRP, or AH over IPv4")
        the_group = group or (VRRP_GROUP_V4 if family == socket.AF_INET else VRRP_GROUP_V6)

        source = src if src is not None else default_source(ifname, family, netns=netns)

        def make() -> VrrpSocket:
            ifindex = _sockaddr_in_ifindex(ifname)
            sock = socket.socket(family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
            try:
                cls._configure(sock, family, ifname, ifindex, the_group, join_group)
                if protocol == IPPROTO_AH:
                    sock.setsockopt(socket.IPPROTO_IP, IP_HDRINCL, 1)
            except OSError as exc:
                sock.close()
                raise VrrpSocketError(f"configuring VRRP socket on {ifname}: {exc}") from exc
            return cls(sock, family, ifname, ifindex, source, the_group, protocol)

        return run_in_netns(netns, make)

    @staticmethod
    def _configure(
        sock: socket.socket,
        family: int,
        ifname: str,
        ifindex: int,
        group: IPAddress,
        join_group: bool,
    ) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        # The kernel's receive time with every packet: a backup's down timer runs from when
        # the advert arrived, not from when the loop got round to reading it.
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_TOS, VRRP_TOS)
            sock.setsockopt(socket.IPPROTO_IP, IP_TTL, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            mreqn = group.packed + b"\x00" * 4 + struct.pack("=i", ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            if join_group:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, VRRP_TOS)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            if join_group:
                mreq = group.packed + struct.pack("=I", ifindex)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setblocking(False)

    # --- plumbing ------------------------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def source_address(self) -> IPAddress | None:
        """The address adverts leave from: what the core must use in the v3 pseudo-header."""
        return self.src

    def set_source(self, src: IPAddress | None) -> None:
        """Change the source (the interface's address changed, or config reload)."""
        self.src = src

    def attach_filter(self, program: bytes | None = None) -> None:
        """Install the in-kernel flood filter (:func:`vrrp_filter` by default)."""
        prog = program if program is not None else vrrp_filter(self.family)
        import ctypes

        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(buf))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)

    def detach_filter(self) -> None:
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    # --- sending ---------------------------------------------------------------------------

    def send(self, vrrp_message: bytes, dst: IPAddress | None = None) -> bool:
        """Send one VRRP message to ``dst`` (the group when None); False if the network refused.
        On an AH socket ``vrrp_message`` is the whole datagram, sent as it is."""
        target = dst if dst is not None else self.group
        assert target is not None
        cmsg: list[tuple[int, int, bytes]]
        if self.protocol == IPPROTO_AH:
            cmsg = []
            address: tuple[str, int] | tuple[str, int, int, int] = (str(target), 0)
        elif self.family == socket.AF_INET:
            spec = self.src.packed if isinstance(self.src, IPv4Address) else b"\x00" * 4
            pktinfo = struct.pack("=i4s4s", self.ifindex, spec, b"\x00" * 4)
            cmsg = [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)]
            address = (str(target), 0)
        else:
            source = self.src.packed if isinstance(self.src, IPv6Address) else b"\x00" * 16
            pktinfo = source + struct.pack("=I", self.ifindex)
            cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)]
            scope = self.ifindex if target.is_link_local or target.is_multicast else 0
            address = (str(target), 0, 0, scope)
        try:
            self._sock.sendmsg([vrrp_message], cmsg, 0, address)
        except OSError as exc:
            if exc.errno in TRANSIENT_SEND_ERRORS:
                self.send_errors += 1
                self.last_send_errno = exc.errno or 0
                return False
            raise
        self.sent += 1
        return True

    # --- receiving -------------------------------------------------------------------------

    def recv_batch(self, max_packets: int = 64) -> list[Received]:
        """Everything queued, up to ``max_packets``; never blocks. Malformed input is counted."""
        out: list[Received] = []
        wall = time.time()
        for _ in range(max_packets):
            try:
                data, ancdata, _flags, addr = self._sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in (errno.ENOBUFS, errno.ENETDOWN):
                    continue
                raise
            received = (
                self._parse_v4(data, ancdata, wall)
                if self.family == socket.AF_INET
                else self._parse_v6(data, ancdata, addr, wall)
            )
            if received is None:
                self.dropped_malformed += 1
            else:
                out.append(received)
        return out

    def _parse_v4(self, data: bytes, ancdata: list[tuple[int, int, bytes]],
                  wall: float = 0.0) -> Received | None:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        total = struct.unpack_from("!H", data, 2)[0]
        if ihl < 20 or len(data) < ihl or total > len(data):
            return None
        ifindex = self.ifindex
        age = 0.0
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
                ifindex = struct.unpack_from("=i", value)[0]
            elif kind == SO_TIMESTAMPNS and level == socket.SOL_SOCKET and len(value) >= 16:
                age = _age(value, wall)
        return Received(
            src=IPv4Address(data[12:16]),
            dst=IPv4Address(data[16:20]),
            ttl=data[8],
            payload=data[ihl:total],
            ifindex=ifindex,
            header=data[:ihl] if self.protocol == IPPROTO_AH else b"",
            age=age,
        )

    def _parse_v6(
        self, data: bytes, ancdata: list[tuple[int, int, bytes]], addr: tuple[str, ...],
        wall: float = 0.0,
    ) -> Received | None:
        hop_limit = -1
        dst: IPv6Address | None = None
        ifindex = self.ifindex
        age = 0.0
        for level, kind, value in ancdata:
            if level != socket.IPPROTO_IPV6:
                if kind == SO_TIMESTAMPNS and level == socket.SOL_SOCKET and len(value) >= 16:
                    age = _age(value, wall)
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack_from("=i", value)[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= 20:
                dst = IPv6Address(value[:16])
                ifindex = struct.unpack_from("=I", value, 16)[0]
        if dst is None or hop_limit < 0:
            return None
        src = IPv6Address(addr[0].split("%", 1)[0])
        return Received(src=src, dst=dst, ttl=hop_limit, payload=data, ifindex=ifindex, age=age)
