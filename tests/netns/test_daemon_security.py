"""enable_script_security refuses unsafe scripts, tracked and notify alike, as keepalived."""

from __future__ import annotations

import time

import pytest

from tests.netns.daemons import Cluster, config

pytestmark = pytest.mark.netns


def test_unsafe_scripts_are_refused_and_never_run(cluster: Cluster) -> None:
    tmp = cluster.lab.tmpdir
    unsafe_dir = tmp / "open"
    unsafe_dir.mkdir()
    unsafe_dir.chmod(0o777)  # writable by anyone, not sticky: anyone could swap the script
    ran = tmp / "ran"
    for name in ("chk.sh", "notify.sh"):
        script = unsafe_dir / name
        script.write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        script.chmod(0o755)
    head = f"""
vrrp_script chk {{
    script "{unsafe_dir / 'chk.sh'}"
    interval 1
    weight -50
}}
"""
    text = config(150, head=head, extra=f"    notify {unsafe_dir / 'notify.sh'}",
                  tail="    track_script {\n        chk\n    }")
    text = text.replace("script_user root", "script_user root\n    enable_script_security")
    d = cluster.add(cluster.lab.add_node("n1"), text)
    cluster.start_all()
    assert cluster.wait_single_holder("192.0.2.100") == "n1"
    time.sleep(2.0)  # the scenario: two check intervals, and the script never ran
    log = d.log()
    assert f"Unsafe permissions found for script '{unsafe_dir / 'chk.sh'}'" in log, log
    assert not ran.exists(), ran.read_text()
    assert "SECURITY VIOLATION" not in log
