"""Several daemons on one host, told apart by their -p pid files only (keepalived's way)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.netns.daemons import config
from tests.netns.lab import Lab
from tests.support import wait_until

pytestmark = pytest.mark.netns


def test_distinct_pid_files_are_enough_for_several_daemons(lab: Lab) -> None:
    procs = []
    pids = {}
    try:
        for name, prio in (("n1", 150), ("n2", 100)):
            node = lab.add_node(name)
            conf = lab.tmpdir / f"{name}.conf"
            conf.write_text(config(prio))
            pids[name] = lab.tmpdir / f"{name}.pid"
            procs.append(node.popen(
                [sys.executable, "-m", "pykeepalived", "-n", "-G", "-f", str(conf),
                 "-p", str(pids[name]), "-r", str(lab.tmpdir / f"{name}-vrrp.pid")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        states: dict[str, str] = {}

        def roles() -> dict[str, str]:
            # each daemon is found by its -p pid file alone
            for name, pid in pids.items():
                out = subprocess.run([sys.executable, "-m", "pykeepalived", "status", "--json",
                                      "-p", str(pid)], capture_output=True, text=True)
                if out.returncode == 0:
                    answer = json.loads(out.stdout)
                    states[name] = answer["instances"][0]["state"]
            return states

        wait_until(lambda: roles() == {"n1": "MASTER", "n2": "BACKUP"}, 10,
                   what="n1 MASTER and n2 BACKUP, each asked through its pid file",
                   step=0.2, context=lambda: f"states {states}")
        assert all(p.poll() is None for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
