"""The lab itself: nodes talk over the bridge, link and VRRP blocking work, cleanup is total."""

from __future__ import annotations

import subprocess
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path

import pytest

from .lab import Lab, sweep_leftovers

pytestmark = pytest.mark.netns


def test_nodes_reach_each_other_and_link_down_cuts_them(lab: Lab) -> None:
    n1, n2 = lab.add_node("n1"), lab.add_node("n2")
    assert IPv4Interface("192.0.2.1/24") in n1.addresses()
    assert IPv6Interface("2001:db8::1/64") in n1.addresses()
    assert n1.ping("192.0.2.2")
    assert n1.ping("2001:db8::2")
    lab.link_down(n2)
    assert not n1.ping("192.0.2.2", wait=0.3)
    lab.link_up(n2)
    assert n1.ping("192.0.2.2", count=1, wait=2)


def test_popen_process_is_killed_on_close() -> None:
    with Lab() as lab:
        node = lab.add_node("n1")
        proc = node.popen(["sleep", "60"])
        namespaces = lab.namespaces()
        assert all(Path(f"/run/netns/{ns}").exists() for ns in namespaces)
    assert proc.poll() is not None
    assert not any(Path(f"/run/netns/{ns}").exists() for ns in namespaces)


def test_sweep_removes_namespaces_of_dead_runs() -> None:
    dead = "pk999999999x0abc-n1"  # no such PID can exist (above pid_max)
    subprocess.run(["ip", "netns", "add", dead], check=True)
    try:
        assert dead in sweep_leftovers()
        assert not Path(f"/run/netns/{dead}").exists()
    finally:
        subprocess.run(["ip", "netns", "del", dead], capture_output=True)


def test_address_watcher_timestamps_add_and_remove(lab: Lab) -> None:
    node = lab.add_node("n1")
    watcher = node.watch_addresses()
    node.exec(["ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"], check=True)
    added = watcher.wait_for("192.0.2.100", added=True, timeout=3)
    assert added is not None
    node.exec(["ip", "addr", "del", "192.0.2.100/24", "dev", "eth0"], check=True)
    removed = watcher.wait_for("192.0.2.100", added=False, timeout=3)
    assert removed is not None and removed >= added
