"""keepalived's real-time signals on pykeepalived: JSON and STATS_CLEAR, beside keepalived.

``kill -s $(keepalived --signum=JSON) PID`` is what keepalived exporters and monitoring plugins
run (signal 36, SIGRTMIN+2 on Linux); STATS_CLEAR is SIGRTMAX-1. Neither may end the daemon.
pykeepalived on n1 and Debian's keepalived on n2 run the same configuration on one segment;
their /tmp/keepalived.json files must agree key by key: the same instances, keys, JSON types,
and values wherever the value follows from the configuration (state, timing and counters
differ between the two nodes by nature).
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

import pytest

from tests.netns.daemons import Cluster, Daemon
from tests.support import wait_until

pytestmark = pytest.mark.netns

JSON_FILE = Path("/tmp/keepalived.json")  # pykeepalived's; keepalived gets its own TMPDIR
VIP = "192.0.2.100"
INSTANCES = ["VI_V3", "VI_PASS", "VI_V6", "VI_VMAC", "VI_FAULT"]

CONFIG = """
global_defs {
    script_user root
}

vrrp_script chk_ok {
    script "/bin/true"
    interval 1
    weight 10
}

vrrp_instance VI_V3 {
    state BACKUP
    version 3
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.5
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
    virtual_ipaddress_excluded {
        2001:db8::200/64 dev eth0
    }
    virtual_routes {
        198.51.100.0/24 via 192.0.2.254 dev eth0
    }
    track_script {
        chk_ok
    }
    notify_master /bin/true
    notify "/bin/echo notified"
}

vrrp_instance VI_PASS {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 1
    nopreempt
    authentication {
        auth_type PASS
        auth_pass secret12345
    }
    virtual_ipaddress {
        192.0.2.101/24 dev eth0
        192.0.2.102 dev eth0 label eth0:2
    }
}

vrrp_instance VI_V6 {
    state BACKUP
    interface eth0
    virtual_router_id 53
    priority 100
    advert_int 1
    preempt_delay 2
    virtual_ipaddress {
        2001:db8::100/64 dev eth0
    }
}

vrrp_instance VI_VMAC {
    state BACKUP
    interface eth0
    use_vmac
    virtual_router_id 54
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.104/24
    }
}

