"""Turn one run's results into docs/BENCHMARKS.md: tables, ratios, target checks and PNG plots."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import client, failover, lvs, timers, track, vips
from bench.common import KIND_NAMES, Results, Summary, ratio

Row = dict[str, Any]


def _f(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


def _r(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _values(rows: Iterable[Row], key: str, **match: Any) -> list[float]:
    return [r[key] for r in rows if all(r.get(k) == v for k, v in match.items())
            and r.get(key) is not None]


def _mmm(s: Summary | None, digits: int = 3) -> str:
    if s is None:
        return "–"
    return f"{_f(s.min, digits)} / **{_f(s.median, digits)}** / {_f(s.max, digits)}"


def _med(s: Summary | None) -> float | None:
    return None if s is None else s.median


def _mx(s: Summary | None) -> float | None:
    return None if s is None else s.max


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


class Checks:
    """Targets of the issue, each with the figure that decides it."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, bool | None]] = []

    def add(self, target: str, figure: str, ok: bool | None) -> None:
        self.lines.append((target, figure, ok))

    def render(self) -> list[str]:
        mark = {True: "met", False: "**missed**", None: "not measured"}
        return _table(["target", "measured", ""],
                      [(t, f, mark[ok]) for t, f, ok in self.lines])


# ---------------------------------------------------------------------------- plots

def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


COLORS = {"ka": "#1f77b4", "py": "#d62728"}


