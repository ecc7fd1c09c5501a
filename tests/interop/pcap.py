"""Just enough of a pcap reader to pull VRRP adverts, byte for byte, out of a capture.

dumpcap writes classic pcap (``-P``) with Ethernet frames; tshark is used beside it to confirm
that Wireshark decodes the same frames as valid VRRP, but the comparison itself is on raw bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
PROTO_VRRP = 112


@dataclass(frozen=True)
class VrrpFrame:
    """One captured VRRP advert: link and IP fields, and the VRRP message itself."""

    eth_dst: bytes
    eth_src: bytes
    family: int
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    tos: int  # IPv4 TOS byte, or the IPv6 traffic class
    ttl: int  # IPv4 TTL, or the IPv6 hop limit
    df: bool  # IPv4 Don't Fragment (always False for IPv6: no fragmentation by routers)
    flow_label: int
    vrrp: bytes

    @property
    def priority(self) -> int:
        return self.vrrp[2]

    def without_checksum(self) -> bytes:
        return self.vrrp[:6] + self.vrrp[8:]


def read_frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8 : off + 12])[0]
        frames.append(data[off + 16 : off + 16 + caplen])
        off += 16 + caplen
    return frames


def vrrp_frames(path: Path) -> list[VrrpFrame]:
    out = []
    for f in read_frames(path):
        if len(f) < 14:
            continue
        ethertype = struct.unpack("!H", f[12:14])[0]
        ip = f[14:]
        if ethertype == ETH_IPV4 and len(ip) >= 20 and ip[9] == PROTO_VRRP:
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            flags = struct.unpack("!H", ip[6:8])[0]
            out.append(VrrpFrame(f[:6], f[6:12], 4, ip_address(ip[12:16]), ip_address(ip[16:20]),
                                 ip[1], ip[8], bool(flags & 0x4000), 0, ip[ihl:total]))
        elif ethertype == ETH_IPV6 and len(ip) >= 40 and ip[6] == PROTO_VRRP:
            word = struct.unpack("!I", ip[:4])[0]
            plen = struct.unpack("!H", ip[4:6])[0]
            out.append(VrrpFrame(f[:6], f[6:12], 6, ip_address(ip[8:24]), ip_address(ip[24:40]),
                                 (word >> 20) & 0xFF, ip[7], False, word & 0xFFFFF,
                                 ip[40 : 40 + plen]))
    return out
