"""Part 1: failover time of a master crash, link down, graceful stop, health-check failure, and
the preempt back after recovery.

Two nodes per daemon kind (n1 priority 150, n2 priority 100), each running three instances side by
side: VRRPv2 at 1 s, VRRPv3 at 1 s and VRRPv3 at 0.1 s (independent timers), so one fault gives
one sample of each. A keepalived lab and a pykeepalived lab stay up for the whole part.

Times come from rtnetlink address events (:class:`~tests.netns.lab.AddressWatcher`), measured
from the moment just before the fault is injected. The fault moment is randomised with a uniform
pause of up to one second (one 1 s advert cycle, ten 0.1 s cycles) after the cluster settles.

A tap on each lab's bridge (:class:`bench.wire.WireTap`) timestamps every advert, so a crash or a
link down is also measured from the master's last advert on the wire (the protocol floor: the
fault's phase inside an advert cycle cancels out), and the backup's reaction is the VIP event
minus the moment its down timer expired (that last advert + Master_Down_Interval of the backup's
config); a graceful stop is measured SIGTERM -> priority-0 advert on the wire, and the reaction
from that advert's arrival + Skew_Time to the VIP event.

The two labs take turns under a lock: one lab's fault window (pause, fault, takeover, restart of
the old master or the repair) runs while the other lab only waits for its master to preempt back,
so they never inject faults or start daemons at the same moment, and the part takes about half
the time of running them one after the other.

Health checks: ``chk_health`` (weight 0: FAULT, the ``health`` fault) and ``chk_weight`` (weight
-60: 150 -> 90, below the backup's 100, the ``health_weight`` fault), both ``test -f FLAG``,
interval 1 s, fall 1, rise 1.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.common import (
    KINDS,
    Inst,
    Script,
    add_daemon,
    config_text,
    log,
    vip_of,
    wait_holding,
)
from bench.wire import WireTap
from pykeepalived.core.router import master_down_interval, skew_time
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab

INSTANCES = (
    Inst("VI_v2_1s", 11, 2, 1.0, "192.0.2.111/24", "chk_health chk_weight"),
    Inst("VI_v3_1s", 12, 3, 1.0, "192.0.2.112/24", "chk_health chk_weight"),
    Inst("VI_v3_100ms", 13, 3, 0.1, "192.0.2.113/24", "chk_health chk_weight"),
)
MASTER_IP, BACKUP_PRIO = "192.0.2.1", 100
CONFIG_LABEL = {"VI_v2_1s": "VRRPv2 1 s", "VI_v3_1s": "VRRPv3 1 s",
                "VI_v3_100ms": "VRRPv3 0.1 s"}
SCENARIOS = ("crash", "vrrp_crash", "link_down", "graceful", "health", "health_weight",
             "preempt_link", "preempt_health", "preempt_weight")
SCENARIO_LABEL = {
    "crash": "master crash (kill -9)",
    "vrrp_crash": "VRRP process crash (kill -9 of the -r pid)",
    "link_down": "link down",
    "graceful": "graceful stop (SIGTERM)",
    "health": "health-check failure, weight 0 (FAULT)",
    "health_weight": "health-check failure, weight -60",
    "preempt_link": "preempt back (link restored)",
    "preempt_health": "preempt back (check passes again, FAULT)",
    "preempt_weight": "preempt back (check passes again, weight -60)",
}
FAULTS = ("crash", "vrrp_crash", "link_down", "graceful", "health", "health_weight")
#: samples per fault in a full run (issue 14: >= 30 for crash, link down and graceful)
FULL_RUNS = {"crash": 30, "link_down": 30, "graceful": 30, "vrrp_crash": 10, "health": 10,
             "health_weight": 10}


@dataclass
class Bed:
    """One daemon kind's two-node cluster."""

    kind: str
    lab: Lab
    cluster: Cluster
    flag: str
    weight_flag: str
    tap: WireTap

    @property
    def vips(self) -> list[str]:
        return [vip_of(i) for i in INSTANCES]


