"""pykeepalived on the real kernel: health checks, notify, GARP, unicast, VMAC and reload."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pykeepalived.net.nft import nft
from tests.netns.daemons import Cluster, config
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"


def script_config(prio: int, okfile: Path, *, nopreempt: bool = False) -> str:
    # With nopreempt a backup never takes over from a live master, whatever its priority, so
    # the check must put the master in FAULT (weight 0) to move the VIP (keepalived's rule).
    weight = 0 if nopreempt else -60
    head = f"""
vrrp_script chk_haproxy {{
    script "/usr/bin/test -f {okfile}"
    interval 1
    timeout 1
    weight {weight}
    fall 1
    rise 1
}}
"""
    return config(prio, head=head, extra="    nopreempt" if nopreempt else "",
                  tail="    track_script {\n        chk_haproxy\n    }")


@pytest.mark.parametrize("nopreempt", [False, True])
def test_failing_vrrp_script_moves_vip_and_recovery_moves_it_back_unless_nopreempt(
    cluster: Cluster, nopreempt: bool
) -> None:
    tmp = cluster.lab.tmpdir
    for i, prio in ((1, 150), (2, 100)):
        node = cluster.lab.add_node(f"n{i}")
        ok = tmp / f"n{i}.ok"
        ok.write_text("")
        cluster.add(node, script_config(prio, ok, nopreempt=nopreempt))
    # n1 first: with nopreempt, whoever is master first stays master
    cluster.daemons["n1"].start().wait_ready()
    assert cluster.wait_single_holder(VIP) == "n1", cluster.logs()
    cluster.daemons["n2"].start().wait_ready()
    time.sleep(0.5)  # the scenario: longer than n2's down interval, and n1 keeps the VIP
    assert cluster.wait_single_holder(VIP) == "n1", cluster.logs()
    t = time.monotonic()
    (tmp / "n1.ok").unlink()  # haproxy "dies" on the master
    added = cluster.watchers["n2"].wait_for(VIP, after=t, timeout=6)
    assert added is not None, cluster.logs()
    # script interval 1 s, then about one advert (0.1 s) plus skew with fast preempt
    assert added - t <= 1.0 + 0.1 + 0.1 + 0.3, cluster.logs()
    log1 = cluster.daemons["n1"].log()
    assert "VRRP_Script(chk_haproxy) failed (exited with status 1)" in log1
    if nopreempt:
        assert "(VI_1) Entering FAULT STATE" in log1
    else:
        assert "(VI_1) Changing effective priority from 150 to 90" in log1
    assert cluster.wait_single_holder(VIP) == "n2"
    t2 = time.monotonic()
    (tmp / "n1.ok").write_text("")
    if nopreempt:
        time.sleep(3)  # the scenario: n1 is healthy again, and for 3 s n2 keeps the VIP
        assert cluster.holders(VIP) == ["n2"], cluster.logs()
    else:
        back = cluster.watchers["n1"].wait_for(VIP, after=t2, timeout=6)
        assert back is not None, cluster.logs()
        assert back - t2 <= 1.0 + 0.1 + 0.1 + 0.3
        assert cluster.wait_single_holder(VIP) == "n1"
    assert "VRRP_Script(chk_haproxy) succeeded" in cluster.daemons["n1"].log()


def test_notify_scripts_get_keepalived_arguments(cluster: Cluster) -> None:
    tmp = cluster.lab.tmpdir
    record = tmp / "notify.out"
    script = tmp / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$(hostname -s 2>/dev/null) $*" >> {record}\n')
    script.chmod(0o755)
    master_marker = tmp / "master.out"
    node = cluster.lab.add_node("n1")
    cluster.add(node, config(150, name="VI_$weird;name", extra=(
        f"    notify {script}\n"
        f'    notify_master "/bin/sh -c \'echo master >> {master_marker}\'"\n')))
    cluster.start_all()
    wait_until(lambda: record.exists() and "MASTER" in record.read_text(), 5,
               what="the notify script to record MASTER", context=cluster.logs)
    lines = record.read_text().splitlines()
    assert any(line.endswith("INSTANCE VI_$weird;name BACKUP 150") for line in lines), lines
    assert any(line.endswith("INSTANCE VI_$weird;name MASTER 150") for line in lines), lines
    wait_until(master_marker.exists, 5, what="notify_master to run", context=cluster.logs)
    assert master_marker.read_text().strip() == "master"
    cluster.daemons["n1"].stop()
    wait_until(lambda: "STOP" in record.read_text(), 5, what="the notify script to record STOP",
               context=record.read_text)
    assert record.read_text().splitlines()[-1].endswith("INSTANCE VI_$weird;name STOP 150")


def test_gratuitous_arps_are_seen_on_the_bridge_after_takeover(cluster: Cluster) -> None:
    for i, prio in ((1, 150), (2, 100)):
        cluster.add(cluster.lab.add_node(f"n{i}"), config(prio))
    cap = cluster.lab.capture("arp").start()
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    d2, seen = cluster.daemons["n2"], len(cluster.daemons["n2"].log())
    cluster.daemons["n1"].kill9()
    assert cluster.watchers["n2"].wait_for(VIP, timeout=5) is not None
    garp = f"Sending gratuitous ARP on eth0 for {VIP}"  # logged as each one is sent
    wait_until(lambda: d2.log()[seen:].count(garp) >= 5, 5,
               what="n2 to send its gratuitous ARPs", context=cluster.logs)
    cap.stop()
    rows = cap.fields(["eth.src", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
                       "arp.dst.hw_mac"])
    garps = [r for r in rows if r["arp.src.proto_ipv4"] == VIP == r["arp.dst.proto_ipv4"]]
    by_src: dict[str, int] = {}
    for r in garps:
        by_src[r["eth.src"]] = by_src.get(r["eth.src"], 0) + 1
        assert r["arp.opcode"] == "1" and r["arp.dst.hw_mac"] == "ff:ff:ff:ff:ff:ff"
    # garp_master_repeat 5 from each node as it became master
    assert by_src.get("02:00:00:00:00:01", 0) >= 5, rows
    assert by_src.get("02:00:00:00:00:02", 0) >= 5, rows


def test_unicast_peers_work_with_multicast_blocked(cluster: Cluster) -> None:
    nodes = [cluster.lab.add_node(f"n{i}") for i in (1, 2, 3)]
    for node in nodes:
        nft("add table inet pkmcast\n"
            "add chain inet pkmcast in { type filter hook input priority 0 ; }\n"
            "add chain inet pkmcast out { type filter hook output priority 0 ; }\n"
            "add rule inet pkmcast in ip daddr 224.0.0.0/4 drop\n"
            "add rule inet pkmcast out ip daddr 224.0.0.0/4 drop\n", netns=node.ns)
    for i, (node, prio) in enumerate(zip(nodes, (150, 100, 120), strict=True), start=1):
        peers = "\n".join(f"        192.0.2.{j}" for j in (1, 2, 3) if j != i)
        extra = (f"    unicast_src_ip 192.0.2.{i}\n    unicast_peer {{\n{peers}\n    }}\n")
        cluster.add(node, config(prio, extra=extra))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1", cluster.logs()
    t = time.monotonic()
    cluster.daemons["n1"].kill9()
    added = cluster.watchers["n3"].wait_for(VIP, after=t, timeout=5)
    assert added is not None and added - t <= 0.3 + 0.053 + 0.1, cluster.logs()
    assert cluster.wait_single_holder(VIP) == "n3"


def test_use_vmac_puts_the_vip_on_a_virtual_mac_interface(cluster: Cluster) -> None:
    for i, prio in ((1, 150), (2, 100)):
        cluster.add(cluster.lab.add_node(f"n{i}"), config(prio, vip="192.0.2.100/24",
                                                          extra="    use_vmac"))
    cap = cluster.lab.capture("ip proto 112").start()
    cluster.start_all()
    assert cluster.wait_single_holder(VIP, ifname="vrrp.51") == "n1", cluster.logs()
    with cluster.daemons["n1"].node.netlink() as nl:
        info = nl.link("vrrp.51")
    assert info.mac == bytes.fromhex("00005e000133")
    time.sleep(0.5)  # the scenario: half a second of the master's adverts on the wire
    cap.stop()
    # keepalived sends the adverts out of the VMAC: switches learn the virtual MAC from them
    rows = cap.fields(["eth.src", "ip.src", "vrrp.prio"])
    master_rows = [r for r in rows if r["vrrp.prio"] == "150"]
    assert master_rows, rows
    assert {r["eth.src"] for r in master_rows} == {"00:00:5e:00:01:33"}
    assert {r["ip.src"] for r in master_rows} == {"192.0.2.1"}
    cluster.daemons["n1"].kill9()
    # n1 may hold the VIP a moment longer (its child hands over, or the lifetime runs out):
    # wait for n2 alone, not for whoever is alone first
    wait_until(lambda: cluster.holders(VIP, "vrrp.51") == ["n2"], 10, what="n2 alone",
               stable_for=0.3, context=cluster.logs)
    cluster.daemons["n2"].stop()
    from pykeepalived.net.netlink import InterfaceNotFound
    with cluster.daemons["n2"].node.netlink() as nl, pytest.raises(InterfaceNotFound):
        nl.link("vrrp.51")  # the daemon removes the VMAC it created


def test_sighup_reload(cluster: Cluster) -> None:
    for i, prio in ((1, 150), (2, 100), (3, 120)):
        cluster.add(cluster.lab.add_node(f"n{i}"), config(prio))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    d1 = cluster.daemons["n1"]
    # 1. unchanged config: no flap
    t = time.monotonic()
    d1.signal(signal.SIGHUP)
    time.sleep(1.0)  # the scenario: a second after the reload, and the VIP never went away
    assert cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=0.1) is None
    assert cluster.holders(VIP) == ["n1"]
    assert d1.log().count("Entering MASTER STATE") == 1
    # 2. a broken config changes nothing
    good = d1.config.read_text()
    d1.config.write_text(good + "\nvrrp_instance {\n")
    d1.signal(signal.SIGHUP)
    wait_until(lambda: "keeping the running configuration" in d1.log(), 5,
               what="n1 to refuse the broken config", context=d1.log)
    time.sleep(0.5)  # the scenario: half a second later nothing has changed
    assert cluster.holders(VIP) == ["n1"] and d1.alive()
    # 3. a lower priority moves the VIP to where the new priorities say
    d1.config.write_text(good.replace("priority 150", "priority 90"))
    t = time.monotonic()
    d1.signal(signal.SIGHUP)
    added = cluster.watchers["n3"].wait_for(VIP, after=t, timeout=5)
    assert added is not None, cluster.logs()
    assert cluster.wait_single_holder(VIP) == "n3"
    assert "(VI_1) Changing effective priority from 150 to 90" in d1.log()


def test_sighup_adds_and_removes_instances_and_keeps_the_rest(cluster: Cluster) -> None:
    node = cluster.lab.add_node("n1")
    d = cluster.add(node, config(150))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1"
    second = config(150, name="VI_2", vrid=52, vip="198.51.100.100/24 dev eth0")
    second = second[second.index("vrrp_instance"):]
    d.config.write_text(d.config.read_text() + second)
    t = time.monotonic()
    d.signal(signal.SIGHUP)
    added = cluster.watchers["n1"].wait_for("198.51.100.100", after=t, timeout=5)
    assert added is not None, d.log()
    # VI_1 was untouched: its VIP never went away
    assert cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=0.1) is None
    # now drop VI_1
    text = d.config.read_text()
    start = text.index("vrrp_instance VI_1")
    end = text.index("vrrp_instance VI_2")
    d.config.write_text(text[:start] + text[end:])
    t = time.monotonic()
    d.signal(signal.SIGHUP)
    removed = cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=5)
    assert removed is not None, d.log()
    assert "198.51.100.100" in {str(a.ip) for a in node.addresses()}
    assert d.alive()
