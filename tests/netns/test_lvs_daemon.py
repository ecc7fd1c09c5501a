"""The health-checker process as an operator meets it: reload, respawn, stop, status and
metrics, on the real kernel (a client, one director with ``-C``, HTTP real servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.netns.daemons import PYKEEPALIVED, Cluster
from tests.netns.lab import Lab, Node
from tests.netns.lvs_tools import LoadClient, failures, shares, start_web, stop_web
from tests.netns.test_lvs_acceptance import (
    VIP,
    VS_NAME,
    checkers_only,
    director,
    in_table,
    lvs_status,
    real_server,
    rs_name,
    virtual_server,
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


def test_reload_keeps_the_servers_it_did_not_change(lab: Lab, cluster: Cluster,
                                                     farm: dict[str, Node]) -> None:
    webs = {i: start_web(farm[f"rs{i}"]) for i in (1, 3)}  # rs2 is down from the start
    d1 = director(lab, "d1", "192.0.2.1/24")
    two = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2))
    d = checkers_only(cluster, d1, virtual_server(two))
    wait_log(d, f"Removing service {rs_name('192.0.2.12')} from VS {VS_NAME}", 10)
    assert in_table(d) == {rs_name("192.0.2.11")}
    load = LoadClient(farm["client"], VIP, lab.tmpdir)
    try:
        three = "".join(real_server(f"192.0.2.1{i}", 2 if i == 1 else 1) for i in (1, 2, 3))
        d.config.write_text("global_defs {\n    script_user root\n}\n" + virtual_server(three))
        reloaded = time.time()
        d.signal(signal.SIGHUP)
        wait_until(lambda: in_table(d) == {rs_name("192.0.2.11"), rs_name("192.0.2.13")}, 10,
                   what="rs3 in the table after the reload", context=d.log)
        added = time.time()
        assert "Reloading" in d.log()
        # rs2 kept its state: still out, not re-added and removed again; rs1 kept too
        assert d.log().count(f"Removing service {rs_name('192.0.2.12')}") == 1
        assert (f"Changing weight from 1 to 2 for active service {rs_name('192.0.2.11')} of "
                f"VS {VS_NAME}") in d.log()
        assert "no longer exist" not in d.log()
        assert d.log().count(f"Activating healthchecker for service {rs_name('192.0.2.11')}") \
            == 1  # its checker kept running
        # a broken file on reload: logged, the running configuration stays
        d.config.write_text("virtual_server 192.0.2.100 80 {\n    lb_algo nonsense\n")
        d.signal(signal.SIGHUP)
        wait_log(d, "keeping the running configuration", 10)
        assert in_table(d) == {rs_name("192.0.2.11"), rs_name("192.0.2.13")}
        time.sleep(0.5)  # the scenario: requests keep flowing after both reloads
    finally:
        results = load.stop()
        for w in webs.values():
            stop_web(w)
    assert failures(results) == [], failures(results)
    assert shares([r for r in results if r[0] > added])["rs3"] > 0
    assert not [r for r in results if r[0] < reloaded and r[2] == "rs3"]


def test_a_killed_checker_process_is_respawned_and_traffic_goes_on(
        lab: Lab, cluster: Cluster, farm: dict[str, Node]) -> None:
    webs = [start_web(farm[f"rs{i}"]) for i in (1, 2, 3)]
    d1 = director(lab, "d1", "192.0.2.1/24")
    reals = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2, 3))
    d = checkers_only(cluster, d1, virtual_server(reals))
    wait_until(lambda: len(in_table(d)) == 3, 10, what="three real servers", context=d.log)
    load = LoadClient(farm["client"], VIP, lab.tmpdir)
    try:
        old = int(d.checkers_pid_file.read_text())
        os.kill(old, signal.SIGKILL)
        wait_log(d, f"Healthcheck child process({old}) died: Respawning", 5)
        wait_until(lambda: d.checkers_pid_file.exists()
                   and int(d.checkers_pid_file.read_text() or 0) not in (0, old), 5,
                   what="a new checker process")
        wait_until(lambda: len(in_table(d)) == 3, 10, what="the new process's table",
                   context=d.log)
        time.sleep(0.5)  # the scenario: traffic through the respawn and after it
    finally:
        results = load.stop()
        for w in webs:
            stop_web(w)
    # The table lives in the kernel: the death of the process that keeps it loses nothing.
    assert failures(results) == [], failures(results)


@pytest.mark.parametrize("keep", [False, True])
def test_stop_shuts_the_services_down_and_removes_the_table_unless_dash_i(
        lab: Lab, cluster: Cluster, farm: dict[str, Node], keep: bool) -> None:
    webs = [start_web(farm[f"rs{i}"]) for i in (1, 2)]
    d1 = director(lab, "d1", "192.0.2.1/24")
    reals = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2))
    node = d1
    node.exec(["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"], check=True)
    d = cluster.add(node, "global_defs {\n    script_user root\n}\n" + virtual_server(reals),
                    extra=["-C", "--lvs-masquerade", *(["-I"] if keep else [])])
    d.start()
    wait_until(lambda: len(in_table(d)) == 2, 10, what="two real servers", context=d.log)
    d.stop()
    for w in webs:
        stop_web(w)
    log = d.log()
    for i in (1, 2):
        assert f"Shutting down service {rs_name(f'192.0.2.1{i}')} from VS {VS_NAME}" in log
    listed = node.exec(["nft", "list", "table", "ip", "pykeepalived_lvs"])
    assert (listed.returncode == 0) is keep, listed
    assert not d.checkers_pid_file.exists()


def test_status_and_metrics_tell_each_real_server(lab: Lab, cluster: Cluster,
                                                 farm: dict[str, Node]) -> None:
    webs = [start_web(farm[f"rs{i}"]) for i in (1, 3)]
    d1 = director(lab, "d1", "192.0.2.1/24")
    reals = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2, 3))
    d1.exec(["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"], check=True)
    d = cluster.add(d1, "global_defs {\n    script_user root\n}\n" + virtual_server(reals),
                    extra=["-C", "--lvs-masquerade", "--metrics-listen", "127.0.0.1:9650"])
    d.start()
    try:
        wait_log(d, f"Removing service {rs_name('192.0.2.12')} from VS {VS_NAME}", 10)
        from tests.netns.lvs_tools import run_client

        assert failures(run_client(farm["client"], VIP, 20)) == []
        st = lvs_status(d)
        assert st is not None
        (vs,) = st["virtual_servers"]
        by = {rs["name"]: rs for rs in vs["real_servers"]}
        down = by[rs_name("192.0.2.12")]
        assert not down["alive"] and not down["in_table"]
        (chk,) = down["checkers"]
        assert chk["kind"] == "HTTP_GET" and chk["up"] is False
        assert chk["last"]["ok"] is False and chk["last"]["reason"]
        assert chk["checks"]["failure"] >= 1
        up = by[rs_name("192.0.2.11")]
        assert up["alive"] and up["in_table"] and up["packets"] > 0 and up["bytes"] > 0
        text = subprocess.run([*PYKEEPALIVED, "status", "--control-socket",
                               str(d.pid_file.with_suffix(".sock"))],
                              capture_output=True, text=True, timeout=20)
        assert text.returncode == 0, text.stderr
        assert rs_name("192.0.2.12") in text.stdout and "DOWN" in text.stdout
        page = d1.exec(["python3", "-c", "import urllib.request,sys; sys.stdout.write("
                        "urllib.request.urlopen('http://127.0.0.1:9650/metrics', timeout=5)"
                        ".read().decode())"], check=True).stdout
        assert (f'pykeepalived_lvs_real_server_up{{vs="{VS_NAME}",'
                f'rs="{rs_name("192.0.2.12")}"}} 0') in page
        assert (f'pykeepalived_lvs_real_server_up{{vs="{VS_NAME}",'
                f'rs="{rs_name("192.0.2.11")}"}} 1') in page
        assert "pykeepalived_lvs_real_server_packets_total" in page
    finally:
        for w in webs:
            stop_web(w)
    assert urllib.request is not None


def test_with_vrrp_one_status_and_one_metrics_page_cover_both_processes(
        lab: Lab, cluster: Cluster, farm: dict[str, Node]) -> None:
    from tests.netns.daemons import config

    webs = [start_web(farm[f"rs{i}"]) for i in (1, 2)]
    d1 = director(lab, "d1", "192.0.2.1/24")
    reals = "".join(real_server(f"192.0.2.1{i}") for i in (1, 2))
    d = cluster.add(d1, config(150, vip=f"{VIP}/24 dev eth0", head=virtual_server(reals)),
                    extra=["--lvs-masquerade", "--metrics-listen", "127.0.0.1:9651"])
    d.start()
    try:
        d.wait_ready()
        wait_until(lambda: len(in_table(d)) == 2, 10, what="two real servers", context=d.log)
        assert "Starting Healthcheck child process" in d.log()
        assert "Starting VRRP child process" in d.log()
        proc = subprocess.run([*PYKEEPALIVED, "status", "--json", "--control-socket",
                               str(d.pid_file.with_suffix(".sock"))],
                              capture_output=True, text=True, timeout=20)
        import json

        answer = json.loads(proc.stdout)
        assert answer["instances"][0]["name"] == "VI_1" and "lvs" in answer
        page = d1.exec(["python3", "-c", "import urllib.request,sys; sys.stdout.write("
                        "urllib.request.urlopen('http://127.0.0.1:9651/metrics', timeout=5)"
                        ".read().decode())"], check=True).stdout
        assert "keepalived_vrrp_state" in page or "pykeepalived_vrrp_state" in page
        assert (f'pykeepalived_lvs_real_server_up{{vs="{VS_NAME}",'
                f'rs="{rs_name("192.0.2.11")}"}} 1') in page
    finally:
        for w in webs:
            stop_web(w)


def test_group_service_runs_notify_and_quorum_scripts(lab: Lab, cluster: Cluster,
                                                      farm: dict[str, Node]) -> None:
    """A virtual_server_group of two VIPs (keepalived names it [WEB]:0: a group service has
    no port of its own); a real server's death runs its notify_down and,
    below the quorum, the quorum_down script; its return runs notify_up and quorum_up."""
    from tests.netns.lvs_tools import run_client

    webs = {i: start_web(farm[f"rs{i}"]) for i in (1, 2)}
    d1 = director(lab, "d1", "192.0.2.1/24")
    record = lab.tmpdir / "notify.log"
    script = lab.tmpdir / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {record}\n")
    script.chmod(0o755)
    reals = "".join(
        f"    real_server 192.0.2.1{i} 80 {{\n        weight 1\n"
        f"        notify_up \"{script} up rs{i}\"\n        notify_down \"{script} down rs{i}\"\n"
        "        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n        }\n"
        "    }\n" for i in (1, 2))
    conf = ("global_defs {\n    script_user root\n}\n"
            "virtual_server_group WEB {\n    192.0.2.100 80\n    192.0.2.101 80\n}\n"
            "virtual_server group WEB {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n    quorum 2\n    quorum_up \"{script} quorum up\"\n"
            f"    quorum_down \"{script} quorum down\"\n{reals}}}\n")
    d1.exec(["ip", "addr", "add", "192.0.2.101/24", "dev", "eth0"], check=True)
    d = checkers_only(cluster, d1, conf)
    try:
        wait_until(lambda: len(in_table(d)) == 2, 10, what="two real servers", context=d.log)
        for vip in ("192.0.2.100", "192.0.2.101"):
            got = shares(run_client(farm["client"], vip, 10))
            assert set(got) == {"rs1", "rs2"}, (vip, got)
        stop_web(webs[1])
        wait_log(d, "Removing service [192.0.2.11]:tcp:80 from VS [WEB]:0", 8)
        wait_until(lambda: record.exists() and "quorum down" in record.read_text(), 5,
                   what="quorum_down to run", context=d.log)
        assert "down rs1" in record.read_text()
        assert "Lost quorum 2-0=2 > 1 for VS [WEB]:0" in d.log()
        webs[1] = start_web(farm["rs1"])
        wait_log(d, "Gained quorum 2+0=2 <= 2 for VS [WEB]:0", 8)
        wait_until(lambda: "quorum up" in record.read_text(), 5, what="quorum_up to run")
        lines = record.read_text().splitlines()
        assert lines == ["down rs1", "quorum down", "up rs1", "quorum up"], lines
    finally:
        for w in webs.values():
            stop_web(w)
