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
