"""A running daemon's VRRP child, MASTER with a VIP on a VMAC, a virtual route and a rule:
it never imported pyroute2 (9 MiB of its 34 MiB RSS when it did), and its RSS shows it.

The interpreter reports every import to stderr (``PYTHONPROFILEIMPORTTIME``, Python's own
switch, no daemon flag), and the daemon's stderr is its log: the supervising parent's imports
and, after the fork, the child's are all there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pykeepalived.net.netlink import Netlink
from tests.netns.daemons import Cluster, config
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"
TAIL = """    virtual_routes {
        198.51.100.0/24 via 192.0.2.254 dev eth0
    }
    virtual_rules {
        from 192.0.2.100/32 table 100 priority 100
    }"""
#: The child measured 34 MiB with pyroute2 and 25-26 without (asyncio alone is 18.7).
RSS_LIMIT_KIB = 30 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_vrrp_child_never_imports_pyroute2(cluster: Cluster) -> None:
    node = cluster.lab.add_node("n1")
    daemon = cluster.add(node, config(150, vip="192.0.2.100/24", extra="    use_vmac",
                                      tail=TAIL))
    daemon.env["PYTHONPROFILEIMPORTTIME"] = "1"
    daemon.start().wait_ready()
    assert cluster.wait_single_holder(VIP, ifname="vrrp.51") == "n1", cluster.logs()

    def route_installed() -> bool:
        with Netlink(node.ns) as nl:
            return any(r["dst"] == "198.51.100.0" for r in nl.routes()) and any(
                r["table"] == 100 for r in nl.rules())

    wait_until(route_installed, 5, what="the virtual route and rule", context=cluster.logs)
    rss = rss_kib(daemon.vrrp_pid())
    imports = [line for line in daemon.log().splitlines() if line.startswith("import time:")]
    # the child's own imports are in the log (the parent never imports the driver)
    assert any(line.endswith("pykeepalived.daemon.driver") for line in imports), imports[-20:]
    assert any(line.endswith("pykeepalived.net.rtnl") for line in imports)
    assert [line for line in imports if "pyroute2" in line] == []
    assert rss < RSS_LIMIT_KIB, f"VRRP child RSS {rss} KiB"
