"""Part 5: failover when the tracked service dies: ``kill haproxy`` -> VIP on the backup.

Two styles, on both daemons: ``vrrp_track_process`` on a process named haproxy (weight 0, the
default: the instance goes to FAULT when none runs; keepalived learns of the exit from the
kernel's process events) and the usual ``vrrp_script { script "pgrep haproxy"; interval 2 }``
(fall 1, rise 1, weight 0). The stand-in is a copy of /bin/sleep named haproxy in the lab's
directory, started in the master's namespace and killed by PID.

The tracking daemon is started from the machine's initial network namespace with ``-s NS`` (both
daemons enter the node's namespace themselves): the kernel's process events connector only
answers in the initial namespace, and keepalived started inside a namespace logs "Failed to set/
clear process event listen - errno 111" and leaves the instance in FAULT for good.

One two-node lab per daemon and style (n1 priority 150 tracks, n2 priority 100), one after the
other: process names are global to the machine, so two labs' stand-ins would satisfy each
other's trackers. One VRRPv3 instance at 0.1 s adverts, so the figure is the tracker's detection
plus a short handover and the old master preempts back quickly. The kill comes after a uniform
pause of up to 2 s (one script interval) once the master holds the VIP again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import KINDS, Inst, Script, add_daemon, config_text, log, wait_holding
from tests.netns.daemons import Cluster
from tests.netns.lab import Lab, Node

VIP = "192.0.2.141"
STYLES = ("process", "script")
STYLE_LABEL = {"process": "vrrp_track_process (weight 0)",
               "script": 'vrrp_script "pgrep haproxy", interval 2'}
TRACK_PROCESS = "vrrp_track_process trk_haproxy {\n    process haproxy\n    quorum 1\n}\n"


@dataclass
class TrackBed:
    kind: str
    style: str
    lab: Lab
    cluster: Cluster
    n1: Node
    binary: str
    service: subprocess.Popen[bytes] | None = None

    def start_service(self) -> None:
        self.service = self.n1.popen([self.binary, "100000"])

    def kill_service(self) -> None:
        if self.service is not None:
            self.service.kill()  # by PID
            self.service.wait()
            self.service = None


def _from_root(node: Node) -> Node:
    """A copy of ``node`` whose processes start in the initial namespace (for ``-s NS``)."""
    lab = node.lab

    def popen(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload]
        lab.processes.append(proc)
        return proc

    root = dataclasses.replace(node)
    object.__setattr__(root, "popen", popen)
    return root


@contextlib.contextmanager
def bed(kind: str, style: str) -> Iterator[TrackBed]:
    with Lab() as lab:
        cluster = Cluster(lab)
        b: TrackBed | None = None
        try:
            n1, n2 = lab.add_node("n1"), lab.add_node("n2")
            binary = str(lab.tmpdir / "haproxy")
            shutil.copy("/bin/sleep", binary)
            b = TrackBed(kind, style, lab, cluster, n1, binary)
            b.start_service()
            if style == "process":
                inst = Inst("VI_track", 41, 3, 0.1, f"{VIP}/24", track_process="trk_haproxy")
                text = config_text([inst], 150, head=TRACK_PROCESS)
            else:
                inst = Inst("VI_track", 41, 3, 0.1, f"{VIP}/24", "chk_haproxy")
                text = config_text([inst], 150, scripts={
                    "chk_haproxy": Script("pgrep haproxy", interval=2)})
            d = add_daemon(cluster, _from_root(n1), text, kind)
            d.extra += ["-s", n1.ns]
            add_daemon(cluster, n2, config_text([Inst("VI_track", 41, 3, 0.1, f"{VIP}/24")],
                                                100), kind)
            cluster.start_all()
            if not wait_holding(cluster, "n1", [VIP], timeout=20):
                raise RuntimeError(f"{kind} {style}: n1 never became master\n{cluster.logs()}")
            yield b
        finally:
            cluster.stop_all()
            if b is not None:
                b.kill_service()


def sample(b: TrackBed, rng: random.Random) -> dict[str, object]:
    if not wait_holding(b.cluster, "n1", [VIP], timeout=20):
        log(f"  track {b.kind} {b.style}: n1 does not hold the VIP")
    time.sleep(0.3 + rng.uniform(0.0, 2.0))
    t = time.monotonic()
    b.kill_service()
    ts = b.cluster.watchers["n2"].wait_for(VIP, after=t, timeout=8.0)
    b.start_service()
    return {"kind": b.kind, "style": b.style, "seconds": None if ts is None else ts - t}


def run(runs: int, rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for style in STYLES:
        for kind in KINDS:
            log(f"track: {kind} {style} x{runs}")
            with bed(kind, style) as b:
                for i in range(runs):
                    r = sample(b, rng)
                    if r["seconds"] is None:
                        log(f"  track {kind} {style} run {i}: no takeover seen")
                    rows.append({**r, "run": i})
    return rows
