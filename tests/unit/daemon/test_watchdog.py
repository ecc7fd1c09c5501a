"""WatchdogSec=: WATCHDOG=1 comes from the event loop, so a blocked loop stops the pings.

The daemon runs for real (its loop, core and sd_notify client) against a notify socket of the
test and the recording FakeEffects; a callback that blocks the loop stands for a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import threading
import time
from pathlib import Path

import pytest

from pykeepalived.daemon.driver import Daemon
from pykeepalived.daemon.log import EventLog
from tests.unit.daemon.fakes import FakeEffects
from tests.unit.daemon.test_reload_without_root import instance


def test_a_blocked_loop_stops_the_watchdog_pings(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.1)
    pings: list[float] = []
    done = threading.Event()

    def collect() -> None:
        while not done.is_set():
            try:
                data = notify.recv(4096)
            except TimeoutError:
                continue
            if b"WATCHDOG=1" in data.split(b"\n"):
                pings.append(time.monotonic())

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    conf = tmp_path / "k.conf"
    conf.write_text(instance("VI_1", 51))
    options = argparse.Namespace(
        config_file=str(conf), config_id=None, control_socket=str(tmp_path / "c.sock"),
        state_dir=str(tmp_path / "st"), metrics_listen=None, no_conflict_detection=True)
    daemon = Daemon(options, EventLog(console=io.StringIO(), syslog=False,
                                      journal_socket=None), effects=FakeEffects())
    window: list[float] = []

    async def main() -> None:
        daemon.operations.open()
        await daemon.start(daemon.load())
        daemon.sd.start_watchdog(asyncio.get_running_loop(), 0.05)
        await asyncio.sleep(0.5)
        window.append(time.monotonic())
        time.sleep(0.6)  # the hang: nothing else runs on the loop meanwhile
        window.append(time.monotonic())
        await asyncio.sleep(0.5)
        await daemon.shutdown()

    try:
        asyncio.run(main())
    finally:
        done.set()
        reader.join(timeout=2)
        notify.close()
    start, end = window
    before = [t for t in pings if t < start]
    during = [t for t in pings if start + 0.02 < t < end - 0.02]
    after = [t for t in pings if t > end]
    assert len(before) >= 5 and len(after) >= 5, (len(before), len(after))
    assert during == []


def test_watchdog_interval_is_half_of_what_systemd_asks_for_us(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from pykeepalived.daemon import sdnotify

    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 1.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None
