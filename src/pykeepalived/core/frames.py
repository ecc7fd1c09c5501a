"""Ethernet frames for address announcement and split-brain probing, built and parsed as bytes.

A new MASTER tells the segment where its virtual addresses now live: gratuitous ARP for IPv4
(RFC 5227 2.4, an ARP *request* whose sender and target protocol addresses are both the VIP) and
unsolicited neighbour advertisements for IPv6 (RFC 4861 7.2.6). The builders here produce frames
byte-identical to what keepalived 2.2.7 puts on the wire (see ``tests/vectors``), so they can be
handed straight to an AF_PACKET socket.

The probes (an RFC 5227 ARP probe and an RFC 4861 neighbour solicitation from the unspecified
address) ask "who owns this address?" without teaching any neighbour cache a new mapping, which
is what a split-brain detector needs. The parsers read the replies; received bytes are remote
input, so they return ``None`` for anything that does not match instead of raising.

Pure code: no sockets, no clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.core.packet import checksum
from pykeepalived.errors import EncodeError

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

ARP_REQUEST = 1
ARP_REPLY = 2

ICMPV6_NEIGHBOR_SOLICIT = 135
ICMPV6_NEIGHBOR_ADVERT = 136
IPPROTO_ICMPV6 = 58

# RFC 4861 4.6.1 option types.
_ND_OPT_SOURCE_LL = 1
_ND_OPT_TARGET_LL = 2

# RFC 4861 4.4 flag bits in the first byte after the checksum.
_NA_ROUTER = 0x80
_NA_SOLICITED = 0x40
_NA_OVERRIDE = 0x20

ALL_NODES = IPv6Address("ff02::1")
UNSPECIFIED_V6 = IPv6Address("::")

_ETH_HDR = struct.Struct("!6s6sH")
_ARP_IPV4 = struct.Struct("!HHBBH6s4s6s4s")
_IPV6_HDR = struct.Struct("!IHBB16s16s")


@dataclass(frozen=True, slots=True)
class ArpFrame:
    """An Ethernet/IPv4 ARP packet as received."""

    eth_src: bytes
    eth_dst: bytes
    op: int
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address


@dataclass(frozen=True, slots=True)
class NeighborAdvert:
    """An ICMPv6 neighbour advertisement (RFC 4861 4.4) as received."""

    eth_src: bytes
    eth_dst: bytes
    src: IPv6Address
    dst: IPv6Address
    hop_limit: int
    router: bool
    solicited: bool
    override: bool
    target: IPv6Address
    target_mac: bytes | None


def mac_to_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ipv6_pseudo_header(src: IPv6Address, dst: IPv6Address, length: int, next_header: int) -> bytes:
    """RFC 8200 8.1 pseudo-header for upper-layer checksums."""
    return src.packed + dst.packed + struct.pack("!I3xB", length, next_header)


def solicited_node_multicast(addr: IPv6Address) -> IPv6Address:
    """RFC 4291 2.7.1: ff02::1:ffXX:XXXX from the low 24 bits of the address."""
    return IPv6Address(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + addr.packed[13:])


def ipv6_multicast_mac(group: IPv6Address) -> bytes:
    """RFC 2464 7: 33:33 followed by the low 32 bits of the group."""
    return b"\x33\x33" + group.packed[12:]


def _check_mac(mac: bytes) -> None:
    if len(mac) != 6:
        raise EncodeError(f"MAC address must be 6 bytes, got {len(mac)}")


def _arp_frame(
    eth_dst: bytes,
    mac: bytes,
    op: int,
    sender_ip: IPv4Address,
    target_mac: bytes,
    target_ip: IPv4Address,
) -> bytes:
    _check_mac(mac)
    return _ETH_HDR.pack(eth_dst, mac, ETH_P_ARP) + _ARP_IPV4.pack(
        1, 0x0800, 6, 4, op, mac, sender_ip.packed, target_mac, target_ip.packed
    )


def build_gratuitous_arp(mac: bytes, ip: IPv4Address) -> bytes:
    """The announcement keepalived sends for each IPv4 VIP on becoming MASTER.

    An ARP request (not reply) with sender = target = VIP and the broadcast address as target
    hardware address, as in ``tests/vectors/garp_n1_vip.hex``.
    """
    return _arp_frame(BROADCAST_MAC, mac, ARP_REQUEST, ip, BROADCAST_MAC, ip)


def build_arp_probe(mac: bytes, target: IPv4Address) -> bytes:
    """RFC 5227 2.1.1 probe: who has ``target``? Sender IP 0.0.0.0 so no cache learns from it."""
    return _arp_frame(BROADCAST_MAC, mac, ARP_REQUEST, IPv4Address(0), ZERO_MAC, target)


def _icmpv6_frame(
    eth_dst: bytes, mac: bytes, src: IPv6Address, dst: IPv6Address, icmp_no_checksum: bytes
) -> bytes:
    """Wrap an ICMPv6 message (checksum field zero) in IPv6 (hop limit 255) and Ethernet."""
    _check_mac(mac)
    length = len(icmp_no_checksum)
    csum = checksum(ipv6_pseudo_header(src, dst, length, IPPROTO_ICMPV6) + icmp_no_checksum)
    icmp = icmp_no_checksum[:2] + struct.pack("!H", csum) + icmp_no_checksum[4:]
    # RFC 4861 7.1: ND messages carry hop limit 255 so receivers can tell they were not routed.
    ip6 = _IPV6_HDR.pack(6 << 28, length, IPPROTO_ICMPV6, 255, src.packed, dst.packed)
    return _ETH_HDR.pack(eth_dst, mac, ETH_P_IPV6) + ip6 + icmp


def build_unsolicited_na(mac: bytes, src: IPv6Address, target: IPv6Address) -> bytes:
    """RFC 4861 7.2.6 unsolicited neighbour advertisement, as keepalived sends for IPv6 VIPs.

    keepalived sends it from the VIP itself (``src`` = ``target`` in the vector) to all-nodes
    ff02::1, with only the override flag set and a target link-layer address option.
    """
    icmp = struct.pack("!BBHI", ICMPV6_NEIGHBOR_ADVERT, 0, 0, _NA_OVERRIDE << 24)
    icmp += target.packed + struct.pack("!BB", _ND_OPT_TARGET_LL, 1) + mac
    return _icmpv6_frame(ipv6_multicast_mac(ALL_NODES), mac, src, ALL_NODES, icmp)


def build_neighbor_solicitation(
    mac: bytes, target: IPv6Address, src: IPv6Address | None = None
) -> bytes:
    """Neighbour solicitation for ``target`` sent to its solicited-node multicast group.

    With ``src`` None the source is the unspecified address (the RFC 4862 5.4.2 DAD form), which
    updates no neighbour cache; RFC 4861 4.3 then forbids the source link-layer option.
    """
    source = UNSPECIFIED_V6 if src is None else src
    group = solicited_node_multicast(target)
    icmp = struct.pack("!BBHI", ICMPV6_NEIGHBOR_SOLICIT, 0, 0, 0) + target.packed
    if src is not None:
        icmp += struct.pack("!BB", _ND_OPT_SOURCE_LL, 1) + mac
    return _icmpv6_frame(ipv6_multicast_mac(group), mac, source, group, icmp)


def parse_arp(frame: bytes) -> ArpFrame | None:
    """Decode an Ethernet/IPv4 ARP frame; ``None`` for anything else (never raises)."""
    if len(frame) < _ETH_HDR.size + _ARP_IPV4.size:
        return None
    eth_dst, eth_src, ethertype = _ETH_HDR.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP_IPV4.unpack_from(frame, _ETH_HDR.size)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) or op not in (ARP_REQUEST, ARP_REPLY):
        return None
    return ArpFrame(
        eth_src=eth_src,
        eth_dst=eth_dst,
        op=op,
        sender_mac=sha,
        sender_ip=IPv4Address(spa),
        target_mac=tha,
        target_ip=IPv4Address(tpa),
    )


def parse_neighbor_advert(frame: bytes) -> NeighborAdvert | None:
    """Decode an Ethernet/IPv6 neighbour advertisement; ``None`` for anything else.

    Only the plain form is accepted (ICMPv6 directly after the IPv6 header, as RFC 4861 senders
    do); a bad checksum, a short message or a code other than 0 yields ``None`` (RFC 4861 7.1.2).
    """
    base = _ETH_HDR.size
    if len(frame) < base + _IPV6_HDR.size + 24:
        return None
    eth_dst, eth_src, ethertype = _ETH_HDR.unpack_from(frame)
    if ethertype != ETH_P_IPV6:
        return None
    vtf, length, next_header, hop_limit, src_b, dst_b = _IPV6_HDR.unpack_from(frame, base)
    if vtf >> 28 != 6 or next_header != IPPROTO_ICMPV6:
        return None
    start = base + _IPV6_HDR.size
    icmp = frame[start : start + length]
    if len(icmp) != length or length < 24 or length % 8:
        return None
    icmp_type, code = icmp[0], icmp[1]
    if icmp_type != ICMPV6_NEIGHBOR_ADVERT or code != 0:
        return None
    src, dst = IPv6Address(src_b), IPv6Address(dst_b)
    if checksum(ipv6_pseudo_header(src, dst, length, IPPROTO_ICMPV6) + icmp) != 0:
        return None
    flags = icmp[4]
    target_mac: bytes | None = None
    offset = 24
    while offset + 2 <= length:
        opt_type, opt_len = icmp[offset], icmp[offset + 1]
        if opt_len == 0:
            return None  # RFC 4861 4.6: a zero-length option is invalid; drop the packet.
        if offset + opt_len * 8 > length:
            return None
        if opt_type == _ND_OPT_TARGET_LL and opt_len == 1:
            target_mac = icmp[offset + 2 : offset + 8]
        offset += opt_len * 8
    return NeighborAdvert(
        eth_src=eth_src,
        eth_dst=eth_dst,
        src=src,
        dst=dst,
        hop_limit=hop_limit,
        router=bool(flags & _NA_ROUTER),
        solicited=bool(flags & _NA_SOLICITED),
        override=bool(flags & _NA_OVERRIDE),
        target=IPv6Address(icmp[8:24]),
        target_mac=target_mac,
    )
