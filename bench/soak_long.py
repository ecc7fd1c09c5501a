"""Benchmark: the long chaos soak (10 min by default) and 10,000 health-check script runs.

Run (root): PYTHONPATH=.:src python3 bench/soak_long.py [--seconds 600] [--seed S]
    [--script-runs 10000]

Part 1 is tests/reliability/chaos.py for ``--seconds``: random faults on a 3-node cluster,
invariants polled throughout (any violation aborts with the fault log and the daemons' logs).
Part 2 starts one daemon with four health checks at a 10 ms interval (a quarter of them failing)
and reads its fds, threads, children, zombies and RSS after the first 500 runs and again after
``--script-runs``. Results go to stdout; docs/reliability.md records them.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.netns.daemons import Cluster, Resources, config, fd_targets, resources
from tests.netns.lab import Lab
from tests.reliability.chaos import Chaos


def soak(seconds: float, seed: int) -> int:
    with Lab() as lab:
        chaos = Chaos.build(lab, seed)
        try:
            chaos.cluster.start_all()
            chaos.settle()
            for fault in ("block_vrrp", "link_flap", "check_hang", "check_crash", "sighup"):
                getattr(chaos, fault)("n3")
                chaos.settle()
            chaos.sleep(1.0)
            before = chaos.resources()
            t = time.monotonic()
            while time.monotonic() - t < seconds:
                chaos.one_fault()
                chaos.sleep(chaos.rng.uniform(0.0, 0.5))
            chaos.sleep(1.5)
            after = chaos.resources()
        finally:
            chaos.close()
    settle = sorted(chaos.settle_times)
    print(f"soak: {seconds:.0f}s seed {seed}: {sum(chaos.faults.values())} faults "
          f"{dict(chaos.faults)}; invariants held; settle median "
          f"{settle[len(settle) // 2]:.2f}s max {settle[-1]:.2f}s")
    print(f"soak: n3 before {before}\nsoak: n3 after  {after}")
    flat = (after.fds <= before.fds and after.zombies == 0 and after.threads <= before.threads
            + 1 and after.rss_kib <= before.rss_kib + 4096)
    print(f"soak: resources flat: {flat}")
    return 0 if flat else 1


def quiet_reading(pid: int, samples: int = 40) -> Resources:
    """The reading with the fewest fds over a couple of seconds: a script that is running at
    the moment of a reading holds its pipes open, which is not a leak."""
    readings = []
    for _ in range(samples):
        readings.append(resources(pid))
        time.sleep(0.05)
    return min(readings, key=lambda r: (r.fds, r.children))


def script_runs(total: int) -> int:
    with Lab() as lab:
        node = lab.add_node("n1")
        count = lab.tmpdir / "runs"
        script = lab.tmpdir / "chk.sh"
        script.write_text(f"#!/bin/sh\necho >> {count}\nexit $1\n")
        script.chmod(0o755)
        head = "".join(
            f"vrrp_script chk{i} {{\n    script \"{script} {1 if i == 3 else 0}\"\n"
            "    interval 0.01\n    weight 0\n}\n" for i in range(4))
        tail = "    track_script {\n        chk0\n    }\n"
        cluster = Cluster(lab)
        d = cluster.add(node, config(150, state="MASTER", head=head, tail=tail))
        cluster.start_all()

        def runs() -> int:
            try:
                return len(count.read_bytes())
            except OSError:
                return 0

        try:
            while runs() < 500:
                time.sleep(0.05)
            pid = d.vrrp_pid()
            first, fds0 = quiet_reading(pid), fd_targets(pid)
            t = time.monotonic()
            while runs() < total:
                time.sleep(0.2)
                if not d.alive():
                    print("script runs: the daemon died\n" + d.log()[-3000:])
                    return 1
            elapsed = time.monotonic() - t
            last, fds1 = quiet_reading(pid), fd_targets(pid)
            done = runs()
        finally:
            cluster.stop_all()
    print(f"script runs: {done} runs ({(done - 500) / elapsed:.0f}/s)")
    print(f"script runs: after 500    {first}\nscript runs: after {total} {last}")
    flat = (last.fds <= first.fds and last.zombies == 0 and last.threads <= first.threads + 1
            and last.rss_kib <= first.rss_kib + 4096)
    if last.fds > first.fds:
        print(f"script runs: new fds {sorted(set(fds1) - set(fds0))}")
    print(f"script runs: resources flat: {flat}")
    return 0 if flat else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--script-runs", type=int, default=10_000)
    args = ap.parse_args(argv)
    bad = script_runs(args.script_runs) if args.script_runs else 0
    sys.stdout.flush()
    if args.seconds > 0:
        bad |= soak(args.seconds, args.seed)
    return bad


if __name__ == "__main__":
    sys.exit(main())