vrrp_instance VI_FAULT {
    state BACKUP
    interface eth0
    virtual_router_id 55
    priority 100
    advert_int 1
    track_interface {
        trk0
    }
    virtual_ipaddress {
        192.0.2.105/24 dev eth0
    }
}
"""

#: Values that depend on the node's role, on time or on traffic rather than on configuration.
RUNTIME = {"master_priority", "last_transition", "vipset", "state", "wantstate"}


def signum(name: str) -> int:
    """The number ``pykeepalived --signum=NAME`` prints (and keepalived's, which must agree)."""
    ours = subprocess.run([sys.executable, "-m", "pykeepalived", f"--signum={name}"],
                          capture_output=True, text=True, check=True, timeout=30)
    theirs = subprocess.run(["keepalived", f"--signum={name}"], capture_output=True, text=True,
                            check=True, timeout=30)
    assert ours.stdout == theirs.stdout, name
    return int(ours.stdout)


def dump(daemon: Daemon, path: Path, sig: int) -> list[dict[str, Any]]:
    """Send ``sig`` (JSON) and read back the file it writes, once it is complete."""
    if path.exists():
        path.unlink()
    daemon.signal(sig)

    def complete() -> list[dict[str, Any]] | None:
        with contextlib.suppress(OSError, ValueError):
            data: list[dict[str, Any]] = json.loads(path.read_text())
            if [i["data"]["iname"] for i in data] == INSTANCES:
                return data
        return None

    data = wait_until(complete, 5, what=f"{daemon.kind} to write {path}", context=daemon.log)
    if path == JSON_FILE:
        path.unlink()
    return data


def bare_vip(text: str) -> str:
    """A "vips" string without what depends on the node holding it."""
    return text.removesuffix(" nftable_set").removesuffix(" set")


def differences(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for mine, ref in zip(ours, theirs, strict=True):
        name = ref["data"]["iname"]
        for part in ("data", "stats"):
            if list(mine[part]) != list(ref[part]):
                problems.append(f"{name}.{part} keys: {list(mine[part])} vs {list(ref[part])}")
                continue
            for key, want in ref[part].items():
                got = mine[part][key]
                if type(got) is not type(want):
                    problems.append(f"{name}.{key}: {got!r} vs keepalived {want!r} (type)")
                elif part == "data" and key in ("vips", "evips"):
                    if [bare_vip(v) for v in got] != [bare_vip(v) for v in want]:
                        problems.append(f"{name}.{key}: {got} vs keepalived {want}")
                elif part == "data" and key not in RUNTIME and got != want:
                    problems.append(f"{name}.{key}: {got!r} vs keepalived {want!r}")
    return problems


@pytest.fixture
def pair(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> tuple[Daemon, Daemon, Path]:
    """pykeepalived on n1 and keepalived on n2 with CONFIG; keepalived writes its dumps in
    its own TMPDIR (it honours the variable), pykeepalived in /tmp."""
    nodes = [cluster.lab.add_node(n) for n in ("n1", "n2")]
    for node in nodes:  # a tracked interface that stays down: VI_FAULT
        node.exec(["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"],
                  check=True)
    ka_tmp = cluster.lab.tmpdir / "ka-tmp"
    ka_tmp.mkdir()
    py = cluster.add(nodes[0], CONFIG, "py")
    ka = cluster.add(nodes[1], CONFIG, "ka")
    py.start()
    with monkeypatch.context() as env:
        env.setenv("TMPDIR", str(ka_tmp))
        ka.start()
    py.wait_ready()
    ka.wait_ready()
    # every election is over (one node holds each instance's VIP); chk_ok has reported
    for vip, ifname in ((VIP, "eth0"), ("192.0.2.101", "eth0"), ("2001:db8::100", "eth0"),
                        ("192.0.2.104", "vrrp.54")):
        cluster.wait_single_holder(vip, ifname=ifname)
    return py, ka, ka_tmp / "keepalived.json"


def test_json_signal_keeps_pykeepalived_running_and_matches_keepalived(
        pair: tuple[Daemon, Daemon, Path]) -> None:
    py, ka, ka_json = pair
    sig = signum("JSON")
    assert sig == signal.SIGRTMIN + 2
    theirs = dump(ka, ka_json, sig)
    ours = dump(py, JSON_FILE, sig)
    time.sleep(0.3)
    assert py.alive() and ka.alive()
    pid = py.vrrp_pid()  # the VRRP process writes the dump, as keepalived's child does
    assert f"Printing VRRP as json for process({pid}) on signal" in py.log()
    assert "Printing VRRP as json for process(" in ka.log()
    assert differences(ours, theirs) == []
    # the states the election gives: one MASTER (2) and one BACKUP (1) per instance, and
    # FAULT (3) on both for the instance whose tracked interface is down
    states = [{i["data"]["iname"]: i["data"]["state"] for i in d} for d in (ours, theirs)]
    for name in INSTANCES:
        both = sorted((states[0][name], states[1][name]))
        assert both == ([3, 3] if name == "VI_FAULT" else [1, 2]), (name, both)
    v3 = next(i["data"] for i in ours if i["data"]["iname"] == "VI_V3")
    assert v3["effective_priority"] == 110 and v3["adver_int"] == 0.5
    # Every advert the master sent is received once by the backup, whichever daemon is which
    # (a VMAC instance hears the advert on its macvlan and on the parent: counted once).
    stats = [{i["data"]["iname"]: i["stats"] for i in d} for d in (ours, theirs)]
    for name in ("VI_V3", "VI_PASS", "VI_VMAC"):
        sent = max(s[name]["advert_sent"] for s in stats)
        received = max(s[name]["advert_rcvd"] for s in stats)
        assert sent - 3 <= received <= sent + 3, (name, stats[0][name], stats[1][name])


def test_stats_clear_zeroes_the_counters_and_keeps_the_daemon(
        pair: tuple[Daemon, Daemon, Path]) -> None:
    py, ka, ka_json = pair
    json_sig, clear_sig = signum("JSON"), signum("STATS_CLEAR")
    assert clear_sig == signal.SIGRTMAX - 1
    for daemon, path in ((py, JSON_FILE), (ka, ka_json)):
        before = {i["data"]["iname"]: i["stats"] for i in dump(daemon, path, json_sig)}
        daemon.signal(clear_sig)
        time.sleep(0.2)
        assert daemon.alive(), daemon.log()
        wait_until(lambda d=daemon: "Printing and clearing VRRP stats for process(" in d.log(),
                   5, what=f"{daemon.kind} to log STATS_CLEAR", context=daemon.log)
        after = {i["data"]["iname"]: i["stats"] for i in dump(daemon, path, json_sig)}
        for name, stats in after.items():
            sent = before[name]["advert_sent"] + before[name]["advert_rcvd"]
            assert stats["become_master"] == 0 and stats["release_master"] == 0, (name, stats)
            if sent:  # a live instance: at most the last second's adverts since the clear
                assert stats["advert_sent"] + stats["advert_rcvd"] < sent, (name, stats)
            assert all(v == 0 for k, v in stats.items()
                       if k not in ("advert_sent", "advert_rcvd")), (daemon.kind, name, stats)
    assert os.path.exists(py.pid_file)


def test_no_signal_keepalived_names_ends_the_daemon(pair: tuple[Daemon, Daemon, Path]) -> None:
    py, _ka, _ = pair
    for name in ("RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON"):
        py.signal(signum(name))
        time.sleep(0.3)
        assert py.alive(), f"pykeepalived ended on --signum={name}:\n{py.log()}"
    py.signal(signal.SIGRTMAX)  # TDATA, in keepalived builds with thread dumps
    time.sleep(0.3)
    assert py.alive(), py.log()
    with contextlib.suppress(OSError):
        JSON_FILE.unlink()
