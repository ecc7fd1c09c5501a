"""``auth_type AH`` as keepalived 2.2.7 parses and clears it (the wire side is in
tests/unit/core/test_ah.py and the interop suite), and -e / --all-config (a missing
configuration file is an error, and ``-e -t`` exits as keepalived's does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykeepalived.cli import (
    EXIT_CONFIG,
    EXIT_CONFIG_MISSING_FILE,
    EXIT_CONFIG_MISSING_MAIN,
    build_parser,
    host_interfaces,
    main,
)
from pykeepalived.config import load_config, parse_config_text

IFACE = next((i for i in sorted(host_interfaces()) if i != "lo"), None)
GOOD = (f"vrrp_instance VI_1 {{\n interface {IFACE}\n virtual_router_id 9\n"
        " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n")
needs_iface = pytest.mark.skipif(IFACE is None, reason="no non-loopback interface here")

AH = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n version 2\n"
      " authentication {\n  auth_type AH\n  auth_pass secret\n }\n"
      " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n")


def test_auth_type_ah_is_taken() -> None:
    r = parse_config_text(AH, filename="k.conf", check_files=False, strict=True)
    assert r.ok, r.errors
    assert r.config is not None and r.config.vrrp_instances[0].auth_type == "AH"
    assert r.config.vrrp_instances[0].auth_pass == "secret"


@pytest.mark.parametrize("typ", ["ah", "pass", "Pass", "MD5"])
def test_an_auth_type_keepalived_does_not_know_means_no_authentication(typ: str) -> None:
    # keepalived compares exactly ("unknown authentication type 'pass'", -t exits 5): a
    # lower-case PASS authenticating here would not talk to a keepalived peer.
    text = AH.replace("auth_type AH", f"auth_type {typ}")
    r = parse_config_text(text, filename="k.conf", check_files=False)
    assert r.ok and r.config is not None
    assert r.config.vrrp_instances[0].auth_type is None
    assert [(d.line, d.message) for d in r.warnings] == [
        (6, f"unknown authentication type '{typ}' (PASS or AH); no authentication")]
    assert not parse_config_text(text, filename="k.conf", check_files=False, strict=True).ok


@pytest.mark.parametrize(("change", "message", "after"), [
    (("  auth_pass secret\n", ""), "(VI_1) auth_type AH needs an auth_pass; no authentication",
     (None, None)),
    ((" version 2\n", " version 2\n state MASTER\n priority 100\n"),
     "(VI_1) state MASTER is incompatible with AH authentication (the sequence number must be "
     "heard first); using BACKUP", ("AH", "BACKUP")),
])
def test_what_keepalived_clears_is_cleared_and_said(change: tuple[str, str], message: str,
                                                    after: tuple[str | None, str | None]) -> None:
    r = parse_config_text(AH.replace(*change), filename="k.conf", check_files=False)
    assert r.ok and r.config is not None
    assert [d.message for d in r.warnings] == [message]
    inst = r.config.vrrp_instances[0]
    assert (inst.auth_type, inst.state) == after


def test_the_address_owner_may_start_as_master_with_ah() -> None:
    text = AH.replace(" version 2\n", " version 2\n state MASTER\n priority 255\n")
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=True)
    assert r.ok and r.config is not None and r.config.vrrp_instances[0].state == "MASTER"


def test_auth_type_pass_still_works() -> None:
    r = parse_config_text(AH.replace("auth_type AH", "auth_type PASS"), filename="k.conf",
                          check_files=False)
    assert r.ok and r.config is not None
    assert r.config.vrrp_instances[0].auth_type == "PASS"
    assert r.config.vrrp_instances[0].auth_pass == "secret"


@needs_iface
@pytest.mark.parametrize(("change", "code"), [(("", ""), 0), (("auth_type AH", "auth_type ah"), 5),
                                              (("  auth_pass secret\n", ""), 5)])
def test_config_test_exits_as_keepalived(tmp_path: Path, change: tuple[str, str],
                                         code: int) -> None:
    conf = tmp_path / "ah.conf"
    conf.write_text(AH.replace("interface eth0", f"interface {IFACE}").replace(*change))
    assert main(["-t", "-f", str(conf)]) == code
    assert EXIT_CONFIG == 5


# ------------------------------------------------------------------------- -e / --all-config


def test_all_config_option_is_parsed() -> None:
    assert build_parser().parse_args(["-e"]).all_config is True
    assert build_parser().parse_args(["--all-config"]).all_config is True
    assert build_parser().parse_args([]).all_config is False


def test_missing_include_is_a_warning_for_the_daemon_without_e(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text("include missing.conf\n" + GOOD.replace(f"interface {IFACE}",
                                                             "interface eth0"))
    r = load_config(conf, check_files=False)
    assert r.ok and r.missing_files == [str(tmp_path / "missing.conf")]
    assert "missing.conf not found" in r.warnings[0].message


@pytest.mark.parametrize("include", ["missing.conf", "conf.d/*.conf", "{a,b}.conf"])
def test_missing_include_is_an_error_with_all_config(tmp_path: Path, include: str) -> None:
    (tmp_path / "a.conf").write_text("")
    conf = tmp_path / "k.conf"
    conf.write_text("global_defs {\n router_id x\n}\n" + f"include {include}\n")
    r = load_config(conf, check_files=False, all_config=True)
    assert not r.ok and r.missing_files
    assert [(d.line, d.col) for d in r.errors] == [(4, 1)]
    assert "-e: every configuration file must exist" in r.errors[0].message


def test_present_includes_are_fine_with_all_config(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("global_defs {\n router_id x\n}\n")
    conf = tmp_path / "k.conf"
    conf.write_text("include inc.conf\ninclude {inc,inc}.conf\n")
    r = load_config(conf, check_files=False, all_config=True)
    assert r.ok and r.missing_files == []


@needs_iface
def test_config_test_with_all_config_exits_as_keepalived(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(GOOD + "include /nonexistent-pykeepalived-test.conf\n")
    # keepalived 2.2.7 (seen in a namespace): -t alone exits 0 for a missing include (we are
    # stricter: 5); -e -t exits 6; -e -t with the main file missing exits 4.
    assert main(["-t", "-f", str(conf)]) == EXIT_CONFIG
    assert main(["-e", "-t", "-f", str(conf)]) == EXIT_CONFIG_MISSING_FILE == 6
    assert main(["-t", "--all-config", "-f", str(conf)]) == 6
    assert main(["-e", "-t", "-f", str(tmp_path / "absent.conf")]) == EXIT_CONFIG_MISSING_MAIN
    assert EXIT_CONFIG_MISSING_MAIN == 4
    ok = tmp_path / "ok.conf"
    ok.write_text(GOOD)
    assert main(["-e", "-t", "-f", str(ok)]) == 0
