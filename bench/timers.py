"""Part 4: timer precision: gaps between a master's adverts on the wire, and spurious takeovers.

Eight two-node labs run at once, keepalived and pykeepalived at 0.01, 0.02, 0.05 and 0.1 s
adverts (VRRPv3, one instance; master priority 200, backup priority 100, so the backup's
Master_Down_Interval is 3 adverts plus 0.61 of one: 36 ms at 0.01 s). Each lab captures its
bridge with dumpcap; the gaps between the master's adverts come from the capture timestamps.
A spurious takeover is the backup adding the VIP (rtnetlink event) while the master is alive.
The same labs are measured idle and then with both cores busy (two spinning processes at normal
priority).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import KINDS, Inst, add_daemon, busy_hogs, config_text, log, percentile, stop_hogs
from tests.netns.daemons import Cluster
from tests.netns.lab import Capture, Lab

INTERVALS = (0.01, 0.02, 0.05, 0.1)
VIP = "192.0.2.100"


@dataclass
class Pair:
    kind: str
    advert_int: float
    lab: Lab
    cluster: Cluster


@contextlib.contextmanager
def pair(kind: str, advert_int: float) -> Iterator[Pair]:
    with Lab() as lab:
        cluster = Cluster(lab)
        try:
            inst = [Inst("VI_1", 31, 3, advert_int, f"{VIP}/24")]
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            add_daemon(cluster, n1, config_text(inst, 200), kind)
            add_daemon(cluster, n2, config_text(inst, 100), kind)
            cluster.start_all()
            yield Pair(kind, advert_int, lab, cluster)
        finally:
            cluster.stop_all()


def _times(cap: Capture, src: str, start: float, end: float) -> list[float]:
    """Capture times of adverts from ``src`` between wall-clock ``start`` and ``end``."""
    rows = cap.fields(["frame.time_epoch", "ip.src"], "vrrp")
    return [t for r in rows if r.get("ip.src") == src
            and start <= (t := float(r["frame.time_epoch"])) <= end]


def _phase(pairs: list[Pair], load: str, window: float) -> list[dict[str, object]]:
    caps = {id(p): p.lab.capture("ip proto 112").start() for p in pairs}
    hogs = busy_hogs(2) if load == "busy" else []
    try:
        time.sleep(0.5)
        t0, w0 = time.monotonic(), time.time()
        time.sleep(window)
        t1, w1 = time.monotonic(), time.time()
    finally:
        stop_hogs(hogs)
    rows: list[dict[str, object]] = []
    for p in pairs:
        cap = caps[id(p)]
        cap.stop()
        times = _times(cap, "192.0.2.1", w0, w1)
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        w2 = p.cluster.watchers["n2"]
        takeovers = sum(1 for ts, ev in list(w2.events)
                        if t0 <= ts <= t1 and ev.added and str(ev.interface.ip) == VIP)
        backup_adverts = len(_times(cap, "192.0.2.2", w0, w1))
        mean = sum(gaps) / len(gaps) if gaps else float("nan")
        rows.append({
            "kind": p.kind, "advert_int": p.advert_int, "load": load,
            "window": t1 - t0, "adverts": len(times),
            "p50_ms": 1000 * percentile(gaps, 50), "p99_ms": 1000 * percentile(gaps, 99),
            "max_ms": 1000 * gaps[-1] if gaps else None,
            "drift_pct": 100 * (mean / p.advert_int - 1),
            "limit_ms": 1000 * (3 * p.advert_int + (256 - 100) / 256 * p.advert_int),
            "spurious": takeovers, "backup_adverts": backup_adverts,
        })
    return rows


def run(window: float, intervals: tuple[float, ...] = INTERVALS) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(pair(kind, ai)) for kind in KINDS for ai in intervals]
        time.sleep(2.0)
        for load in ("idle", "busy"):
            log(f"timers: {load}, {window:g} s")
            rows.extend(_phase(pairs, load, window))
    return rows
