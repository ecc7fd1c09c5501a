"""Part 1: failover time of a master crash, link down, graceful stop, health-check failure, and
the preempt back after recovery.

Two nodes per daemon kind (n1 priority 150, n2 priority 100), each running three instances side by
side: VRRPv2 at 1 s, VRRPv3 at 1 s and VRRPv3 at 0.1 s (independent timers), so one fault gives
one sample of each. A keepalived lab and a pykeepalived lab stay up for the whole part and the
samples alternate between them, so slow drifts in the shared machine's load hit both alike.

Times come from rtnetlink address events (:class:`~tests.netns.lab.AddressWatcher`), measured
from the moment just before the fault is injected. The fault moment is randomised with a uniform
pause of up to one second (one 1 s advert cycle, ten 0.1 s cycles) after the cluster settles.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import KINDS, Inst, add_daemon, config_text, log, vip_of, wait_holding
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab

INSTANCES = (
    Inst("VI_v2_1s", 11, 2, 1.0, "192.0.2.111/24", "chk_health"),
    Inst("VI_v3_1s", 12, 3, 1.0, "192.0.2.112/24", "chk_health"),
    Inst("VI_v3_100ms", 13, 3, 0.1, "192.0.2.113/24", "chk_health"),
)
CONFIG_LABEL = {"VI_v2_1s": "VRRPv2 1 s", "VI_v3_1s": "VRRPv3 1 s",
                "VI_v3_100ms": "VRRPv3 0.1 s"}
SCENARIOS = ("crash", "vrrp_crash", "link_down", "graceful", "health", "preempt_link",
             "preempt_health")
SCENARIO_LABEL = {
    "crash": "master crash (kill -9)",
    "vrrp_crash": "VRRP process crash (kill -9 of the -r pid)",
    "link_down": "link down",
    "graceful": "graceful stop (SIGTERM)",
    "health": "health-check failure",
    "preempt_link": "preempt back (link restored)",
    "preempt_health": "preempt back (check passes again)",
}


@dataclass
class Bed:
    """One daemon kind's two-node cluster."""

    kind: str
    lab: Lab
    cluster: Cluster
    flag: str

    @property
    def vips(self) -> list[str]:
        return [vip_of(i) for i in INSTANCES]


@contextlib.contextmanager
def bed(kind: str) -> Iterator[Bed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        try:
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            flag = str(lab.tmpdir / "healthy")
            open(flag, "w").close()
            scripts = {"chk_health": f"/usr/bin/test -f {flag}"}
            add_daemon(cluster, n1, config_text(INSTANCES, 150, scripts=scripts), kind)
            backup = [Inst(i.name, i.vrid, i.version, i.advert_int, i.vip) for i in INSTANCES]
            add_daemon(cluster, n2, config_text(backup, 100), kind)
            cluster.start_all()
            b = Bed(kind, lab, cluster, flag)
            if not wait_holding(cluster, "n1", b.vips, timeout=20):
                raise RuntimeError(f"{kind}: n1 never became master\n{cluster.logs()}")
            yield b
        finally:
            cluster.stop_all()


def _takeovers(b: Bed, node: str, t: float, timeout: float) -> dict[str, float | None]:
    w = b.cluster.watchers[node]
    out: dict[str, float | None] = {}
    for inst in INSTANCES:
        ts = w.wait_for(vip_of(inst), after=t, timeout=max(0.0, t + timeout - time.monotonic()))
        out[inst.name] = None if ts is None else ts - t
    return out


def _handback(b: Bed, t: float, timeout: float) -> dict[str, float | None]:
    """Time until each VIP is back on n1 and gone from n2 (whichever happens later)."""
    added = _takeovers(b, "n1", t, timeout)
    w2 = b.cluster.watchers["n2"]
    out: dict[str, float | None] = {}
    for inst in INSTANCES:
        gone = w2.wait_for(vip_of(inst), added=False, after=t,
                           timeout=max(0.0, t + timeout - time.monotonic()))
        events = [x for x in (added[inst.name], None if gone is None else gone - t)
                  if x is not None]
        out[inst.name] = max(events) if events else None
    return out


def _restart_n1(b: Bed) -> None:
    d = b.cluster.daemons["n1"]
    d.start()
    d.wait_ready(timeout=15)


def _settle(b: Bed) -> None:
    if not wait_holding(b.cluster, "n1", b.vips, timeout=20):
        # A failed recovery must not poison the next samples: restart n1 from scratch.
        log(f"{b.kind}: cluster did not settle, restarting n1")
        b.cluster.daemons["n1"].kill9()
        with contextlib.suppress(OSError):
            open(b.flag, "w").close()
        b.lab.link_up(b.cluster.daemons["n1"].node)
        _restart_n1(b)
        wait_holding(b.cluster, "n1", b.vips, timeout=20)
    time.sleep(0.3)


def sample(b: Bed, scenario: str, rng: random.Random) -> list[dict[str, object]]:
    """Inject one fault of ``scenario`` (crash, link_down, graceful, health) and recover."""
    _settle(b)
    time.sleep(rng.uniform(0.0, 1.0))
    n1 = b.cluster.daemons["n1"]
    rows: list[dict[str, object]] = []

    def record(name: str, values: dict[str, float | None]) -> None:
        for inst, v in values.items():
            rows.append({"kind": b.kind, "scenario": name, "config": inst, "seconds": v})

    t = time.monotonic()
    if scenario == "crash":
        n1.kill9()
        record("crash", _takeovers(b, "n2", t, 6.0))
        _restart_n1(b)
    elif scenario == "vrrp_crash":
        # Only the process that speaks VRRP dies (keepalived's VRRP child, pykeepalived's): each
        # daemon's parent respawns it, and pykeepalived's hands over first (issue 16).
        os.kill(n1.vrrp_pid(), signal.SIGKILL)
        record("vrrp_crash", _takeovers(b, "n2", t, 6.0))
    elif scenario == "graceful":
        n1.stop()
        record("graceful", _takeovers(b, "n2", t, 6.0))
        _restart_n1(b)
    elif scenario == "link_down":
        b.lab.link_down(n1.node)
        record("link_down", _takeovers(b, "n2", t, 6.0))
        time.sleep(rng.uniform(0.0, 1.0))
        t2 = time.monotonic()
        b.lab.link_up(n1.node)
        record("preempt_link", _handback(b, t2, 6.0))
    elif scenario == "health":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(b.flag)
        record("health", _takeovers(b, "n2", t, 6.0))
        time.sleep(rng.uniform(0.0, 1.0))
        t2 = time.monotonic()
        open(b.flag, "w").close()
        record("preempt_health", _handback(b, t2, 6.0))
    else:
        raise ValueError(scenario)
    return rows


FAULTS = ("crash", "vrrp_crash", "link_down", "graceful", "health")


def run(runs: int, rng: random.Random, faults: tuple[str, ...] = FAULTS) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with bed("ka") as ka, bed("py") as py:
        beds = {"ka": ka, "py": py}
        for fault in faults:
            log(f"failover: {fault} x{runs}")
            for i in range(runs):
                order = KINDS if i % 2 == 0 else tuple(reversed(KINDS))
                for kind in order:
                    got = sample(beds[kind], fault, rng)
                    for r in got:
                        r["run"] = i
                    rows.extend(got)
                    missing = [r for r in got if r["seconds"] is None]
                    if missing:
                        log(f"  {kind} {fault} run {i}: no takeover seen for "
                            f"{[(r['scenario'], r['config']) for r in missing]}")
    return rows
