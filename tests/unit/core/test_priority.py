"""Effective priority from trackers, as keepalived computes it."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.core.router import RouterParams, VirtualRouter


def router(prio: int, *specs: TrackerSpec) -> VirtualRouter:
    return VirtualRouter(RouterParams(
        name="VI_1", vrid=1, priority=prio, src=ip_address("192.0.2.1"),
        addresses=(ip_address("192.0.2.100"),), destinations=(ip_address("224.0.0.18"),),
        trackers=specs))


@pytest.mark.parametrize(
    ("weight", "reverse", "ok", "expected"),
    [
        (20, False, True, 120), (20, False, False, 100),
        (-20, False, True, 100), (-20, False, False, 80),
        (20, True, True, 80), (20, True, False, 100),
        (-20, True, True, 100), (-20, True, False, 120),
    ],
)
def test_script_weights(weight: int, reverse: bool, ok: bool, expected: int) -> None:
    spec = TrackerSpec(TrackerKind.SCRIPT, "s", weight, reverse)
    r = router(100, spec)
    r.start(0.0)
    r.update_tracker(1.0, spec.key, ok)
    assert r.effective_priority == expected


def test_priority_is_clamped_and_owner_never_changes() -> None:
    up = TrackerSpec(TrackerKind.SCRIPT, "up", 253)
    down = TrackerSpec(TrackerKind.SCRIPT, "down", -253)
    r = router(200, up)
    r.start(0.0)
    r.update_tracker(1.0, up.key, True)
    assert r.effective_priority == 254
    r = router(10, down)
    r.start(0.0)
    r.update_tracker(1.0, down.key, False)
    assert r.effective_priority == 1
    r = router(255, down)
    r.start(0.0)
    r.update_tracker(1.0, down.key, False)
    assert r.effective_priority == 255


def test_track_file_value_times_weight_and_fault_at_minus_254() -> None:
    spec = TrackerSpec(TrackerKind.FILE, "f", weight=-10)
    r = router(100, spec)
    r.start(0.0)
    r.update_tracker(1.0, spec.key, 3)
    assert r.effective_priority == 70
    r.update_tracker(2.0, spec.key, 26)
    assert r.state.value == "FAULT"
    zero = TrackerSpec(TrackerKind.FILE, "g", weight=0)
    r = router(100, zero)
    r.start(0.0)
    r.update_tracker(1.0, zero.key, 0)
    assert r.state.value == "BACKUP"
    r.update_tracker(2.0, zero.key, 1)
    assert r.state.value == "FAULT"


def test_priority_change_is_logged_in_keepalived_words() -> None:
    spec = TrackerSpec(TrackerKind.SCRIPT, "chk", -60)
    r = router(150, spec)
    r.start(0.0)
    acts = r.update_tracker(1.0, spec.key, False)
    assert any(getattr(a, "message", "") == "(VI_1) Changing effective priority from 150 to 90"
               for a in acts)


def test_backup_logs_lower_priority_adverts_at_most_about_once_per_interval() -> None:
    from pykeepalived.core.packet import Advertisement

    r = router(150)
    r.start(0.0)
    src = ip_address("192.0.2.9")
    adv = Advertisement(2, 1, 100, 1, (ip_address("192.0.2.100"),))
    logs = 0
    for i in range(1000):  # 1000 valid lower adverts within 0.1 s
        for a in r.receive(0.001 + i * 0.0001, adv, src):
            logs += "received lower priority" in getattr(a, "message", "")
    assert logs == 1
    assert r.stats.lower_prio_logs_suppressed == 999
