"""SIGUSR1 to a running ``pykeepalived -C``: the parent passes it to the checker process,
which logs keepalived's line and writes /tmp/keepalived_check.data in keepalived's layout with
the live state of its real servers (one up, one whose web server is not running).

The file is keepalived's fixed path, as the VRRP dump tests use /tmp/keepalived.data: a file a
real keepalived on this host left there is put aside for the test and put back after it.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.daemons import Cluster, Daemon
from tests.netns.lab import Lab
from tests.netns.lvs_tools import start_web, stop_web
from tests.netns.test_lvs_acceptance import (
    VIP,
    VS_NAME,
    checkers_only,
    director,
    real_server,
    rs_name,
    virtual_server,
    wait_log,
)
from tests.support import wait_until

pytestmark = pytest.mark.netns

DATA = Path("/tmp/keepalived_check.data")


@pytest.fixture
def data_file(lab: Lab) -> Iterator[Path]:
    """The dump's path, free for the test; whatever was there before comes back after."""
    kept = lab.tmpdir / "keepalived_check.data.before"
    had = DATA.is_symlink() or DATA.exists()
    if had:
        os.rename(DATA, kept)
    try:
        yield DATA
    finally:
        if DATA.is_symlink() or DATA.exists():
            DATA.unlink()
        if had:
            os.rename(kept, DATA)


def dump(d: Daemon, path: Path, count: int) -> str:
    """SIGUSR1 to the parent; the file once the checker process has written it again."""
    before = path.stat().st_mtime_ns if path.exists() else None
    d.signal(signal.SIGUSR1)
    line = f"Printing checker data for process({int(d.checkers_pid_file.read_text())}) on signal"
    wait_until(lambda: d.log().count(line) >= count, 5, what="the checker's SIGUSR1 line",
               context=d.log)
    wait_until(lambda: path.exists() and path.stat().st_mtime_ns != before
               and path.read_text().endswith("\n") and "Health checkers" in path.read_text(),
               5, what="the checker data file", context=d.log)
    return path.read_text()


def real_server_block(text: str, address: str) -> str:
    """One "Real server" section of the dump."""
    start = text.index(f"   RIP = {address}, RPORT = 80,")
    end = text.find("------<", start)
    return text[start:end]


def checker_block(text: str, address: str) -> str:
    start = text.index(f" {VS_NAME} -> {rs_name(address)}\n")
    end = re.compile(r"^ \S", re.M).search(text, start + 1)
    return text[start:end.start() if end else len(text)]


def test_sigusr1_writes_the_checker_data_with_live_state(
        lab: Lab, cluster: Cluster, data_file: Path) -> None:
    rs1 = lab.add_node("rs1", ipv4="192.0.2.11/24")
    lab.add_node("rs2", ipv4="192.0.2.12/24")  # no web server: its check fails
    web = start_web(rs1)
    try:
        d1 = director(lab, "d1", "192.0.2.1/24")
        reals = real_server("192.0.2.11") + real_server("192.0.2.12", 2)
        d = checkers_only(cluster, d1, virtual_server(reals))
        wait_log(d, f"Removing service {rs_name('192.0.2.12')} from VS {VS_NAME}", 10)

        text = dump(d, data_file, 1)
        assert text.startswith("------< Global definitions >------\n")
        assert "------< LVS Topology >------\n System is compiled with LVS v1.2.1\n" in text
        assert (f" ------< Virtual server >------\n VS VIP = {VIP}, VPORT = 80\n"
                "   Address family = inet\n   lvs_sched = rr\n") in text
        assert "   alive = 1\n   quorum_state_up = 1\n" in text
        up = real_server_block(text, "192.0.2.11")
        assert "WEIGHT = 1 EFF WEIGHT = 1\n" in up
        assert "   alive = 1\n   num failed checkers = 0\n   RS set = 1\n" in up
        down = real_server_block(text, "192.0.2.12")
        assert "WEIGHT = 2 EFF WEIGHT = 2\n" in down
        assert "   alive = 0\n   num failed checkers = 1\n   RS set = 0\n" in down
        check = checker_block(text, "192.0.2.12")
        assert "   Up = no\n   Has run = yes\n" in check
        assert ("   Connection\n     Dest = [192.0.2.12]:80\n     Timeout = 1.000000\n"
                "   Keepalive method = HTTP_GET, http protocol 1.0\n") in check
        assert "   Checked url = /health\n     HTTP Status Code(s)\n       200\n" in check
        assert "   Up = yes\n" in checker_block(text, "192.0.2.11")
        assert data_file.stat().st_mode & 0o777 == 0o644

        # The file is rewritten on each signal, and never through a symlink.
        data_file.unlink()
        victim = lab.tmpdir / "victim"
        victim.write_text("precious\n")
        data_file.symlink_to(victim)
        d.signal(signal.SIGUSR1)
        wait_log(d, "Can't open dump file keepalived_check.data (40: Too many levels of "
                    "symbolic links)", 5)
        assert victim.read_text() == "precious\n"
        data_file.unlink()
        assert "alive = 0" in dump(d, data_file, 3)
        assert d.alive()  # SIGUSR1 never ends the daemon
    finally:
        stop_web(web)
