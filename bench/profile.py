"""Where pykeepalived spends its CPU: py-spy samples of a master and a backup with 255 instances.

Runs one two-node pykeepalived lab (the part 3 config at ``advert_int``), attaches
``py-spy record --format raw`` to each daemon for ``seconds`` and folds the stacks into the
functions with the most samples, by own time (the frame on top) and by inclusive time.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter

from bench.common import daemon_pids, log
from bench.resources import _all_masters, pair


def _fold(raw: str) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl[f] += n
    return total, own, incl


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


def run(count: int = 255, advert_int: float = 1.0, seconds: float = 15.0) -> dict[str, object]:
    if shutil.which("py-spy") is None:
        return {"error": "py-spy not installed"}
    out: dict[str, object] = {"count": count, "advert_int": advert_int, "seconds": seconds}
    with pair("py", count, advert_int) as p:
        _all_masters(p, 30)
        # Past the start-up: the second gratuitous ARP burst comes garp_master_delay (5 s) later.
        time.sleep(7.0)
        log(f"profile: py-spy on pykeepalived, {count} instances at {advert_int:g} s")
        procs = {}
        for role in ("n1", "n2"):
            daemon_pids(p.cluster.daemons[role])  # until both pid files are there
            pid = p.cluster.daemons[role].vrrp_pid()  # the VRRP child (its parent supervises)
            path = p.lab.tmpdir / f"spy-{role}.txt"
            procs[role] = (path, subprocess.Popen(
                ["py-spy", "record", "--format", "raw", "--rate", "200", "--nonblocking",
                 "-d", str(int(seconds)), "-o", str(path), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for role, (path, proc) in procs.items():
            _, err = proc.communicate(timeout=seconds + 60)
            if not path.exists():
                out[role] = {"error": err.decode(errors="replace")[-500:]}
                continue
            total, own, incl = _fold(path.read_text())
            out["master" if role == "n1" else "backup"] = {
                "samples": total,
                "own": [(f, n / total) for f, n in own.most_common(15)] if total else [],
                "inclusive": [(f, n / total) for f, n in incl.most_common(25)] if total else [],
            }
    out["netlink"] = netlink_costs()
    return out


NETLINK_COST_SCRIPT = """
import json, time
from ipaddress import ip_interface
from pykeepalived.net.netlink import Netlink
nl = Netlink()
idx = nl.ifindex("eth0")
vips = [ip_interface(f"198.51.100.{i}/32") for i in range(1, 256)]
for v in vips:
    nl.add_address(idx, v, lifetime=30)
out = {}
for name, call in (("renew_address", lambda v: nl.renew_address(idx, v, 30)),
                   ("link", lambda v: nl.link("eth0"))):
    t, c = time.perf_counter(), time.process_time()
    for v in vips:
        call(v)
    out[name] = (1e3 * (time.perf_counter() - t) / len(vips),
                 1e3 * (time.process_time() - c) / len(vips))
print(json.dumps(out))
"""


def netlink_costs() -> dict[str, object]:
    """Wall and CPU ms per call of the driver's per-VIP netlink calls, 255 VIPs on eth0."""
    import json
    import sys

    from tests.netns.lab import Lab
    with Lab() as lab:
        node = lab.add_node("n1")
        proc = node.exec([sys.executable, "-c", NETLINK_COST_SCRIPT], timeout=120)
        if proc.returncode != 0:
            return {"error": proc.stderr[-500:]}
        result: dict[str, object] = json.loads(proc.stdout)
        return result
