"""State changes reach the journal with VRRP_INSTANCE, VRRP_STATE and VRRP_PRIORITY.

The daemon runs with its own mount namespace in which /run/systemd/journal is a directory of
this test, so its journal socket is ours: the test reads the native-protocol datagrams the
daemon sends exactly as journald would receive them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pykeepalived.testing.lab import Lab

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 51
    priority 150
    advert_int 0.1
    version 3
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""
# Mount a private /run/systemd with our directory as its journal, then run the daemon there.
WRAP = ('mount -t tmpfs none /run/systemd && mkdir -p /run/systemd/journal'
        ' && mount --bind "$0" /run/systemd/journal && exec "$@"')


def parse_native(datagram: bytes) -> dict[str, str]:
    """systemd's native journal protocol, the plain FIELD=value\\n form our logger sends."""
    fields = {}
    for line in datagram.decode(errors="replace").split("\n"):
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key] = value
    return fields


def test_state_changes_carry_journal_fields(lab: Lab, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(journal / "socket"))
    sock.settimeout(0.2)
    node = lab.add_node("n1")
    conf = tmp_path / "k.conf"
    conf.write_text(CONFIG)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", WRAP, str(journal),
            sys.executable, "-m", "pykeepalived", "-n", "-f", str(conf),
            "-p", str(tmp_path / "k.pid"), "-r", str(tmp_path / "v.pid"),
            "--control-socket", str(tmp_path / "c.sock"), "--state-dir", str(tmp_path / "st"),
            "--no-conflict-detection"]
    proc = node.popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[dict[str, str]] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                "Entering MASTER STATE" in f.get("MESSAGE", "") for f in seen):
            try:
                seen.append(parse_native(sock.recv(65536)))
            except TimeoutError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sock.close()
    by_message = {f.get("MESSAGE"): f for f in seen}
    backup = by_message.get("(VI_1) Entering BACKUP STATE (init)")
    master = by_message.get("(VI_1) Entering MASTER STATE")
    assert backup is not None and master is not None, [f.get("MESSAGE") for f in seen]
    assert (backup["VRRP_INSTANCE"], backup["VRRP_STATE"], backup["VRRP_PRIORITY"]) == \
        ("VI_1", "BACKUP", "150")
    assert (master["VRRP_INSTANCE"], master["VRRP_STATE"], master["VRRP_PRIORITY"]) == \
        ("VI_1", "MASTER", "150")
    assert master["SYSLOG_IDENTIFIER"] == "Keepalived_vrrp" and master["PRIORITY"] == "6"
    # lines that are not state changes carry no VRRP_ fields
    others = [f for f in seen if "Entering" not in f.get("MESSAGE", "")]
    assert others and all("VRRP_STATE" not in f for f in others)
