"""Operating pykeepalived on the real kernel: status, maintenance hand-over, metrics, split brain.

Each daemon gets its own control socket and state directory (a private temporary directory,
never /run or /var/lib), passed with ``Cluster.add(..., extra=[...])``. The client commands run
as separate processes exactly as an operator would run them.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.core.router import skew_time
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.nft import nft
from tests.netns.daemons import Cluster, config
from tests.netns.lab import Node
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"
ADVERT_INT = 0.1
#: scheduling noise on a shared 2-core machine
MARGIN = 0.1


@pytest.fixture
def ops_dir() -> Iterator[Path]:
    # Short path: Unix socket names are limited to 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="pkops-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sock_of(ops_dir: Path, name: str) -> str:
    return str(ops_dir / f"{name}.sock")


def ops_args(ops_dir: Path, name: str, *more: str) -> list[str]:
    return ["--control-socket", sock_of(ops_dir, name), "--state-dir",
            str(ops_dir / f"{name}-state"), *more]


def ctl(ops_dir: Path, name: str, *argv: str,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    cmd, rest = argv[0], argv[1:]
    return subprocess.run(
        [sys.executable, "-m", "pykeepalived", cmd, "--control-socket", sock_of(ops_dir, name),
         *rest], capture_output=True, text=True, timeout=timeout)


def status(ops_dir: Path, name: str) -> dict[str, Any]:
    proc = ctl(ops_dir, name, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def instance(ops_dir: Path, name: str) -> dict[str, Any]:
    inst: dict[str, Any] = status(ops_dir, name)["instances"][0]
    return inst


def add_nodes(cluster: Cluster, ops_dir: Path, prios: tuple[int, ...], *, extra: str = "",
              args: dict[str, list[str]] | None = None) -> list[Node]:
    nodes = []
    for i, prio in enumerate(prios, start=1):
        node = cluster.lab.add_node(f"n{i}")
        cluster.add(node, config(prio, advert_int=ADVERT_INT, extra=extra),
                    extra=ops_args(ops_dir, node.name, *(args or {}).get(node.name, [])))
        nodes.append(node)
    cluster.start_all()
    return nodes


def scrape(node: Node, port: int) -> dict[str, float]:
    """GET /metrics from inside the node's namespace; {'name{labels}': value}."""
    sock = run_in_netns(node.ns, lambda: socket.create_connection(("127.0.0.1", port), 5))
    with sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_status_names_the_master_on_every_node_through_failover(
    cluster: Cluster, ops_dir: Path
) -> None:
    add_nodes(cluster, ops_dir, (150, 100, 120),
              args={"n3": ["--metrics-listen", "127.0.0.1:9650"]})
    assert cluster.wait_single_holder(VIP) == "n1"
    n3 = cluster.daemons["n3"].node

    def masters(names: tuple[str, ...], expect: str) -> bool:
        for n in names:
            proc = ctl(ops_dir, n, "status", "--json")
            if proc.returncode != 0:  # a restarted daemon opens its socket after starting
                return False
            if json.loads(proc.stdout)["instances"][0]["master"]["address"] != expect:
                return False
        return True

    wait_until(lambda: masters(("n1", "n2", "n3"), "192.0.2.1"), what="n1 as master")
    s1, s2 = instance(ops_dir, "n1"), instance(ops_dir, "n2")
    assert s1["state"] == "MASTER" and s1["master"]["self"]
    assert s1["vips"] == [{"address": f"{VIP}/24", "interface": "eth0", "present": True,
                           "excluded": False, "removal_failing": False}]
    assert s2["state"] == "BACKUP" and s2["master"]["priority"] == 150
    assert s2["vips"][0]["present"] is False
    assert s2["priority"] == {"configured": 100, "effective": 100, "reasons": [],
                              "fault_reasons": []}
    assert s2["counters"]["adverts_received"] > 0
    assert {t["key"]: t["state"] for t in s2["trackers"]} == {"interface:eth0": "up"}
    text = ctl(ops_dir, "n2", "status")
    assert text.returncode == 0
    assert "VI_1  BACKUP since" in text.stdout and "192.0.2.1 priority 150" in text.stdout
    before = scrape(n3, 9650)
    assert before['pykeepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"}'] == 1
    assert before['pykeepalived_vrrp_priority{iname="VI_1",intf="eth0",vrid="51"}'] == 120

    cluster.daemons["n1"].kill9()
    wait_until(lambda: masters(("n2", "n3"), "192.0.2.3"), what="n3 as master")
    s3 = instance(ops_dir, "n3")
    assert s3["state"] == "MASTER" and s3["vips"][0]["present"] is True
    down = ctl(ops_dir, "n1", "status")
    assert down.returncode == 3
    assert "not running" in down.stderr and down.stdout == ""
    after = scrape(n3, 9650)
    assert after['pykeepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"}'] == 2
    assert after['pykeepalived_vrrp_transitions_total{iname="VI_1",intf="eth0",vrid="51"}'] \
        == before['pykeepalived_vrrp_transitions_total{iname="VI_1",intf="eth0",vrid="51"}'] + 1
    assert after['pykeepalived_vrrp_adverts_sent_total{iname="VI_1",intf="eth0",vrid="51"}'] > 0

    # The restarted n1 (its stale socket file left by the SIGKILL) preempts back.
    cluster.daemons["n1"].start().wait_ready()
    wait_until(lambda: masters(("n1", "n2", "n3"), "192.0.2.1"), what="n1 master again")
    assert instance(ops_dir, "n3")["state"] == "BACKUP"
    assert scrape(n3, 9650)['pykeepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"}'] == 1


