"""Part 7: the load balancer (issue 17): checker detection delay, checker CPU for 1,000 real
servers at delay_loop 1, the plane's transaction time, and director failover under load.

keepalived cannot be the yardstick: without ip_vs its checker child stops at start-up ("IPVS:
Can't initialize ipvs", "permanent error FATAL"); the part runs ``keepalived -C`` once in its
lab and records those lines. Every figure is pykeepalived's against the bound its
configuration promises. That bound, from keepalived 2.2.7's check_tcp.c (tcp_epilog) and
check_http.c (epilog, timeout_epilog), which pykeepalived's checker core follows: a check runs
``delay_loop`` after the previous one ended; a failing check of an up checker is retried
``retry`` times ``delay_before_retry`` apart, and the last failure takes it down, so a server
whose service dies is removed at most ``delay_loop + retry x delay_before_retry`` after (plus
the attempts' own durations: a refused connection takes well under a millisecond, a timeout
``connect_timeout`` per attempt, ``retry + 1`` attempts). Back up: a down TCP_CHECK probes
``delay_before_retry`` and ``delay_loop`` apart in turn, so its server returns within
``max(delay_loop, delay_before_retry)``; a down HTTP_GET retries the failed URL every
``max(delay_loop, delay_before_retry)``, and when it passes checks every URL again from the
first, ``delay_loop`` later, so one URL needs two passes: ``max(...) + delay_loop``.

1. Detection (one director running ``pykeepalived -C``, no traffic): HTTP_GET and TCP_CHECK
   each at delay_loop 1 / retry 1 / delay_before_retry 1 and at 2 / 2 / 0.5, one virtual
   server per pair, two real servers each (own namespaces, a one-socket HTTP server each).
   Each real server's service is killed by PID after a uniform pause of up to one delay_loop
   and started again after another, independently of the others (a thread per server). Kill
   -> the server gone from the kernel's table and restart (the new socket's listen) -> back,
   from ``nft -a monitor`` in the director's namespace (:class:`TableWatch`: the dnat rules
   after each transaction, stamped on arrival), and from the "Removing service" / "Adding
   service" lines of the daemon's log file (``-g``, nanosecond stamps).
2. Scale: 1,000 real servers (250 each on four nodes, on their loopback: 198.51.100.1-250,
   203.0.113.1-250, 2001:db8:3::1-fa, 2001:db8:4::1-fa, routed via the nodes, one listening
   socket per node on [::]:80) in two virtual servers at delay_loop 1, TCP_CHECK then HTTP_GET.
   After start-up, the checker process's CPU (schedstat; user / system from /proc/PID/stat)
   and RSS over the window, and the checks it ran (its status: every checker's results);
   then one node's service is killed (250 real servers at once) and started again: the last
   "Removing service" / "Adding service" line, and how many transactions carried them.
3. Transaction time: the plane (:class:`~pykeepalived.lvs.nft_plane.NftPlane`, the daemon's
   code, run by the interpreter and the pykeepalived the daemons run) installing the 1,000
   destinations in the director's namespace, and re-applying with one of them removed and
   back (read of the live table, render, one libnftables call).
4. Director failover under steady load (the acceptance test's lab, repeated): two directors
   running VRRP (0.1 s adverts) and the checkers on 192.0.2.100:80 (NAT, masquerade), three
   real servers, a client opening a new connection every 5 ms (0.3 s timeout). The master
   director's link goes down, it is stopped (SIGTERM) or crashes (every process frozen, then
   SIGKILL): requests lost, the window they span (first lost request's start to the last
   one's timeout), the backup holding the VIP (its rtnetlink event), and failures after that
   (none expected); then, under the same load, the recovery (link up, d1 started again) and
   the preempt back to d1. Beside them, the same load without a fault (the lab's own rate).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import cpu_ns, log, rss_kib
from pykeepalived.lvs import checker_socket
from tests.netns.daemons import Cluster, Daemon, config
from tests.netns.lab import Lab, Node
from tests.netns.lvs_tools import LoadClient, failures, shares

VIP = "192.0.2.100"
VIP6 = "2001:db8::100"
TABLE = "pykeepalived_lvs"
CHECKS = ("HTTP_GET", "TCP_CHECK")
#: the client's timeout in the failover scenario (the acceptance test's)
CLIENT_TIMEOUT = 0.3
FAULTS = ("link", "stop", "crash")
FAULT_LABEL = {"link": "master director's link down", "stop": "graceful stop (SIGTERM)",
               "crash": "crash (kill -9 of every process)"}
SERVERS_PER_COMBO = 2
SCALE_PER_NODE = 250
#: What a sample may exceed the configured bound by and still meet it: the attempts' own
#: durations (a refused connection, under a millisecond, up to retry + 1 of them), the timer's
#: wake-up and the transaction (a few milliseconds with a few real servers).
TOLERANCE = 0.05


@dataclass(frozen=True)
class Setting:
    """A checker's timing: delay_loop, retry, delay_before_retry."""

    delay_loop: float
    retry: int
    dbr: float

    @property
    def label(self) -> str:
        return f"{self.delay_loop:g} / {self.retry} / {self.dbr:g}"

    def removal_bound(self) -> float:
        return self.delay_loop + self.retry * self.dbr

    def add_bound(self, kind: str) -> float:
        down = max(self.delay_loop, self.dbr)
        return down + self.delay_loop if kind == "HTTP_GET" else down


