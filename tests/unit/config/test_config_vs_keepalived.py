"""pykeepalived -t against real keepalived -t, line by line, on keepalived's samples and ours.

Both run in a fresh network namespace holding only ``lo``, so host-dependent checks (an interface
that does not exist) see the same machine. Every line keepalived flags with ``(FILE: Line N)``
must be flagged by pykeepalived on the same line, and every sample must load into the model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.config import load_config

SAMPLES = Path("/usr/share/doc/keepalived/samples")
OURS = Path(__file__).parents[2] / "configs"
FILES = sorted(SAMPLES.glob("keepalived.conf.*")) + sorted(OURS.glob("*.conf"))
ROOT = Path(__file__).parents[3]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
]


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    name = f"pkcfg-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def flagged_by_keepalived(ns: str, path: Path) -> tuple[int, set[int]]:
    proc = subprocess.run(["ip", "netns", "exec", ns, "keepalived", "-t", "-f", str(path)],
                          capture_output=True, text=True, timeout=30)
    pattern = re.compile(r"\(" + re.escape(str(path)) + r": Line (\d+)\)")
    return proc.returncode, {int(n) for n in pattern.findall(proc.stdout + proc.stderr)}


def flagged_by_us(ns: str, path: Path) -> tuple[int, set[int]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived",
                           "-t", "-f", str(path)], capture_output=True, text=True, timeout=30,
                          env=env)
    pattern = re.compile("^" + re.escape(str(path)) + r":(\d+):\d+: ", re.M)
    return proc.returncode, {int(n) for n in pattern.findall(proc.stderr)}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_same_lines_flagged_as_keepalived(netns: str, path: Path) -> None:
    their_rc, theirs = flagged_by_keepalived(netns, path)
    rc, ours = flagged_by_us(netns, path)
    assert rc in (0, 5)
    # We are stricter than keepalived -t, never more lenient.
    if their_rc == 5:
        assert rc == 5
    missing = sorted(theirs - ours)
    assert not missing, f"keepalived flags lines {missing} of {path.name}, pykeepalived does not"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_sample_loads_into_the_model(path: Path) -> None:
    result = load_config(path, check_files=False)
    assert result.config is not None
    assert result.config.vrrp_instances or result.config.virtual_servers


# ---------------------------------------------------------------------------- script security


@pytest.fixture(scope="module")
def netns_with_eth0() -> Iterator[str]:
    name = f"pkcfs-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                    ["link", "set", "eth0", "up"], ["addr", "add", "192.0.2.11/24", "dev", "eth0"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


SECURITY_CASES = {
    # name: (enable_script_security, track script mode or None for missing, notify mode)
    "secure-with-security": (True, 0o755, 0o755),
    "insecure-track-script-with-security": (True, 0o777, 0o755),
    "insecure-notify-with-security": (True, 0o755, 0o777),
    "missing-track-script": (True, None, 0o755),
    "secure-without-security": (False, 0o755, 0o755),
    "insecure-without-security": (False, 0o777, 0o755),
}


@pytest.mark.parametrize("case", SECURITY_CASES)
def test_script_security_exit_codes_match_keepalived(netns_with_eth0: str, tmp_path: Path,
                                                      case: str) -> None:
    security, track_mode, notify_mode = SECURITY_CASES[case]
    track, notify = tmp_path / "check.sh", tmp_path / "notify.sh"
    for path, mode in ((track, track_mode), (notify, notify_mode)):
        if mode is not None:
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(mode)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n" + ("  enable_script_security\n" if security else "")
        + "  script_user root\n}\n"
        f'vrrp_script chk {{\n  script "{track}"\n  interval 2\n}}\n'
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n"
        "  virtual_ipaddress {\n    192.0.2.100/24\n  }\n  track_script {\n    chk\n  }\n"
        f"  notify_master {notify}\n}}\n")
    ka = subprocess.run(["ip", "netns", "exec", netns_with_eth0, "keepalived", "-t", "-f",
                         str(conf)], capture_output=True, text=True, timeout=30)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    py = subprocess.run(["ip", "netns", "exec", netns_with_eth0, sys.executable, "-m",
                         "pykeepalived", "-t", "-f", str(conf)], capture_output=True,
                        text=True, timeout=30, env=env)
    ka_out, py_out = ka.stdout + ka.stderr, py.stdout + py.stderr
    if track_mode is None:
        # pykeepalived names the missing file with file:line as a config error (exit 5 too)
        assert ka.returncode == py.returncode == 5, (ka_out, py_out)
        return
    assert py.returncode == ka.returncode, (ka_out, py_out)
    for line in ("Disabling track script chk due to insecure", "SECURITY VIOLATION",
                 "There are insecure scripts"):
        assert (line in ka_out) == (line in py_out), (line, ka_out, py_out)
