"""sd_notify: READY, a STATUS line naming each instance's role, STOPPING (socket bound here)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.netns.daemons import config
from tests.netns.lab import Lab

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

    def collect(until: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                messages.append(sock.recv(4096).decode())
            if any(until in m for m in messages):
                return True
        return False

    try:
        assert collect("READY=1"), messages
        assert collect("STATUS=VI_1 MASTER prio 150"), messages
        proc.terminate()
        assert collect("STOPPING=1"), messages
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