SETTINGS = (Setting(1.0, 1, 1.0), Setting(2.0, 2, 0.5))


def checker_text(kind: str, s: Setting, connect_timeout: float = 1.0) -> str:
    url = ("            url {\n                path /health\n                status_code 200\n"
           "            }\n") if kind == "HTTP_GET" else ""
    return (f"        {kind} {{\n{url}            connect_timeout {connect_timeout:g}\n"
            f"            retry {s.retry}\n            delay_before_retry {s.dbr:g}\n"
            "        }\n")


def virtual_server(address: str, port: int, s: Setting, reals: list[str], check: str) -> str:
    body = "".join(f"    real_server {a} 80 {{\n        weight 1\n{check}    }}\n" for a in reals)
    return (f"virtual_server {address} {port} {{\n    delay_loop {s.delay_loop:g}\n"
            f"    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{body}}}\n")


GLOBAL = "global_defs {\n    script_user root\n}\n"


# ---------------------------------------------------------------------------- real servers

#: A one-socket HTTP/1.0 server (selectors): answers every request with its name; prints
#: "listening <time.time()>" once its socket listens. ``[::]`` takes IPv4 too (dual stack).
WEB_SERVER = r"""
import selectors, socket, sys, time
bind, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
reply = (b"HTTP/1.0 200 OK\r\nContent-Length: " + str(len(name)).encode()
         + b"\r\nConnection: close\r\n\r\n" + name)
fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if fam == socket.AF_INET6:
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.bind((bind, port))
ls.listen(4096)
ls.setblocking(False)
sys.stdout.write(f"listening {time.time():.6f}\n")
sys.stdout.flush()
sel = selectors.DefaultSelector()
sel.register(ls, selectors.EVENT_READ, None)
while True:
    for key, _ in sel.select():
        if key.data is None:
            for _ in range(64):
                try:
                    conn, _a = ls.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, b"")
            continue
        conn = key.fileobj
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        buf = key.data + data
        if data and b"\r\n\r\n" not in buf:
            sel.modify(conn, selectors.EVENT_READ, buf)
            continue
        sel.unregister(conn)
        if data:
            try:
                conn.send(reply)
            except OSError:
                pass
        conn.close()
"""


@dataclass
class Web:
    """The HTTP service of one node, started and killed by PID."""

    node: Node
    bind: str = "0.0.0.0"
    proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 10.0) -> float:
        """Start it; the wall-clock time its socket listened."""
        proc = self.node.popen([sys.executable, "-c", WEB_SERVER, self.bind, "80",
                                self.node.name], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        self.proc = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"web server on {self.node.name} did not start")
        return float(line.split()[1])

    def stop(self) -> float:
        """SIGKILL by PID; the wall-clock time of the kill."""
        t = time.time()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        return t


# ---------------------------------------------------------------------------- observation

_T = re.escape(TABLE)
_ADD_RULE = re.compile(rf"^add rule (ip6?) {_T} (\S+) .*\bdnat (?:ip6? )?to "
                       rf"\[?([0-9a-fA-F:.]+?)\]?(?::\d+)? # handle (\d+)$")
_DEL_RULE = re.compile(rf"^delete rule (ip6?) {_T} (\S+) handle (\d+)")
_DEL_CHAIN = re.compile(rf"^delete chain (ip6?) {_T} (\S+)")
_DEL_TABLE = re.compile(rf"^delete table (ip6?) {_T}\b")


