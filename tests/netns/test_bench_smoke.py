"""The benchmark suite's smallest path, so bench/ cannot rot unnoticed.

One graceful-stop failover sample on keepalived and on pykeepalived (three instances each, see
bench/failover.py), then the report renders it. Asserts protocol-level sanity only: every
instance moved, within the backup's skew time plus a generous margin, and the tap on the bridge
saw each priority-0 advert. The load balancer's part (bench/lvs.py, pykeepalived alone): one
kill of a real server per checker kind, seen leaving and re-entering the kernel's table within
the configured bound, then the report renders it.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from bench import failover, lvs, report
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


def test_one_real_server_kill_per_checker_kind_and_report(tmp_path: Path) -> None:
    """HTTP_GET and TCP_CHECK at delay_loop 1 / retry 1 / delay_before_retry 1: the killed
    server leaves the table (nft monitor) and comes back within the bound, its log lines a
    transaction earlier; the report shows the sample."""
    setting = lvs.SETTINGS[0]
    rows = lvs.detection(1, random.Random(13), combos=[(k, setting) for k in lvs.CHECKS],
                         per_combo=1)
    assert sorted(str(r["kind"]) for r in rows) == sorted(lvs.CHECKS)
    for r in rows:
        for key, bound in (("removed", "removal_bound"), ("added", "add_bound")):
            table, logged = r[f"{key}_s"], r[f"{key}_log_s"]
            assert isinstance(table, float) and isinstance(logged, float), r
            # a loaded machine may stretch a sample a little: the benchmark reports it
            assert 0 < table <= float(r[bound]) + 0.5, r  # type: ignore[arg-type]
            assert 0 <= table - logged < 0.5, r
    text = report.render(Results(meta={"date": "test"}, lvs=rows), tmp_path)
    assert "| HTTP_GET | 1 / 1 / 1 | 1 | 2.0 |" in text
    assert "| TCP_CHECK | 1 / 1 / 1 | 1 | 2.0 |" in text
