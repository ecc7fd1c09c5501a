"""The command line: keepalived's -t and --signum, pykeepalived check [--dump]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykeepalived.cli import EXIT_CONFIG, build_parser, host_interfaces, main

# The config test checks interfaces against this machine, as keepalived's does: use a real one.
IFACE = next((i for i in sorted(host_interfaces()) if i != "lo"), None)
GOOD = (f"vrrp_instance VI_1 {{\n interface {IFACE}\n virtual_router_id 9\n"
        " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n")
pytestmark = pytest.mark.skipif(IFACE is None, reason="no non-loopback interface here")


@pytest.fixture
def good(tmp_path: Path) -> Path:
    p = tmp_path / "good.conf"
    p.write_text(GOOD)
    return p


def test_config_test_exit_codes(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                ) -> None:
    assert main(["-t", "-f", str(good)]) == 0
    bad = tmp_path / "bad.conf"
    bad.write_text(GOOD.replace(f"interface {IFACE}", f"interface {IFACE}\n priorty 5"))
    assert main(["--config-test", "-f", str(bad)]) == EXIT_CONFIG == 5
    err = capsys.readouterr().err
    assert f"{bad}:3:2: error: unknown keyword 'priorty'" in err


def test_config_test_value_is_a_log_file(good: Path, tmp_path: Path) -> None:
    log = tmp_path / "test.log"
    bad = tmp_path / "bad.conf"
    bad.write_text("nonsense_keyword\n")
    assert main([f"--config-test={log}", "-f", str(bad)]) == 5
    assert "unknown keyword 'nonsense_keyword'" in log.read_text()


def test_check_subcommand_and_dump(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--dump", str(good)]) == 0
    data = json.loads(capsys.readouterr().out)
    vi = data["vrrp_instance"]["VI_1"]
    assert vi["virtual_router_id"] == 9 and vi["virtual_ipaddress"] == ["192.0.2.9/24"]
    assert data["global_defs"]["vrrp_mcast_group4"] == "224.0.0.18"


def test_check_uses_config_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.conf"
    p.write_text(GOOD.replace(f" interface {IFACE}", f"@a interface {IFACE}\n@b priorty 1"))
    assert main(["check", "-i", "a", str(p)]) == 0
    assert main(["check", "-i", "b", str(p)]) == 5


def test_signum_matches_keepalived(capsys: pytest.CaptureFixture[str]) -> None:
    expected = {"RELOAD": 1, "STOP": 15, "DATA": 10, "STATS": 12, "STATS_CLEAR": 63, "JSON": 36}
    for name, number in expected.items():
        assert main([f"--signum={name}"]) == 0
        assert capsys.readouterr().out.strip() == str(number)
    assert main(["--signum=NOPE"]) == 1


def test_daemon_options_namespace() -> None:
    o = build_parser().parse_args(
        ["-f", "x.conf", "-n", "-l", "-D", "-P", "-X", "-V", "-p", "a.pid", "-r", "v.pid",
         "-i", "n1", "-s", "ns1", "--control-socket", "/run/s", "--no-fast-preempt", "-g"])
    assert (o.config_file, o.dont_fork, o.log_console, o.log_detail, o.vrrp_only,
            o.release_vips, o.dont_release_vrrp, o.pid_file, o.vrrp_pid_file, o.config_id,
            o.namespace, o.control_socket, o.no_fast_preempt, o.log_file) == (
        "x.conf", True, True, True, True, True, True, "a.pid", "v.pid", "n1", "ns1", "/run/s",
        True, "/tmp/keepalived.log")
    assert build_parser().parse_args([]).config_file == "/etc/keepalived/keepalived.conf"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v"]) == 0
    assert "pykeepalived" in capsys.readouterr().out
