"""The live demo: three pykeepalived nodes in network namespaces, failover shown with timings.

Run as root (``sudo ./scripts/demo``). It builds a bridge and three nodes (192.0.2.1-3) in
namespaces of its own, starts pykeepalived on each with a haproxy-style health check
(``vrrp_script`` every second), and walks through the events operators get paged for: a crashed
master, a failed health check, a graceful stop, and nodes coming back. Each takeover is timed
from the fault to the VIP appearing on the new node (kernel address events, not logs). Everything
it created is removed at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.core.router import master_down_interval, skew_time
from pykeepalived.testing.lab import AddressWatcher, Lab, Node

VIP = "192.0.2.100"
ADVERT_INT = 0.1
PRIORITIES = {"n1": 150, "n2": 120, "n3": 100}

CONFIG = """\
global_defs {{
    router_id {name}
    script_user root
    enable_script_security
}}

# Stand-in for "pgrep haproxy": the demo removes this file to make haproxy look dead.
vrrp_script chk_haproxy {{
    script "/usr/bin/test -f {okfile}"
    interval 1
    timeout 1
    weight -60
    fall 1
    rise 1
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int {advert_int}
    version 3
    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
    track_script {{
        chk_haproxy
    }}
}}
"""


@dataclass
class DemoNode:
    node: Node
    prio: int
    conf: Path
    okfile: Path
    log: Path
    watcher: AddressWatcher
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.node.name

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = self.node.popen(
                [sys.executable, "-m", "pykeepalived", "-n", "-l", "-G", "-f", str(self.conf),
                 "-p", str(self.conf.with_suffix(".pid")),
                 "-r", str(self.conf.with_suffix(".vrrp.pid")),
                 "--control-socket", str(self.conf.with_suffix(".sock")),
                 "--state-dir", str(self.conf.parent / f"{self.name}-state")],
                stdout=log, stderr=subprocess.STDOUT)

    def pid(self) -> int | None:
        """The supervising parent (-p), which systemd or an operator signals."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.conf.with_suffix(".pid").read_text().strip())
        return None

    def vrrp_pid(self) -> int | None:
        """The VRRP child (-r), the process that speaks VRRP."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.conf.with_suffix(".vrrp.pid").read_text().strip())
        return None

    def wait_new_child(self, old: int | None, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.vrrp_pid()
            if pid is not None and pid != old:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no VRRP child respawned")

    def has_vip(self) -> bool:
        return any(str(a.ip) == VIP for a in self.node.addresses())


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def holders(nodes: list[DemoNode]) -> list[str]:
    return [n.name for n in nodes if n.has_vip()]


def wait_holder(nodes: list[DemoNode], want: str, timeout: float = 15.0) -> None:
    """Wait until ``want`` alone holds the VIP, and still does half a second later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holders(nodes) == [want]:
            time.sleep(0.5)
            if holders(nodes) == [want]:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{want} is not the only VIP holder after {timeout}s: {holders(nodes)}")


def timed_takeover(new: DemoNode, t0: float, what: str, bound: str = "") -> None:
    added = new.watcher.wait_for(VIP, after=t0, timeout=15)
    if added is None:
        raise RuntimeError(f"{new.name} never took the VIP after: {what}")
    extra = f" ({bound})" if bound else ""
    say(f"  -> {new.name} holds {VIP} {1000 * (added - t0):.0f} ms after {what}{extra}")


