"""Part 2: downtime as a client sees it.

Per daemon kind a lab with two VRRP nodes (n1 priority 150, n2 priority 100, VRRPv3 at 0.1 s),
a small HTTP server on each (:mod:`bench.http_node`) and a client namespace ``c`` that requests
the VIP every 5 ms over a new connection with a 50 ms timeout (:mod:`bench.http_probe`).

Faults: the master's link goes down (the node is gone), a graceful stop of the master's daemon,
and a crash of the daemon alone (kill -9) while the node's HTTP service stays up: keepalived
leaves its VIP behind, pykeepalived's VIP runs out by its kernel lifetime. Figures: the longest
gap between two successful answers, and answers from the old node after the new one has answered
(a client still sent there by a stale ARP entry, or a VIP left on two nodes).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import KINDS, Inst, add_daemon, config_text, log, wait_holding
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab, Node

VIP = "192.0.2.100"
PORT = 8080
INST = Inst("VI_web", 21, 3, 0.1, f"{VIP}/24")
HERE = Path(__file__).resolve().parent
WINDOW = {"link_down": 2.0, "graceful": 1.5, "crash": 5.0}
SCENARIO_LABEL = {
    "link_down": "master link down",
    "graceful": "graceful stop of the master's daemon",
    "crash": "daemon kill -9, service stays up",
}
PRE = 0.3  # probing starts this long before the fault


@dataclass
class WebBed:
    kind: str
    lab: Lab
    cluster: Cluster
    client: Node


@contextlib.contextmanager
def bed(kind: str) -> Iterator[WebBed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        try:
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            client = lab.add_node("c", ipv4="192.0.2.50/24", ipv6="2001:db8::50/64")
            for node in (n1, n2):
                node.popen([sys.executable, str(HERE / "http_node.py"), node.name, str(PORT)])
            add_daemon(cluster, n1, config_text([INST], 150), kind)
            add_daemon(cluster, n2, config_text([INST], 100), kind)
            cluster.start_all()
            if not wait_holding(cluster, "n1", [VIP], timeout=20):
                raise RuntimeError(f"{kind}: n1 never became master\n{cluster.logs()}")
            yield WebBed(kind, lab, cluster, client)
        finally:
            cluster.stop_all()


def analyse(lines: list[str], t_fault: float) -> dict[str, float | int | None]:
    probes = []
    for line in lines:
        t, ok, name = line.split()
        probes.append((float(t), ok == "1", name))
    probes.sort()
    ok_times = [t for t, ok, _ in probes if ok]
    gap = max((b - a for a, b in itertools.pairwise(ok_times)), default=None)
    first_new = next((t for t, ok, n in probes if ok and n == "n2" and t >= t_fault), None)
    stale = [t for t, ok, n in probes if ok and n == "n1" and first_new is not None
             and t > first_new]
    answered = sum(1 for _, ok, _ in probes if ok)
    return {
        "gap": gap,
        "first_new": None if first_new is None else first_new - t_fault,
        "stale": len(stale),
        "last_stale": (stale[-1] - t_fault) if stale else None,
        "probes": len(probes),
        "answered": answered,
        "pre_ok": sum(1 for t, ok, _ in probes if ok and t < t_fault),
    }


def sample(b: WebBed, scenario: str, rng: random.Random, run: int) -> dict[str, object]:
    c = b.cluster
    n1 = c.daemons["n1"]
    if not wait_holding(c, "n1", [VIP], timeout=20):
        log(f"{b.kind}: web cluster did not settle")
    time.sleep(0.3)
    out = b.lab.tmpdir / f"probe-{scenario}-{run}.txt"
    duration = PRE + 1.0 + WINDOW[scenario]
    prober = b.client.popen([sys.executable, str(HERE / "http_probe.py"), VIP, str(PORT),
                             str(duration), str(out)])
    time.sleep(PRE + rng.uniform(0.0, 1.0) + 0.2)  # the prober's own start-up, then a phase
    t = time.monotonic()
    if scenario == "link_down":
        b.lab.link_down(n1.node)
    elif scenario == "graceful":
        n1.signal(15)
    elif scenario == "crash":
        n1.kill9()
    prober.wait(timeout=duration + 10)
    lines = out.read_text().splitlines() if out.exists() else []
    # Keep only the part from PRE before the fault, so every sample covers the same span.
    lines = [x for x in lines if float(x.split()[0]) >= t - PRE]
    res = analyse(lines, t)
    # recover
    if scenario == "link_down":
        b.lab.link_up(n1.node)
    else:
        if n1.proc is not None:
            n1.proc.wait(timeout=10)
        if scenario == "crash":
            # keepalived leaves the VIP behind on a crash; the operator would remove it.
            n1.node.exec(["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
        n1.start()
        n1.wait_ready(timeout=15)
    return {"kind": b.kind, "scenario": scenario, "run": run, **res}


SCENARIOS = ("link_down", "graceful", "crash")


def run(runs: int, rng: random.Random,
        scenarios: tuple[str, ...] = SCENARIOS) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with bed("ka") as ka, bed("py") as py:
        beds = {"ka": ka, "py": py}
        for scenario in scenarios:
            log(f"client: {scenario} x{runs}")
            for i in range(runs):
                order = KINDS if i % 2 == 0 else tuple(reversed(KINDS))
                for kind in order:
                    row = sample(beds[kind], scenario, rng, i)
                    rows.append(row)
                    if not row["pre_ok"]:
                        log(f"  {kind} {scenario} run {i}: no answers before the fault")
    return rows
