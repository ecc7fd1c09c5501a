"""What pykeepalived leaves in the kernel: routes, rules, accept-mode filter, -V, track_file."""

from __future__ import annotations

import signal
import time

import pytest

from pykeepalived.net.netlink import Netlink
from pykeepalived.net.nft import nft
from tests.netns.daemons import Cluster, config
from tests.netns.lab import Node
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"


def routes_to(node: Node, prefix: str, table: int = 254) -> list[dict[str, object]]:
    dst, plen = prefix.split("/")
    with Netlink(node.ns) as nl:
        return [r for r in nl.routes(table=table)
                if r.get("dst") == dst and r.get("dst_len") == int(plen)]


def rule_tables(node: Node) -> set[int]:
    with Netlink(node.ns) as nl:
        return {int(r.get("table") or 0) for r in nl.rules()}


def test_virtual_routes_and_rules_follow_the_master(cluster: Cluster) -> None:
    tail = """    virtual_routes {
        198.51.100.0/24 via 192.0.2.254 dev eth0
        blackhole 198.51.100.64/26 table 100
    }
    virtual_rules {
        from 192.0.2.100/32 table 100 priority 100
    }"""
    for i, prio in ((1, 150), (2, 100)):
        cluster.add(cluster.lab.add_node(f"n{i}"), config(prio, tail=tail))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    n1, n2 = cluster.daemons["n1"].node, cluster.daemons["n2"].node
    wait_until(lambda: routes_to(n1, "198.51.100.0/24"), 5, what="n1's virtual route",
               context=cluster.logs)
    assert routes_to(n1, "198.51.100.64/26", table=100)
    assert 100 in rule_tables(n1)
    assert not routes_to(n2, "198.51.100.0/24") and 100 not in rule_tables(n2)
    cluster.daemons["n1"].stop()
    assert cluster.wait_single_holder(VIP) == "n2"
    wait_until(lambda: routes_to(n2, "198.51.100.0/24"), 5, what="n2's virtual route",
               context=cluster.logs)
    assert 100 in rule_tables(n2)
    # the stopped master took its routes and rules with it
    assert not routes_to(n1, "198.51.100.0/24") and 100 not in rule_tables(n1)


