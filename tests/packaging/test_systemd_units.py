"""The systemd units in packaging/: pykeepalived.service and the drop-in that runs pykeepalived
under keepalived.service. Both pass ``systemd-analyze verify`` (with /usr/sbin/pykeepalived
replaced by a stand-in, since the checkout is not installed), and their reload checks the
configuration before it signals the daemon."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "pykeepalived.service"
DROP_IN = ROOT / "packaging" / "keepalived.service.d" / "pykeepalived.conf"
MAN_PAGE = ROOT / "packaging" / "pykeepalived.8"
DAEMON = "/usr/sbin/pykeepalived"

#: Debian 12's keepalived.service, for machines without keepalived installed.
DEBIAN_KEEPALIVED_SERVICE = """\
[Unit]
Description=Keepalive Daemon (LVS and VRRP)
After=network-online.target
Wants=network-online.target
Documentation=man:keepalived(8)
Documentation=man:keepalived.conf(5)
ConditionFileNotEmpty=/etc/keepalived/keepalived.conf

[Service]
Type=notify
EnvironmentFile=-/etc/default/keepalived
ExecStart=/usr/sbin/keepalived --dont-fork $DAEMON_ARGS
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def directives(path: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, values in order (sections do not matter here)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def stand_in(tmp_path: Path) -> Path:
    """An executable in place of /usr/sbin/pykeepalived: records its arguments, exits $STUB_RC."""
    stub = tmp_path / "pykeepalived"
    stub.write_text('#!/bin/sh\necho "$@" > "$0.args"\nexit "${STUB_RC:-0}"\n')
    stub.chmod(0o755)
    return stub


def copy_with(source: Path, target: Path, daemon: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text().replace(DAEMON, daemon))
    return target


def verify(unit: Path, *, debug: bool = False) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify``; --man=no because keepalived.conf(5) comes with keepalived
    (pykeepalived(8) is checked on its own)."""
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "debug"} if debug else None
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, env=env)


def reload_command(unit: Path, daemon: str) -> list[str]:
    """The first ExecReload= line as the shell will run it: systemd turns $$ into $."""
    line = directives(unit)["ExecReload"][-2]
    return [word.replace("$$", "$").replace(DAEMON, daemon) for word in shlex.split(line)]


def test_unit_is_a_notify_service_with_a_watchdog_and_its_directories() -> None:
    d = directives(UNIT)
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert re.fullmatch(r"\d+s", d["WatchdogSec"][0])
    assert d["RuntimeDirectory"] == ["pykeepalived"]
    assert d["StateDirectory"] == ["pykeepalived"]
    assert "man:pykeepalived(8)" in d["Documentation"]
    assert MAN_PAGE.read_text().count(".TH PYKEEPALIVED 8") == 1


def test_unit_runs_the_debian_package_command() -> None:
    d = directives(UNIT)
    assert d["ExecStart"] == [f"{DAEMON} --dont-fork $DAEMON_ARGS"]
    assert "/usr/local" not in UNIT.read_text().split("[Service]")[1]


def test_unit_reload_checks_the_file_before_it_signals() -> None:
    reloads = directives(UNIT)["ExecReload"]
    assert len(reloads) == 2
    assert "--config-test" in reloads[0]
    assert reloads[1] == "/bin/kill -HUP $MAINPID"


@pytest.mark.parametrize(("test_status", "reload_ok"), [(0, True), (6, True), (5, False),
                                                        (4, False), (1, False)])
def test_reload_goes_on_only_when_the_config_test_passes(tmp_path: Path, test_status: int,
                                                         reload_ok: bool) -> None:
    """Exit 6 (scripts without enable_script_security) is a warning the daemon runs with."""
    stub = stand_in(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "DAEMON_ARGS": "-f /etc/k.conf -D",
           "STUB_RC": str(test_status)}
    result = subprocess.run(reload_command(UNIT, str(stub)), env=env, timeout=30)
    assert (result.returncode == 0) is reload_ok
    assert Path(f"{stub}.args").read_text().split() == ["-f", "/etc/k.conf", "-D",
                                                        "--config-test"]


def test_reload_of_a_broken_file_fails(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text("vrrp_instance VI_1 {\n    virtual_router_id 300\n}\n")
    command = reload_command(UNIT, f"{shlex.quote(sys.executable)} -m pykeepalived")
    result = subprocess.run(command, env={**os.environ, "DAEMON_ARGS": f"-f {conf}"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{conf}:2:" in result.stderr  # the reason, for the journal


@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = copy_with(UNIT, tmp_path / "units" / "pykeepalived.service", str(stand_in(tmp_path)))
    result = verify(unit)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_drop_in_runs_pykeepalived_as_the_unit_does() -> None:
    unit, drop_in = directives(UNIT), directives(DROP_IN)
    for key in ("Type", "NotifyAccess", "WatchdogSec", "RuntimeDirectory", "StateDirectory",
                "KillMode", "Restart"):
        assert drop_in[key] == unit[key], key
    # An empty assignment first clears keepalived's own command lines.
    assert drop_in["ExecStart"] == ["", *unit["ExecStart"]]
    assert drop_in["ExecReload"] == ["", *unit["ExecReload"]]
    assert "man:pykeepalived(8)" in drop_in["Documentation"]


@needs_systemd_analyze
def test_drop_in_passes_systemd_analyze_verify_on_keepalived_service(tmp_path: Path) -> None:
    installed = Path("/lib/systemd/system/keepalived.service")
    units = tmp_path / "units"
    units.mkdir()
    (units / "keepalived.service").write_text(
        installed.read_text() if installed.exists() else DEBIAN_KEEPALIVED_SERVICE)
    stub = str(stand_in(tmp_path))
    copy_with(DROP_IN, units / "keepalived.service.d" / "pykeepalived.conf", stub)
    result = verify(units / "keepalived.service")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # systemd's own dump of the merged unit: pykeepalived's command lines, not keepalived's.
    debug = verify(units / "keepalived.service", debug=True)
    dump = debug.stdout + debug.stderr
    commands = re.findall(r"Command Line: (.*)", dump)
    assert commands, dump[-2000:]
    assert any(c.startswith(f"{stub} --dont-fork") for c in commands), commands
    assert not any("/usr/sbin/keepalived" in c for c in commands), commands
    assert "pykeepalived.conf" in dump
