"""Defaults keepalived derives from other settings."""

from __future__ import annotations

from pykeepalived.config import parse_config_text

BASE = "vrrp_instance A {{\n{body}\n interface eth0\n virtual_router_id 1\n" \
       " virtual_ipaddress {{\n  192.0.2.1\n }}\n}}\n"


def test_state_master_without_priority_is_the_address_owner() -> None:
    cfg = parse_config_text(BASE.format(body=" state MASTER")).config
    assert cfg is not None and cfg.vrrp_instances[0].priority == 255


def test_state_backup_without_priority_defaults_to_100() -> None:
    cfg = parse_config_text(BASE.format(body=" state BACKUP")).config
    assert cfg is not None and cfg.vrrp_instances[0].priority == 100


def test_explicit_priority_wins_over_state_master() -> None:
    cfg = parse_config_text(BASE.format(body=" state MASTER\n priority 150")).config
    assert cfg is not None and cfg.vrrp_instances[0].priority == 150


def test_setting_problems_point_at_the_setting_line() -> None:
    text = BASE.format(body=" state MASTER\n priority 150\n advert_int 1.5\n nopreempt")
    diags = {d.message.split()[1]: d.line for d in parse_config_text(text, strict=True).diagnostics}
    assert diags["advert_int"] == 4
    assert diags["nopreempt"] == 5
