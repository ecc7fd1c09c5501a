"""The benchmark command: run every part on keepalived and pykeepalived, write the report.

Parts: failover (issue 14's method: 30 samples for crash, link down and graceful, also measured
from the wire), client, resources, timers, profile, auth, track (kill haproxy with
track_process or a pgrep script), vips (1,000 VIPs, 255 x 4) and lvs (the load balancer: checker
detection delay and CPU for 1,000 real servers, director failover; pykeepalived alone, as
keepalived's checker cannot run without ip_vs). ``sudo ./scripts/bench`` (full
run, about 40 minutes on a 2-core machine) or ``--quick`` (a smoke
run of a few minutes with one sample per scenario and short windows, for developing the suite).
Raw results go to ``bench/results.json``; ``--report-only`` re-renders docs/BENCHMARKS.md from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import auth, client, failover, lvs, profile, report, resources, timers, track, vips
from bench.common import Results, log
from tests.netns.lab import sweep_leftovers

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("failover", "client", "resources", "timers", "profile", "auth", "track", "vips", "lvs")


@dataclasses.dataclass(frozen=True)
class Plan:
    runs: int  # client samples per scenario
    failover_runs: dict[str, int]
    resource_window: float
    one_window: float  # the 1-instance resource cells
    resource_counts: tuple[int, ...]
    timer_window: float
    profile_seconds: float
    track_runs: int
    vip_window: float
    lvs_samples: int  # kills per checker kind and setting
    lvs_failover_runs: int  # director failures of each kind
    lvs_window: float  # the 1,000-real-server CPU window


FULL = Plan(runs=6, failover_runs=failover.FULL_RUNS, resource_window=30.0, one_window=60.0,
            resource_counts=resources.COUNTS, timer_window=90.0, profile_seconds=15.0,
            track_runs=10, vip_window=30.0, lvs_samples=20, lvs_failover_runs=10,
            lvs_window=30.0)
QUICK = Plan(runs=1, failover_runs={f: 1 for f in failover.FAULTS}, resource_window=5.0,
             one_window=5.0,
             resource_counts=(1, 50), timer_window=5.0, profile_seconds=5.0,
             track_runs=2, vip_window=5.0, lvs_samples=2, lvs_failover_runs=1,
             lvs_window=5.0)


def _cmd(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, object]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    ka = (_cmd(["keepalived", "-v"]) or subprocess.run(
        ["keepalived", "-v"], capture_output=True, text=True).stderr).splitlines()
    commit = _cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    tshark = _cmd(["tshark", "--version"]).splitlines()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": f"{mem_kib / 1024 / 1024:.1f} GiB RAM",
        "kernel": platform.release(), "python": platform.python_version(),
        "keepalived": ka[0] if ka else "?",
        "pykeepalived": f"commit {commit}" + (" (with uncommitted changes in src/)" if dirty
                                              else ""),
        "tools": tshark[0] if tshark else "tshark ?",
    }


def snapshot_src() -> str:
    """Export HEAD's src/ and make every daemon started from now on import pykeepalived from it.

    The daemons are separate processes started with this process's environment, so PYTHONPATH
    is enough; the lab helpers in this process keep using the working tree.
    """
    commit = _cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dest = Path(tempfile.mkdtemp(prefix="pkbench-src-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(dest / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    return commit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run: one sample, short windows")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--runs", type=int, help="samples per failover/client scenario")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--note", default="", help="a remark for the report (e.g. a shared machine)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    ap.add_argument("--findings", type=Path, default=ROOT / "bench" / "FINDINGS.md",
                    help="hand-written analysis included in the report")
    ap.add_argument("--report-only", action="store_true", help="re-render from --json")
    ap.add_argument("--snapshot", action="store_true",
                    help="benchmark the committed HEAD of src/ (exported to a temporary "
                         "directory), not a working tree others may be editing during the run")
    args = ap.parse_args(argv)
    findings = args.findings.read_text() if args.findings.exists() else ""

    if args.report_only:
        res = Results(**json.loads(args.json.read_text()))
        args.out.write_text(report.render(res, args.out.parent, findings))
        log(f"wrote {args.out}")
        return 0
    if os.geteuid() != 0:
        print("scripts/bench needs root (network namespaces)", file=sys.stderr)
        return 2
    plan = QUICK if args.quick else FULL
    runs = args.runs or plan.runs
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    sweep_leftovers()

    snapshot_meta = {}
    if args.snapshot:
        snapshot_meta = {"pykeepalived": f"commit {snapshot_src()} (snapshot of HEAD's src/)"}
    start = time.monotonic()
    res = Results(meta={
        **machine(), **snapshot_meta,
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "mode": "quick" if args.quick else "full", "runs": runs, "seed": seed,
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "note": args.note, "parts": parts,
        "command": "sudo ./scripts/bench" + (" --quick" if args.quick else "")
                   + (" --snapshot" if args.snapshot else "")
                   + (" --note '…'" if args.note else ""),
    })
    if "failover" in parts:
        res.failover = failover.run(
            {f: args.runs for f in failover.FAULTS} if args.runs else plan.failover_runs, rng)
    if "client" in parts:
        res.client = client.run(runs, rng)
    if "resources" in parts:
        res.resources = resources.run(plan.resource_window, plan.resource_counts,
                                      plan.one_window)
    if "timers" in parts:
        res.timers = timers.run(plan.timer_window)
    if "profile" in parts and not args.quick:
        res.profile = profile.run(255, 1.0, plan.profile_seconds)
    if "auth" in parts:
        res.auth = auth.run(1000 if args.quick else 5000)
    if "track" in parts:
        res.track = track.run(args.runs or plan.track_runs, rng)
    if "vips" in parts:
        res.vips = vips.run(plan.vip_window, takeovers=1 if args.quick else 2)
    if "lvs" in parts:
        res.lvs = lvs.run(plan.lvs_samples, args.runs or plan.lvs_failover_runs,
                          plan.lvs_window, rng)
        # what the daemons ran, for a section that may later sit beside another run's
        res.lvs[0].update(pykeepalived=res.meta["pykeepalived"], mode=res.meta["mode"])
    res.meta["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    res.meta["duration_min"] = (time.monotonic() - start) / 60
    args.json.write_text(json.dumps(dataclasses.asdict(res), indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.render(res, args.out.parent, findings))
    log(f"wrote {args.out} and {args.json} in {res.meta['duration_min']:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