def _plain_log(ax: Any) -> None:
    """Log scale with plain numbers on the ticks (0.3, 1, 3) instead of 3×10⁻¹."""
    from matplotlib.ticker import FormatStrFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _strip(ax: Any, groups: Sequence[str], get: Callable[[str, str], list[float]]) -> None:
    """ka and py side by side for each group: every sample as a dot, the median as a bar."""
    for gi, g in enumerate(groups):
        for ki, kind in enumerate(("ka", "py")):
            vals = get(g, kind)
            x = gi + (ki - 0.5) * 0.35
            if vals:
                jitter = [x + ((i * 37) % 11 - 5) * 0.012 for i in range(len(vals))]
                ax.scatter(jitter, vals, s=12, color=COLORS[kind], alpha=0.7,
                           label=KIND_NAMES[kind] if gi == 0 else None)
                med = sorted(vals)[len(vals) // 2]
                ax.hlines(med, x - 0.13, x + 0.13, color=COLORS[kind], linewidth=2)
    ax.set_xticks(range(len(groups)))


def plot_failover(rows: list[Row], path: Path) -> bool:
    plt = _plt()
    if plt is None:
        return False
    scen = [s for s in failover.SCENARIOS if any(r["scenario"] == s for r in rows)]
    cols = 3
    nrows = max(1, math.ceil(len(scen) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(13, 4 * nrows), squeeze=False)
    configs = [i.name for i in failover.INSTANCES]
    for ax, s in zip(axes.flat, scen, strict=False):
        def get(c: str, k: str, s: str = s) -> list[float]:
            return _values(rows, "seconds", scenario=s, config=c, kind=k)
        _strip(ax, configs, get)
        ax.set_xticklabels([failover.CONFIG_LABEL[c] for c in configs], fontsize=8)
        ax.set_title(failover.SCENARIO_LABEL[s], fontsize=10)
        ax.set_ylabel("seconds")
        _plain_log(ax)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(scen):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Failover time (each dot one run; bar = median)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_client(rows: list[Row], path: Path) -> bool:
    plt = _plt()
    if plt is None:
        return False
    scen = [s for s in client.SCENARIOS if any(r["scenario"] == s for r in rows)]
    fig, ax = plt.subplots(figsize=(9, 4))
    _strip(ax, scen, lambda s, k: [1000 * v for v in _values(rows, "gap", scenario=s, kind=k)])
    ax.set_xticklabels([client.SCENARIO_LABEL[s] for s in scen], fontsize=8)
    ax.set_ylabel("longest gap without an answer (ms)")
    _plain_log(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Client-perceived downtime, VRRPv3 0.1 s (request every 5 ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_resources(rows: list[Row], path: Path) -> bool:
    plt = _plt()
    if plt is None:
        return False
    keys = sorted({(r["count"], r["advert_int"], r["role"]) for r in rows},
                  key=lambda k: (k[0], -k[1], k[2]))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(12, 7))
    for ax, field, label in ((a1, "cpu_pct", "CPU, % of one core"),
                             (a2, "us_per_advert", "CPU per advert (µs)")):
        for ki, kind in enumerate(("ka", "py")):
            vals = []
            for c, ai, role in keys:
                v = _values(rows, field, count=c, advert_int=ai, role=role, kind=kind)
                vals.append(v[0] if v else 0.0)
            ax.bar([i + (ki - 0.5) * 0.4 for i in range(len(keys))], vals, width=0.4,
                   color=COLORS[kind], label=KIND_NAMES[kind])
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([f"{c}×{ai:g}s\n{role}" for c, ai, role in keys], fontsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    a1.legend(fontsize=8)
    a1.set_title("CPU by instance count, advert interval and role")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_timers(rows: list[Row], path: Path) -> bool:
    plt = _plt()
    if plt is None:
        return False
    loads = [x for x in ("idle", "busy") if any(r["load"] == x for r in rows)]
    fig, axes = plt.subplots(1, len(loads), figsize=(12, 4), squeeze=False)
    for ax, load in zip(axes.flat, loads, strict=False):
        ints = sorted({r["advert_int"] for r in rows})
        for ki, kind in enumerate(("ka", "py")):
            for ii, ai in enumerate(ints):
                rr = [r for r in rows if r["kind"] == kind and r["load"] == load
                      and r["advert_int"] == ai]
                if not rr:
                    continue
                r = rr[0]
                x = ii + (ki - 0.5) * 0.35
                # normalised to the advert interval: 1.0 is on time
                ys = [r["p50_ms"] / (1000 * ai), r["p99_ms"] / (1000 * ai),
                      (r["max_ms"] or 0) / (1000 * ai)]
                ax.vlines(x, ys[0], ys[2], color=COLORS[kind])
                ax.scatter([x, x, x], ys, marker="_", s=200, color=COLORS[kind],
                           label=KIND_NAMES[kind] if ii == 0 else None)
                ax.scatter([x], [r["limit_ms"] / (1000 * ai)], marker="x", color="black",
                           label="backup's master-down limit" if ii == 0 and ki == 0 else None)
        ax.set_xticks(range(len(ints)))
        ax.set_xticklabels([f"{ai:g} s" for ai in ints])
        ax.set_ylabel("gap / advert interval (p50, p99, max)")
        ax.set_title(f"Advert gaps on the wire, {load}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------- sections

def section_failover(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 1. Failover", "",
           "Two nodes (priority 150 master, 100 backup) with three instances each: VRRPv2 1 s, "
           "VRRPv3 1 s, VRRPv3 0.1 s. Time from the fault to the rtnetlink event of the VIP "
           "appearing on the backup (preempt back: from the recovery until the VIP is on the old "
           "master and gone from the backup). Health checks: `vrrp_script` `test -f FLAG`, "
           "interval 1 s, fall 1, rise 1, with no weight (FAULT) or weight -60 (150 -> 90, "
           "below the backup's 100). The two labs take turns (one injects a fault while the "
           "other's restarted master preempts back). Seconds, min / **median** / max; "
           "ratio = pykeepalived / keepalived.", ""]
    body = []
    for s in failover.SCENARIOS:
        for inst in failover.INSTANCES:
            c = inst.name
            ka = Summary.of(_values(rows, "seconds", scenario=s, config=c, kind="ka"))
            py = Summary.of(_values(rows, "seconds", scenario=s, config=c, kind="py"))
            if ka is None and py is None:
                continue
            n_ka = sum(1 for r in rows if r["scenario"] == s and r["config"] == c
                       and r["kind"] == "ka")
            n_py = sum(1 for r in rows if r["scenario"] == s and r["config"] == c
                       and r["kind"] == "py")
            body.append((failover.SCENARIO_LABEL[s], failover.CONFIG_LABEL[c],
                         f"{ka.n if ka else 0}/{n_ka}, {py.n if py else 0}/{n_py}",
                         _mmm(ka), _mmm(py),
                         _r(ratio(_med(py), _med(ka))),
                         _r(ratio(_mx(py), _mx(ka)))))
    out += _table(["fault", "config", "samples ka, py (seen/run)", "keepalived",
                   "pykeepalived", "ratio median", "ratio max"], body)
    out += ["", "![failover](bench/failover.png)", ""]

    out += section_wire(rows)

    def rr(s: str, c: str, key: str = "seconds") -> tuple[float | None, float | None]:
        ka = Summary.of(_values(rows, key, scenario=s, config=c, kind="ka"))
        py = Summary.of(_values(rows, key, scenario=s, config=c, kind="py"))
        return (ratio(_med(py), _med(ka)), ratio(_mx(py), _mx(ka)))

    for s, lim_med, lim_max in (("crash", 1.0, 1.1), ("vrrp_crash", 0.4, None),
                                ("link_down", 1.0, 1.1),
                                ("graceful", 1.02, None), ("health", 0.5, None),
                                ("preempt_link", 0.5, None), ("preempt_health", 0.5, None)):
        for inst in failover.INSTANCES:
            if s == "vrrp_crash" and inst.advert_int < 1:
                lim_med = 0.6  # issue 16: <= 0.4x keepalived at 1 s adverts, 0.6x at 0.1 s
            elif s == "vrrp_crash":
                lim_med = 0.4
            med, mx = rr(s, inst.name)
            if med is None:
                continue
            ok = med <= lim_med and (lim_max is None or (mx is not None and mx <= lim_max))
            target = f"{failover.SCENARIO_LABEL[s]}, {failover.CONFIG_LABEL[inst.name]}: " \
                     f"ratio median <= {lim_med}" + (f", max <= {lim_max}" if lim_max else "")
            fig = f"median {_r(med)}, max {_r(mx)}"
            if s == "graceful":
                target += " (SIGTERM -> VIP on the backup; SIGTERM -> priority-0 advert beside)"
                p0 = [_med(Summary.of([1000 * v for v in _values(rows, "to_p0", scenario=s,
                                                                   config=inst.name, kind=k)]))
                      for k in ("ka", "py")]
                fig += f"; to priority 0 on the wire {_f(p0[0], 2)} / {_f(p0[1], 2)} ms (ka / py)"
            checks.add(target, fig, ok)
    for inst in failover.INSTANCES:
        med, mx = rr("crash", inst.name, "from_last")
        if med is not None:
            checks.add(f"master crash measured from its last advert on the wire, "
                       f"{failover.CONFIG_LABEL[inst.name]}: ratio median <= 1.005",
                       f"median {med:.4f}, max {_f(mx, 4)}", med <= 1.005)
    for s, what in (("crash", "down timer expiry (last advert + Master_Down_Interval)"),
                    ("graceful", "priority-0 advert's arrival + Skew_Time")):
        for inst in failover.INSTANCES:
            py = Summary.of([1000 * v for v in _values(rows, "reaction", scenario=s,
                                                        config=inst.name, kind="py")])
            ka = Summary.of([1000 * v for v in _values(rows, "reaction", scenario=s,
                                                        config=inst.name, kind="ka")])
            if py is None:
                continue
            checks.add(f"takeover reaction, {what} -> VIP event on the backup, "
                       f"{failover.CONFIG_LABEL[inst.name]}: median <= 1 ms",
                       f"median {py.median:.2f} ms, max {py.max:.2f} ms (keepalived median "
                       f"{_f(_med(ka), 2)}, max {_f(_mx(ka), 2)})", py.median <= 1.0)
    return out


def section_wire(rows: list[Row]) -> list[str]:
    """The failover samples measured against the wire (bench/wire.py)."""
    out = ["Measured on the wire (a packet socket on the lab's bridge, kernel receive "
           "timestamps): crash and link down from the master's last advert to the VIP event "
           "(seconds) and the backup's reaction = VIP event - (last advert + Master_Down_Interval "
           "= 3 x advert interval + Skew_Time of the backup's priority 100); graceful stop: "
           "SIGTERM -> priority-0 advert, and the reaction = VIP event - (priority-0 advert + "
           "Skew_Time). Reaction in ms, median / max.", ""]
    body = []
    for s in ("crash", "link_down", "graceful"):
        for inst in failover.INSTANCES:
            c = inst.name

            def sm(key: str, kind: str, scale: float = 1.0, c: str = c,
                   s: str = s) -> Summary | None:
                return Summary.of([scale * v for v in _values(rows, key, scenario=s, config=c,
                                                               kind=kind)])
            fk, fp = sm("from_last", "ka"), sm("from_last", "py")
            rk, rp = sm("reaction", "ka", 1000), sm("reaction", "py", 1000)
            pk, pp = sm("to_p0", "ka", 1000), sm("to_p0", "py", 1000)
            if not any((fk, fp, rk, rp, pk, pp)):
                continue
            r = ratio(_med(fp), _med(fk))
            body.append((failover.SCENARIO_LABEL[s], failover.CONFIG_LABEL[c],
                         f"{max(x.n if x else 0 for x in (fk, rk, pk))}, "
                         f"{max(x.n if x else 0 for x in (fp, rp, pp))}",
                         _mmm(fk), _mmm(fp), "–" if r is None else f"{r:.4f}",
                         f"{_f(_med(rk), 2)} / {_f(_mx(rk), 2)}",
                         f"{_f(_med(rp), 2)} / {_f(_mx(rp), 2)}",
                         f"{_f(_med(pk), 2)} / {_f(_med(pp), 2)}" if pk or pp else ""))
    out += _table(["fault", "config", "samples ka, py", "from last advert keepalived",
                   "from last advert pykeepalived", "ratio median", "reaction ka (ms)",
                   "reaction py (ms)", "SIGTERM -> priority 0, median ms (ka / py)"], body)
    return [*out, ""]


def section_client(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 2. Client-perceived downtime", "",
           "Two VRRP nodes (VRRPv3 0.1 s) each with an HTTP server, a client namespace opening a "
           "new connection to the VIP every 5 ms (50 ms timeout, probes overlap). Longest gap "
           "between two successful answers around the fault (ms), time of the first answer from "
           "the new master, and answers from the old node after the new one answered "
           "(stale ARP, or the VIP on both nodes).", ""]
    body = []
    for s in client.SCENARIOS:
        ka = Summary.of([1000 * v for v in _values(rows, "gap", scenario=s, kind="ka")])
        py = Summary.of([1000 * v for v in _values(rows, "gap", scenario=s, kind="py")])
        if ka is None and py is None:
            continue
        fk = Summary.of([1000 * v for v in _values(rows, "first_new", scenario=s, kind="ka")])
        fp = Summary.of([1000 * v for v in _values(rows, "first_new", scenario=s, kind="py")])
        stale_ka = sum(_values(rows, "stale", scenario=s, kind="ka"))
        stale_py = sum(_values(rows, "stale", scenario=s, kind="py"))
        body.append((client.SCENARIO_LABEL[s], _mmm(ka, 0), _mmm(py, 0),
                     _r(ratio(_med(py), _med(ka))),
                     _r(ratio(_mx(py), _mx(ka))),
                     f"{_f(_med(fk), 0)} / {_f(_med(fp), 0)}",
                     f"{stale_ka:g} / {stale_py:g}"))
        med = ratio(_med(py), _med(ka))
        # A gap at the probe spacing (no outage at all) is noise, not a regression.
        noise = py is not None and py.median <= 15
        checks.add(f"client gap, {client.SCENARIO_LABEL[s]}: ratio median <= 1.0",
                   f"{_r(med)} ({_f(_med(py), 0)} ms vs {_f(_med(ka), 0)} ms)",
                   None if med is None else (med <= 1.0 or noise))
        checks.add(f"no answers from the old node, {client.SCENARIO_LABEL[s]}",
                   f"pykeepalived {stale_py:g} (keepalived {stale_ka:g})", stale_py == 0)
    out += _table(["fault", "gap keepalived (ms)", "gap pykeepalived (ms)", "ratio median",
                   "ratio max", "first new answer, median ms (ka / py)",
                   "old-node answers after takeover, all runs (ka / py)"], body)
    out += ["", "![client](bench/client.png)", ""]
    return out


def section_resources(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 3. CPU and memory", "",
           "VRRPv3, every instance mastered by n1 (priority 200), n2 the backup (100). CPU: "
           "schedstat time of every thread of the daemon's processes over the window, as % of "
           "one core; per advert = that CPU time divided by the VRRP packets the master sent / "
           "the backup received (nftables counters). RSS / PSS summed over the daemon's "
           "processes (keepalived: parent and VRRP child). One measurement per configuration "
           "(the window, 60 s for one instance and 30 s otherwise in a full run, is already an "
           "average over 60 to 7,650 adverts).", ""]
    body = []
    keys = sorted({(r["count"], r["advert_int"], r["role"]) for r in rows},
                  key=lambda k: (k[0], -k[1], k[2]))
    for c, ai, role in keys:
        def one(kind: str, field: str, c: int = c, ai: float = ai, role: str = role) -> Any:
            v = _values(rows, field, count=c, advert_int=ai, role=role, kind=kind)
            return v[0] if v else None
        cka, cpy = one("ka", "cpu_pct"), one("py", "cpu_pct")
        uka, upy = one("ka", "us_per_advert"), one("py", "us_per_advert")
        body.append((str(c), f"{ai:g} s", role, _f(cka, 3), _f(cpy, 3), _r(ratio(cpy, cka)),
                     _f(uka, 1), _f(upy, 1), _r(ratio(upy, uka)),
                     f"{one('ka', 'adverts')} / {one('py', 'adverts')} "
                     f"({one('py', 'expected')})",
                     f"{_f(one('ka', 'rss_mib'), 1)} / {_f(one('py', 'rss_mib'), 1)}",
                     f"{_f(one('ka', 'pss_mib'), 1)} / {_f(one('py', 'pss_mib'), 1)}",
                     f"{one('ka', 'backup_sent') or 0} / {one('py', 'backup_sent') or 0}"
                     if role == "backup" else ""))
        if c == 1 and ai == 1.0 and cpy is not None:
            lean = one("py-lean", "cpu_pct")
            checks.add(f"1 instance at 1 s, {role}: <= 0.05 % of a core (pykeepalived's "
                       "processes summed; conflict detection and crash-safe VIPs at their "
                       "defaults)",
                       f"{cpy:.3f} % (keepalived {_f(cka, 3)} %; pykeepalived with "
                       f"--no-conflict-detection -V {_f(lean, 3)} %)", cpy <= 0.05)
        if c == 255 and upy is not None and uka is not None:
            lim = 1.5 if role == "master" else 2.0
            checks.add(f"CPU per advert {'sent' if role == 'master' else 'received'} "
                       f"(255 × {ai:g} s) <= {lim:g}× keepalived",
                       f"{upy:.1f} µs vs {uka:.1f} µs = {upy / uka:.2f}×", upy <= lim * uka)
    for c, lim in ((1, 30.0), (255, 36.0)):
        rr = [r for r in rows if r["kind"] == "py" and r["count"] == c]
        if rr:
            worst = max(rr, key=lambda r: r["rss_mib"])
            ka_rss = [r["rss_mib"] for r in rows if r["kind"] == "ka" and r["count"] == c]
            floor = worst.get("floor_rss_mib")
            checks.add(f"RSS with {c} instance{'s' if c > 1 else ''} <= {lim:g} MiB "
                       "(summed over the daemon's processes; PSS beside)",
                       f"max {worst['rss_mib']:.1f} MiB, PSS {worst['pss_mib']:.1f} MiB "
                       f"(keepalived max {_f(max(ka_rss) if ka_rss else None, 1)} MiB; "
                       f"floor: this Python importing nothing {_f(floor, 1)} MiB, only "
                       f"asyncio {_f(worst.get('asyncio_rss_mib'), 1)} MiB, per process)",
                       worst["rss_mib"] <= lim)
    out += _table(["instances", "advert", "role", "CPU % ka", "CPU % py", "ratio",
                   "µs/advert ka", "µs/advert py", "ratio",
                   "adverts ka / py (nominal)", "RSS MiB ka / py", "PSS MiB ka / py",
                   "adverts sent by backup ka / py"], body)
    out += ["", "![resources](bench/resources.png)", ""]
    return out


def section_timers(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 4. Timer precision", "",
           "One instance per pair (VRRPv3; master 200, backup 100), gaps between the master's "
           "adverts in a capture on the bridge, in ms. Drift: mean gap against the advert "
           "interval. Spurious: the backup adding the VIP while the master runs; limit: the "
           "backup's Master_Down_Interval. Busy: two spinning processes at normal priority "
           "(both cores).", ""]
    body = []
    for load in ("idle", "busy"):
        for ai in timers.INTERVALS:
            rr = {r["kind"]: r for r in rows if r["load"] == load and r["advert_int"] == ai}
            if not rr:
                continue
            ka, py = rr.get("ka", {}), rr.get("py", {})

            def trio(r: Row) -> str:
                return f"{_f(r.get('p50_ms'), 1)} / {_f(r.get('p99_ms'), 1)} / " \
                       f"{_f(r.get('max_ms'), 1)}"
            body.append((load, f"{ai:g} s", _f(ka.get("limit_ms") or py.get("limit_ms"), 0),
                         trio(ka), trio(py), _r(ratio(py.get("max_ms"), ka.get("max_ms"))),
                         f"{_f(ka.get('drift_pct'), 2)} / {_f(py.get('drift_pct'), 2)}",
                         f"{ka.get('spurious', '–')} / {py.get('spurious', '–')}",
                         f"{ka.get('adverts', '–')} / {py.get('adverts', '–')}"))
            if py:
                if ai == 0.01 and load == "busy":
                    checks.add("0 spurious takeovers at 0.01 s, both cores busy",
                               f"{py['spurious']} (keepalived {ka.get('spurious', '–')}); "
                               f"worst gap {_f(py['max_ms'], 1)} ms of {_f(py['limit_ms'], 0)}",
                               py["spurious"] == 0)
                checks.add(f"timer drift under 0.5 % ({ai:g} s, {load})",
                           f"{_f(py['drift_pct'], 2)} % (keepalived "
                           f"{_f(ka.get('drift_pct'), 2)} %)", abs(py["drift_pct"]) < 0.5)
    out += _table(["load", "advert", "limit ms", "keepalived p50 / p99 / max",
                   "pykeepalived p50 / p99 / max", "ratio max", "drift % ka / py",
                   "spurious ka / py", "adverts ka / py"], body)
    out += ["", "![timers](bench/timers.png)", ""]
    return out


def section_track(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 5. Tracked service dies: kill haproxy -> VIP on the backup", "",
           "A stand-in process named haproxy (a copy of /bin/sleep) on the master, killed by PID; "
           "time to the VIP's rtnetlink event on the backup. VRRPv3 0.1 s, n1 150 tracks, n2 "
           "100; `vrrp_track_process` (weight 0: FAULT) or `vrrp_script \"pgrep haproxy\"` "
           "(interval 2, fall 1, rise 1, weight 0). Seconds, min / **median** / max.", ""]
    body = []
    for style in track.STYLES:
        ka = Summary.of(_values(rows, "seconds", style=style, kind="ka"))
        py = Summary.of(_values(rows, "seconds", style=style, kind="py"))
        if ka is None and py is None:
            continue
        med = ratio(_med(py), _med(ka))
        body.append((track.STYLE_LABEL[style], _mmm(ka), _mmm(py), _r(med),
                     _r(ratio(_mx(py), _mx(ka)))))
        checks.add(f"kill haproxy -> VIP on the backup, {track.STYLE_LABEL[style]}: ratio "
                   "median <= 1.0", f"{_r(med)} ({_f(_med(py))} s vs {_f(_med(ka))} s)",
                   None if med is None else med <= 1.0)
    out += _table(["tracking", "keepalived", "pykeepalived", "ratio median", "ratio max"], body)
    return [*out, ""]


def section_vips(rows: list[Row], checks: Checks) -> list[str]:
    out = ["## 6. Many VIPs", "",
           "VRRPv3 1 s, n1 150 master, n2 100. Takeover (n1 killed): per instance from the new "
           "master's first advert on the wire (its MASTER decision) to the last of its VIPs' "
           "rtnetlink events (installed) and to the first gratuitous ARP of the last of them "
           "(announced); the worst instance, ms, median over the takeovers. Steady state: the "
           "master's CPU over the window (pykeepalived renews its crash-safe VIPs' lifetimes; "
           "keepalived renews nothing) and the gaps between its adverts on the wire.", ""]
    body = []

    def one(part: str, config: str, kind: str, key: str) -> float | None:
        s = Summary.of(_values(rows, key, part=part, config=config, kind=kind))
        return None if s is None else s.median
    base = {k: one("steady", "1", k, "gap_p99_ms") for k in ("ka", "py")}
    for config in vips.CONFIGS:
        if not any(r["config"] == config for r in rows):
            continue
        v = {(k, key): (1000 * x if (x := one("takeover", config, k, key)) is not None
                        and key.endswith("_s") else x)
             for k in ("ka", "py")
             for key in ("install_s", "announce_s", "cpu_pct", "gap_p99_ms", "gap_max_ms",
                         "rss_mib")}
        for key in ("cpu_pct", "gap_p99_ms", "gap_max_ms", "rss_mib"):
            for k in ("ka", "py"):
                v[(k, key)] = one("steady", config, k, key)
        lean_cpu = one("steady", config, "py-V", "cpu_pct")

        def pair(key: str, d: int = 1, v: dict[tuple[str, str], Any] = v) -> str:
            return f"{_f(v[('ka', key)], d)} / {_f(v[('py', key)], d)}"
        body.append((vips.CONFIG_LABEL[config], pair("install_s"), pair("announce_s"),
                     pair("cpu_pct", 3), pair("gap_p99_ms", 2), pair("gap_max_ms", 2),
                     pair("rss_mib")))
        if config == "1":
            continue
        label = vips.CONFIG_LABEL[config]
        failed = next((r["error"] for r in rows if r.get("part") == "error"
                       and r["kind"] == "py" and r["config"] == config), None)

        def verdict(ok: bool | None, failed: str | None = failed) -> bool | None:
            return False if failed else ok
        for key, what in (("install_s", "MASTER decision -> every VIP on the interface"),
                          ("announce_s", "MASTER decision -> every VIP announced (GARP)"),
                          ("cpu_pct", "master CPU over the window (adverts + VIP renewal)")):
            ka, py = v[("ka", key)], v[("py", key)]
            unit = " %" if key == "cpu_pct" else " ms"
            lean = (f" (with -V, no crash-safe renewal: {_f(lean_cpu, 3)} %)"
                    if key == "cpu_pct" and lean_cpu is not None else "")
            checks.add(f"{label}: {what} <= keepalived",
                       f"pykeepalived failed ({failed}); keepalived "
                       f"{_f(ka, 3 if unit == ' %' else 1)}{unit}" if failed else
                       f"{_f(py, 3 if unit == ' %' else 1)}{unit} vs "
                       f"{_f(ka, 3 if unit == ' %' else 1)}{unit}{lean}",
                       verdict(None if ka is None or py is None else py <= ka))
        p99, b99 = v[("py", "gap_p99_ms")], base["py"]
        checks.add(f"{label}: advert gap p99 within 1 ms of the p99 with one VIP "
                   "(VIP renewal never delays an advert)",
                   f"{_f(p99, 2)} ms vs {_f(b99, 2)} ms (keepalived "
                   f"{_f(v[('ka', 'gap_p99_ms')], 2)} vs {_f(base['ka'], 2)})",
                   verdict(None if p99 is None or b99 is None else p99 <= b99 + 1.0))
    out += [f"- {KIND_NAMES[r['kind']]}, {vips.CONFIG_LABEL[r['config']]}: {r['error']}"
            for r in rows if r.get("part") == "error"]
    if out[-1] != "":
        out.append("")
    out += _table(["configuration", "installed, ms (ka / py)", "announced, ms (ka / py)",
                   "master CPU % (ka / py)", "advert gap p99 ms (ka / py)",
                   "advert gap max ms (ka / py)", "RSS MiB (ka / py)"], body)
    return [*out, ""]


def _rank(sorted_vals: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the ceil(p/100 x n)-th value (p95 of 20 is the 19th)."""
    return sorted_vals[max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)]


def _mpm(vals: list[float], digits: int = 2) -> str:
    """median / p95 / max, the median in bold."""
    v = sorted(vals)
    if not v:
        return "–"
    return f"**{_f(statistics.median(v), digits)}** / {_f(_rank(v, 95), digits)} / " \
           f"{_f(v[-1], digits)}"


def section_lvs(rows: list[Row], checks: Checks) -> list[str]:
    """Part 7: the load balancer's checkers and directors (bench/lvs.py)."""
    meta = next((r for r in rows if r.get("part") == "meta"), {})
    out = ["## 7. Load balancer: health checkers and director failover", "",
           f"Measured {meta.get('date', '?')} ({meta.get('mode', '?')} mode, "
           f"{_f(meta.get('duration_min'), 1)} min; pykeepalived {meta.get('pykeepalived', '?')};"
           f" load average {meta.get('load_start', '?')} / {meta.get('load_end', '?')}). "
           "pykeepalived "
           "with `virtual_server` blocks, the nftables plane, in network namespaces (method in "
           "`bench/lvs.py`). The bound, from keepalived 2.2.7's `check_tcp.c` (`tcp_epilog`) and "
           "`check_http.c` (`epilog`, `timeout_epilog`), which pykeepalived's checker follows: a "
           "check runs delay_loop after the previous one ended, and a failure of an up checker "
           "is retried `retry` times delay_before_retry apart, so a real server whose service "
           "dies leaves the table at most **delay_loop + retry x delay_before_retry** later "
           "(plus the attempts themselves: a refused connection takes well under a millisecond, "
           "a timeout connect_timeout each, retry + 1 of them). Back up: TCP_CHECK within "
           "max(delay_loop, delay_before_retry); HTTP_GET within max(delay_loop, "
           "delay_before_retry) + delay_loop, because after the failed URL passes keepalived "
           f"checks the URLs again from the first before it calls the server up. A sample "
           f"meets the bound within {lvs.TOLERANCE * 1000:g} ms (the attempts, the timer's "
           "wake-up, the transaction).", ""]
    ka = next((r for r in rows if r.get("part") == "keepalived"), None)
    if ka is not None:
        if ka.get("error"):
            out += [f"keepalived: {ka['error']}.", ""]
        else:
            said = "; ".join(f"\"{line}\"" for line in ka.get("lines", []))
            out += [f"No keepalived column: `keepalived -C` ({ka.get('version', '')}) with the "
                    f"1,000-server configuration, in the same lab, exited with status "
                    f"{ka.get('exit')} after {_f(ka.get('seconds'), 2)} s: {said}. Without "
                    "ip_vs in this kernel its checker does not run at all, so each figure below "
                    "is pykeepalived's against the bound its configuration promises.", ""]

    det = [r for r in rows if r.get("part") == "detect"]
    if det:
        out += ["**Detection delay.** One director (`pykeepalived -C`), a virtual server per "
                "checker and setting with two real servers each; each real server's HTTP "
                "service is killed by PID at a random phase and started again at another. "
                "Kill -> the server gone from the kernel's table (`nft -a monitor` in the "
                "director's namespace: the first transaction after which no dnat rule sends to "
                "it) and -> the "
                "\"Removing service\" log line; the new socket's listen -> back in the table and "
                "-> \"Adding service\". Seconds, median / p95 / max.", ""]
        body: list[tuple[str, ...]] = []
        combos = sorted({(str(r["kind"]), str(r["setting"])) for r in det},
                        key=lambda k: (lvs.CHECKS.index(k[0]) if k[0] in lvs.CHECKS else 9, k[1]))
        for kind, setting in combos:
            rr = [r for r in det if r["kind"] == kind and r["setting"] == setting]
            rb, ab = float(rr[0]["removal_bound"]), float(rr[0]["add_bound"])
            rem = [float(r["removed_s"]) for r in rr if r.get("removed_s") is not None]
            add = [float(r["added_s"]) for r in rr if r.get("added_s") is not None]
            within = sum(1 for v in rem if v <= rb + lvs.TOLERANCE)
            within_add = sum(1 for v in add if v <= ab + lvs.TOLERANCE)
            body.append((kind, setting, str(len(rr)), _f(rb, 1), _mpm(rem),
                         _mpm(_values(rr, "removed_log_s")), f"{within}/{len(rr)}",
                         _f(ab, 1), _mpm(add), _mpm(_values(rr, "added_log_s")),
                         f"{within_add}/{len(rr)}"))
            for what, vals, bound, n_ok in (("removed from the table", rem, rb, within),
                                            ("back in the table", add, ab, within_add)):
                formula = ("delay_loop + retry x delay_before_retry" if what.startswith("rem")
                           else "max(delay_loop, delay_before_retry)"
                           + (" + delay_loop" if kind == "HTTP_GET" else ""))
                checks.add(f"load balancer: {kind} ({setting}), real server {what} within "
                           f"{formula} = {bound:g} s",
                           f"max {_f(max(vals) if vals else None, 3)} s, p95 "
                           f"{_f(_rank(sorted(vals), 95) if vals else None, 3)} s; "
                           f"{n_ok}/{len(rr)} within",
                           bool(vals) and len(vals) == len(rr) and n_ok == len(rr))
        out += _table(["checker", "delay_loop / retry / delay_before_retry", "kills",
                       "removal bound", "removed from the table", "\"Removing service\" logged",
                       "within", "re-add bound", "back in the table",
                       "\"Adding service\" logged", "within"], body)
        out += [""]

    scale = [r for r in rows if r.get("part") == "scale"]
    if scale:
        out += ["**1,000 real servers at delay_loop 1.** One director (`pykeepalived -C`), "
                "two virtual servers (IPv4 and IPv6) of 500 real servers each, on four nodes "
                "holding 250 addresses each on their loopback behind one listening socket "
                "(`[::]:80`), routed via the nodes. After start-up, over the window: the checks "
                "run (the checker's status, every checker's results), the checker process's "
                "CPU (schedstat; user / system from /proc/PID/stat) and RSS. Then one node's "
                "service is killed, 250 real servers failing at once, and started again: the "
                "last \"Removing service\" / \"Adding service\" line after the kill / the listen, "
                "and the transactions that carried them.", ""]
        body = []
        for r in scale:
            if r.get("error"):
                out += [f"- {r['kind']}: {r['error']} ({'; '.join(r.get('start_errors', []))})"]
                continue
            rb = lvs.SETTINGS[0].removal_bound()
            ab = lvs.SETTINGS[0].add_bound(str(r["kind"]))
            body.append((str(r["kind"]), f"{r['in_table']} / {r['servers']}",
                         f"{_f(r['checks_per_s'], 0)} ({_f(r['expected_per_s'], 0)})",
                         str(r["failed_checks"]),
                         f"{_f(r['cpu_pct'], 1)} ({_f(r['user_pct'], 1)} / "
                         f"{_f(r['system_pct'], 1)})", _f(r["us_per_check"], 0),
                         f"{_f(r['rss_mib'], 1)} / {_f(r['parent_rss_mib'], 1)}",
                         _f(r["ready_s"], 1),
                         f"{_f(r.get('burst_remove_last_s'), 2)} (bound {rb:g}), "
                         f"{r.get('burst_remove_applies', '–')}",
                         f"{_f(r.get('burst_add_last_s'), 2)} (bound {ab:g}), "
                         f"{r.get('burst_add_applies', '–')}"))
            checks.add(f"load balancer: 1,000 real servers at delay_loop 1, {r['kind']}: every "
                       "check on time (>= 98 % of 1,000 checks/s)",
                       f"{_f(r['checks_per_s'], 0)} checks/s, {r['failed_checks']} failed; "
                       f"{_f(r['cpu_pct'], 1)} % of one core ({_f(r['us_per_check'], 0)} µs "
                       "per check)", float(r["checks_per_s"]) >= 0.98 * float(r["expected_per_s"]))
            last = r.get("burst_remove_last_s")
            if last is not None or r.get("burst_servers"):
                checks.add(f"load balancer: 250 of the 1,000 real servers failing at once "
                           f"({r['kind']}), all removed within {rb:g} s",
                           f"{r.get('burst_removed')}/{r.get('burst_servers')}, the last after "
                           f"{_f(last, 2)} s, in {r.get('burst_remove_applies')} transactions",
                           last is not None and r.get("burst_removed") == r.get("burst_servers")
                           and float(last) <= rb + lvs.TOLERANCE)
        if out[-1] != "":
            out.append("")
        out += _table(["checker", "in the table", "checks/s (nominal)", "failed checks",
                       "checker CPU, % of one core (user / system)", "µs per check",
                       "RSS MiB checker / parent", "ready after start, s",
                       "250 at once: last removal s, transactions",
                       "250 back: last s, transactions"], body)
        out += [""]

    ap = next((r for r in rows if r.get("part") == "apply"), None)
    if ap is not None and ap.get("error"):
        out += [f"**The plane's transaction**: not measured ({ap['error']}).", ""]
    elif ap is not None:
        out += [f"**The plane's transaction** with {ap['destinations']:,} destinations (the "
                "daemon's `NftPlane.apply`, in the lab's director namespace, under another "
                f"table name): install {_f(ap['install_ms'], 0)} ms ({_f(ap['install_cpu_ms'], 0)}"
                f" ms CPU); re-apply with one destination out or back, median of "
                f"{ap['reps']}: {_f(ap['reapply_ms'], 0)} ms ({_f(ap['reapply_cpu_ms'], 0)} ms "
                f"CPU, max {_f(ap['reapply_max_ms'], 0)} ms), of which reading the live table "
                f"(counters and maps, to carry them over) {_f(ap.get('read_ms'), 0)} ms. The "
                "checker runs it in a worker thread, one at a time: checks go on meanwhile, "
                "and what they change goes into the next transaction.", ""]

    fo = [r for r in rows if r.get("part") == "director"]
    if fo:
        out += ["**Director failover under steady load.** Two directors running VRRP (VRRPv3 "
                "0.1 s; d1 priority 150, d2 100) and the checkers on 192.0.2.100:80 (NAT, "
                "masquerade), three real servers (HTTP_GET 1 / 1 / 1), a client opening a new "
                f"connection every 5 ms ({lvs.CLIENT_TIMEOUT:g} s timeout). Per sample: the "
                "master director fails, the backup takes the VIP (its rtnetlink event), 2 s of "
                "load through it, then the recovery (link up, or d1 started again) and the "
                "preempt back under the same load, 2 s past d2 giving the VIP up. Lost: requests "
                "that failed from one timeout before the fault to one after the backup held the "
                "VIP; window: the first lost request's start to the last one's timeout; failed "
                "after the takeover: from then until one timeout before d2 gave the VIP back "
                "(none expected); at the preempt back: from then on. Median / p95 / max.", ""]
        body = []
        for fault in lvs.FAULTS:
            rr = [r for r in fo if r["fault"] == fault and not r.get("error")]
            errors = [r for r in fo if r["fault"] == fault and r.get("error")]
            if not rr and not errors:
                continue
            late = sum(int(r["late"]) for r in rr)
            stray = sum(int(r["stray"]) for r in rr)
            body.append((lvs.FAULT_LABEL[fault], f"{len(rr)}" + (f" ({len(errors)} failed)"
                                                                  if errors else ""),
                         _mpm(_values(rr, "takeover_s"), 3), _mpm(_values(rr, "lost"), 0),
                         _mpm(_values(rr, "window_s"), 3),
                         f"{late} / {sum(int(r['requests']) for r in rr)}",
                         _mpm(_values(rr, "back_s"), 3), _mpm(_values(rr, "back_lost"), 0),
                         _mpm(_values(rr, "back_window_s"), 3),
                         ", ".join(sorted({x for r in rr for x in r.get("reasons", [])}))
                         or "–"))
            checks.add(f"load balancer: director failover, {lvs.FAULT_LABEL[fault]}: requests "
                       "fail only until the backup holds the VIP (+ the client's timeout)",
                       f"{late} failed after it in {len(rr)} samples (lost per sample median "
                       f"{_f(_med(Summary.of(_values(rr, 'lost'))), 0)}, max "
                       f"{_f(max(_values(rr, 'lost'), default=None), 0)}; window max "
                       f"{_f(max(_values(rr, 'window_s'), default=None), 3)} s)"
                       + (f"; {stray} failed before the fault" if stray else ""),
                       bool(rr) and late == 0 and not errors)
        control = next((r for r in fo if r["fault"] == "none" and not r.get("error")), None)
        if control is not None:
            reasons = ", ".join(control.get("reasons", [])) or "none"
            out += [f"Control, the same load for {_f(control['seconds'], 0)} s without a fault: "
                    f"{control['failed']} of {control['requests']} requests failed "
                    f"({reasons}).", ""]
        out += _table(["failure", "samples", "backup holds the VIP, s", "requests lost",
                       "window, s", "failed after the takeover / all requests",
                       "handed back after the recovery, s", "lost at the preempt back",
                       "window, s", "client errors seen"], body)
        out += [""]
    return out


# Frames every sample shares (interpreter start-up, the event loop, thread bootstrap): they say
# nothing about where the time goes, so the inclusive table leaves them out.
BOILERPLATE = ("(base_events.py)", "(events.py)", "(runners.py)", "(<frozen runpy>)",
               "(__main__.py)", "(main.py)", "(cli.py)", "(threading.py)", "(thread.py)")


def section_profile(prof: dict[str, Any]) -> list[str]:
    if not prof:
        return []
    out = ["## Where pykeepalived's CPU goes (py-spy)", ""]
    if "error" in prof:
        return [*out, f"Profiling skipped: {prof['error']}", ""]
    out += [f"`py-spy record` at 200 Hz for {prof['seconds']:g} s on a pykeepalived master and "
            f"backup with {prof['count']} instances at {prof['advert_int']:g} s adverts "
            "(the part 3 configuration, after start-up). Share of samples with the function on the "
            "stack (inclusive; event-loop and start-up frames left out) and on top (own). "
            "Idle time is not sampled.", ""]
    nl = prof.get("netlink")
    if isinstance(nl, dict) and "link" in nl:
        out += ["Cost of the driver's per-VIP netlink calls (`pykeepalived.net.netlink.Netlink`, "
                "255 VIPs on eth0, measured in a lab namespace, ms per call):", ""]
        out += _table(["call", "wall ms", "CPU ms"],
                      [(f"`{k}`", _f(v[0], 2), _f(v[1], 2)) for k, v in nl.items()])
        out += [""]
    for role in ("master", "backup"):
        p = prof.get(role)
        if not isinstance(p, dict) or "inclusive" not in p:
            out += [f"{role}: {p}", ""]
            continue
        out += [f"**{role}** ({p['samples']} samples)", ""]
        out += _table(["function (inclusive)", "share"],
                      [(f"`{f}`", f"{100 * s:.0f} %") for f, s in p["inclusive"]
                       if not f.endswith(BOILERPLATE)][:12])
        out += [""]
        out += _table(["function (own)", "share"],
                      [(f"`{f}`", f"{100 * s:.0f} %") for f, s in p["own"][:10]])
        out += [""]
    return out


def section_auth(rows: list[Row]) -> list[str]:
    """What authenticating adverts costs the core, per advert (bench/auth.py)."""
    plain = next((r for r in rows if r["auth"] == "none"), None)
    base = float(plain["receive_us"]) if plain else None
    out = ["## Authentication: CPU per advert in the core", "",
           "In-process, one core: the receive path (`Node.datagram`: demultiplex, unwrap and "
           "check, decode, state machine) and the send path (an advert encoded and sealed or "
           "signed). The daemon's whole CPU per advert is in the resources section; this is "
           "what each kind of authentication adds to it.", ""]
    out += _table(["authentication", "send (µs)", "receive (µs)", "receive vs none",
                   "accepted"],
                  [[str(r["auth"]), _f(float(r["send_us"]), 2),
                    _f(float(r["receive_us"]), 2),
                    _r(float(r["receive_us"]) / base) if base else "",
                    f"{r['accepted']}/{r['n']}"] for r in rows])
    return [*out, ""]


def render(res: Results, docs: Path, findings: str = "") -> str:
    pngdir = docs / "bench"
    pngdir.mkdir(parents=True, exist_ok=True)
    m = res.meta
    checks = Checks()
    parts: list[str] = []
    plotted = []
    if res.failover:
        parts += section_failover(res.failover, checks)
        plotted.append(plot_failover(res.failover, pngdir / "failover.png"))
    if res.client:
        parts += section_client(res.client, checks)
        plotted.append(plot_client(res.client, pngdir / "client.png"))
    if res.resources:
        parts += section_resources(res.resources, checks)
        plotted.append(plot_resources(res.resources, pngdir / "resources.png"))
    if res.timers:
        parts += section_timers(res.timers, checks)
        plotted.append(plot_timers(res.timers, pngdir / "timers.png"))
    if res.track:
        parts += section_track(res.track, checks)
    if res.vips:
        parts += section_vips(res.vips, checks)
    lvs_rows: list[Row] = res.lvs
    if lvs_rows:
        parts += section_lvs(lvs_rows, checks)
    head = [
        "# Benchmarks: pykeepalived against keepalived", "",
        "Generated by `sudo ./scripts/bench` (see `bench/`); every figure below comes from the "
        "one run described here. Both daemons ran the same scenarios in the same run, in "
        "network-namespace labs on one machine (veth pairs into a bridge). `--quick` is a smoke "
        "run of a few minutes (one sample, short windows); `--snapshot` benchmarks HEAD's `src/` "
        "rather than the working tree; `--report-only` re-renders this page from "
        "`bench/results.json`; `bench/FINDINGS.md` is the hand-written analysis below.", "",
        f"- Command: `{m.get('command', 'sudo ./scripts/bench')}`",
        f"- Run: {m.get('date')} ({m.get('mode')} mode, {m.get('duration_min', 0):.1f} min, "
        f"{m.get('runs')} runs per failover/client scenario, seed {m.get('seed')})",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}; "
        f"kernel {m.get('kernel')}",
        f"- Versions: {m.get('keepalived')}; pykeepalived {m.get('pykeepalived')} "
        f"on Python {m.get('python')}; {m.get('tools')}",
        f"- Load average at start / end: {m.get('load_start')} / {m.get('load_end')}",
    ]
    if m.get("note"):
        head.append(f"- Note: {m['note']}")
    if not all(plotted):
        head.append("- Plots: matplotlib not available, plots not regenerated")
    head += ["", "## Targets", "", *checks.render(), ""]
    if findings:
        head += [findings.strip(), ""]
    if res.auth:
        parts += section_auth(res.auth)
    tail = section_profile(res.profile)
    return "\n".join([*head, *parts, *tail]) + "\n"
