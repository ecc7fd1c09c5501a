"""Part 6: many VIPs: 1,000 in one instance, and 255 instances x 4, against one VIP.

Per configuration a keepalived lab and a pykeepalived lab (n1 priority 150 master, n2 priority
100, VRRPv3 at 1 s adverts) with a tap on each bridge (:class:`bench.wire.WireTap`).

Takeover: n1 is killed (-9) and, per instance, the time runs from the MASTER decision, taken as
the new master's first advert on the wire (both daemons send it before adding addresses), to the
last of its VIPs' rtnetlink add events on n2 (installed; :class:`bench.wire.AddrTap`; a VIP's
first gratuitous ARP on the wire, if earlier, bounds it: neither daemon announces a VIP before
adding it) and to the first gratuitous ARP of the last of its VIPs on the wire (announced); the
figure is the worst instance. The labs take turns.
n1 is then restarted and preempts back.

Steady state, both labs at once, after the second gratuitous ARP burst (garp_master_delay 5 s):
the master's CPU over the window (every thread of its processes: pykeepalived renews its
crash-safe VIPs' lifetimes, keepalived has nothing to renew) and the gaps between the master's
adverts on the wire (p99 and max), compared with the same lab holding one VIP. Beside them, a
third lab runs pykeepalived with crash-safe VIPs off (``-V``, kind ``py-V``): what the renewal
costs is the difference.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import (
    KINDS,
    Inst,
    add_daemon,
    config_text,
    cpu_ns,
    daemon_pids,
    log,
    percentile,
    rss_kib,
)
from bench.wire import AddrTap, WireTap
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab

CONFIGS = ("1", "1000", "255x4")
CONFIG_LABEL = {"1": "1 instance, 1 VIP", "1000": "1 instance, 1,000 VIPs",
                "255x4": "255 instances x 4 VIPs"}
NEW_MASTER, OLD_MASTER = "192.0.2.2", "192.0.2.1"


def _addr(k: int) -> str:
    return f"10.20.{k // 250}.{k % 250 + 1}/32"


def instances(config: str) -> list[Inst]:
    if config == "1":
        return [Inst("VI_1", 51, 3, 1.0, _addr(0))]
    if config == "1000":
        return [Inst("VI_1", 51, 3, 1.0, _addr(0), more_vips=tuple(_addr(k)
                                                                    for k in range(1, 1000)))]
    return [Inst(f"VI_{i}", i, 3, 1.0, _addr(4 * (i - 1)),
                 more_vips=tuple(_addr(4 * (i - 1) + j) for j in (1, 2, 3)))
            for i in range(1, 256)]


def _ips(inst: Inst) -> list[str]:
    return [v.split("/")[0] for v in (inst.vip, *inst.more_vips)]


@dataclass
class VipBed:
    kind: str
    config: str
    insts: list[Inst]
    lab: Lab
    cluster: Cluster
    tap: WireTap
    addr_tap: AddrTap
    error: str = ""

    @property
    def all_ips(self) -> set[str]:
        return {ip for i in self.insts for ip in _ips(i)}

    def holds_all(self, node: str, timeout: float) -> bool:
        want = self.all_ips
        deadline = time.monotonic() + timeout
        d = self.cluster.daemons[node]
        while time.monotonic() < deadline:
            if want <= {str(a.ip) for a in d.node.addresses()}:
                return True
            if not d.alive():
                break
            time.sleep(0.2)
        return False

    def failure(self, node: str) -> str:
        """Why ``node`` does not hold every VIP: the last error its daemon logged."""
        log_lines = self.cluster.daemons[node].log().splitlines()
        lines = ([ln for ln in log_lines if "unhandled" in ln]
                 or [ln for ln in log_lines if "rror" in ln or "not respawning" in ln])
        return (lines[-1].split(": ", 1)[-1] if lines else "no error logged")[:200]


@contextlib.contextmanager
def bed(kind: str, config: str, *, label: str | None = None,
        flags: tuple[str, ...] = ()) -> Iterator[VipBed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        tap = WireTap(lab.bridge_ns)
        try:
            insts = instances(config)
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            add_daemon(cluster, n1, config_text(insts, 150), kind, flags)
            add_daemon(cluster, n2, config_text(insts, 100), kind, flags)
            tap.start()
            addr_tap = AddrTap(n2.ns)
            lab.watchers.append(addr_tap)  # type: ignore[arg-type]  # closed with the lab
            cluster.start_all()
            b = VipBed(label or kind, config, insts, lab, cluster, tap, addr_tap)
            if not b.holds_all("n1", 60):
                b.error = f"n1 does not hold every VIP: {b.failure('n1')}"
                log(f"  vips {kind} {config}: {b.error}")
            yield b
        finally:
            cluster.stop_all()
            tap.stop()


def takeover(b: VipBed) -> dict[str, object]:
    """Kill n1, measure n2's decision -> every VIP installed / announced, restart n1."""
    n1 = b.cluster.daemons["n1"]
    time.sleep(1.0)
    t = time.monotonic()
    n1.kill9()
    complete = b.holds_all("n2", 30)
    time.sleep(1.0)  # the first gratuitous ARP burst
    b.tap.settle(0.5)
    garps = b.tap.first_garp(b.all_ips, t)
    # Both daemons send a VIP's gratuitous ARP only once it is on the interface, and the wire
    # tap's times are the kernel's, where the address events are stamped by a thread of this
    # process that waits its turn for the interpreter (up to tens of ms while the wire tap
    # parses a thousand ARPs): the earlier of the two is when the VIP was there at the latest.
    added = {ip: min(ts, garps.get(ip, ts)) for ip, ts in b.addr_tap.first_added(t).items()}
    installs, announces = [], []
    for inst in b.insts:
        first = [a.ts for a in b.tap.from_src(NEW_MASTER, inst.vrid, start=t) if a.prio > 0]
        ips = _ips(inst)
        if not first:
            continue
        if all(ip in added for ip in ips):
            installs.append(max(added[ip] for ip in ips) - first[0])
        if all(ip in garps for ip in ips):
            announces.append(max(garps[ip] for ip in ips) - first[0])
    row = {"kind": b.kind, "config": b.config, "complete": complete,
           "instances_seen": len(installs),
           "install_s": max(installs) if installs else None,
           "install_median_s": sorted(installs)[len(installs) // 2] if installs else None,
           "announce_s": max(announces) if announces else None,
           "announced": len(garps)}
    n1.start()
    n1.wait_ready(timeout=30)
    if not b.holds_all("n1", 60):
        log(f"  vips {b.kind} {b.config}: n1 did not take every VIP back")
    return row


def steady(beds: list[VipBed], window: float) -> list[dict[str, object]]:
    """CPU of each master over ``window`` and the gaps between its adverts."""
    time.sleep(7.0)  # past the second gratuitous ARP burst of the preempt back
    before = {}
    for b in beds:
        pids = daemon_pids(b.cluster.daemons["n1"])
        before[id(b)] = (pids, cpu_ns(pids), time.monotonic())
    time.sleep(window)
    rows: list[dict[str, object]] = []
    for b in beds:
        pids, cpu0, t0 = before[id(b)]
        t1 = time.monotonic()
        cpu_s = (cpu_ns(pids) - cpu0) / 1e9
        gaps = sorted(y.ts - x.ts for inst in b.insts for x, y in itertools.pairwise(
            b.tap.from_src(OLD_MASTER, inst.vrid, t0, t1)))
        rows.append({"kind": b.kind, "config": b.config, "cpu_pct": 100 * cpu_s / (t1 - t0),
                     "window": t1 - t0, "gaps": len(gaps),
                     "gap_p99_ms": 1000 * percentile(gaps, 99) if gaps else None,
                     "gap_max_ms": 1000 * gaps[-1] if gaps else None,
                     "rss_mib": rss_kib(pids) / 1024})
    return rows


def run(window: float, takeovers: int = 2,
        configs: tuple[str, ...] = CONFIGS) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for config in configs:
        log(f"vips: {CONFIG_LABEL[config]}, {takeovers} takeovers, {window:g} s window")
        with contextlib.ExitStack() as stack:
            ka = stack.enter_context(bed("ka", config))
            py = stack.enter_context(bed("py", config))
            beds = {k: b for k, b in (("ka", ka), ("py", py)) if not b.error}
            rows += [{"part": "error", "kind": b.kind, "config": config, "error": b.error}
                     for b in (ka, py) if b.error]
            if config != "1":
                for i in range(takeovers):
                    for kind in (KINDS if i % 2 == 0 else tuple(reversed(KINDS))):
                        if kind in beds:
                            rows.append({"part": "takeover", "run": i,
                                         **takeover(beds[kind])})
            # Started now, so that it does not load the machine during the takeovers; steady()
            # waits past its start-up announcements too.
            lean = [] if config == "1" else [b for b in (stack.enter_context(
                bed("py", config, label="py-V", flags=("-V",))),) if not b.error]
            rows += [{"part": "steady", **r}
                     for r in steady([*beds.values(), *lean], window)]
    return rows