def test_no_accept_drops_traffic_to_the_vip_through_nftables(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    client = cluster.lab.add_node("n9", ipv4="192.0.2.9/24")
    cluster.add(n1, config(150, extra="    no_accept"))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    assert client.ping("192.0.2.1", wait=1.0)  # the node itself answers
    assert not client.ping(VIP, count=2, wait=0.5)  # its VIP does not (keepalived's no_accept)
    tables = n1.exec(["nft", "list", "tables"]).stdout
    assert "keepalived" in tables
    cluster.daemons["n1"].stop()
    assert "keepalived" not in n1.exec(["nft", "list", "tables"]).stdout


def test_accept_mode_default_answers_on_the_vip(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    client = cluster.lab.add_node("n9", ipv4="192.0.2.9/24")
    cluster.add(n1, config(150))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    assert client.ping(VIP, count=3, wait=1.0)


def test_dont_release_vrrp_keeps_permanent_vips_on_stop(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    cluster.add(n1, config(150), extra=["-V"])
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    with Netlink(n1.ns) as nl:
        info = [a for a in nl.addresses(nl.ifindex("eth0")) if str(a.interface.ip) == VIP]
    assert info and info[0].valid_lft is None  # permanent, as keepalived's
    cluster.daemons["n1"].stop()
    assert VIP in {str(a.ip) for a in n1.addresses()}


def test_track_file_weight_moves_the_vip(cluster: Cluster) -> None:
    tmp = cluster.lab.tmpdir
    head_tpl = """
vrrp_track_file tf {{
    file "{path}"
    weight -10
}}
"""
    for i, prio in ((1, 150), (2, 100)):
        path = tmp / f"n{i}.track"
        path.write_text("0\n")
        cluster.add(cluster.lab.add_node(f"n{i}"),
                    config(prio, head=head_tpl.format(path=path),
                           tail="    track_file {\n        tf\n    }"))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    t = time.monotonic()
    (tmp / "n1.track").write_text("6\n")  # 150 - 60 = 90 < 100
    added = cluster.watchers["n2"].wait_for(VIP, after=t, timeout=5)
    assert added is not None, cluster.logs()
    assert added - t < 0.5
    assert "(VI_1) Changing effective priority from 150 to 90" in cluster.daemons["n1"].log()


def test_interface_missing_at_start_keeps_fault_until_it_appears(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    text = config(150).replace("interface eth0", "interface eth1").replace("dev eth0", "dev eth1")
    d = cluster.add(n1, text)
    d.start()
    wait_until(lambda: "Entering FAULT STATE" in d.log(), 10, what="FAULT without eth1",
               context=d.log)
    assert d.alive()
    n1.exec(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"], check=True)
    n1.exec(["ip", "addr", "add", "198.51.100.1/24", "dev", "eth1"], check=True)
    n1.exec(["ip", "link", "set", "eth1p", "up"], check=True)
    n1.exec(["ip", "link", "set", "eth1", "up"], check=True)
    wait_until(lambda: VIP in {str(a.ip) for a in n1.addresses("eth1")}, 10,
               what="the VIP on the new eth1", context=d.log)
    assert "Entering MASTER STATE" in d.log()
    d.signal(signal.SIGTERM)


def test_cleanup_leaves_no_filter_table_behind(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    nft("add table inet unrelated\n", netns=n1.ns)
    cluster.add(n1, config(150))
    cluster.start_all()
    cluster.daemons["n1"].stop()
    assert "unrelated" in n1.exec(["nft", "list", "tables"]).stdout  # never touches others'


def test_usr1_usr2_dumps_in_keepalived_layout_and_no_symlink_following(
    cluster: Cluster, tmp_path: object
) -> None:
    import os
    from pathlib import Path

    data, stats = Path("/tmp/keepalived.data"), Path("/tmp/keepalived.stats")
    for f in (data, stats):
        f.unlink(missing_ok=True)
    victim = cluster.lab.tmpdir / "victim"
    victim.write_text("precious\n")
    stats.symlink_to(victim)
    try:
        d = cluster.add(cluster.lab.add_node("n1"), config(150))
        cluster.start_all()
        assert cluster.wait_single_holder(VIP) == "n1"
        d.signal(signal.SIGUSR1)
        d.signal(signal.SIGUSR2)
        wait_until(lambda: data.exists() and "Virtual IP" in data.read_text(), 5,
                   what="the SIGUSR1 data dump", context=d.log)
        text = data.read_text()
        for line in (" VRRP Instance = VI_1", "   State = MASTER", "   Virtual Router ID = 51",
                     "   Priority = 150", "   Advert interval = 100 milli-sec",
                     "     192.0.2.100/24 dev eth0 scope global set"):
            assert line in text.splitlines(), text
        wait_until(lambda: "Unable to open /tmp/keepalived.stats" in d.log(), 5,
                   what="the SIGUSR2 dump to refuse the symlink", context=d.log)
        assert victim.read_text() == "precious\n"  # the symlink was not followed
        stats.unlink()
        d.signal(signal.SIGUSR2)
        wait_until(lambda: stats.exists() and "Priority Zero:" in stats.read_text(), 5,
                   what="the SIGUSR2 stats dump", context=d.log)
        assert "VRRP Instance: VI_1" in stats.read_text()
        assert os.stat(stats).st_mode & 0o777 == 0o644
    finally:
        for f in (data, stats):
            f.unlink(missing_ok=True)


def test_master_renews_vip_lifetime_and_restores_a_removed_vip(cluster: Cluster) -> None:
    from pykeepalived.daemon.driver import DEFAULT_VIP_LIFETIME

    n1 = cluster.lab.add_node("n1")
    cluster.add(n1, config(150, vip="192.0.2.100/24 brd 192.0.2.255 dev eth0 label eth0:vip"))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    t = time.monotonic()
    time.sleep(DEFAULT_VIP_LIFETIME * 2)  # the scenario: two lifetimes pass
    # held continuously: no removal event in two lifetimes
    assert cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=0.1) is None
    with Netlink(n1.ns) as nl:
        index = nl.ifindex("eth0")
        info = next(a for a in nl.addresses(index) if str(a.interface.ip) == VIP)
        assert info.valid_lft is not None and info.valid_lft <= DEFAULT_VIP_LIFETIME
        assert info.label == "eth0:vip" and str(info.broadcast) == "192.0.2.255"
        nl.remove_address(index, info.interface)
    t = time.monotonic()
    back = cluster.watchers["n1"].wait_for(VIP, after=t, timeout=DEFAULT_VIP_LIFETIME)
    assert back is not None, cluster.logs()
    with Netlink(n1.ns) as nl:
        info = next(a for a in nl.addresses(nl.ifindex("eth0")) if str(a.interface.ip) == VIP)
    assert info.label == "eth0:vip" and info.interface.network.prefixlen == 24


def test_restart_removes_a_vip_left_behind_by_a_killed_daemon(cluster: Cluster) -> None:
    n1 = cluster.lab.add_node("n1")
    n2 = cluster.lab.add_node("n2")
    d1 = cluster.add(n1, config(100), extra=["-V"])  # permanent VIPs, as keepalived's
    cluster.add(n2, config(150))
    cluster.daemons["n1"].start().wait_ready()
    assert cluster.wait_single_holder(VIP) == "n1"
    d1.kill9()
    assert VIP in {str(a.ip) for a in n1.addresses()}  # left behind, like keepalived's
    cluster.daemons["n2"].start().wait_ready()
    t = time.monotonic()
    d1.start()
    d1.wait_ready()
    removed = cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=5)
    assert removed is not None, cluster.logs()
    assert cluster.wait_single_holder(VIP) == "n2"
    assert "(VI_1) removing VIPs." in d1.log()
