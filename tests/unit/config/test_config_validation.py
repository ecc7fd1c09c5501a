"""The validator's checks: each one fires on the line it is about, and only when it should."""

from __future__ import annotations

from pathlib import Path

from pykeepalived.config import LoadResult, parse_config_text


def inst(body: str, extra: str = "", strict: bool = True, check_files: bool = False,
         **kw: object) -> LoadResult:
    text = extra + "vrrp_instance VI_1 {\n" + body + "\n}\n"
    return parse_config_text(text, strict=strict, check_files=check_files, **kw)  # type: ignore[arg-type]


V4 = " interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n"


def messages(r: LoadResult) -> list[str]:
    return [d.message for d in r.diagnostics]


def test_clean_instance_has_no_diagnostics_and_defaults() -> None:
    r = inst(V4)
    assert r.ok and not r.diagnostics
    i = r.config.vrrp_instances[0]
    assert (i.priority, i.advert_int, i.version, i.accept, i.garp_master_delay,
            i.garp_master_repeat, i.garp_master_refresh_repeat, i.down_timer_adverts) == (
        100, 1.0, 2, True, 5.0, 5, 1, 3)


def test_values_out_of_range() -> None:
    r = inst(V4 + " priority 300")
    assert not r.ok and "out of range 1..255" in r.errors[0].message
    assert r.errors[0].line == 7


def test_duplicate_vrid_same_interface_and_family() -> None:
    text = ("vrrp_instance A {\n" + V4 + "}\nvrrp_instance B {\n" + V4 + "}\n"
            "vrrp_instance C {\n" + V4.replace("eth0", "eth1") + "}\n")
    r = parse_config_text(text, check_files=False)
    assert [d.line for d in r.errors] == [8]
    assert "already used on eth0" in r.errors[0].message


def test_ipv6_under_v2_is_forced_to_v3_with_a_warning() -> None:
    r = inst(V4.replace("192.0.2.1", "2001:db8::1") + " version 2")
    assert r.ok
    assert r.config.vrrp_instances[0].version == 3
    assert any("version 3" in m for m in messages(r))


def test_mixed_vip_families() -> None:
    r = inst(V4.replace("192.0.2.1", "192.0.2.1\n  2001:db8::1"))
    assert not r.ok and r.errors[0].line == 6


def test_advert_int_rules_v2_and_v3() -> None:
    r = inst(V4 + " advert_int 1.5")
    assert not r.ok and "whole number" in r.errors[0].message
    r = inst(V4 + " version 3\n advert_int 0.015")
    assert not r.ok and "multiple of 10 ms" in r.errors[0].message
    assert inst(V4 + " version 3\n advert_int 0.25").ok


def test_nopreempt_with_state_master_is_cleared() -> None:
    r = inst(V4 + " state MASTER\n nopreempt", strict=False)
    assert r.ok and not r.config.vrrp_instances[0].nopreempt
    assert not inst(V4 + " state MASTER\n nopreempt").ok


def test_undefined_track_script_with_suggestion() -> None:
    r = inst(V4 + " track_script {\n  chk_hapoxy\n }",
             extra="vrrp_script chk_haproxy {\n script /bin/true\n}\n")
    (err,) = r.errors
    assert err.line == 11 and "did you mean 'chk_haproxy'" in err.message


def test_unicast_peer_of_wrong_family() -> None:
    r = inst(V4 + " unicast_peer {\n  2001:db8::2\n }")
    assert not r.ok and r.errors[0].line == 8


def test_script_missing_or_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "notexec.sh"
    plain.write_text("#!/bin/sh\n")
    extra = (f"vrrp_script a {{\n script {tmp_path}/missing.sh\n}}\n"
             f"vrrp_script b {{\n script {plain}\n}}\n")
    r = inst(V4, extra=extra, check_files=True)
    msgs = messages(r)
    assert any("does not exist" in m for m in msgs)
    assert any("not executable" in m for m in msgs)


def test_vrrp_strict_rules() -> None:
    body = (V4 + " state MASTER\n priority 100\n unicast_peer {\n  192.0.2.9\n }\n"
            " authentication {\n  auth_type PASS\n  auth_pass x\n }")
    r = inst(body, extra="global_defs {\n vrrp_strict\n}\n", strict=False)
    i = r.config.vrrp_instances[0]
    assert i.state == "BACKUP" and i.auth_type is None and i.accept is False
    assert i.lower_prio_no_advert
    msgs = " ".join(messages(r))
    for needle in ("unicast peers", "authentication", "priority 255"):
        assert needle in msgs


def test_global_defaults_flow_into_instances() -> None:
    r = inst(V4, extra="global_defs {\n vrrp_garp_master_repeat 2\n vrrp_version 3\n"
             " vrrp_lower_prio_no_advert\n vrrp_garp_lower_prio_delay 7\n}\n")
    i = r.config.vrrp_instances[0]
    assert (i.garp_master_repeat, i.version, i.lower_prio_no_advert, i.garp_lower_prio_delay,
            i.garp_lower_prio_repeat) == (2, 3, True, 7, 2)


def test_interfaces_checked_only_when_given() -> None:
    assert not inst(V4).diagnostics
    r = inst(V4, interfaces={"lo"}, strict=False)
    assert r.ok and r.warnings[0].line == 2 and "eth0" in r.warnings[0].message
    # The config test fails on it, as keepalived -t does (exit 5).
    strict = inst(V4, interfaces={"lo"})
    assert not strict.ok and strict.errors[0].line == 2


def test_vrrp_script_defaults_and_reverse_weight() -> None:
    r = inst(V4, extra="vrrp_script s {\n script /bin/true\n weight 10 reverse\n"
             " user nobody nogroup\n}\n")
    s = r.config.vrrp_scripts["s"]
    assert (s.interval, s.timeout, s.effective_timeout, s.weight, s.reverse, s.rise, s.fall,
            s.user, s.group) == (1.0, None, 1.0, 10, True, 1, 1, "nobody", "nogroup")
