"""A throwaway Ethernet segment of network namespaces for real-kernel tests.

Layout: one namespace holds the bridge ``br0`` (STP off, forward delay 0, multicast snooping
off), and each node is a namespace whose ``eth0`` is a veth into that bridge. Nothing is
created in the root namespace. Every name starts with a per-run prefix ``pk<pid>x<random>``
so parallel runs never collide, and :func:`sweep_leftovers` removes namespaces whose creating
process is gone (an aborted run). Only documentation addresses are used.

Processes started through a node are remembered and ended by PID on close.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_interface
from pathlib import Path
from typing import Any

from pykeepalived.core.packet import checksum
from pykeepalived.net import nft
from pykeepalived.net.netlink import Netlink
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.packet_socket import PacketSocket
from pykeepalived.net.rtnl_events import (
    ADDRESS_GROUPS,
    AddressEvent,
    open_event_socket,
    parse_rtnl_events,
)

MARKER_ETHERTYPE = 0x88B5  # IEEE local experimental: never confused with real traffic
PREFIX_RE = re.compile(r"^pk(\d+)x[0-9a-f]{4}-")
NETNS_DIR = Path("/run/netns")


def _run(argv: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _ns_pids(ns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split()]


def _delete_ns(ns: str) -> None:
    for pid in _ns_pids(ns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _run(["ip", "netns", "del", ns], check=False)


def netns_unavailable() -> str | None:
    """Why real-kernel lab tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network-namespace tests need root"
    if shutil.which("ip") is None:
        return "iproute2 'ip' not installed"
    return None


def sweep_leftovers() -> list[str]:
    """Delete namespaces of this naming scheme whose creating process no longer exists."""
    removed: list[str] = []
    if not NETNS_DIR.is_dir():
        return removed
    for entry in NETNS_DIR.iterdir():
        match = PREFIX_RE.match(entry.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _delete_ns(entry.name)
            removed.append(entry.name)
    return removed


def eui64_link_local(mac: str) -> IPv6Address:
    b = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    return IPv6Address(b"\xfe\x80" + b"\x00" * 6 + iid)


def icmp_echo(ns: str, target: str, timeout: float) -> bool:
    """Send one echo request from namespace ``ns`` and wait for the matching reply."""
    dst = ip_address(target)
    v6 = dst.version == 6

    def make() -> socket.socket:
        if v6:
            return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

    sock = run_in_netns(ns, make)
    ident = secrets.randbits(16)
    with sock:
        body = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, 1) + b"pykeepalived"
        if not v6:  # the kernel fills the ICMPv6 checksum, not the ICMPv4 one
            body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        sock.sendto(body, (str(dst), 0))
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return False
            data, addr = sock.recvfrom(2048)
            icmp = data if v6 else data[(data[0] & 0x0F) * 4 :]
            if ip_address(addr[0]) != dst or len(icmp) < 8:
                continue
            if icmp[0] == (129 if v6 else 0) and struct.unpack("!H", icmp[4:6])[0] == ident:
                return True
    return False


@dataclass
class Node:
    lab: Lab
    name: str
    ns: str
    port: str  # the veth end on the bridge
    ipv4: IPv4Interface | None
    ipv6: IPv6Interface | None
    mac: str

    @property
    def nspath(self) -> str:
        return str(NETNS_DIR / self.ns)

    @property
    def link_local(self) -> IPv6Address:
        return eui64_link_local(self.mac)

    @property
    def mac_bytes(self) -> bytes:
        return bytes(int(x, 16) for x in self.mac.split(":"))

    def exec(self, argv: Sequence[str], *, check: bool = False,
             timeout: float = 30) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv], capture_output=True, text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{argv} in {self.ns} failed: {proc.stderr.strip()}")
        return proc

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)
        self.lab.processes.append(proc)
        return proc

    def netlink(self) -> Netlink:
        return Netlink(self.ns)

    def addresses(self, ifname: str = "eth0") -> list[IPv4Interface | IPv6Interface]:
        with Netlink(self.ns) as nl:
            return [a.interface for a in nl.addresses(nl.ifindex(ifname))]

    def ping(self, target: str, *, count: int = 1, wait: float = 1.0) -> bool:
        """ICMP echo from this node (no ping binary on the machine): True on any reply."""
        return any(icmp_echo(self.ns, target, wait) for _ in range(count))

    def watch_addresses(self) -> AddressWatcher:
        watcher = AddressWatcher(self.ns)
        self.lab.watchers.append(watcher)
        return watcher


@dataclass
class Capture:
    """dumpcap on br0 into a pcap; decode afterwards with tshark."""

    lab: Lab
    bpf: str
    path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 5.0) -> Capture:
        bpf = f"({self.bpf}) or ether proto {MARKER_ETHERTYPE:#x}" if self.bpf else ""
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.bridge_ns, "dumpcap", "-q", "-i", "br0", "-P",
             "-w", str(self.path), *(["-f", bpf] if bpf else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.lab.processes.append(self.proc)
        # The pcap header appears before the capture is live, so inject marker frames on the
        # bridge until one lands in the file: from then on nothing sent is missed.
        if not self._push_markers(64, timeout):
            raise RuntimeError("dumpcap did not start")
        return self

    def _push_markers(self, size_above: int, timeout: float) -> bool:
        """Send marker frames until the file exceeds ``size_above`` bytes.

        libpcap hands packets over in blocks (TPACKET_V3), so a packet is only on disk once a
        later block has been written; markers force that at start and again before stopping.
        """
        assert self.proc is not None
        marker = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\xfe" + MARKER_ETHERTYPE.to_bytes(2, "big")
        marker += b"pykeepalived-capture-marker".ljust(46, b"\x00")
        with PacketSocket.open("br0", netns=self.lab.bridge_ns) as tx:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"dumpcap exited: {err}")
                tx.send_frame(marker)
                time.sleep(0.03)
                if self.path.exists() and self.path.stat().st_size > size_above:
                    return True
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self._push_markers(self.path.stat().st_size, 5.0)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fields(self, fields: Sequence[str], display_filter: str = "") -> list[dict[str, str]]:
        argv = ["tshark", "-n", "-r", str(self.path), "-T", "fields", "-E", "separator=\t"]
        not_marker = f"eth.type != {MARKER_ETHERTYPE:#x}"
        argv += ["-Y", f"({display_filter}) && {not_marker}" if display_filter else not_marker]
        for f in fields:
            argv += ["-e", f]
        out = _run(argv)
        return [dict(zip(fields, line.split("\t"), strict=False))
                for line in out.splitlines() if line.strip()]


