"""Crash-safe VIPs: batched, unacknowledged renewal of address lifetimes.

A VIP is added with a short lifetime (see :mod:`pykeepalived.net.netlink`) so that it vanishes
on its own if the daemon dies. While the daemon lives, it keeps the lifetime topped up with
prebuilt RTM_NEWADDR (create-or-replace) messages, sent in batches on a raw netlink socket of
their own without waiting for answers. The messages are packed with :mod:`struct`
(:func:`pykeepalived.net.nlwire.ifaddr_body`; the bytes are those pyroute2's encoder makes, a
unit test holds them to it): packing is a few microseconds, pyroute2's encoder took a fraction
of a millisecond, and the first renewal round for hundreds of VIPs runs on the event loop.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import IPv4Address

from pykeepalived.net.netlink import IPAddress, IPInterface, scope_number
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.nlwire import (
    NLM_F_CREATE,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    RTM_NEWADDR,
    error_answers,
    ifaddr_body,
    lifetime_seconds,
    message,
)


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
    body = ifaddr_body(ifindex, interface, peer=peer, brd=brd, scope=scope_number(scope) or 0,
                       label=label, cacheinfo=lifetime_seconds(lifetime), nodad=nodad)
    return message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_REPLACE | NLM_F_CREATE, seq, body)


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
            for seq, code in error_answers(data):
                if code:
                    failures.append((code, seq))
                    self.errors[code] = self.errors.get(code, 0) + 1

    def close(self) -> None:
        self._sock.close()
