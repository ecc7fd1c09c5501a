"""Turn one run's results into docs/BENCHMARKS.md: tables, ratios, target checks and PNG plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import client, failover, timers, track, vips
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
