"""The systemd sd_notify protocol, for `Type=notify` units.

State strings (`READY=1`, `STOPPING=1`, `RELOADING=1`, `STATUS=...`, `WATCHDOG=1`) are sent as
one datagram to the Unix socket named by $NOTIFY_SOCKET: a path, or a Linux abstract socket
when it starts with '@'. Without $NOTIFY_SOCKET (not started by systemd) every call is a
no-op. Sending never blocks and never raises: a missing service manager must not take the
daemon down.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the supervising parent imports this module and must not load asyncio
    import asyncio


class SystemdNotifier:
    """Sends sd_notify messages; construct once at start-up (it reads $NOTIFY_SOCKET)."""

    def __init__(self, address: str | None = None) -> None:
        if address is None:
            address = os.environ.get("NOTIFY_SOCKET") or None
        self.address = address
        self.failures = 0
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *assignments: str) -> bool:
        """Send `KEY=value` lines as one message; False if not sent (or not under systemd)."""
        if self._sock is None or self.address is None:
            return False
        target = self.address
        if target.startswith("@"):
            target = "\0" + target[1:]
        try:
            self._sock.sendto("\n".join(assignments).encode(), target)
        except OSError:
            self.failures += 1
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        parts = ["READY=1", f"MAINPID={os.getpid()}"]
        if status is not None:
            parts.append(f"STATUS={status}")
        return self.send(*parts)

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        # systemd >= 253 wants the monotonic time with RELOADING=1 (Type=notify-reload);
        # older versions ignore the extra field.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def start_watchdog(self, loop: asyncio.AbstractEventLoop, interval: float | None) -> None:
        """WatchdogSec=: ping from the event loop itself (a timer, not a thread), so a blocked
        or hung loop stops pinging and systemd restarts the daemon."""
        if interval is None:
            return

        def ping() -> None:
            self.watchdog()
            loop.call_later(interval, ping)

        ping()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Half of $WATCHDOG_USEC in seconds when the watchdog is meant for us, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