class TableWatch:
    """The plane's table as the kernel commits it: ``nft -a monitor`` in the director's
    namespace.

    The dnat rules are followed by their handles through every added and deleted rule, chain
    and table (whether the plane rewrites its table or changes it in place), and after every
    transaction (its "# new generation" line, stamped with the wall clock when it arrives) the
    real servers with a dnat rule are recorded: the servers the table can send to."""

    def __init__(self, node: Node) -> None:
        self.generations: list[tuple[float, frozenset[str]]] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[str] = node.popen(
            ["nft", "-a", "monitor"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, daemon=True, name="nft-monitor")
        self._thread.start()
        time.sleep(0.3)  # the monitor's netlink subscription is in place before anything else

    def _read(self) -> None:
        assert self.proc.stdout is not None
        rules: dict[tuple[str, str, str], str] = {}  # (family, chain, handle) -> address
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("# new generation"):
                now = time.time()
                with self._cond:
                    self.generations.append((now, frozenset(rules.values())))
                    self._cond.notify_all()
            elif m := _ADD_RULE.match(line):
                rules[(m[1], m[2], m[4])] = m[3]
            elif m := _DEL_RULE.match(line):
                rules.pop((m[1], m[2], m[3]), None)
            elif m := _DEL_CHAIN.match(line):
                for key in [k for k in rules if k[:2] == (m[1], m[2])]:
                    del rules[key]
            elif m := _DEL_TABLE.match(line):
                for key in [k for k in rules if k[0] == m[1]]:
                    del rules[key]

    def wait(self, want: Callable[[frozenset[str]], bool], *, after: float,
             timeout: float) -> float | None:
        """The time of the first generation after ``after`` whose servers satisfy ``want``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ts, have in self.generations:
                    if ts >= after and want(have):
                        return ts
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._thread.join(timeout=2)


_STAMP = re.compile(r"^\w{3} (\w{3} \d{2} \d{2}:\d{2}:\d{2})\.(\d{9}) (\d{4}): (.*)$")


def log_lines(path: Path) -> list[tuple[float, str]]:
    """The daemon's ``-g`` log file as (wall-clock time, message)."""
    out = []
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            m = _STAMP.match(line)
            if m:
                t = time.mktime(time.strptime(f"{m[1]} {m[3]}", "%b %d %H:%M:%S %Y"))
                out.append((t + int(m[2]) / 1e9, m[4]))
    return out


def first_line(lines: list[tuple[float, str]], text: str, after: float) -> float | None:
    return next((t for t, msg in lines if t >= after and msg == text), None)


def checker_status(d: Daemon, timeout: float = 20.0) -> dict[str, Any] | None:
    """The checker process's status (its own control socket), or None."""
    path = checker_socket(str(d.pid_file.with_suffix(".sock")))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b'{"command": "status"}\n')
            chunks = []
            while chunk := s.recv(1 << 16):
                chunks.append(chunk)
        answer: dict[str, Any] = json.loads(b"".join(chunks))
    except (OSError, ValueError):
        return None
    return answer if answer.get("ok") else None


def in_table(st: dict[str, Any] | None) -> int:
    return sum(1 for vs in (st or {}).get("virtual_servers", ()) for rs in vs["real_servers"]
               if rs["in_table"])


def checks_run(st: dict[str, Any] | None) -> tuple[int, int]:
    """(checks run, of which failed) over every checker of the status."""
    total = failed = 0
    for vs in (st or {}).get("virtual_servers", ()):
        for rs in vs["real_servers"]:
            for chk in rs["checkers"]:
                total += sum(chk["checks"].values())
                failed += chk["checks"].get("failure", 0)
    return total, failed


