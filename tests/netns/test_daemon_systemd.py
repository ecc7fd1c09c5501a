"""sd_notify: READY, a STATUS line naming each instance's role, STOPPING (socket bound here)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys

import pytest

from tests.netns.daemons import config
from tests.netns.lab import Lab
from tests.support import wait_until

pytestmark = pytest.mark.netns


def test_sd_notify_ready_status_and_stopping(lab: Lab) -> None:
    node = lab.add_node("n1")
    path = lab.tmpdir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    conf = lab.tmpdir / "n1.conf"
    conf.write_text(config(150))
    env = dict(os.environ, NOTIFY_SOCKET=str(path))
    proc = node.popen([sys.executable, "-m", "pykeepalived", "-n", "-G", "-f", str(conf),
                       "--control-socket", str(lab.tmpdir / "ctl.sock"),
                       "--state-dir", str(lab.tmpdir / "state"),
                       "-p", str(lab.tmpdir / "p"), "-r", str(lab.tmpdir / "r")],
                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    messages: list[str] = []

    def heard(text: str) -> bool:
        with contextlib.suppress(TimeoutError):  # the socket's 0.2 s timeout paces the polls
            messages.append(sock.recv(4096).decode())
        return any(text in m for m in messages)

    def collect(until: str) -> None:
        wait_until(lambda: heard(until), 10, what=f"sd_notify {until}", step=0,
                   context=lambda: f"messages {messages}")

    try:
        collect("READY=1")
        collect("STATUS=VI_1 MASTER prio 150")
        proc.terminate()
        collect("STOPPING=1")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_checkers_only_tells_systemd_ready_and_pings_its_watchdog(lab: Lab) -> None:
    """-C: no VRRP child sends READY or the watchdog's pings, so the parent does."""
    node = lab.add_node("n1")
    path = lab.tmpdir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    conf = lab.tmpdir / "n1.conf"
    conf.write_text("virtual_server 192.0.2.100 80 {\n    delay_loop 1\n    lb_algo rr\n"
                    "    lb_kind NAT\n    protocol TCP\n    real_server 192.0.2.11 80 {\n"
                    "        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n")
    env = dict(os.environ, NOTIFY_SOCKET=str(path), WATCHDOG_USEC="1000000")
    proc = node.popen([sys.executable, "-m", "pykeepalived", "-C", "-n", "-G", "-f", str(conf),
                       "--control-socket", str(lab.tmpdir / "ctl.sock"),
                       "-p", str(lab.tmpdir / "p"), "-c", str(lab.tmpdir / "c")],
                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    messages: list[str] = []

    def count(text: str) -> int:
        with contextlib.suppress(TimeoutError):
            messages.append(sock.recv(4096).decode())
        return sum(text in m for m in messages)

    try:
        wait_until(lambda: count("READY=1"), 10, what="READY=1", step=0,
                   context=lambda: f"messages {messages}")
        assert any("STATUS=health checkers only" in m for m in messages)
        wait_until(lambda: count("WATCHDOG=1") >= 3, 5, what="three watchdog pings", step=0,
                   context=lambda: f"messages {messages}")
        proc.terminate()
        wait_until(lambda: count("STOPPING=1"), 10, what="STOPPING=1", step=0,
                   context=lambda: f"messages {messages}")
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
