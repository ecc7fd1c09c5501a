"""Which children the parent starts, as keepalived 2.2.7 decides (running_vrrp /
running_checker): -P only VRRP, -C only the checkers, each only with its configuration unless
--all; a configuration with neither still gets the VRRP child (which says what is wrong)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pykeepalived.daemon.main import subsystems

VRRP = """vrrp_instance VI_1 {
    interface lo
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""
LVS = """virtual_server 192.0.2.100 80 {
    lb_algo rr
    real_server 192.0.2.11 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"""


def options(path: Path, **flags: bool) -> argparse.Namespace:
    base = {"check_only": False, "vrrp_only": False, "all_children": False}
    return argparse.Namespace(config_file=str(path), config_id="test", **{**base, **flags})


@pytest.mark.parametrize("text, flags, want", [
    (VRRP, {}, (True, False)),
    (LVS, {}, (False, True)),
    (VRRP + LVS, {}, (True, True)),
    (VRRP + LVS, {"vrrp_only": True}, (True, False)),
    (VRRP + LVS, {"check_only": True}, (False, True)),
    (VRRP + LVS, {"check_only": True, "vrrp_only": True}, (True, True)),
    (VRRP, {"check_only": True}, (False, False)),
    (LVS, {"vrrp_only": True}, (True, False)),
    ("", {}, (True, False)),
    ("", {"all_children": True}, (True, True)),
    (VRRP, {"all_children": True, "vrrp_only": True}, (True, False)),
    ("vrrp_instance {\n", {}, (True, False)),
])
def test_children_follow_flags_and_configuration(tmp_path: Path, text: str,
                                                 flags: dict[str, bool],
                                                 want: tuple[bool, bool]) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    assert subsystems(options(conf, **flags)) == want


def test_a_missing_file_leaves_it_to_the_vrrp_child(tmp_path: Path) -> None:
    assert subsystems(options(tmp_path / "nope.conf")) == (True, False)
