"""Direct routing and fwmark services through the whole daemon (``-C``): the checker removes a
dead real server from a DR service, and a fwmark service balances what the director's own
firewall marked, as keepalived's ``virtual_server fwmark``."""

from __future__ import annotations

import pytest

from pykeepalived.net.nft import nft
from tests.netns.daemons import Cluster, Daemon
from tests.netns.lab import Lab, Node
from tests.netns.lvs_tools import failures, run_client, shares, start_web, stop_web
from tests.netns.test_lvs_acceptance import (
    VIP,
    VS_NAME,
    director,
    in_table,
    real_server,
    rs_name,
    wait_log,
)
from tests.support import wait_until

pytestmark = pytest.mark.netns


@pytest.fixture
def farm(lab: Lab) -> dict[str, Node]:
    nodes = {"client": lab.add_node("client", ipv4="192.0.2.50/24")}
    for i in (1, 2, 3):
        nodes[f"rs{i}"] = lab.add_node(f"rs{i}", ipv4=f"192.0.2.1{i}/24")
    return nodes


def start(cluster: Cluster, node: Node, conf: str, *extra: str) -> Daemon:
    node.exec(["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"], check=True)
    d = cluster.add(node, "global_defs {\n    script_user root\n}\n" + conf,
                    extra=["-C", *extra])
    d.start()
    return d


def test_direct_routing_service_with_a_checker(lab: Lab, cluster: Cluster,
                                               farm: dict[str, Node]) -> None:
    for i in (1, 2, 3):
        rs = farm[f"rs{i}"]
        rs.exec(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"], check=True)
        rs.exec(["sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1",
                 "net.ipv4.conf.all.arp_announce=2"], check=True)
    webs = {i: start_web(farm[f"rs{i}"]) for i in (1, 2, 3)}
    d1 = director(lab, "d1", "192.0.2.1/24")
    reals = "".join(real_server(f"192.0.2.1{i}", w) for i, w in ((1, 1), (2, 2), (3, 1)))
    conf = (f"virtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo wrr\n"
            f"    lb_kind DR\n    protocol TCP\n{reals}}}\n")
    d = start(cluster, d1, conf)
    try:
        wait_until(lambda: len(in_table(d)) == 3, 10, what="three real servers", context=d.log)
        results = run_client(farm["client"], VIP, 400)
        assert failures(results) == []
        assert dict(shares(results)) == {"rs1": 100, "rs2": 200, "rs3": 100}
        stop_web(webs[2])
        wait_log(d, f"Removing service {rs_name('192.0.2.12')} from VS {VS_NAME}", 8)
        results = run_client(farm["client"], VIP, 100)
        assert failures(results) == [] and dict(shares(results)) == {"rs1": 50, "rs3": 50}
    finally:
        for w in webs.values():
            stop_web(w)


def test_fwmark_service_balances_what_the_firewall_marked(lab: Lab, cluster: Cluster,
                                                          farm: dict[str, Node]) -> None:
    webs = [start_web(farm[f"rs{i}"]) for i in (1, 2)]
    d1 = director(lab, "d1", "192.0.2.1/24")
    nft("table ip marker {\n chain pre {\n  type filter hook prerouting priority mangle;\n"
        f"  ip daddr {VIP} tcp dport 80 meta mark set 7\n }}\n}}", netns=d1.ns)
    reals = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2))
    conf = ("virtual_server fwmark 7 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
            f"{reals}}}\n")
    d = start(cluster, d1, conf, "--lvs-masquerade")
    try:
        wait_until(lambda: len(in_table(d)) == 2, 10, what="two real servers", context=d.log)
        assert "Activating healthchecker for service [192.0.2.11]:tcp:80 for VS FWM 7" in d.log()
        results = run_client(farm["client"], VIP, 100)
        assert failures(results) == []
        assert dict(shares(results)) == {"rs1": 50, "rs2": 50}
    finally:
        for w in webs:
            stop_web(w)
