"""The daemon never imports pyroute2: it cost the VRRP child 9 MiB of its 34 MiB RSS.

Requests go through pykeepalived's own rtnetlink client (net/rtnl.py, net/nlwire.py). The test
side (tests/, the lab in pykeepalived.testing, the demo built on it) may use pyroute2; every
other module of the package is imported here, in a fresh interpreter, and none may pull it in.
tests/netns/test_daemon_footprint.py watches a running daemon's VRRP child do the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import importlib, pkgutil, sys
import pykeepalived
skip = ("pykeepalived.__main__", "pykeepalived.testing", "pykeepalived.demo")
names = [m.name for m in pkgutil.walk_packages(pykeepalived.__path__, "pykeepalived.")
         if not m.name.startswith(skip)]
for name in names:
    importlib.import_module(name)
# the modules the VRRP child runs, named so that a rename cannot empty the list unseen
for name in ("pykeepalived.daemon.main", "pykeepalived.daemon.driver",
             "pykeepalived.daemon.vips", "pykeepalived.net.netlink", "pykeepalived.net.rtnl",
             "pykeepalived.net.rtnl_events", "pykeepalived.net.addr_renewer"):
    assert name in sys.modules, name
print(len(names), sorted(m for m in sys.modules if m.split(".")[0] == "pyroute2"))
"""


def test_no_module_the_daemon_runs_imports_pyroute2() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert done.returncode == 0, done.stderr
    count, imported = done.stdout.split(" ", 1)
    assert int(count) > 50
    assert imported.strip() == "[]"
