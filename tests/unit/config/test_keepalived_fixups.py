"""Settings the config layer resolves the way keepalived 2.2.7 does, so that the daemon acts on
them: tracking weights in sync groups and of the address owner, ``reverse`` inherited from a
tracked object's definition, ``vrrp_track_process`` ``delay`` and ``vmac_prefix``."""

from __future__ import annotations

import pytest

from pykeepalived.config import parse_config_text
from pykeepalived.config.model import KeepalivedConfig, VrrpInstance

TRACKED = """vrrp_script chk {
    script "/bin/true"
    weight 10
}
track_file tf {
    file /tmp/pykeepalived-test-track-file
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority PRIO
    track_interface {
        eth1 weight 10
        eth2
    }
    track_script {
        chk
    }
    track_file {
        tf
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""
GROUP = "vrrp_sync_group G {\n    group {\n        VI_1\n    }\nEXTRA}\n"


def load(text: str, strict: bool = False) -> tuple[KeepalivedConfig, list[str]]:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=strict)
    assert r.config is not None
    return r.config, [str(d) for d in r.diagnostics]


def only(cfg: KeepalivedConfig) -> VrrpInstance:
    return cfg.vrrp_instances[0]


def test_sync_group_member_keeps_trackers_only_as_fault_trackers() -> None:
    # keepalived -t (2.2.7, seen in a namespace) prints these three and exits 5.
    cfg, out = load(TRACKED.replace("PRIO", "100") + GROUP.replace("EXTRA", ""), strict=True)
    assert out == [
        "k.conf:13:9: error: (VI_1) ignoring eth1 tracked interface weight due to SYNC group",
        "k.conf:17:9: error: (VI_1) ignoring tracked script chk with weights due to SYNC group",
        "k.conf:20:9: error: (VI_1) ignoring weight from tracked file tf due to SYNC group. "
        "specify weight 0",
    ]
    inst = only(cfg)
    assert [(t.name, t.weight) for t in inst.track_interfaces] == [("eth1", 0), ("eth2", 0)]
    assert inst.track_scripts == ()
    assert [(t.name, t.weight) for t in inst.track_files] == [("tf", 0)]


def test_the_daemon_is_as_lenient_as_keepalived_about_it() -> None:
    _, out = load(TRACKED.replace("PRIO", "100") + GROUP.replace("EXTRA", ""))
    assert len(out) == 3 and all(": warning: " in d for d in out)


@pytest.mark.parametrize("keyword", ["sync_group_tracking_weight", "global_tracking"])
def test_sync_group_tracking_weight_keeps_the_weights(keyword: str) -> None:
    cfg, out = load(TRACKED.replace("PRIO", "100")
                    + GROUP.replace("EXTRA", f"    {keyword}\n"), strict=True)
    assert not out
    inst = only(cfg)
    assert [t.weight for t in inst.track_interfaces] == [10, 0]
    assert [t.name for t in inst.track_scripts] == ["chk"]
    assert [t.weight for t in inst.track_files] == [None]


def test_address_owner_drops_weighted_trackers() -> None:
    cfg, out = load(TRACKED.replace("PRIO", "255"))
    assert out == [
        "k.conf:13:9: warning: (VI_1) ignoring eth1 tracked interface due to address owner",
        "k.conf:17:9: warning: (VI_1) ignoring tracked script chk with weights due to "
        "address_owner",
        "k.conf:20:9: warning: (VI_1) ignoring weight from tracked file tf due to "
        "address_owner. specify weight 0",
    ]
    inst = only(cfg)
    assert [t.name for t in inst.track_interfaces] == ["eth2"]
    assert inst.track_scripts == ()
    assert [(t.name, t.weight) for t in inst.track_files] == [("tf", 0)]


def test_unweighted_trackers_are_untouched() -> None:
    text = (TRACKED.replace("PRIO", "100").replace("eth1 weight 10", "eth1")
            .replace("    weight 10\n", "").replace("        tf\n", "        tf weight 0\n"))
    cfg, out = load(text + GROUP.replace("EXTRA", ""), strict=True)
    assert not out
    inst = only(cfg)
    assert [t.name for t in inst.track_scripts] == ["chk"]
    assert [t.weight for t in inst.track_files] == [0]


REVERSE = """vrrp_script chk {
    script "/bin/true"
    weight 10 reverse
}
track_file tf {
    file /tmp/pykeepalived-test-track-file
    weight 5 reverse
}
vrrp_track_process tp {
    process sshd
    weight 3 reverse
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_script {
        chk
        chk weight 20
        chk weight 20 noreverse
    }
    track_file {
        tf
        tf weight 7
        tf weight 7 noreverse
    }
    track_process {
        tp
        tp weight 2 noreverse
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


def test_references_inherit_reverse_from_the_definition() -> None:
    cfg, _ = load(REVERSE)
    inst = only(cfg)
    assert [(t.weight, t.reverse) for t in inst.track_scripts] == [
        (None, True), (20, True), (20, False)]
    assert [(t.weight, t.reverse) for t in inst.track_files] == [
        (None, True), (7, True), (7, False)]
    assert [(t.weight, t.reverse) for t in inst.track_processes] == [
        (None, True), (2, False)]


def test_track_process_delay_sets_both_delays_in_order() -> None:
    text = ("vrrp_track_process tp {\n    process sshd\n    fork_delay 1\n    delay 4\n"
            "    terminate_delay 2\n}\n")
    cfg, _ = load(text)
    tp = cfg.track_processes["tp"]
    assert (tp.delay, tp.terminate_delay, tp.fork_delay) == (4.0, 2.0, 4.0)


@pytest.mark.parametrize(("prefix", "name"), [
    (None, "vrrp.51"), ("vip", "vip.51"), ("averyveryverylongprefix", "averyveryver.51")])
def test_vmac_prefix_names_the_vmac_interface(prefix: str | None, name: str) -> None:
    text = ((f"global_defs {{\n    vmac_prefix {prefix}\n}}\n" if prefix else "")
            + "vrrp_instance VI_1 {\n    interface eth0\n    use_vmac\n"
            "    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.100/24\n"
            "    }\n}\n")
    cfg, out = load(text)
    assert not out
    assert only(cfg).use_vmac == name
    assert len(name) <= 15


def _many_vips(n: int, family: int, version: int = 3) -> str:
    vips = "\n".join(f"        192.0.{2 + i // 250}.{1 + i % 250}/32" if family == 4
                     else f"        2001:db8::{i + 1:x}/128" for i in range(n))
    return (f"vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n"
            f"    priority 100\n    version {version}\n    virtual_ipaddress {{\n{vips}\n"
            "    }\n}\n")


@pytest.mark.parametrize(("n", "family", "version", "room"),
                         [(1000, 4, 3, 255), (300, 4, 2, 255), (100, 6, 3, 89), (89, 6, 3, 89),
                          (255, 4, 3, 255)])
def test_vips_beyond_what_one_advert_carries_become_excluded_vips(
        n: int, family: int, version: int, room: int) -> None:
    # keepalived 2.2.7 (vrrp.c): what does not fit an advert of the interface's MTU (and the
    # 8-bit count) is moved to the eVIPs: installed as MASTER, never advertised. (-t on this
    # host, whose eth0 has MTU 1400, says "max 83" for the IPv6 case: the MTU is read from
    # the interface when the config is loaded for real; these tests load with Ethernet's.)
    cfg, out = load(_many_vips(n, family, version))
    inst = only(cfg)
    assert len(inst.virtual_ipaddresses) == min(n, room)
    assert len(inst.virtual_ipaddresses_excluded) == max(0, n - room)
    if n > room:
        assert out == [f"k.conf:6:5: warning: (VI_1) Number of VIPs ({n}) exceeds maximum/space "
                       f"available in packet (max {room} addresses) - excess moved to eVIPs"]
    else:
        assert out == []
