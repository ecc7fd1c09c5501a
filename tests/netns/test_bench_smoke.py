"""The benchmark suite's smallest path, so bench/ cannot rot unnoticed.

One graceful-stop failover sample on keepalived and on pykeepalived (three instances each, see
bench/failover.py), then the report renders it. Asserts protocol-level sanity only: every
instance moved, within the backup's skew time plus a generous margin, and the tap on the bridge
saw each priority-0 advert.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from bench import failover, report
from bench.common import Results, wait_holding

from pykeepalived.core.router import skew_time

pytestmark = [pytest.mark.netns, pytest.mark.interop]


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
def test_one_graceful_failover_sample_per_daemon_and_report(tmp_path: Path) -> None:
    rows = []
    rng = random.Random(7)
    for kind in ("ka", "py"):
        with failover.bed(kind) as b:
            got = failover.sample(b, "graceful", rng)
            # recovered: the restarted master holds every VIP again
            assert wait_holding(b.cluster, "n1", b.vips, timeout=10), b.cluster.logs()
        rows += [{**r, "run": 0} for r in got]
    assert {(r["kind"], r["config"]) for r in rows} == {
        (k, i.name) for k in ("ka", "py") for i in failover.INSTANCES}
    for r in rows:
        inst = next(i for i in failover.INSTANCES if i.name == r["config"])
        limit = skew_time(inst.version, 100, inst.advert_int) + 0.25
        assert r["seconds"] is not None, r
        assert 0 < r["seconds"] <= limit, r
        # the tap on the bridge saw the priority-0 advert, before the takeover
        assert r.get("to_p0") is not None and 0 < r["to_p0"] < r["seconds"], r
        assert r.get("reaction") is not None and abs(r["reaction"]) < 0.25, r
    text = report.render(Results(meta={"date": "test"}, failover=rows), tmp_path)
    assert "| graceful stop (SIGTERM) | VRRPv3 0.1 s | 1/1, 1/1 |" in text
    assert "ratio median" in text
    assert "| graceful stop (SIGTERM) | VRRPv3 0.1 s | 1, 1 |" in text  # measured on the wire


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
def test_one_vrrp_process_crash_sample_per_daemon() -> None:
    """kill -9 of the -r pid: pykeepalived's supervisor hands over (within the backup's skew
    time), keepalived's backup waits its down interval; both respawn and the master returns."""
    rng = random.Random(11)
    for kind in ("ka", "py"):
        with failover.bed(kind) as b:
            got = failover.sample(b, "vrrp_crash", rng)
            assert wait_holding(b.cluster, "n1", b.vips, timeout=15), b.cluster.logs()
        for r in got:
            inst = next(i for i in failover.INSTANCES if i.name == r["config"])
            assert r["seconds"] is not None, r
            if kind == "py":
                assert r["seconds"] <= skew_time(inst.version, 100, inst.advert_int) + 0.25, r
