"""The chaos soak: random faults on a 3-node pykeepalived cluster, invariants checked all along.

Used by ``test_chaos_soak.py`` (60 s in CI) and ``bench/soak_long.py`` (10 min). Nodes n1, n2,
n3 run priorities 150, 120, 100 for one VIP (VRRPv3, 0.1 s adverts), each tracking a health
check whose behaviour a mode file selects: ``ok``, ``fail`` (exit 1), ``hang`` (sleeps past its
timeout: the daemon must kill it) or ``crash`` (dies of SIGSEGV). Faults, one at a time, on a
random node: kill -9 and restart, SIGTERM and restart, link flap, VRRP blocked both ways, health
check failing / hanging / crashing, SIGHUP reload. n3 is never killed or stopped so its fds,
threads, children and memory can be compared before and after.

Invariants, polled every 50 ms whatever is going on:
- every daemon that should run is alive (no unexpected exit);
- a node whose daemon was stopped with SIGTERM holds no VIP (checked the moment it exited);
- a node whose daemon was killed holds no VIP once the VIP lifetime has passed;
and after each fault is reverted ("settled"): exactly one node holds the VIP, the one with the
highest priority (n1), within a settle bound.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pykeepalived.daemon.driver import DEFAULT_VIP_LIFETIME
from tests.netns.daemons import Cluster, Daemon, Resources, config, crash, resources
from tests.netns.lab import Lab
from tests.support import wait_until

VIP = "192.0.2.100"
PRIOS = {"n1": 150, "n2": 120, "n3": 100}
#: after a fault is reverted, the cluster must be back to one holder (n1) within this
SETTLE = 8.0
CHECK_SCRIPT = """#!/bin/sh
mode=$(cat "{mode}" 2>/dev/null)
case "$mode" in
    fail) exit 1 ;;
    hang) exec sleep 30 ;;
    crash) kill -SEGV $$ ;;
