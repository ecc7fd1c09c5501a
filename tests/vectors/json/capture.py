"""Capture keepalived 2.2.7's JSON dump (signal 36, ``--signum=JSON``) on lab namespaces.

Run as root from the repository root: ``PYTHONPATH=src:. python3 tests/vectors/json/capture.py``.
It builds a throwaway lab (namespaces with a per-run prefix, documentation addresses only,
removed on exit even on failure), runs Debian's keepalived on two nodes with ``pair.conf``
(n1 priority 150, n2 priority 100) and on a third with ``solo.conf``, and writes beside this
file, for each node:

- ``<conf>-<node>.json``: the dump once every instance has settled;
- ``<conf>-<node>-cleared.json``: the dump after STATS_CLEAR (signal 63);
- for n2, ``pair-n2-takeover.json``: the dump after n1 stopped (n2 took over).

Each keepalived gets its own TMPDIR, so its dumps never collide with another process's
/tmp/keepalived.json. Processes are stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pykeepalived.testing.lab import Lab, Node

HERE = Path(__file__).parent
JSON_SIGNAL = 36
STATS_CLEAR_SIGNAL = 63


class Keepalived:
    def __init__(self, node: Node, conf: Path, work: Path) -> None:
        self.node, self.conf, self.work = node, conf, work
        work.mkdir(parents=True, exist_ok=True)
        self.pid_file = work / "ka.pid"
        self.vrrp_pid_file = work / "ka-vrrp.pid"
        self.log_path = work / "ka.log"
        env = dict(os.environ, TMPDIR=str(work))
        with open(self.log_path, "w") as log:
            self.proc = node.popen(
                ["keepalived", "-P", "-n", "-l", "-D", "-G", "-i", node.name, "-f", str(conf),
                 "-p", str(self.pid_file), "-r", str(self.vrrp_pid_file)],
                stdout=log, stderr=subprocess.STDOUT, env=env)

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def dump(self, sig: int = JSON_SIGNAL) -> list[dict[str, Any]]:
        path = self.work / "keepalived.json"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.kill(self.pid(), sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                data: list[dict[str, Any]] = json.loads(path.read_text())
                return data
            time.sleep(0.05)
        raise RuntimeError(f"no JSON from {self.node.name}:\n{self.log_path.read_text()}")

    def raw(self) -> str:
        return (self.work / "keepalived.json").read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                os.kill(self.pid(), signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def add_tracked_link(node: Node) -> None:
    """A veth pair inside the node, left down: ``track_interface trk0`` puts an instance in
    FAULT."""
    node.exec(["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"], check=True)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    with Lab() as lab:
        nodes = [lab.add_node(n) for n in ("n1", "n2", "n3")]
        for node in nodes:
            add_tracked_link(node)
        work = lab.tmpdir
        daemons = {
            "n1": Keepalived(nodes[0], HERE / "pair.conf", work / "n1"),
            "n2": Keepalived(nodes[1], HERE / "pair.conf", work / "n2"),
            "n3": Keepalived(nodes[2], HERE / "solo.conf", work / "n3"),
        }
        try:
            time.sleep(8)  # every instance out of its first down interval
            for name, ka in daemons.items():
                conf = ka.conf.stem
                ka.dump()
                (out / f"{conf}-{name}.json").write_text(ka.raw())
                t0 = time.time()
                os.kill(ka.pid(), STATS_CLEAR_SIGNAL)
                time.sleep(0.3)
                assert ka.proc.poll() is None, f"keepalived on {name} died on STATS_CLEAR"
                ka.dump()
                (out / f"{conf}-{name}-cleared.json").write_text(ka.raw())
                print(f"{name}: wall clock at STATS_CLEAR {t0:.6f}")
            daemons["n1"].stop()
            time.sleep(6)
            daemons["n2"].dump()
            (out / "pair-n2-takeover.json").write_text(daemons["n2"].raw())
            # TDATA (SIGRTMAX) is named by keepalived(8) but this build has no thread dump.
            os.kill(daemons["n3"].pid(), signal.SIGRTMAX)
            time.sleep(0.5)
            print(f"n3 alive after SIGRTMAX: {daemons['n3'].proc.poll() is None}")
            for name, ka in daemons.items():
                print(f"===== {name}\n{ka.log_path.read_text()}")
        finally:
            for ka in daemons.values():
                ka.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
