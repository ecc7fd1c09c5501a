"""Shared pieces of the benchmark suite: daemon kinds, config text, statistics, /proc readings.

Every scenario runs the same config on real keepalived ("ka") and on pykeepalived ("py"), in the
network-namespace lab of ``tests/netns`` (:class:`~tests.netns.lab.Lab`, and
:class:`~tests.netns.daemons.Cluster` to start the daemons), so the two are measured side by side
on the same kernel within minutes of each other.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.netns.daemons import PYKEEPALIVED, Cluster, Daemon
from tests.netns.lab import Node

KINDS = ("ka", "py")
KIND_NAMES = {"ka": "keepalived", "py": "pykeepalived"}


@dataclass(frozen=True)
class Inst:
    """One vrrp_instance of a benchmark config."""

    name: str
    vrid: int
    version: int
    advert_int: float
    vip: str  # "192.0.2.111/24"
    track_script: str | None = None  # one or more names, space separated
    track_process: str | None = None
    more_vips: tuple[str, ...] = ()  # further addresses ("10.20.0.1/32")


@dataclass(frozen=True)
class Script:
    """A vrrp_script with its timing and weight (weight 0: FAULT when it fails)."""

    cmd: str
    interval: float = 1.0
    fall: int = 1
    rise: int = 1
    weight: int = 0


def config_text(insts: Sequence[Inst], prio: int, *,
                scripts: dict[str, str | Script] | None = None, head: str = "",
                iface: str = "eth0") -> str:
    """A keepalived.conf both daemons accept: global defs, scripts, one block per instance.

    A script given as a plain command runs every second, fall 1, rise 1, weight 0; ``head`` is
    put before the instances as it is (vrrp_track_process blocks, say)."""
    out = ["global_defs {\n    script_user root\n}\n", head]
    for name, spec in (scripts or {}).items():
        sc = spec if isinstance(spec, Script) else Script(spec)
        weight = f"    weight {sc.weight}\n" if sc.weight else ""
        out.append(f'vrrp_script {name} {{\n    script "{sc.cmd}"\n    interval {sc.interval:g}\n'
                   f"    fall {sc.fall}\n    rise {sc.rise}\n{weight}}}\n")
    for i in insts:
        track = "".join(
            f"    {key} {{\n" + "".join(f"        {n}\n" for n in names.split()) + "    }\n"
            for key, names in (("track_script", i.track_script),
                               ("track_process", i.track_process)) if names)
        vips = "".join(f"        {v} dev {iface}\n" for v in (i.vip, *i.more_vips))
        out.append(
            f"vrrp_instance {i.name} {{\n    state BACKUP\n    interface {iface}\n"
            f"    version {i.version}\n    virtual_router_id {i.vrid}\n    priority {prio}\n"
            f"    advert_int {i.advert_int:g}\n{track}"
            f"    virtual_ipaddress {{\n{vips}    }}\n}}\n"
        )
    return "".join(out)


def vip_of(inst: Inst) -> str:
    return inst.vip.split("/")[0]


# ---------------------------------------------------------------------------- statistics

@dataclass
class Summary:
    n: int
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary | None:
        vals = sorted(values)
        if not vals:
            return None
        return cls(len(vals), vals[0], statistics.median(vals), vals[-1])


def percentile(sorted_vals: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, round(p / 100 * len(sorted_vals) + 0.5) - 1))
    return sorted_vals[k]


def ratio(py: float | None, ka: float | None) -> float | None:
    if py is None or ka is None or ka == 0:
        return None
    return py / ka


# ---------------------------------------------------------------------------- /proc readings

def tasks_of(pids: Iterable[int]) -> list[Path]:
    out: list[Path] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            out.extend(Path(f"/proc/{pid}/task").iterdir())
    return out


def cpu_ns(pids: Iterable[int]) -> int:
    """Time on CPU of every thread of ``pids`` (first field of /proc/PID/task/TID/schedstat)."""
    total = 0
    for task in tasks_of(pids):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def rss_kib(pids: Iterable[int]) -> int:
    """VmRSS summed over the daemon's processes (keepalived: parent and VRRP child)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def pss_kib(pids: Iterable[int]) -> int:
    """Proportional set size summed over processes (shared pages counted once overall)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


def iface_packets(pid: int, ifname: str = "eth0") -> tuple[int, int]:
    """(rx_packets, tx_packets) of ``ifname`` in the network namespace of process ``pid``."""
    for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines():
        name, sep, rest = line.partition(":")
        if sep and name.strip() == ifname:
            f = rest.split()
            return int(f[1]), int(f[9])
    raise RuntimeError(f"no {ifname} in namespace of {pid}")


# ---------------------------------------------------------------------------- daemons

def daemon_pids(d: Daemon, timeout: float = 5.0) -> list[int]:
    """The daemon's pids (parent and VRRP child, for both daemons), waiting for the VRRP
    child's pid file to appear."""
    deadline = time.monotonic() + timeout
    want = 2
    pids = d.pids()
    while len(pids) < want and time.monotonic() < deadline:
        time.sleep(0.02)
        pids = d.pids()
    return [p for p in pids if Path(f"/proc/{p}").exists()]