def _wait(cond: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


# ---------------------------------------------------------------------------- 1. detection

@dataclass
class Real:
    kind: str
    setting: Setting
    port: int  # the virtual server's
    web: Web

    @property
    def address(self) -> str:
        assert self.web.node.ipv4 is not None
        return str(self.web.node.ipv4.ip)

    def log_text(self, verb: str) -> str:
        prep = "from" if verb == "Removing" else "to"
        return f"{verb} service [{self.address}]:tcp:80 {prep} VS [{VIP}]:tcp:{self.port}"


@dataclass
class DetectBed:
    lab: Lab
    daemon: Daemon
    log_file: Path
    watch: TableWatch
    reals: list[Real] = field(default_factory=list)


@contextlib.contextmanager
def detect_bed(combos: list[tuple[str, Setting]],
               per_combo: int = SERVERS_PER_COMBO) -> Iterator[DetectBed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        watch: TableWatch | None = None
        try:
            d1 = lab.add_node("d1", ipv4="192.0.2.1/24")
            reals: list[Real] = []
            text = GLOBAL
            for ci, (kind, s) in enumerate(combos):
                group: list[Real] = []
                for _ in range(per_combo):
                    n = len(reals) + len(group) + 1
                    node = lab.add_node(f"r{n}", ipv4=f"192.0.2.{10 + n}/24",
                                        ipv6=f"2001:db8::{10 + n:x}/64")
                    web = Web(node)
                    web.start()
                    group.append(Real(kind, s, 81 + ci, web))
                reals += group
                text += virtual_server(VIP, 81 + ci, s, [r.address for r in group],
                                       checker_text(kind, s))
            watch = TableWatch(d1)
            log_file = lab.tmpdir / "d1-file.log"
            d = cluster.add(d1, text, extra=["-C", "-g", str(log_file)])
            d.start()
            if not _wait(lambda: in_table(checker_status(d)) == len(reals), 20):
                raise RuntimeError(f"lvs detection: the table never held every real server\n"
                                   f"{d.log()[-3000:]}")
            # every checker past its first verdict (1 s bootstrap + up to one delay_loop)
            time.sleep(1.0 + max(s.delay_loop for _, s in combos))
            yield DetectBed(lab, d, log_file, watch, reals)
        finally:
            cluster.stop_all()
            if watch is not None:
                watch.close()


def _detect_series(b: DetectBed, real: Real, n: int, rng: random.Random
                   ) -> list[dict[str, object]]:
    s, addr = real.setting, real.address
    rows: list[dict[str, object]] = []
    for run in range(n):
        time.sleep(0.3 + rng.uniform(0.0, s.delay_loop))
        killed = real.web.stop()
        gone = b.watch.wait(lambda have: addr not in have, after=killed,
                            timeout=s.removal_bound() + 5)
        time.sleep(rng.uniform(0.0, s.delay_loop))  # the restart at a random phase too
        listening = real.web.start()
        back = b.watch.wait(lambda have: addr in have, after=listening,
                            timeout=s.add_bound(real.kind) + 5)
        if gone is None or back is None:
            log(f"  lvs detect {real.kind} {s.label} {addr} run {run}: "
                f"{'not removed' if gone is None else 'not added back'}")
            if back is None:  # catch up before the next sample
                b.watch.wait(lambda have: addr in have, after=listening, timeout=10)
        rows.append({"part": "detect", "kind": real.kind, "setting": s.label,
                     "delay_loop": s.delay_loop, "retry": s.retry, "dbr": s.dbr,
                     "server": addr, "run": run, "killed": killed, "listening": listening,
                     "removed_s": None if gone is None else gone - killed,
                     "added_s": None if back is None else back - listening,
                     "removal_bound": s.removal_bound(), "add_bound": s.add_bound(real.kind)})
    return rows


def detection(samples: int, rng: random.Random,
              combos: list[tuple[str, Setting]] | None = None,
              per_combo: int = SERVERS_PER_COMBO) -> list[dict[str, object]]:
    """``samples`` kills per checker kind and setting, spread over ``per_combo`` servers."""
    combos = combos or [(k, s) for s in SETTINGS for k in CHECKS]
    each = max(1, -(-samples // per_combo))
    rows: list[dict[str, object]] = []
    with detect_bed(combos, per_combo) as b, ThreadPoolExecutor(len(b.reals)) as pool:
        futures = [pool.submit(_detect_series, b, r, each, random.Random(rng.random()))
                   for r in b.reals]
        for f in futures:
            rows += f.result()
        time.sleep(0.2)
        lines = log_lines(b.log_file)
    by_addr = {r.address: r for r in b.reals}
    for row in rows:
        real = by_addr[str(row["server"])]
        killed, listening = float(row.pop("killed")), float(row.pop("listening"))  # type: ignore[arg-type]
        removed = first_line(lines, real.log_text("Removing"), killed)
        added = first_line(lines, real.log_text("Adding"), listening)
        row["removed_log_s"] = None if removed is None else removed - killed
        row["added_log_s"] = None if added is None else added - listening
    return rows


# ---------------------------------------------------------------------------- 2. scale

#: (node, its real servers' prefix on the director's route, the addresses it holds)
def scale_groups() -> list[tuple[str, str, list[str]]]:
    n = SCALE_PER_NODE
    return [("s1", "198.51.100.0/24", [f"198.51.100.{i}" for i in range(1, n + 1)]),
            ("s2", "203.0.113.0/24", [f"203.0.113.{i}" for i in range(1, n + 1)]),
            ("s3", "2001:db8:3::/64", [f"2001:db8:3::{i:x}" for i in range(1, n + 1)]),
            ("s4", "2001:db8:4::/64", [f"2001:db8:4::{i:x}" for i in range(1, n + 1)])]


@dataclass
class ScaleBed:
    lab: Lab
    director: Node
    webs: dict[str, Web]
    groups: list[tuple[str, str, list[str]]]

    def config(self, kind: str, s: Setting) -> str:
        v4 = [a for _, _, addrs in self.groups for a in addrs if ":" not in a]
        v6 = [a for _, _, addrs in self.groups for a in addrs if ":" in a]
        check = checker_text(kind, s, connect_timeout=3)
        return (GLOBAL + virtual_server(VIP, 80, s, v4, check)
                + virtual_server(VIP6, 80, s, v6, check))


@contextlib.contextmanager
def scale_bed() -> Iterator[ScaleBed]:
    with Lab() as lab:
        d1 = lab.add_node("d1", ipv4="192.0.2.1/24", ipv6="2001:db8::1/64")
        groups = scale_groups()
        webs: dict[str, Web] = {}
        for i, (name, prefix, addrs) in enumerate(groups):
            node = lab.add_node(name, ipv4=f"192.0.2.{21 + i}/24",
                                ipv6=f"2001:db8::{0x21 + i:x}/64")
            cmds = [f"addr add {a}/{128 if ':' in a else 32} dev lo" for a in addrs]
            subprocess.run(["ip", "-n", node.ns, "-batch", "-"], input="\n".join(cmds) + "\n",
                           text=True, check=True, capture_output=True)
            via = f"2001:db8::{0x21 + i:x}" if ":" in prefix else f"192.0.2.{21 + i}"
            d1.exec(["ip", "route", "add", prefix, "via", via, "dev", "eth0"], check=True)
            webs[name] = Web(node, bind="::")
            webs[name].start()
        yield ScaleBed(lab, d1, webs, groups)


def _burst(b: ScaleBed, d: Daemon, log_file: Path, s: Setting, kind: str
           ) -> dict[str, object]:
    """One node's service killed: its 250 real servers at once out of the table and back."""
    name, _, addrs = b.groups[0]
    texts = {a: f"[{a}]:tcp:80" for a in addrs}
    vs = f"[{VIP}]:tcp:80"
    applies0 = int((checker_status(d) or {}).get("checker", {}).get("applies", 0))

    def times(verb: str, after: float) -> list[float]:
        prep = "from" if verb == "Removing" else "to"
        want = {f"{verb} service {t} {prep} VS {vs}" for t in texts.values()}
        seen: dict[str, float] = {}
        for t, msg in log_lines(log_file):
            if t >= after and msg in want and msg not in seen:
                seen[msg] = t
        return sorted(t - after for t in seen.values())

    killed = b.webs[name].stop()
    _wait(lambda: len(times("Removing", killed)) == len(addrs), s.removal_bound() + 10, 0.2)
    removed = times("Removing", killed)
    st = checker_status(d)
    applies1 = int((st or {}).get("checker", {}).get("applies", 0))
    left = in_table(st)
    listening = b.webs[name].start()
    _wait(lambda: len(times("Adding", listening)) == len(addrs), s.add_bound(kind) + 10, 0.2)
    added = times("Adding", listening)
    applies2 = int((checker_status(d) or {}).get("checker", {}).get("applies", 0))
    return {"burst_servers": len(addrs), "burst_removed": len(removed),
            "burst_remove_last_s": removed[-1] if removed else None,
            "burst_remove_first_s": removed[0] if removed else None,
            "burst_in_table": left, "burst_remove_applies": applies1 - applies0,
            "burst_added": len(added), "burst_add_last_s": added[-1] if added else None,
            "burst_add_applies": applies2 - applies1}


def scale_run(b: ScaleBed, kind: str, window: float, s: Setting = SETTINGS[0],
              burst: bool = True) -> dict[str, object]:
    total = sum(len(a) for _, _, a in b.groups)
    cluster = Cluster(b.lab, tag=f"-{kind.lower()}")
    log_file = b.lab.tmpdir / f"d1-{kind.lower()}-file.log"
    d = cluster.add(b.director, b.config(kind, s), extra=["-C", "-g", str(log_file)])
    start_errors: list[str] = []
    try:
        for _attempt in range(2):
            started = time.monotonic()
            d.start()
            if _wait(lambda: (in_table(checker_status(d)) == total
                              and checks_run(checker_status(d))[0] >= total)
                     or not d.alive(), 60, 0.5) and d.alive():
                break
            # Seen once in development: the first transaction refused ("Could not process
            # rule: Operation not supported") and the checker child exits FATAL. Recorded,
            # and the daemon started once more.
            error = next((ln for ln in reversed(d.log().splitlines())
                          if "cannot install" in ln or "rror" in ln), "no error logged")
            start_errors.append(error[-300:])
            log(f"  lvs scale {kind}: start-up failed: {error[-300:]}")
            cluster.stop_all()
            time.sleep(2.0)
        else:
            return {"part": "scale", "kind": kind, "servers": total,
                    "error": f"never held {total} real servers checked once",
                    "start_errors": start_errors}
        ready_s = time.monotonic() - started
        time.sleep(3.0)  # past start-up: every checker on its delay_loop
        pid, parent = _pid(d.checkers_pid_file), _pid(d.pid_file)
        st0 = checker_status(d)
        t0 = time.monotonic()
        cpu0, (u0, s0), pcpu0 = cpu_ns([pid]), proc_cpu(pid), cpu_ns([parent])
        time.sleep(window)
        cpu1, (u1, s1), pcpu1 = cpu_ns([pid]), proc_cpu(pid), cpu_ns([parent])
        t1 = time.monotonic()
        st1 = checker_status(d)
        t2 = time.monotonic()
        (c0, f0), (c1, f1) = checks_run(st0), checks_run(st1)
        span = (t1 - t0) + (t2 - t1) / 2  # the status is read at the end of its request
        elapsed = t1 - t0
        row: dict[str, object] = {
            "part": "scale", "kind": kind, "servers": total, "delay_loop": s.delay_loop,
            "window": elapsed, "ready_s": ready_s,
            "checks_per_s": (c1 - c0) / span, "expected_per_s": total / s.delay_loop,
            "failed_checks": f1 - f0, "in_table": in_table(st1),
            "cpu_pct": 100 * (cpu1 - cpu0) / 1e9 / elapsed,
            "user_pct": 100 * (u1 - u0) / elapsed, "system_pct": 100 * (s1 - s0) / elapsed,
            "parent_cpu_pct": 100 * (pcpu1 - pcpu0) / 1e9 / elapsed,
            "us_per_check": 1e6 * (cpu1 - cpu0) / 1e9 / max(1, c1 - c0),
            "rss_mib": rss_kib([pid]) / 1024, "parent_rss_mib": rss_kib([parent]) / 1024,
            "applies": int((st1 or {}).get("checker", {}).get("applies", 0)),
            "start_errors": start_errors,
        }
        if burst:
            row.update(_burst(b, d, log_file, s, kind))
        return row
    finally:
        cluster.stop_all()


# ---------------------------------------------------------------------------- 3. transactions

#: Run in the director's namespace by the interpreter the daemons use, so that it imports
#: the pykeepalived they run (with ``--snapshot``: HEAD's, not the working tree's). argv[1]:
#: {"table", "v4": [VIP, reals], "v6": [VIP, reals], "reps"}; prints the timings as JSON.
APPLY_TIMING = r"""
import json, sys, time
from ipaddress import ip_address
from pykeepalived.lvs.nft_plane import NftPlane
from pykeepalived.lvs.table import Destination, Service
spec = json.loads(sys.argv[1])

def service(vip, family, reals):
    return Service(key=f"[{vip}]:tcp:80", family=family, protocol="TCP",
                   endpoints=((ip_address(vip), 80),), lb_algo="rr",
                   destinations=tuple(Destination(ip_address(a), 80, 1) for a in reals))

(vip4, v4), (vip6, v6) = spec["v4"], spec["v6"]
full = [service(vip4, 4, v4), service(vip6, 6, v6)]
less = [service(vip4, 4, v4[1:]), service(vip6, 6, v6)]
plane = NftPlane(spec["table"], masquerade=True)

def timed(fn, *args):
    w, c = time.perf_counter(), time.process_time()
    fn(*args)
    return [time.perf_counter() - w, time.process_time() - c]

out = {"install": None, "reapply": [], "read": []}
try:
    out["install"] = timed(plane.apply, full)
    for _ in range(spec["reps"]):
        out["reapply"].append(timed(plane.apply, less))
        out["reapply"].append(timed(plane.apply, full))
        out["read"].append(timed(plane.live_state))
finally:
    plane.remove()
print(json.dumps(out))
"""


def apply_times(b: ScaleBed, reps: int) -> dict[str, object]:
    """The plane's transaction with 1,000 destinations (the daemon's ``NftPlane.apply``), in
    the director's namespace under another table name, removed afterwards: first install,
    then one destination out and back, and the read of the live table that starts each."""
    v4 = [a for _, _, addrs in b.groups for a in addrs if ":" not in a]
    v6 = [a for _, _, addrs in b.groups for a in addrs if ":" in a]
    spec = {"table": "pkbench_lvs", "v4": [VIP, v4], "v6": [VIP6, v6], "reps": reps}
    proc = b.director.exec([sys.executable, "-c", APPLY_TIMING, json.dumps(spec)], timeout=300)
    try:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"part": "apply",
                "error": ((proc.stderr.strip() or "no output").splitlines() or ["?"])[-1][-300:]}
    both, reads = sorted(got["reapply"]), sorted(got["read"])
    med, read = both[len(both) // 2], reads[len(reads) // 2]
    return {"part": "apply", "destinations": len(v4) + len(v6), "reps": len(both),
            "install_ms": 1000 * got["install"][0], "install_cpu_ms": 1000 * got["install"][1],
            "reapply_ms": 1000 * med[0], "reapply_cpu_ms": 1000 * med[1],
            "reapply_max_ms": 1000 * both[-1][0],
            "read_ms": 1000 * read[0], "read_cpu_ms": 1000 * read[1]}


# ---------------------------------------------------------------------------- keepalived

def keepalived_check(b: ScaleBed) -> dict[str, object]:
    """``keepalived -C`` with the 1,000-server configuration: what it says on this kernel."""
    row: dict[str, object] = {"part": "keepalived"}
    conf = b.lab.tmpdir / "ka-lvs.conf"
    conf.write_text(b.config("TCP_CHECK", SETTINGS[0]))
    argv = ["keepalived", "-C", "-n", "-l", "-D", "-G", "-f", str(conf),
            "-p", str(b.lab.tmpdir / "ka.pid"), "-c", str(b.lab.tmpdir / "ka-check.pid")]
    t = time.monotonic()
    try:
        proc = b.director.exec(argv, timeout=30)
    except FileNotFoundError:
        return {**row, "error": "keepalived not installed"}
    except subprocess.TimeoutExpired:
        return {**row, "error": "keepalived -C still running after 30 s (ip_vs available?)"}
    text = proc.stdout + proc.stderr
    keep = [ln.split(": ", 1)[-1] for ln in text.splitlines()
            if "IPVS" in ln or "permanent error" in ln or ln.rstrip().endswith("Terminating")]
    version = next((ln.split(": ", 1)[-1] for ln in text.splitlines() if "Starting Keepalived"
                    in ln), "")
    return {**row, "exit": proc.returncode, "seconds": time.monotonic() - t, "lines": keep,
            "version": version.removeprefix("Starting ")}


def scale(window: float, reps: int = 5, kinds: tuple[str, ...] = ("TCP_CHECK", "HTTP_GET"),
          burst: bool = True) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with scale_bed() as b:
        rows.append(keepalived_check(b))
        rows.append(apply_times(b, reps))
        for kind in kinds:
            log(f"lvs: 1,000 real servers, {kind}, {window:g} s window")
            rows.append(scale_run(b, kind, window, burst=burst))
    return rows


# ---------------------------------------------------------------------------- 4. failover

@dataclass
class DirectorBed:
    lab: Lab
    cluster: Cluster
    client: Node
    webs: list[Web]

    @property
    def d1(self) -> Daemon:
        return self.cluster.daemons["d1"]

    @property
    def d2(self) -> Daemon:
        return self.cluster.daemons["d2"]

    def healthy(self) -> bool:
        """d1 alone holds the VIP; both directors' tables hold the three real servers, and
        every checker's last result passed (none is between a failure and its retry)."""
        if self.cluster.holders(VIP) != ["d1"]:
            return False
        for d in (self.d1, self.d2):
            st = checker_status(d)
            if in_table(st) != 3 or not all(
                    chk["last"] is not None and chk["last"]["ok"]
                    for vs in (st or {}).get("virtual_servers", ())
                    for rs in vs["real_servers"] for chk in rs["checkers"]):
                return False
        return True

    def settled(self, timeout: float = 20.0) -> bool:
        """:meth:`healthy`, twice one delay_loop apart (a check in between passed too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                time.sleep(SETTINGS[0].delay_loop)
                if self.healthy():
                    return True
            time.sleep(0.1)
        return False


@contextlib.contextmanager
def director_bed() -> Iterator[DirectorBed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        try:
            client = lab.add_node("client", ipv4="192.0.2.50/24")
            webs = []
            for i in (1, 2, 3):
                web = Web(lab.add_node(f"rs{i}", ipv4=f"192.0.2.1{i}/24"))
                web.start()
                webs.append(web)
            vs = virtual_server(VIP, 80, SETTINGS[0], [f"192.0.2.1{i}" for i in (1, 2, 3)],
                                checker_text("HTTP_GET", SETTINGS[0]))
            for name, addr, prio in (("d1", "192.0.2.1/24", 150), ("d2", "192.0.2.2/24", 100)):
                node = lab.add_node(name, ipv4=addr)
                node.exec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                           "net.ipv4.conf.all.send_redirects=0",
                           "net.ipv4.conf.eth0.send_redirects=0"], check=True)
                cluster.add(node, config(prio, vip=f"{VIP}/24 dev eth0", advert_int=0.1,
                                         head=vs), extra=["--lvs-masquerade"])
            cluster.start_all()
            b = DirectorBed(lab, cluster, client, webs)
            if not b.settled(30):
                raise RuntimeError(f"lvs failover: directors never settled\n{cluster.logs()}")
            yield b
        finally:
            cluster.stop_all()


def _outage(results: list[list[Any]], start: float, end: float) -> tuple[int, float]:
    """Requests that failed between ``start`` and ``end`` (their start times), and the window
    they span: the first one's start to the last one's timeout."""
    lost = [r for r in failures(results) if start <= r[0] < end]
    if not lost:
        return 0, 0.0
    return len(lost), max(r[0] for r in lost) + CLIENT_TIMEOUT - min(r[0] for r in lost)


def director_sample(b: DirectorBed, fault: str, rng: random.Random, run: int,
                    steady: float = 2.0) -> dict[str, object]:
    """One failure of the master director under load, the backup's takeover, ``steady``
    seconds of load through it, then the recovery (link up, or d1 started again) and the
    preempt back to d1 under the same load, ``steady`` seconds past d2 giving the VIP up."""
    row: dict[str, object] = {"part": "director", "fault": fault, "run": run}
    if not b.settled():
        log(f"  lvs failover {fault} run {run}: directors not settled, restarting d1")
        b.d1.kill9()
        b.lab.link_up(b.d1.node)
        b.d1.start()
        if not b.settled(30):
            return {**row, "error": "directors did not settle"}
    load = LoadClient(b.client, VIP, b.lab.tmpdir, timeout=CLIENT_TIMEOUT, pause=0.005)
    took = back = None
    try:
        if not _wait(lambda: len(shares(load.results())) == 3, 10, 0.05):
            log(f"  lvs failover {fault} run {run}: no traffic to all three real servers")
        time.sleep(rng.uniform(0.1, 0.6))  # the fault at a random phase of the 0.1 s adverts
        mono, failed = time.monotonic(), time.time()
        if fault == "link":
            b.lab.link_down(b.d1.node)
        elif fault == "stop":
            b.d1.stop()
        else:
            b.d1.kill9()  # every process frozen first, then killed: none can clean up
        ts = b.cluster.watchers["d2"].wait_for(VIP, after=mono, timeout=8.0)
        took = None if ts is None else failed + (ts - mono)
        time.sleep(steady)  # the scenario: steady load through the new director
        mono, restored = time.monotonic(), time.time()
        if fault == "link":
            b.lab.link_up(b.d1.node)
        else:
            b.d1.start()
        ts = b.cluster.watchers["d2"].wait_for(VIP, added=False, after=mono, timeout=15.0)
        back = None if ts is None else restored + (ts - mono)
        time.sleep(steady)
    finally:
        results = load.stop()
    # Failures before the fault are not the failover's: counted apart (none expected). A
    # request that starts less than its timeout before the VIP moves back may meet the move.
    handback = back if back is not None else restored
    stray = [r for r in failures(results) if r[0] < failed - CLIENT_TIMEOUT]
    lost, window = _outage(results, failed - CLIENT_TIMEOUT,
                           (took if took is not None else restored) + CLIENT_TIMEOUT)
    steady_from = (took if took is not None else restored) + CLIENT_TIMEOUT
    late = [r for r in failures(results) if steady_from <= r[0] < handback - CLIENT_TIMEOUT]
    back_lost, back_window = _outage(results, handback - CLIENT_TIMEOUT, float("inf"))
    after = [r for r in results if steady_from <= r[0] < handback - CLIENT_TIMEOUT]
    return {**row, "requests": len(results), "lost": lost, "window_s": window,
            "late": len(late), "stray": len(stray),
            # when the late failures started, from the fault, beside the recovery's start
            "late_at": [round(r[0] - failed, 3) for r in late],
            "restored_at": round(restored - failed, 3),
            "takeover_s": None if took is None else took - failed,
            "servers_after": len(shares(after)),
            "back_s": None if back is None else back - restored,
            "back_lost": back_lost, "back_window_s": back_window,
            "reasons": sorted({str(r[2]) for r in failures(results)})}


def director_control(b: DirectorBed, seconds: float) -> dict[str, object]:
    """The same load for ``seconds`` with no fault: the lab's own failure rate."""
    row: dict[str, object] = {"part": "director", "fault": "none", "seconds": seconds}
    if not b.settled():
        return {**row, "error": "directors did not settle"}
    load = LoadClient(b.client, VIP, b.lab.tmpdir, timeout=CLIENT_TIMEOUT, pause=0.005)
    try:
        time.sleep(seconds)
    finally:
        results = load.stop()
    return {**row, "requests": len(results), "failed": len(failures(results)),
            "reasons": sorted({str(r[2]) for r in failures(results)})}


def director_failover(runs: int, rng: random.Random, faults: tuple[str, ...] = FAULTS,
                      control: float = 10.0) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with director_bed() as b:
        if control:
            log(f"lvs: director failover, {control:g} s of load without a fault")
            rows.append(director_control(b, control))
        for fault in faults:
            log(f"lvs: director failover, {FAULT_LABEL[fault]} x{runs}")
            for i in range(runs):
                row = director_sample(b, fault, rng, i)
                if row.get("error") or row.get("late"):
                    log(f"  lvs failover {fault} run {i}: {row}")
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------- the part

def run(samples: int, failover_runs: int, window: float, rng: random.Random
        ) -> list[dict[str, object]]:
    """``samples`` kills per checker kind and setting, the 1,000-server windows, and
    ``failover_runs`` director failures of each kind."""
    start = time.monotonic()
    meta: dict[str, object] = {
        "part": "meta", "date": datetime.datetime.now().astimezone().strftime(
            "%Y-%m-%d %H:%M %Z"),
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "samples": samples, "failover_runs": failover_runs, "window": window}
    log(f"lvs: detection delay, {samples} kills per checker and setting")
    rows = detection(samples, rng)
    rows += scale(window, reps=5 if samples > 2 else 1)
    rows += director_failover(failover_runs, rng, control=10.0 if samples > 2 else 3.0)
    meta["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    meta["duration_min"] = (time.monotonic() - start) / 60
    return [meta, *rows]
