"""What the checker process tells: status (JSON), Prometheus text, and what it refuses.

``status`` is the answer of the checker's control socket to ``{"command": "status"}``: per
virtual service its quorum and sorry server, per real server whether it is alive, its weight,
whether it is in the table, its traffic from the plane's counters, and per checker its state,
its last result with the reason, and its checks by outcome. ``metrics_text`` renders the same
as Prometheus exposition lines (the VRRP child's metrics endpoint appends them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pykeepalived.lvs.model import LvsConfig, RealServer, VirtualServer
from pykeepalived.lvs.pool import Pool
from pykeepalived.lvs.table import Counters


class Source(Protocol):
    """What the status is read from (the checker daemon)."""

    @property
    def pools(self) -> Sequence[Pool]: ...
    @property
    def slots(self) -> Mapping[tuple[object, ...], Any]: ...
    @property
    def config(self) -> LvsConfig | None: ...
    @property
    def started_at(self) -> float: ...
    @property
    def applies(self) -> int: ...
    @property
    def apply_errors(self) -> int: ...

#: lb_algo the nftables plane schedules (lc / wlc as rr / wrr: it counts no connections)
PLANE_ALGOS = frozenset({"rr", "wrr", "sh", "mh", "dh", "fo", "lc", "wlc"})
PLANE_KINDS = frozenset({"NAT", "DR"})


def refusals(cfg: LvsConfig) -> list[str]:
    """Settings keepalived would carry out with IPVS that the nftables plane cannot: the
    daemon refuses to start on them (``-t`` warns about the same, with file:line)."""
    out: list[str] = []

    def where(obj: VirtualServer | RealServer) -> str:
        loc = obj.loc
        return f"{loc}: " if getattr(loc, "file", None) else ""

    for vs in cfg.virtual_servers:
        if vs.lb_algo not in PLANE_ALGOS:
            out.append(f"{where(vs)}virtual_server {vs.name}: lb_algo {vs.lb_algo} is not "
                       "supported by the nftables plane (rr, wrr, sh, mh, dh, fo; lc and wlc "
                       "run as rr and wrr)")
        servers = list(vs.real_servers)
        if vs.sorry_server is not None:
            servers.append(vs.sorry_server)
        for rs in servers:
            if rs.lb_kind not in PLANE_KINDS:
                out.append(f"{where(rs)}real server {vs.rs_name(rs)} of {vs.name}: lb_kind "
                           f"{rs.lb_kind} is not supported by the nftables plane (NAT, DR)")
    return out


def _rs_status(daemon: Source, pool: Pool, i: int,
               counters: Mapping[tuple[str, Any, int], Counters]) -> dict[str, Any]:
    s = pool.servers[i]
    c = counters.get((pool.vs.name, s.rs.address, s.rs.port), Counters())
    checkers = []
    for slot in daemon.slots.values():
        if slot.pool is pool and slot.server == i:
            checkers.append({
                "kind": slot.checker.kind, "up": s.up[slot.index],
                "last": None if slot.last_at is None else {
                    "ok": slot.last_ok, "reason": slot.last_reason, "at": slot.last_at},
                "checks": dict(slot.results)})
    in_table = pool.started and s.alive and s.weight > 0 and not pool.sorry_active()
    return {"name": s.name, "address": str(s.rs.address), "port": s.rs.port,
            "alive": s.alive, "weight": s.weight, "configured_weight": s.rs.weight,
            "in_table": in_table, "inhibit_on_failure": s.rs.inhibit_on_failure,
            "lb_kind": s.rs.lb_kind, "packets": c.packets, "bytes": c.bytes,
            "checkers": checkers}


def status(daemon: Source, counters: Mapping[tuple[str, Any, int], Counters]
           ) -> dict[str, Any]:
    services = []
    for pool in daemon.pools:
        vs = pool.vs
        sorry = None
        if pool.sorry is not None:
            c = counters.get((vs.name, pool.sorry.rs.address, pool.sorry.rs.port), Counters())
            sorry = {"name": pool.sorry.name, "active": pool.sorry.alive,
                     "packets": c.packets, "bytes": c.bytes}
        services.append({
            "name": vs.name, "protocol": vs.protocol, "lb_algo": vs.lb_algo,
            "lb_kind": vs.lb_kind, "persistence_timeout": vs.persistence_timeout,
            "quorum": {"up": pool.quorum_up, "live_weight": pool.live_weight(),
                       "quorum": vs.quorum, "hysteresis": vs.hysteresis},
            "sorry_server": sorry,
            "real_servers": [_rs_status(daemon, pool, i, counters)
                             for i in range(len(pool.servers))]})
    return {"checker": {"pid": os.getpid(), "plane": "nftables",
                        "table": daemon.config.table if daemon.config else None,
                        "uptime": round(time.time() - daemon.started_at, 3),
                        "applies": daemon.applies, "apply_errors": daemon.apply_errors},
            "virtual_servers": services}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(st: dict[str, Any]) -> str:
    """Prometheus exposition text for the load balancer part of the status."""
    lines: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")

    vss = st.get("virtual_servers", [])
    family("pykeepalived_lvs_quorum_up", "gauge", "1 while the virtual server has quorum")
    for vs in vss:
        lines.append(f'pykeepalived_lvs_quorum_up{{vs="{_label(vs["name"])}"}} '
                     f'{int(vs["quorum"]["up"])}')
    family("pykeepalived_lvs_sorry_server_active", "gauge",
           "1 while the sorry server takes the virtual server's connections")
    for vs in vss:
        active = int(bool(vs["sorry_server"] and vs["sorry_server"]["active"]))
        lines.append(f'pykeepalived_lvs_sorry_server_active{{vs="{_label(vs["name"])}"}} '
                     f'{active}')
    gauges = (("pykeepalived_lvs_real_server_up", "alive", "1 while the real server is alive"),
              ("pykeepalived_lvs_real_server_weight", "weight", "effective weight"),
              ("pykeepalived_lvs_real_server_in_table", "in_table",
               "1 while the real server takes new connections"))
    for name, key, text in gauges:
        family(name, "gauge", text)
        for vs in vss:
            for rs in vs["real_servers"]:
                lines.append(f'{name}{{vs="{_label(vs["name"])}",rs="{_label(rs["name"])}"}} '
                             f'{int(rs[key])}')
    for name, key, text in (("pykeepalived_lvs_real_server_packets_total", "packets",
                             "packets sent to the real server (nftables counter)"),
                            ("pykeepalived_lvs_real_server_bytes_total", "bytes",
                             "bytes sent to the real server (nftables counter)")):
        family(name, "counter", text)
        for vs in vss:
            for rs in vs["real_servers"]:
                lines.append(f'{name}{{vs="{_label(vs["name"])}",rs="{_label(rs["name"])}"}} '
                             f'{rs[key]}')
    family("pykeepalived_lvs_checks_total", "counter", "checks run, by checker and result")
    for vs in vss:
        for rs in vs["real_servers"]:
            for i, chk in enumerate(rs["checkers"]):
                for result, n in chk["checks"].items():
                    lines.append(
                        f'pykeepalived_lvs_checks_total{{vs="{_label(vs["name"])}",'
                        f'rs="{_label(rs["name"])}",checker="{chk["kind"]}",index="{i}",'
                        f'result="{result}"}} {n}')
    return "\n".join(lines) + "\n"