_PY_FLAGS: list[str] | None = None


def py_flags() -> list[str]:
    """Per-daemon flags pykeepalived needs when several run on one host (if it has them)."""
    global _PY_FLAGS
    if _PY_FLAGS is None:
        out = subprocess.run([*PYKEEPALIVED, "--help"], capture_output=True, text=True).stdout
        _PY_FLAGS = [f for f in ("--control-socket",) if f in out]
    return _PY_FLAGS


def add_daemon(cluster: Cluster, node: Node, text: str, kind: str,
               flags: Sequence[str] = ()) -> Daemon:
    """``cluster.add`` with a control socket of its own for each pykeepalived, and ``flags``
    (pykeepalived's own, for the variants that show what a default feature costs)."""
    extra: list[str] = []
    if kind == "py" and "--control-socket" in py_flags():
        extra = ["--control-socket", str(cluster.lab.tmpdir / f"{node.name}.ctl")]
    return cluster.add(node, text, kind=kind, extra=[*extra, *flags])


def bare_interpreter_rss_mib(imports: str = "") -> float:
    """VmRSS of this Python (the daemon's) importing nothing but ``imports``: the floor
    under each of pykeepalived's processes."""
    code = f"{imports}\nimport sys, time\nsys.stdout.write('up\\n'); sys.stdout.flush(); " \
        "time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return rss_kib([proc.pid]) / 1024
    finally:
        proc.kill()
        proc.wait()


def addresses_on(d: Daemon) -> set[str]:
    return {str(a.ip) for a in d.node.addresses()}


def wait_holding(cluster: Cluster, holder: str, vips: Sequence[str], *,
                 timeout: float = 15.0) -> bool:
    """Wait until ``holder`` has every VIP and no other node has any of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = True
        for name, d in cluster.daemons.items():
            have = addresses_on(d)
            if name == holder:
                ok = ok and all(v in have for v in vips)
            else:
                ok = ok and not any(v in have for v in vips)
            if not ok:
                break
        if ok:
            return True
        time.sleep(0.05)
    return False


@dataclass
class Results:
    """Everything one run measured, in JSON-friendly form, plus the run's metadata."""

    meta: dict[str, object] = field(default_factory=dict)
    failover: list[dict[str, object]] = field(default_factory=list)
    client: list[dict[str, object]] = field(default_factory=list)
    resources: list[dict[str, object]] = field(default_factory=list)
    timers: list[dict[str, object]] = field(default_factory=list)
    profile: dict[str, object] = field(default_factory=dict)
    auth: list[dict[str, object]] = field(default_factory=list)
    track: list[dict[str, object]] = field(default_factory=list)
    vips: list[dict[str, object]] = field(default_factory=list)
    lvs: list[dict[str, object]] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def busy_hogs(n: int) -> list[subprocess.Popen[bytes]]:
    """Start ``n`` CPU-bound processes at normal priority (both cores busy)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_hogs(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------- VRRP counters

COUNTER_TABLE = "pkbench"


def add_vrrp_counters(ns: str) -> None:
    """nftables counters of VRRP packets (IP protocol 112) sent and received in namespace ``ns``."""
    from pykeepalived.net.nft import nft
    nft(f"add table inet {COUNTER_TABLE}\n"
        f"add counter inet {COUNTER_TABLE} vrrp_in\n"
        f"add counter inet {COUNTER_TABLE} vrrp_out\n"
        f"add chain inet {COUNTER_TABLE} in {{ type filter hook input priority 0; }}\n"
        f"add chain inet {COUNTER_TABLE} out {{ type filter hook output priority 0; }}\n"
        f"add rule inet {COUNTER_TABLE} in meta l4proto 112 counter name vrrp_in\n"
        f"add rule inet {COUNTER_TABLE} out meta l4proto 112 counter name vrrp_out\n", netns=ns)


def vrrp_counters(ns: str) -> tuple[int, int]:
    """(VRRP packets received, VRRP packets sent) so far in namespace ``ns``."""
    from pykeepalived.net.nft import nft
    values = []
    for name in ("vrrp_in", "vrrp_out"):
        text = nft(f"list counter inet {COUNTER_TABLE} {name}", netns=ns)
        words = text.split()
        values.append(int(words[words.index("packets") + 1]))
    return values[0], values[1]
