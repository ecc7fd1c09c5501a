"""AF_PACKET sockets: send whole Ethernet frames, and listen for ARP and neighbour adverts.

Gratuitous ARPs and unsolicited neighbour advertisements are built by
:mod:`pykeepalived.core.frames` and sent here byte for byte, bypassing the IP stack (and so any
nftables filter on the VIPs). :class:`NeighborListener` receives ARP and ICMPv6 neighbour
advertisements on one interface for the split-brain detector: the socket is opened for
ETH_P_ALL and narrowed with a classic BPF filter so the kernel only queues the frames of
interest. Both are non-blocking and meant for ``loop.add_reader``.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
from dataclasses import dataclass

from pykeepalived.core.frames import ArpFrame, NeighborAdvert, parse_arp, parse_neighbor_advert
from pykeepalived.errors import HostError
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.vrrp_socket import SO_ATTACH_FILTER, TRANSIENT_SEND_ERRORS

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23


class PacketSocketError(HostError):
    """Opening the packet socket failed (no such interface, no CAP_NET_RAW)."""


def _arp_or_na_filter() -> bytes:
    """BPF: ethertype ARP, or IPv6 with next header ICMPv6 (58) and type 136 (NA)."""
    ld_h, ld_b, jeq, ret = 0x28, 0x30, 0x15, 0x06
    # Jump offsets count from the next instruction: 7 is drop, 8 is accept.
    prog = [
        (ld_h, 0, 0, 12),  # 0: ethertype
        (jeq, 6, 0, ETH_P_ARP),  # 1: ARP -> 8
        (jeq, 0, 4, 0x86DD),  # 2: not IPv6 -> 7
        (ld_b, 0, 0, 14 + 6),  # 3: IPv6 next header
        (jeq, 0, 2, 58),  # 4: not ICMPv6 -> 7
        (ld_b, 0, 0, 14 + 40),  # 5: ICMPv6 type
        (jeq, 1, 0, 136),  # 6: neighbour advertisement -> 8
        (ret, 0, 0, 0),  # 7: drop
        (ret, 0, 0, 0xFFFF),  # 8: accept
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


class PacketSocket:
    """Sends raw Ethernet frames out of one interface."""

    def __init__(self, sock: socket.socket, ifname: str, ifindex: int) -> None:
        self._sock = sock
        self.ifname = ifname
        self.ifindex = ifindex
        self.sent = 0
        self.send_errors = 0

    @classmethod
    def open(cls, ifname: str, *, protocol: int = 0, netns: str | None = None) -> PacketSocket:
        """A send-only socket (protocol 0 receives nothing) bound to ``ifname``."""

        def make() -> PacketSocket:
            try:
                ifindex = socket.if_nametoindex(ifname)
                sock = socket.socket(
                    socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.htons(protocol)
                )
            except OSError as exc:
                raise PacketSocketError(f"packet socket on {ifname}: {exc}") from exc
            sock.bind((ifname, protocol))
            sock.setblocking(False)
            return cls(sock, ifname, ifindex)

        return run_in_netns(netns, make)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_frame(self, frame: bytes) -> bool:
        """Send one complete Ethernet frame; False when the link refused it (down, no buffers)."""
        try:
            self._sock.send(frame)
        except OSError as exc:
            if exc.errno in TRANSIENT_SEND_ERRORS:
                self.send_errors += 1
                return False
            raise
        self.sent += 1
        return True


@dataclass(frozen=True, slots=True)
class HeardFrame:
    frame: ArpFrame | NeighborAdvert
    ifindex: int


class NeighborListener:
    """Receives ARP packets and neighbour advertisements arriving on one interface."""

    def __init__(self, sock: socket.socket, ifname: str, ifindex: int) -> None:
        self._sock = sock
        self.ifname = ifname
        self.ifindex = ifindex
        self.ignored = 0

    @classmethod
    def open(cls, ifname: str, *, netns: str | None = None) -> NeighborListener:
        def make() -> NeighborListener:
            try:
                ifindex = socket.if_nametoindex(ifname)
                sock = socket.socket(
                    socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.htons(ETH_P_ALL)
                )
            except OSError as exc:
                raise PacketSocketError(f"listener on {ifname}: {exc}") from exc
            try:
                prog = _arp_or_na_filter()
                buf = ctypes.create_string_buffer(prog)
                fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(buf))
                # Filter before bind so no unfiltered frame is queued in between.
                sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
                # Our own probes are not answers.
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                sock.bind((ifname, ETH_P_ALL))
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                raise PacketSocketError(f"listener on {ifname}: {exc}") from exc
            return cls(sock, ifname, ifindex)

        return run_in_netns(netns, make)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> NeighborListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recv_batch(self, max_frames: int = 64) -> list[HeardFrame]:
        """Parsed ARP / NA frames queued so far (never blocks); anything else is counted."""
        out: list[HeardFrame] = []
        for _ in range(max_frames):
            try:
                data, addr = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == errno.ENETDOWN:
                    break
                raise
            if len(addr) >= 3 and addr[2] == PACKET_OUTGOING:
                continue
            parsed: ArpFrame | NeighborAdvert | None = parse_arp(data)
            if parsed is None:
                parsed = parse_neighbor_advert(data)
            if parsed is None:
                self.ignored += 1
                continue
            out.append(HeardFrame(parsed, self.ifindex))
        return out