@contextlib.contextmanager
def bed(kind: str) -> Iterator[Bed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        tap = WireTap(lab.bridge_ns)
        try:
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            flag, wflag = str(lab.tmpdir / "healthy"), str(lab.tmpdir / "weighty")
            open(flag, "w").close()
            open(wflag, "w").close()
            scripts: dict[str, str | Script] = {
                "chk_health": f"/usr/bin/test -f {flag}",
                "chk_weight": Script(f"/usr/bin/test -f {wflag}", weight=-60)}
            add_daemon(cluster, n1, config_text(INSTANCES, 150, scripts=scripts), kind)
            backup = [Inst(i.name, i.vrid, i.version, i.advert_int, i.vip) for i in INSTANCES]
            add_daemon(cluster, n2, config_text(backup, BACKUP_PRIO), kind)
            tap.start()
            cluster.start_all()
            b = Bed(kind, lab, cluster, flag, wflag, tap)
            if not wait_holding(cluster, "n1", b.vips, timeout=20):
                raise RuntimeError(f"{kind}: n1 never became master\n{cluster.logs()}")
            yield b
        finally:
            cluster.stop_all()
            tap.stop()


def _takeovers(b: Bed, node: str, t: float, timeout: float) -> dict[str, float | None]:
    """Monotonic time of each VIP's add event on ``node`` after ``t`` (None: not seen)."""
    w = b.cluster.watchers[node]
    return {inst.name: w.wait_for(vip_of(inst), after=t,
                                  timeout=max(0.0, t + timeout - time.monotonic()))
            for inst in INSTANCES}


def _rel(events: dict[str, float | None], t: float) -> dict[str, float | None]:
    return {k: None if v is None else v - t for k, v in events.items()}


def _handback(b: Bed, t: float, timeout: float) -> dict[str, float | None]:
    """Time until each VIP is back on n1 and gone from n2 (whichever happens later)."""
    added = _rel(_takeovers(b, "n1", t, timeout), t)
    w2 = b.cluster.watchers["n2"]
    out: dict[str, float | None] = {}
    for inst in INSTANCES:
        gone = w2.wait_for(vip_of(inst), added=False, after=t,
                           timeout=max(0.0, t + timeout - time.monotonic()))
        events = [x for x in (added[inst.name], None if gone is None else gone - t)
                  if x is not None]
        out[inst.name] = max(events) if events else None
    return out


def _wire(b: Bed, scenario: str, t: float,
          events: dict[str, float | None]) -> dict[str, dict[str, float | None]]:
    """Per instance: the takeover measured from the wire, and the backup's reaction.

    crash / link down: ``from_last`` = VIP event - the master's last advert; ``reaction`` = VIP
    event - (last advert + the backup's Master_Down_Interval). graceful: ``to_p0`` = SIGTERM ->
    priority-0 advert; ``reaction`` = VIP event - (that advert + the backup's Skew_Time)."""
    b.tap.settle()
    out: dict[str, dict[str, float | None]] = {}
    for inst in INSTANCES:
        ev = events.get(inst.name)
        got: dict[str, float | None] = {}
        if scenario in ("crash", "link_down") and ev is not None:
            last = b.tap.last_advert(MASTER_IP, inst.vrid, ev)
            if last is not None and last.ts > t - 2 * inst.advert_int - 0.5:
                # v3: the backup times out on the interval the master advertises
                adv = last.adver_int if inst.version == 3 else inst.advert_int
                mdi = master_down_interval(inst.version, BACKUP_PRIO, adv)
                got = {"from_last": ev - last.ts, "reaction": ev - (last.ts + mdi)}
        elif scenario == "graceful":
            p0 = b.tap.first_p0(MASTER_IP, inst.vrid, t)
            if p0 is not None:
                got["to_p0"] = p0.ts - t
                if ev is not None:
                    adv = p0.adver_int if inst.version == 3 else inst.advert_int
                    got["reaction"] = ev - (p0.ts + skew_time(inst.version, BACKUP_PRIO, adv))
        out[inst.name] = got
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
        for flag in (b.flag, b.weight_flag):
            with contextlib.suppress(OSError):
                open(flag, "w").close()
        b.lab.link_up(b.cluster.daemons["n1"].node)
        _restart_n1(b)
        wait_holding(b.cluster, "n1", b.vips, timeout=20)
    time.sleep(0.3)
    b.tap.clear(time.monotonic() - 10)


def sample(b: Bed, scenario: str, rng: random.Random,
           lock: threading.Lock | None = None) -> list[dict[str, object]]:
    """Inject one fault of ``scenario`` (see FAULTS) and recover; ``lock`` is held from the
    fault until the old master is running again (the noisy part)."""
    _settle(b)
    n1 = b.cluster.daemons["n1"]
    rows: list[dict[str, object]] = []

    def record(name: str, values: dict[str, float | None],
               extra: dict[str, dict[str, float | None]] | None = None) -> None:
        for inst, v in values.items():
            rows.append({"kind": b.kind, "scenario": name, "config": inst, "seconds": v,
                         **(extra or {}).get(inst, {})})

    def takeover(name: str, t: float) -> None:
        events = _takeovers(b, "n2", t, 6.0)
        record(name, _rel(events, t), _wire(b, name, t, events))

    def health(flag: str, name: str) -> float:
        t = time.monotonic()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(flag)
        takeover(name, t)
        time.sleep(rng.uniform(0.0, 1.0))
        t2 = time.monotonic()
        open(flag, "w").close()
        return t2

    handback: tuple[str, float] | None = None
    with lock or contextlib.nullcontext():
        time.sleep(rng.uniform(0.0, 1.0))
        t = time.monotonic()
        if scenario == "crash":
            n1.kill9()
            takeover("crash", t)
            _restart_n1(b)
        elif scenario == "vrrp_crash":
            # Only the process that speaks VRRP dies (keepalived's VRRP child, pykeepalived's):
            # each daemon's parent respawns it, and pykeepalived's hands over first (issue 16).
            os.kill(n1.vrrp_pid(), signal.SIGKILL)
            takeover("vrrp_crash", t)
            time.sleep(1.0)  # the respawn, inside the lock
        elif scenario == "graceful":
            n1.stop()
            takeover("graceful", t)
            _restart_n1(b)
        elif scenario == "link_down":
            b.lab.link_down(n1.node)
            takeover("link_down", t)
            time.sleep(rng.uniform(0.0, 1.0))
            handback = ("preempt_link", time.monotonic())
            b.lab.link_up(n1.node)
        elif scenario == "health":
            handback = ("preempt_health", health(b.flag, "health"))
        elif scenario == "health_weight":
            handback = ("preempt_weight", health(b.weight_flag, "health_weight"))
        else:
            raise ValueError(scenario)
    # The preempt back is timer-driven: measured outside the lock, while the other lab may
    # already inject its next fault.
    if handback is not None:
        record(handback[0], _handback(b, handback[1], 6.0))
    return rows


def _series(b: Bed, fault: str, n: int, rng: random.Random,
            lock: threading.Lock) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        got = sample(b, fault, rng, lock)
        for r in got:
            r["run"] = i
        rows.extend(got)
        missing = [r for r in got if r["seconds"] is None]
        if missing:
            log(f"  {b.kind} {fault} run {i}: no takeover seen for "
                f"{[(r['scenario'], r['config']) for r in missing]}")
    return rows


def run(runs: dict[str, int], rng: random.Random,
        faults: tuple[str, ...] = FAULTS) -> list[dict[str, object]]:
    """``runs[fault]`` samples of each fault on each daemon kind, the two labs taking turns."""
    rows: list[dict[str, object]] = []
    with bed("ka") as ka, bed("py") as py, ThreadPoolExecutor(2) as pool:
        beds = {"ka": ka, "py": py}
        for fault in faults:
            n = runs.get(fault, 1)
            log(f"failover: {fault} x{n}")
            lock = threading.Lock()
            futures = [pool.submit(_series, beds[k], fault, n, random.Random(rng.random()), lock)
                       for k in KINDS]
            for f in futures:
                rows.extend(f.result())
    return rows