class AddressWatcher:
    """Timestamps address add/remove notifications inside one namespace (pushed, no polling)."""

    def __init__(self, ns: str) -> None:
        self.events: list[tuple[float, AddressEvent]] = []
        self._cond = threading.Condition()
        self._stop = False
        self._sock = open_event_socket(ADDRESS_GROUPS, netns=ns, blocking=True)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"addrwatch:{ns}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                if self._stop:
                    return
                continue
            now = time.monotonic()
            with self._cond:
                for event in parse_rtnl_events(data):
                    if isinstance(event, AddressEvent):
                        self.events.append((now, event))
                self._cond.notify_all()

    def wait_for(self, address: str, *, added: bool = True, timeout: float = 5.0,
                 after: float = 0.0) -> float | None:
        """Monotonic time of the first matching event at or after ``after``, or None."""
        ip = ip_interface(address).ip
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ts, ev in self.events:
                    if ts >= after and ev.added == added and ev.interface.ip == ip:
                        return ts
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self._sock.close()


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: f"pk{os.getpid()}x{secrets.token_hex(2)}")
    nodes: dict[str, Node] = field(default_factory=dict)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    watchers: list[AddressWatcher] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    tmpdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pklab-")))
    _namespaces: list[str] = field(default_factory=list)

    @property
    def bridge_ns(self) -> str:
        return f"{self.prefix}-br"

    def start(self) -> Lab:
        self._add_ns(self.bridge_ns)
        _run(["ip", "-n", self.bridge_ns, "-batch", "-"], input="\n".join([
            "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            "link set lo up",
            "link set br0 up",
        ]) + "\n")
        # Keep the bridge itself silent on IPv6 so captures hold only what nodes send.
        self._sysctl(self.bridge_ns, "net.ipv6.conf.all.disable_ipv6=1")
        return self

    def _add_ns(self, ns: str) -> None:
        _run(["ip", "netns", "add", ns])
        self._namespaces.append(ns)

    @staticmethod
    def _sysctl(ns: str, *settings: str) -> None:
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])

    def add_node(self, name: str, ipv4: str | None = None, ipv6: str | None = None,
                 mac: str | None = None) -> Node:
        n = len(self.nodes) + 1
        ipv4 = ipv4 if ipv4 is not None else f"192.0.2.{n}/24"
        ipv6 = ipv6 if ipv6 is not None else f"2001:db8::{n}/64"
        mac = mac or f"02:00:00:00:00:{n:02x}"
        ns = f"{self.prefix}-{name}"
        port = f"v{name}"[:15]
        self._add_ns(ns)
        # DAD off: link-local and global addresses are usable at once (VRRPv3 sources).
        self._sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        _run(["ip", "-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name",
              "eth0", "netns", ns])
        _run(["ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0", "up"])
        cmds = ["link set lo up", f"link set eth0 address {mac}"]
        if ipv4:
            cmds.append(f"addr add {ipv4} dev eth0")
        if ipv6:
            cmds.append(f"addr add {ipv6} dev eth0 nodad")
        cmds.append("link set eth0 up")
        _run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n")
        node = Node(self, name, ns, port, IPv4Interface(ipv4) if ipv4 else None,
                    IPv6Interface(ipv6) if ipv6 else None, mac)
        self.nodes[name] = node
        return node

    def link_down(self, node: Node) -> None:
        _run(["ip", "-n", self.bridge_ns, "link", "set", node.port, "down"])

    def link_up(self, node: Node) -> None:
        _run(["ip", "-n", self.bridge_ns, "link", "set", node.port, "up"])

    def block_vrrp(self, node: Node) -> None:
        nft.block_vrrp(netns=node.ns)

    def unblock_vrrp(self, node: Node) -> None:
        nft.unblock_vrrp(netns=node.ns)

    def capture(self, bpf: str = "") -> Capture:
        cap = Capture(self, bpf, self.tmpdir / f"cap{len(self.captures)}.pcap")
        self.captures.append(cap)
        return cap

    def namespaces(self) -> list[str]:
        return list(self._namespaces)

    def close(self) -> None:
        for watcher in self.watchers:
            with contextlib.suppress(Exception):
                watcher.close()
        for cap in self.captures:
            with contextlib.suppress(Exception):
                cap.stop()
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=5)
        for ns in reversed(self._namespaces):
            _delete_ns(ns)
        self._namespaces.clear()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def lab_with(*names: str) -> Iterator[tuple[Lab, list[Node]]]:
    with Lab() as lab:
        yield lab, [lab.add_node(n) for n in names]