esac
exit 0
"""


class InvariantBroken(AssertionError):
    pass


@dataclass
class Chaos:
    lab: Lab
    cluster: Cluster
    rng: random.Random
    log: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    settle_times: list[float] = field(default_factory=list)
    killed_at: dict[str, float] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, lab: Lab, seed: int) -> Chaos:
        cluster = Cluster(lab)
        for name, prio in PRIOS.items():
            node = lab.add_node(name)
            mode = lab.tmpdir / f"{name}.mode"
            mode.write_text("ok\n")
            script = lab.tmpdir / f"check-{name}.sh"
            script.write_text(CHECK_SCRIPT.format(mode=mode))
            script.chmod(0o755)
            head = (f"vrrp_script chk {{\n    script \"{script}\"\n    interval 0.5\n"
                    "    timeout 0.5\n    fall 1\n    rise 1\n    weight -60\n}\n")
            tail = "    track_script {\n        chk\n    }\n"
            cluster.add(node, config(prio, head=head, tail=tail))
        return cls(lab, cluster, random.Random(seed))

    # ------------------------------------------------------------------ observation

    def d(self, name: str) -> Daemon:
        return self.cluster.daemons[name]

    def note(self, text: str) -> None:
        self.log.append(f"{time.monotonic():.3f} {text}")

    def fail(self, text: str) -> None:
        raise InvariantBroken(f"{text}\n{self.context()}")

    def check(self) -> None:
        now = time.monotonic()
        for name, d in self.cluster.daemons.items():
            if name in self.stopped or name in self.killed_at:
                continue
            if not d.alive():
                self.fail(f"daemon on {name} exited unexpectedly")
        for name, t in self.killed_at.items():
            if now - t > DEFAULT_VIP_LIFETIME + 1.0 and name in self.cluster.holders(VIP):
                self.fail(f"killed daemon's node {name} still holds the VIP "
                          f"{now - t:.1f}s after the kill")
        for name in self.stopped:
            if name in self.cluster.holders(VIP):
                self.fail(f"stopped daemon's node {name} holds the VIP")

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (the scenario: a fault lasting that long), checking the
        invariants all along."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def context(self) -> str:
        return "fault log:\n" + "\n".join(self.log[-30:]) + "\n" + self.cluster.logs()

    def settle(self) -> float:
        """Wait until n1 alone holds the VIP (stable for 0.3 s); the time it took."""
        t = time.monotonic()

        def n1_alone() -> bool:
            self.check()
            return self.cluster.holders(VIP) == ["n1"]

        wait_until(n1_alone, SETTLE, what="n1 alone to hold the VIP", stable_for=0.3,
                   context=lambda: f"held by {self.cluster.holders(VIP)}\n{self.context()}")
        took = time.monotonic() - t - 0.3  # until it held, without the 0.3 s of holding
        self.settle_times.append(took)
        return took

    # ------------------------------------------------------------------ faults

    def restart(self, name: str) -> None:
        d = self.d(name)
        for path in (d.pid_file, d.vrrp_pid_file):
            path.unlink(missing_ok=True)
        d.start()

        def pid_file_written() -> bool:
            if not d.alive():
                self.fail(f"{name} did not restart")
            return bool(d.pids())

        wait_until(pid_file_written, 10, what=f"{name} to write its pid file after restart",
                   step=0.02, context=self.context)
        self.killed_at.pop(name, None)
        self.stopped.discard(name)

    def kill9(self, name: str) -> None:
        crash(self.d(name))
        self.killed_at[name] = time.monotonic()
        # Wait out the VIP lifetime: the invariant says the address must be gone by then.
        self.sleep(DEFAULT_VIP_LIFETIME + 1.2)
        self.restart(name)

    def sigterm(self, name: str) -> None:
        d = self.d(name)
        d.signal(signal.SIGTERM)
        assert d.proc is not None
        try:
            code = d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"{name} did not exit on SIGTERM")
        if code != 0:
            self.fail(f"{name} exited with {code} on SIGTERM")
        self.stopped.add(name)
        self.sleep(self.rng.uniform(0.2, 1.5))
        self.restart(name)

    def link_flap(self, name: str) -> None:
        node = self.d(name).node
        self.lab.link_down(node)
        self.sleep(self.rng.uniform(0.2, 1.5))
        self.lab.link_up(node)

    def block_vrrp(self, name: str) -> None:
        node = self.d(name).node
        self.lab.block_vrrp(node)
        self.sleep(self.rng.uniform(0.5, 2.0))
        self.lab.unblock_vrrp(node)

    def _check_mode(self, name: str, mode: str) -> None:
        path = self.lab.tmpdir / f"{name}.mode"
        path.write_text(mode + "\n")
        self.sleep(self.rng.uniform(1.0, 2.5))
        path.write_text("ok\n")

    def check_fail(self, name: str) -> None:
        self._check_mode(name, "fail")

    def check_hang(self, name: str) -> None:
        self._check_mode(name, "hang")

    def check_crash(self, name: str) -> None:
        self._check_mode(name, "crash")

    def sighup(self, name: str) -> None:
        self.d(name).signal(signal.SIGHUP)
        self.sleep(self.rng.uniform(0.2, 1.0))

    FAULTS: tuple[str, ...] = ("kill9", "sigterm", "link_flap", "block_vrrp", "check_fail",
                               "check_hang", "check_crash", "sighup")

    def one_fault(self) -> str:
        fault = self.rng.choice(self.FAULTS)
        victims = ["n1", "n2"] if fault in ("kill9", "sigterm") else list(PRIOS)
        name = self.rng.choice(victims)
        self.note(f"{fault} {name}")
        action: Callable[[str], None] = getattr(self, fault)
        action(name)
        self.faults[fault] += 1
        took = self.settle()
        self.note(f"settled in {took:.2f}s")
        return fault

    def run(self, seconds: float) -> None:
        self.cluster.start_all()
        self.settle()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.one_fault()
            self.sleep(self.rng.uniform(0.0, 0.5))

    def resources(self, name: str = "n3", samples: int = 20) -> Resources:
        """The reading with the fewest fds over about a second: a health check running at the
        moment of a reading holds its pipes open, which is not a leak."""
        pid = self.d(name).vrrp_pid()
        readings = []
        for _ in range(samples):
            readings.append(resources(pid))
            self.sleep(0.05)  # readings spread over the second
        return min(readings, key=lambda r: (r.fds, r.children))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            for name in PRIOS:
                self.lab.unblock_vrrp(self.d(name).node)
        self.cluster.stop_all()


def mode_file(lab: Lab, name: str) -> Path:
    return lab.tmpdir / f"{name}.mode"