def test_maintenance_hands_over_without_gap_and_survives_restart(
    cluster: Cluster, ops_dir: Path
) -> None:
    add_nodes(cluster, ops_dir, (150, 100))
    assert cluster.wait_single_holder(VIP) == "n1"
    wait_until(lambda: instance(ops_dir, "n2")["master"]["address"] == "192.0.2.1",
               what="n2 to follow n1 as master")
    t = time.monotonic()
    proc = ctl(ops_dir, "n1", "maintenance", "on", "--wait", "5")
    assert proc.returncode == 0, proc.stderr + cluster.logs()
    assert "192.0.2.2" in proc.stdout
    removed = cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=1)
    added = cluster.watchers["n2"].wait_for(VIP, after=t, timeout=1)
    assert removed is not None and added is not None, cluster.logs()
    gap = added - removed  # negative: both held it for a moment (no gap at all)
    limit = ADVERT_INT + skew_time(3, 100, ADVERT_INT) + MARGIN
    assert gap <= limit, f"VIP gap {gap:.3f}s > {limit:.3f}s\n{cluster.logs()}"
    s1 = instance(ops_dir, "n1")
    assert s1["state"] == "BACKUP" and s1["maintenance"] is True
    assert s1["priority"]["effective"] == 1
    assert s1["priority"]["reasons"][-1]["source"] == "maintenance"
    assert s1["master"]["address"] == "192.0.2.2"
    flag = ops_dir / "n1-state" / "maintenance"
    assert flag.exists()

    d1 = cluster.daemons["n1"]
    d1.stop()
    d1.start().wait_ready()
    time.sleep(1.0)  # the scenario: well beyond n1's down interval, it would have preempted
    assert cluster.holders(VIP) == ["n2"], cluster.logs()
    s1 = instance(ops_dir, "n1")
    assert s1["state"] == "BACKUP" and s1["maintenance"] and s1["priority"]["effective"] == 1

    # Deleting the flag file is "maintenance off" for tools that cannot use the socket.
    t = time.monotonic()
    flag.unlink()
    assert cluster.watchers["n1"].wait_for(VIP, after=t, timeout=5) is not None, cluster.logs()
    assert instance(ops_dir, "n1")["maintenance"] is False


def test_maintenance_with_no_other_node_refuses_and_keeps_the_vip(
    cluster: Cluster, ops_dir: Path
) -> None:
    add_nodes(cluster, ops_dir, (150,))
    assert cluster.wait_single_holder(VIP) == "n1"
    t = time.monotonic()
    proc = ctl(ops_dir, "n1", "maintenance", "on", "--wait", "1")
    assert proc.returncode == 1, proc.stdout
    assert "maintenance refused" in proc.stderr and "VI_1 is still MASTER" in proc.stderr
    assert "VIPs kept" in proc.stderr
    assert cluster.watchers["n1"].wait_for(VIP, added=False, after=t, timeout=0.1) is None
    s1 = instance(ops_dir, "n1")
    assert s1["state"] == "MASTER" and s1["maintenance"] is False
    assert s1["priority"]["effective"] == 150
    assert not (ops_dir / "n1-state" / "maintenance").exists()
    assert cluster.holders(VIP) == ["n1"]


