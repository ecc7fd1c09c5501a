"""Link and address notifications from the kernel, pushed into the daemon's event loop.

A NETLINK_ROUTE socket of our own, bound to the link and address multicast groups and watched
with ``loop.add_reader``: it never blocks, and each datagram is decoded with :mod:`struct`
(:class:`pykeepalived.net.rtnl.LinkMessage`, :func:`pykeepalived.net.netlink.decode_address`).
Requests (and re-reading state after an overrun) go through
:class:`pykeepalived.net.netlink.Netlink`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pykeepalived.net.netlink import IPInterface, decode_address
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.nlwire import (
    IFF_LOWER_UP,
    IFF_UP,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    split_messages,
)
from pykeepalived.net.rtnl import LinkMessage

#: Multicast groups to pass to :func:`open_event_socket`.
LINK_GROUPS = RTMGRP_LINK
ADDRESS_GROUPS = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR


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


def parse_rtnl_events(data: bytes) -> Iterator[LinkEvent | AddressEvent]:
    """Decode link and address notifications from one netlink datagram; skip anything else."""
    for msg_type, _seq, chunk in split_messages(data):
        try:
            if msg_type in (RTM_NEWLINK, RTM_DELLINK):
                link = LinkMessage(chunk)
                flags = link.flags
                admin = bool(flags & IFF_UP)
                yield LinkEvent(
                    ifname=link.ifname or "",
                    ifindex=link.index,
                    up=admin and bool(flags & IFF_LOWER_UP) and msg_type == RTM_NEWLINK,
                    admin_up=admin,
                    deleted=msg_type == RTM_DELLINK,
                )
            elif msg_type in (RTM_NEWADDR, RTM_DELADDR):
                info = decode_address(chunk)
                yield AddressEvent(
                    ifindex=info.ifindex,
                    interface=info.interface,
                    added=msg_type == RTM_NEWADDR,
                    label=info.label,
                )
        except Exception:
            continue


def open_event_socket(
    groups: int = LINK_GROUPS | ADDRESS_GROUPS,
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


SO_ATTACH_FILTER = 26


def _no_newaddr_filter() -> tuple[bytes, object]:
    """A classic BPF program (as the sock_fprog setsockopt wants it) passing every
    notification but RTM_NEWADDR. The kernel sends one notification per datagram; nlmsg_type
    is in host byte order at offset 4, so its low byte is where the host keeps it."""
    import ctypes

    low = 4 if sys.byteorder == "little" else 5
    ld_b_abs, jeq_k, ret_k = 0x30, 0x15, 0x06
    prog = b"".join(struct.pack("=HBBI", *insn) for insn in (
        (ld_b_abs, 0, 0, low),
        (jeq_k, 0, 1, RTM_NEWADDR),  # RTM_NEWADDR (20) < 256: the high byte is 0
        (ret_k, 0, 0, 0),
        (ret_k, 0, 0, 0xFFFF),
    ))
    buf = ctypes.create_string_buffer(prog)  # alive until attached: the caller holds it
    return struct.pack("HL", len(prog) // 8, ctypes.addressof(buf)), buf


class LinkMonitor:
    """Pushes link up/down and address add/remove notifications into an asyncio loop.

    ``on_overrun`` is called when the kernel dropped notifications (ENOBUFS): the caller should
    re-read the state it cares about with :class:`~pykeepalived.net.netlink.Netlink`.
    """

    def __init__(
        self,
        on_link: Callable[[str, int, bool], None] | None = None,
        on_address: Callable[[AddressEvent], None] | None = None,
        *,
        on_overrun: Callable[[], None] | None = None,
        netns: str | None = None,
        removals_only: bool = False,
    ) -> None:
        """``removals_only``: of the address notifications only RTM_DELADDR are wanted; the
        others (a MASTER renewing its VIPs' lifetimes adds one per VIP per renewal) are
        dropped in the kernel by a socket filter and never wake the loop."""
        self.on_link = on_link
        self.on_address = on_address
        self.removals_only = removals_only
        self.on_overrun = on_overrun
        self.netns = netns
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_up: dict[int, bool] = {}

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        # Address events only when asked for: a master renewing hundreds of VIPs would
        # otherwise wake us with a notification per renewal.
        groups = LINK_GROUPS
        if self.on_address is not None:
            groups |= ADDRESS_GROUPS
        self._sock = open_event_socket(groups, netns=self.netns)
        if self.removals_only and self.on_address is not None:
            fprog, program = _no_newaddr_filter()
            self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            del program  # the kernel has its own copy now
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
