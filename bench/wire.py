"""What is on the wire, with the kernel's receive timestamps, on the lab's monotonic clock.

:class:`WireTap` is a packet socket on the lab's bridge (``br0`` in the bridge namespace: every
multicast and broadcast frame of the lab passes it) read by a thread. Each VRRP advert (IPv4
protocol 112) and each gratuitous ARP (sender IP = target IP) is kept with the kernel's receive
time (``SO_TIMESTAMPNS``, CLOCK_REALTIME) converted to ``time.monotonic()`` at reception, so it
compares directly with :class:`~tests.netns.lab.AddressWatcher`'s rtnetlink event times. A busy
reader thread delays only when a frame is parsed, never its timestamp.

This gives the failover part its protocol floor: the master's last advert before a crash or a link
down, and the priority-0 advert of a graceful stop; and the VIP part its gratuitous ARPs.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from pykeepalived.net.netns import run_in_netns

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


@dataclass(frozen=True)
class Advert:
    ts: float  # monotonic
    src: str
    vrid: int
    prio: int
    adver_int: float  # seconds, as carried (v2: whole seconds, v3: centiseconds)


@dataclass
class WireTap:
    """Adverts and gratuitous ARPs seen on ``br0`` of ``bridge_ns`` while the tap runs."""

    bridge_ns: str
    ifname: str = "br0"
    adverts: list[Advert] = field(default_factory=list)
    garps: list[tuple[float, str]] = field(default_factory=list)  # (ts, ip)
    _stop: bool = False
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    def start(self) -> WireTap:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.bind((self.ifname, 0))
            return s

        self._sock = run_in_netns(self.bridge_ns, make)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"wiretap:{self.bridge_ns}")
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop:
            try:
                data, anc, _flags, _addr = self._sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            mono = time.monotonic()
            offset = time.time() - mono
            ts = mono
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    ts = sec + nsec / 1e9 - offset
            self._parse(ts, data)

    def _parse(self, ts: float, f: bytes) -> None:
        if len(f) < 14:
            return
        etype = int.from_bytes(f[12:14], "big")
        if etype == 0x0800 and len(f) >= 34 and f[23] == 112:
            ihl = (f[14] & 0x0F) * 4
            v = f[14 + ihl:]
            if len(v) < 8:
                return
            version = v[0] >> 4
            adv = v[5] if version == 2 else (int.from_bytes(v[4:6], "big") & 0x0FFF) / 100
            self.adverts.append(Advert(ts, str(IPv4Address(f[26:30])), v[1], v[2], adv))
        elif etype == 0x0806 and len(f) >= 42:
            spa, tpa = f[28:32], f[38:42]
            if spa == tpa:
                self.garps.append((ts, str(IPv4Address(spa))))

    def stop(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()

    def __enter__(self) -> WireTap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries

    def settle(self, delay: float = 0.05) -> None:
        """Let frames already received be parsed (the reader is a thread)."""
        time.sleep(delay)

    def from_src(self, src: str, vrid: int, start: float = 0.0,
                 end: float = float("inf")) -> list[Advert]:
        return [a for a in list(self.adverts)
                if a.src == src and a.vrid == vrid and start <= a.ts <= end]

    def last_advert(self, src: str, vrid: int, before: float) -> Advert | None:
        """The last advert with a non-zero priority from ``src`` at or before ``before``."""
        got = [a for a in self.from_src(src, vrid, end=before) if a.prio > 0]
        return got[-1] if got else None

    def first_p0(self, src: str, vrid: int, after: float) -> Advert | None:
        got = [a for a in self.from_src(src, vrid, start=after) if a.prio == 0]
        return got[0] if got else None

    def first_garp(self, ips: set[str], after: float) -> dict[str, float]:
        """For each of ``ips``, the time of its first gratuitous ARP at or after ``after``."""
        out: dict[str, float] = {}
        for ts, ip in list(self.garps):
            if ts >= after and ip in ips and ip not in out:
                out[ip] = ts
        return out

    def clear(self, before: float) -> None:
        """Forget what was seen before ``before`` (long runs)."""
        self.adverts = [a for a in list(self.adverts) if a.ts >= before]
        self.garps = [g for g in list(self.garps) if g[0] >= before]


class AddrTap:
    """rtnetlink address events of one namespace, timestamped when each datagram is read.

    Netlink has no kernel receive timestamps, so a thread does nothing but read and stamp
    (parsing waits for :meth:`first_added`): a burst of 1,000 address events is stamped within
    a few ms, where a watcher that parses as it reads falls behind by tens of ms."""

    def __init__(self, ns: str) -> None:
        from pykeepalived.net.rtnl_events import ADDRESS_GROUPS, open_event_socket
        self._raw: list[tuple[float, bytes]] = []
        self._stop = False
        self._sock = open_event_socket(ADDRESS_GROUPS, netns=ns, blocking=True)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"addrtap:{ns}")
        self._thread.start()

    def _run(self) -> None:
        raw, recv, now = self._raw, self._sock.recv, time.monotonic
        while not self._stop:
            try:
                data = recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            raw.append((now(), data))

    def first_added(self, after: float) -> dict[str, float]:
        """address -> time of its first add event at or after ``after``."""
        from pykeepalived.net.rtnl_events import AddressEvent, parse_rtnl_events
        out: dict[str, float] = {}
        for ts, data in list(self._raw):
            if ts < after:
                continue
            for ev in parse_rtnl_events(data):
                if isinstance(ev, AddressEvent) and ev.added:
                    out.setdefault(str(ev.interface.ip), ts)
        return out

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self._sock.close()
