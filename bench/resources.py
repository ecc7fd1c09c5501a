"""Part 3: CPU and memory with 1, 50 and 255 instances at 1 s and 0.1 s adverts, master and backup.

Issue 14's targets read from it: CPU per advert received / sent at 255 instances, the 1-instance
master and backup at 1 s under 0.05 % of a core (conflict detection and crash-safe VIPs at their
defaults: the config leaves them alone), RSS with 1 and 255 instances (PSS beside).

For each instance count, four two-node labs run at once: keepalived and pykeepalived, each at 1 s
and at 0.1 s adverts (VRRPv3; n1 priority 200 is master of every instance, n2 priority 100 the
backup). Each daemon is alone on its own bridge, so it only sees its peer's adverts; the four labs
share the machine's two cores, but their whole load stays small and CPU time is counted per
process, not as wall time.

CPU: time on CPU of every thread of the daemon's processes (first field of
/proc/PID/task/TID/schedstat; keepalived's parent and VRRP child together) over the window, as %
of one core, and divided by the adverts the master sent / the backup received in that window
(nftables counters of IP protocol 112 in the node's namespace). Memory: VmRSS summed over the
daemon's processes at the end, and PSS (shared pages split between processes).

What bounds the 1-instance figures is measured in the same round: a fifth lab runs pykeepalived
with its two default features that keepalived lacks switched off (``--no-conflict-detection -V``,
kind ``py-lean``), and the RSS of this Python importing nothing, and importing only asyncio, is
read (each of pykeepalived's two processes is such an interpreter).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import (
    KINDS,
    Inst,
    add_daemon,
    add_vrrp_counters,
    bare_interpreter_rss_mib,
    config_text,
    cpu_ns,
    daemon_pids,
    log,
    pss_kib,
    rss_kib,
    vrrp_counters,
)
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab

COUNTS = (1, 50, 255)
INTERVALS = (1.0, 0.1)
#: pykeepalived without its split-brain probes and crash-safe VIP renewal
LEAN = ("py-lean", ("--no-conflict-detection", "-V"))


def instances(n: int, advert_int: float) -> list[Inst]:
    return [Inst(f"VI_{i}", i, 3, advert_int, f"198.51.100.{i}/32") for i in range(1, n + 1)]


@dataclass
class Pair:
    kind: str
    count: int
    advert_int: float
    lab: Lab
    cluster: Cluster


@contextlib.contextmanager
def pair(kind: str, count: int, advert_int: float, *, label: str | None = None,
         flags: tuple[str, ...] = ()) -> Iterator[Pair]:
    with Lab() as lab:
        cluster = Cluster(lab)
        try:
            insts = instances(count, advert_int)
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            add_daemon(cluster, n1, config_text(insts, 200), kind, flags)
            add_daemon(cluster, n2, config_text(insts, 100), kind, flags)
            for node in (n1, n2):
                add_vrrp_counters(node.ns)
            cluster.start_all()
            yield Pair(label or kind, count, advert_int, lab, cluster)
        finally:
            cluster.stop_all()


def _all_masters(p: Pair, timeout: float) -> bool:
    want = {f"198.51.100.{i}" for i in range(1, p.count + 1)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = {str(a.ip) for a in p.cluster.daemons["n1"].node.addresses()}
        if want <= have:
            return True
        time.sleep(0.2)
    return False


def measure_round(count: int, window: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(pair(kind, count, ai))
                 for kind in KINDS for ai in INTERVALS]
        if count == 1:
            pairs.append(stack.enter_context(pair("py", 1, 1.0, label=LEAN[0], flags=LEAN[1])))
        for p in pairs:
            if not _all_masters(p, 30):
                log(f"  {p.kind} {count}x{p.advert_int:g}s: n1 not master of every instance")
        # Past start-up: the second gratuitous ARP burst comes garp_master_delay (5 s) later.
        time.sleep(7.0)
        before = {}
        for p in pairs:
            for role in ("n1", "n2"):
                d = p.cluster.daemons[role]
                pids = daemon_pids(d)
                before[(id(p), role)] = (pids, cpu_ns(pids), vrrp_counters(d.node.ns),
                                         time.monotonic())
        time.sleep(window)
        for p in pairs:
            for role in ("n1", "n2"):
                pids, cpu0, (rx0, tx0), t0 = before[(id(p), role)]
                cpu1 = cpu_ns(pids)
                rx1, tx1 = vrrp_counters(p.cluster.daemons[role].node.ns)
                elapsed = time.monotonic() - t0
                adverts = (tx1 - tx0) if role == "n1" else (rx1 - rx0)
                cpu_s = (cpu1 - cpu0) / 1e9
                rows.append({
                    "kind": p.kind, "count": count, "advert_int": p.advert_int,
                    "role": "master" if role == "n1" else "backup",
                    "cpu_pct": 100 * cpu_s / elapsed,
                    "adverts": adverts,
                    "expected": round(count * elapsed / p.advert_int),
                    # adverts from the backup mean it took over: the master fell behind
                    "backup_sent": (tx1 - tx0) if role == "n2" else 0,
                    "us_per_advert": 1e6 * cpu_s / adverts if adverts else None,
                    "rss_mib": rss_kib(pids) / 1024, "pss_mib": pss_kib(pids) / 1024,
                    "window": elapsed,
                })
    return rows


def run(window: float, counts: tuple[int, ...] = COUNTS,
        one_window: float | None = None) -> list[dict[str, object]]:
    """``window`` seconds per instance count, ``one_window`` for the 1-instance cells (a longer
    window resolves issue 14's 0.05 % of a core: 30 ms of CPU in 60 s)."""
    rows: list[dict[str, object]] = []
    for count in counts:
        w = one_window if count == 1 and one_window else window
        log(f"resources: {count} instances, {w:g} s window")
        rows.extend(measure_round(count, w))
    floor = {"bare": bare_interpreter_rss_mib(),
             # as the VRRP child imports it: without its TLS module
             "asyncio": bare_interpreter_rss_mib("import sys\nsys.modules['ssl'] = None\n"
                                                 "import asyncio")}
    for r in rows:
        if r["kind"] == "py":
            r["floor_rss_mib"], r["asyncio_rss_mib"] = floor["bare"], floor["asyncio"]
    return rows