def run_demo(keep_logs: bool) -> int:
    if os.geteuid() != 0:
        print("the demo needs root (network namespaces): sudo ./scripts/demo", file=sys.stderr)
        return 1
    with Lab() as lab:
        say(f"lab {lab.prefix}: bridge br0 and three nodes in network namespaces")
        nodes: list[DemoNode] = []
        for name, prio in PRIORITIES.items():
            node = lab.add_node(name)
            okfile = lab.tmpdir / f"{name}.haproxy-ok"
            okfile.write_text("")
            conf = lab.tmpdir / f"{name}.conf"
            conf.write_text(CONFIG.format(name=name, okfile=okfile, prio=prio,
                                          advert_int=ADVERT_INT, vip=VIP))
            nodes.append(DemoNode(node, prio, conf, okfile, lab.tmpdir / f"{name}.log",
                                  node.watch_addresses()))
        n1, n2, _n3 = nodes
        mdi2 = master_down_interval(3, n2.prio, ADVERT_INT)

        try:
            t0 = time.monotonic()
            for n in nodes:
                n.start()
                say(f"started pykeepalived on {n.name} ({n.node.ipv4}), priority {n.prio}")
            wait_holder(nodes, "n1")
            say(f"MASTER is n1 (highest priority), VIP {VIP} up; converged "
                f"{time.monotonic() - t0:.2f} s after start (VRRPv3, advert_int {ADVERT_INT} s)")
            status = subprocess.run(
                [sys.executable, "-m", "pykeepalived", "status", "--control-socket",
                 str(n1.conf.with_suffix(".sock"))], capture_output=True, text=True)
            if status.returncode == 0:
                print(status.stdout, end="")

            say("1. kill -9 of the master's VRRP process (a crash: its -r pid)")
            t = time.monotonic()
            child = n1.vrrp_pid()
            os.kill(child or 0, signal.SIGKILL)
            gone = n1.watcher.wait_for(VIP, added=False, after=t, timeout=10)
            if gone is not None:
                say(f"  -> the supervisor sent its priority-0 advert and removed the dead "
                    f"process's VIP {1000 * (gone - t):.0f} ms after the kill")
            skew = skew_time(3, n2.prio, ADVERT_INT)
            timed_takeover(n2, t, "the crash",
                           f"skew time {skew * 1000:.0f} ms; keepalived waits its down interval, "
                           f"{mdi2 * 1000:.0f} ms")
            n1.wait_new_child(child)
            say("  -> the supervisor respawned the VRRP process; it rejoins and preempts back")
            wait_holder(nodes, "n1")

            say("2. kill -9 of the whole daemon (parent and child: nothing left to hand over)")
            t = time.monotonic()
            for pid in (n1.pid(), n1.vrrp_pid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid or 0, signal.SIGSTOP)
            for pid in (n1.pid(), n1.vrrp_pid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid or 0, signal.SIGKILL)
            timed_takeover(n2, t, "the kill",
                           f"Master_Down_Interval {mdi2 * 1000:.0f} ms; keepalived: the same")
            gone = n1.watcher.wait_for(VIP, added=False, after=t, timeout=10)
            if gone is not None:
                say(f"  -> the dead node's VIP expired by itself after {gone - t:.1f} s "
                    "(crash-safe VIPs; keepalived would keep it)")
            say("   the node is started again and preempts")
            t = time.monotonic()
            if n1.proc is not None:
                n1.proc.wait(timeout=5)
            n1.start()
            timed_takeover(n1, t, "the restart")
            wait_holder(nodes, "n1")

            say("3. haproxy dies on the master: health check fails, priority 150 -> 90")
            t = time.monotonic()
            n1.okfile.unlink()
            timed_takeover(n2, t, "the failure",
                           "check interval 1 s + one advert + skew with fast preempt; "
                           "keepalived waits the whole down interval")
            say("4. haproxy is back: the master preempts back")
            t = time.monotonic()
            n1.okfile.write_text("")
            timed_takeover(n1, t, "the recovery")
            wait_holder(nodes, "n1")

            say("5. graceful stop of the master (systemctl stop: SIGTERM, priority 0)")
            t = time.monotonic()
            os.kill(n1.pid() or 0, signal.SIGTERM)
            skew = skew_time(3, n2.prio, ADVERT_INT)
            timed_takeover(n2, t, "SIGTERM", f"skew time {skew * 1000:.0f} ms after priority 0")
            say("6. and it rejoins")
            t = time.monotonic()
            n1.start()
            timed_takeover(n1, t, "the restart")
            wait_holder(nodes, "n1")

            say("7. maintenance: 'pykeepalived maintenance on --wait 5' on the master")
            t = time.monotonic()
            ctl = [sys.executable, "-m", "pykeepalived", "maintenance", "--control-socket",
                   str(n1.conf.with_suffix(".sock"))]
            done = subprocess.run([*ctl, "on", "--wait", "5"], capture_output=True, text=True)
            print("  " + (done.stdout + done.stderr).strip().replace("\n", "\n  "))
            timed_takeover(n2, t, "'maintenance on' (no gap: n1 kept the VIP until then)")
            subprocess.run([*ctl, "off"], capture_output=True, text=True)
            say("   'maintenance off': n1 preempts back")
            wait_holder(nodes, "n1")
            say(f"final: n1 is MASTER, exactly one node holds {VIP}")
        except Exception:
            for n in nodes:
                print(f"===== {n.name} log:\n{n.log.read_text(errors='replace')}")
            raise
        finally:
            for n in nodes:
                if n.proc is not None and n.proc.poll() is None:
                    n.proc.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        n.proc.wait(timeout=5)
        if keep_logs:
            for n in nodes:
                print(f"===== {n.name} log:\n{n.log.read_text(errors='replace')}")
        say("cleaning up: stopping daemons, deleting namespaces")
    say("done")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--logs", action="store_true", help="print every node's log at the end")
    args = p.parse_args(argv)
    return run_demo(args.logs)


if __name__ == "__main__":
    sys.exit(main())
