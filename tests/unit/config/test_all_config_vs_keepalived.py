"""``-e`` / ``--all-config`` against real keepalived: the config test's exit status with a
missing configuration file, in a namespace of our own (an ``eth0`` veth, documentation
addresses only)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
]

CONF = ("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n"
        "    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n")


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    name = f"pkcfe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                    ["link", "set", "eth0", "up"],
                    ["addr", "add", "192.0.2.11/24", "dev", "eth0"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def exit_status(ns: str, program: list[str], args: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(["ip", "netns", "exec", ns, *program, *args], capture_output=True,
                          text=True, timeout=30, env=env).returncode


KEEPALIVED = ["keepalived"]
PYKEEPALIVED = [sys.executable, "-m", "pykeepalived"]


@pytest.mark.parametrize("include", ["/nonexistent-pykeepalived-e.conf",
                                     "{tmp}/conf.d/*.conf"], ids=["file", "glob"])
def test_missing_include_with_e(netns: str, tmp_path: Path, include: str) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"include {include.format(tmp=tmp_path)}\n" + CONF)
    theirs = exit_status(netns, KEEPALIVED, ["-e", "-t", "-f", str(conf)])
    assert theirs == 6
    assert exit_status(netns, PYKEEPALIVED, ["-e", "-t", "-f", str(conf)]) == theirs
    # Without -e keepalived says nothing and exits 0; pykeepalived's config test is stricter.
    assert exit_status(netns, KEEPALIVED, ["-t", "-f", str(conf)]) == 0
    assert exit_status(netns, PYKEEPALIVED, ["-t", "-f", str(conf)]) in (0, 5)


def test_present_files_with_e(netns: str, tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text("global_defs {\n    router_id r1\n}\n")
    conf = tmp_path / "keepalived.conf"
    conf.write_text("include extra.conf\n" + CONF)
    for program in (KEEPALIVED, PYKEEPALIVED):
        assert exit_status(netns, program, ["-e", "-t", "-f", str(conf)]) == 0


def test_missing_main_file_with_e(netns: str, tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.conf")
    theirs = exit_status(netns, KEEPALIVED, ["-e", "-t", "-f", absent])
    assert theirs == 4
    assert exit_status(netns, PYKEEPALIVED, ["-e", "-t", "-f", absent]) == theirs