def test_split_brain_is_reported_on_both_masters_and_garps_follow_the_survivor(
    cluster: Cluster, ops_dir: Path
) -> None:
    marker = ops_dir / "conflicts.log"
    script = ops_dir / "on-conflict.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\n")
    script.chmod(0o755)
    lab = cluster.lab
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    lab.block_vrrp(n2)
    for node, prio in ((n1, 150), (n2, 100)):
        cluster.add(node, config(prio, advert_int=ADVERT_INT, extra="    garp_master_delay 0"),
                    extra=ops_args(ops_dir, node.name, "--conflict-script", str(script)))
    cluster.start_all()
    t = time.monotonic()
    wait_until(lambda: sorted(cluster.holders(VIP)) == ["n1", "n2"], what="two masters")
    for name, other in (("n1", n2.mac), ("n2", n1.mac)):
        line = f"(VI_1) CONFLICT: {VIP} also held by {other}"
        wait_until(lambda line=line, name=name: line in cluster.daemons[name].log(),
                   timeout=6, what=f"conflict on {name}")
    # default probe interval 1 s: confirmed after two to three rounds as MASTER
    assert time.monotonic() - t < 5
    c1 = instance(ops_dir, "n1")["conflicts"]
    assert c1["total"] == 1 and c1["active"][0]["holder"] == n2.mac
    wait_until(lambda: f"CONFLICT VI_1 {VIP} {n1.mac}" in
               (marker.read_text() if marker.exists() else ""), what="conflict script")

    with lab.capture("arp") as cap:
        t = time.monotonic()
        lab.unblock_vrrp(n2)
        assert cluster.wait_single_holder(VIP) == "n1"
        log1 = cluster.daemons["n1"].log
        wait_until(lambda: "(VI_1) CONFLICT cleared" in log1(), timeout=5,
                   what="conflict cleared")
        # then n1, still MASTER, announces the VIP again (each frame logged as it is sent)
        wait_until(lambda: f"Sending gratuitous ARP on eth0 for {VIP}" in
                   log1().split("(VI_1) CONFLICT cleared", 1)[1], timeout=5,
                   what="n1 to announce the VIP again", context=cluster.logs)
    garps = cap.fields(["eth.src", "arp.src.proto_ipv4", "arp.dst.proto_ipv4"],
                       f"arp.src.proto_ipv4 == {VIP} && arp.dst.proto_ipv4 == {VIP}")
    assert garps, cluster.logs()
    assert {g["eth.src"] for g in garps} == {n1.mac}
    assert instance(ops_dir, "n1")["conflicts"]["active"] == []
    assert instance(ops_dir, "n2")["state"] == "BACKUP"


def test_one_way_vrrp_loss_is_reported_as_another_master_at_equal_priority(
    cluster: Cluster, ops_dir: Path
) -> None:
    lab = cluster.lab
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    # n1 hears no VRRP, n2 hears n1: only n2 can see the other master's adverts.
    nft("table inet pkoneway {\n chain in { type filter hook input priority -10; "
        "policy accept; meta l4proto 112 drop; }\n}\n", netns=n1.ns)
    for node in (n2, n1):  # n2 first, so it is MASTER when n1 (lower IP) comes up
        d = cluster.add(node, config(100, advert_int=ADVERT_INT),
                        extra=ops_args(ops_dir, node.name))
        d.start().wait_ready()
        wait_until(lambda node=node: node.name in cluster.holders(VIP),
                   what=f"{node.name} to hold the VIP")
    line = "(VI_1) CONFLICT: another MASTER 192.0.2.1 advertises our VRID with priority 100 " \
           "(ours 100)"
    wait_until(lambda: line in cluster.daemons["n2"].log(), timeout=6, what="advert conflict")
    kinds = {c["kind"] for c in instance(ops_dir, "n2")["conflicts"]["active"]}
    assert kinds == {"address", "advert"}
    assert sorted(cluster.holders(VIP)) == ["n1", "n2"]


def test_split_brain_on_an_ipv6_vip_is_found_with_neighbour_solicitations(
    cluster: Cluster, ops_dir: Path
) -> None:
    lab = cluster.lab
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    lab.block_vrrp(n1)
    for node, prio in ((n1, 150), (n2, 100)):
        cluster.add(node, config(prio, advert_int=ADVERT_INT, vip="2001:db8::100/64 dev eth0"),
                    extra=ops_args(ops_dir, node.name))
    cluster.start_all()
    wait_until(lambda: sorted(cluster.holders("2001:db8::100")) == ["n1", "n2"],
               what="two masters")
    for name, other in (("n1", n2.mac), ("n2", n1.mac)):
        line = f"(VI_1) CONFLICT: 2001:db8::100 also held by {other}"
        wait_until(lambda line=line, name=name: line in cluster.daemons[name].log(),
                   timeout=6, what=f"conflict on {name}")
