"""The load balancer's end-of-read pass: keepalived 2.2.7's link_vsg_to_vs and
validate_check_config, then the frozen model.

In keepalived's order: a virtual server meets its group (and takes its family and its sequence
number, the "port" of ``[group]:N``); then per virtual server the protocol, port, persistence,
scheduler and forwarding-method fix-ups, duplicate real servers, the real servers' defaults from
the virtual server, quorum against the total weight, hysteresis against the quorum, and the ports
of the real and sorry servers; then each checker's defaults from its real server and its own
kind (`CheckerDraft`). Every fix-up keepalived's config test fails on is a mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pykeepalived.lvs import model as lm
from pykeepalived.lvs.parse_draft import (
    CheckerDraft,
    Ctx,
    GroupDraft,
    RsDraft,
    VsDraft,
    fmt_rs,
    fmt_vs,
)

_PLANE = "pykeepalived's nftables load balancer"


def finish(c: Ctx, vss: list[VsDraft], groups: Mapping[str, GroupDraft],
           log_all_failures: bool) -> tuple[lm.VirtualServer, ...]:
    linked = _link_groups(c, vss, groups)
    frozen = {name: lm.VirtualServerGroup(g.name, tuple(g.entries), g.loc)
              for name, g in groups.items()}
    out: list[lm.VirtualServer] = []
    for vs in linked:
        group = groups.get(vs.group) if vs.group is not None else None
        if not _validate(c, vs, group):
            continue
        out.append(_model(vs, frozen.get(vs.group) if vs.group else None, log_all_failures))
    return tuple(out)


def _link_groups(c: Ctx, vss: list[VsDraft], groups: Mapping[str, GroupDraft]) -> list[VsDraft]:
    """keepalived's link_vsg_to_vs. It only logs what it drops (its config test passes), but a
    virtual server that silently disappears is almost surely a mistake."""
    kept: list[VsDraft] = []
    for vs in vss:
        if vs.group is None:
            kept.append(vs)
            continue
        g = groups.get(vs.group)
        if g is None:
            c.mistake(vs.loc, f"Virtual server group {vs.group} specified but not configured"
                      f" - ignoring virtual server {fmt_vs(vs)}")
            continue
        vsg_af = None if g.have4 == g.have6 else (4 if g.have4 else 6)
        if g.have4 and g.have6 and vs.family is not None:
            c.mistake(vs.loc, f"{vs.group}: virtual server group with IPv4 & IPv6 doesn't "
                      f"match virtual server {fmt_vs(vs)} - ignoring")
            continue
        if (g.have4 and vs.family == 6) or (g.have6 and vs.family == 4):
            c.mistake(vs.loc, f"{vs.group}: address family doesn't match virtual server "
                      f"{fmt_vs(vs)} - ignoring")
            continue
        if vsg_af is not None:
            vs.family = vsg_af
        elif vs.family is None and g.fwmark_no_family:
            c.warning(vs.loc, f"{vs.group}: Virtual server {fmt_vs(vs)} address family cannot "
                      "be determined, defaulting to IPv4")
        kept.append(vs)
    # the "port" of a group's virtual server is its sequence number among the group's users
    for name in groups:
        for n, vs in enumerate(v for v in kept if v.group == name):
            vs.port = n
    return kept


def _validate(c: Ctx, vs: VsDraft, g: GroupDraft | None) -> bool:
    """keepalived's validate_check_config for one virtual server; False: it is dropped."""
    if not vs.reals:
        c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)} has no real servers - ignoring")
        return False
    g_marks = g is not None and any(e.fwmark is not None for e in g.entries)
    g_addrs = [e for e in g.entries if e.fwmark is None] if g is not None else []
    if vs.ha_suspend and (vs.fwmark is not None or g_marks):
        c.mistake(vs.where("ha_suspend"), f"Virtual server {fmt_vs(vs)}: cannot use ha_suspend "
                  "with fwmarks - clearing ha_suspend")
        vs.ha_suspend = False
    if g_addrs or (g is None and vs.fwmark is None):
        if vs.protocol is None:
            c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)}: no protocol set - defaulting to "
                      "UDP")
            vs.protocol = "UDP"
        if vs.ops and vs.protocol != "UDP":
            c.mistake(vs.where("ops"), f"Virtual server {fmt_vs(vs)}: one packet scheduling "
                      "requires UDP - resetting")
            vs.ops = False
        if not vs.persistence_timeout and g is None and vs.fwmark is None and not vs.port:
            c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)}: zero port only valid for "
                      "persistent services - setting")
            vs.persistence_timeout = 360
    if not vs.persistence_timeout and any(e.port == 0 for e in g_addrs):
        c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)}: zero port only valid for persistent "
                  "services - setting")
        vs.persistence_timeout = 360
    if vs.protocol is not None and ((g is not None and not g_addrs and g_marks)
                                    or (g is None and vs.fwmark is not None)):
        c.mistake(vs.where("protocol"), f"Warning: Virtual server {fmt_vs(vs)}: protocol "
                  "specified for fwmark - protocol will be ignored")
        vs.protocol = None
    if not vs.lb_algo:
        c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)}: no scheduler set, setting default "
                  f"'wlc' ({_PLANE} schedules wlc as wrr)")
        vs.lb_algo = "wlc"
    _reals(c, vs)
    weight_sum = sum(rs.weight or 0 for rs in vs.reals)
    if vs.quorum > weight_sum:
        c.mistake(vs.where("quorum"), f"Warning - quorum {vs.quorum} for {fmt_vs(vs)} exceeds "
                  f"total weight of real servers {weight_sum}, reducing quorum to {weight_sum}")
        vs.quorum = weight_sum
    if vs.hysteresis >= vs.quorum:
        fixed = max(vs.quorum - 1, 0)
        c.mistake(vs.where("hysteresis"), f"Virtual server {fmt_vs(vs)}: hysteresis "
                  f"{vs.hysteresis} >= quorum {vs.quorum}; setting hysteresis to {fixed}")
        vs.hysteresis = fixed
    _ports(c, vs, g)
    return True


def _default_method(c: Ctx, vs: VsDraft) -> str:
    if vs.lb_kind is None:
        c.mistake(vs.loc, f"Virtual server {fmt_vs(vs)}: no forwarding method set, setting "
                  "default NAT")
        vs.lb_kind = "NAT"
    return vs.lb_kind


def _reals(c: Ctx, vs: VsDraft) -> None:
    kept: list[RsDraft] = []
    for rs in vs.reals:
        if any((r.address, r.port) == (rs.address, rs.port) for r in kept):
            c.mistake(rs.loc, f"VS {fmt_vs(vs)}: real server {fmt_rs(rs, vs)} is duplicated - "
                      "removing second rs")
            continue
        if rs.lb_kind is None:
            rs.lb_kind = _default_method(c, vs)
        t = rs.timing
        t.alpha = vs.alpha if t.alpha is None else t.alpha
        rs.inhibit = vs.inhibit if rs.inhibit is None else rs.inhibit
        t.retry = vs.retry if t.retry is None else t.retry
        t.connect_timeout = vs.connect_timeout if t.connect_timeout is None else t.connect_timeout
        t.delay_loop = vs.delay_loop if t.delay_loop is None else t.delay_loop
        t.warmup = vs.warmup if t.warmup is None else t.warmup
        if t.delay_before_retry is None:
            t.delay_before_retry = vs.delay_before_retry
        rs.weight = vs.weight if rs.weight is None else rs.weight
        s = vs.sorry
        if (s is not None and (s.address, s.port) == (rs.address, rs.port)
                and bool(s.inhibit) != rs.inhibit):
            verb = "sett" if rs.inhibit else "clear"
            c.mistake(vs.where("sorry_server"), f"Virtual server {fmt_vs(vs)}: real server "
                      f"{fmt_rs(rs, vs)} matches sorry server, but inhibit setting "
                      f"differs, {verb}ing on sorry server")
            s.inhibit = rs.inhibit
        kept.append(rs)
    vs.reals = kept
    if vs.sorry is not None and vs.sorry.lb_kind is None:
        vs.sorry.lb_kind = _default_method(c, vs)


def _ports(c: Ctx, vs: VsDraft, g: GroupDraft | None) -> None:
    """Unless NAT, a real server listens on the virtual server's port (none for a fwmark)."""
    name = fmt_vs(vs)
    s = vs.sorry
    if g is not None:
        if any(e.fwmark is not None for e in g.entries):
            for rs in vs.reals:
                if rs.lb_kind != "NAT" and rs.port:
                    c.mistake(rs.loc, f"WARNING - fwmark virtual server {name}, real server "
                              f"{fmt_rs(rs, vs)} has port specified - port will be ignored")
            if s is not None and s.lb_kind != "NAT" and s.port:
                c.mistake(s.loc, f"WARNING - fwmark virtual server {name}, sorry server has "
                          "port specified - port will be ignored")
        for e in g.entries:
            if e.fwmark is not None:
                continue
            span = str(e.first) if e.first == e.last else f"{e.first}-{e.last}"
            for rs in vs.reals:
                if rs.lb_kind != "NAT" and rs.port and rs.port != e.port:
                    c.mistake(rs.loc, f"virtual server {name}:[{span},{e.port}] and real "
                              f"server {fmt_rs(rs, vs)} ports don't match")
            if s is not None and s.lb_kind != "NAT" and s.port and s.port != e.port:
                c.mistake(s.loc, f"WARNING - virtual server {name}, sorry server has port "
                          "specified - port will be ignored")
        return
    for rs in vs.reals:
        if rs.lb_kind == "NAT":
            if vs.fwmark is None and not rs.port:
                rs.port = vs.port
        elif vs.fwmark is not None:
            if rs.port:
                c.mistake(rs.loc, f"WARNING - fwmark virtual server {name}, real server "
                          f"{fmt_rs(rs, vs)} has port specified - clearing")
                rs.port = 0
        elif not rs.port:
            rs.port = vs.port
        elif rs.port != vs.port:
            c.mistake(rs.loc, f"WARNING - virtual server {name} and real server "
                      f"{fmt_rs(rs, vs)} ports don't match - resetting")
            rs.port = vs.port
    if s is not None and s.lb_kind != "NAT":
        if vs.fwmark is not None:
            if s.port:
                c.mistake(s.loc, f"WARNING - virtual server {name}, sorry server has port "
                          "specified - clearing")
                s.port = 0
        elif not s.port:
            s.port = vs.port
        elif s.port != vs.port:
            c.mistake(s.loc, f"WARNING - virtual server {name} and sorry server ports don't "
                      "match - resetting")
            s.port = vs.port


# --- the frozen model ---------------------------------------------------------------------------

def _model(vs: VsDraft, group: lm.VirtualServerGroup | None,
           log_all_failures: bool) -> lm.VirtualServer:
    reals = tuple(_real(vs, rs, log_all_failures) for rs in vs.reals)
    sorry = None
    if vs.sorry is not None:
        s = vs.sorry
        sorry = lm.RealServer(address=s.address, port=s.port, weight=1,
                              lb_kind=_kind(s.lb_kind), inhibit_on_failure=bool(s.inhibit),
                              loc=s.loc)
    granularity = vs.persistence_granularity
    return lm.VirtualServer(
        address=vs.address, port=vs.port, fwmark=vs.fwmark, group=group,
        protocol=_protocol(vs.protocol), lb_algo=vs.lb_algo or "wlc",
        lb_kind=_kind(vs.lb_kind), persistence_timeout=vs.persistence_timeout or None,
        persistence_granularity=granularity, hash_port=vs.hash_port,
        hash_fallback=vs.hash_fallback, ops=vs.ops, quorum=vs.quorum,
        hysteresis=vs.hysteresis, quorum_up=vs.quorum_up, quorum_down=vs.quorum_down,
        sorry_server=sorry, sorry_server_inhibit=bool(vs.sorry and vs.sorry.inhibit),
        ha_suspend=vs.ha_suspend, alpha=vs.alpha, omega=vs.omega,
        virtualhost=vs.virtualhost, family=6 if vs.family == 6 else 4,
        real_servers=reals, loc=vs.loc)


def _kind(kind: str | None) -> lm.LbKind:
    return "DR" if kind == "DR" else "TUN" if kind == "TUN" else "NAT"


def _protocol(protocol: str | None) -> lm.Protocol:
    return "UDP" if protocol == "UDP" else "SCTP" if protocol == "SCTP" else "TCP"


def _real(vs: VsDraft, rs: RsDraft, log_all_failures: bool) -> lm.RealServer:
    checkers = tuple(_checker(vs, rs, ck, log_all_failures) for ck in rs.checkers)
    return lm.RealServer(
        address=rs.address, port=rs.port, weight=rs.weight or 0, lb_kind=_kind(rs.lb_kind),
        inhibit_on_failure=bool(rs.inhibit), notify_up=rs.notify_up,
        notify_down=rs.notify_down, uthreshold=rs.uthreshold, lthreshold=rs.lthreshold,
        checkers=checkers, loc=rs.loc)


def _timing(rs: RsDraft, ck: CheckerDraft, log_all_failures: bool) -> lm.Timing:
    """keepalived's checker defaults: the checker's own value, else its real server's (which
    took the virtual server's), else the checker kind's default."""
    r, t = rs.timing, ck.timing
    delay_loop = t.delay_loop if t.delay_loop is not None else r.delay_loop or 60.0
    retry = t.retry if t.retry is not None else (r.retry if r.retry is not None
                                                 else ck.default_retry)
    warmup = t.warmup if t.warmup is not None else (r.warmup if r.warmup is not None
                                                    else delay_loop)
    if t.delay_before_retry is not None:
        dbr = t.delay_before_retry
    elif r.delay_before_retry is not None:
        dbr = r.delay_before_retry
    else:
        dbr = ck.default_delay_before_retry or delay_loop
    co = ck.conn
    timeout = co.connect_timeout if co is not None and co.connect_timeout is not None else None
    if timeout is None:
        timeout = r.connect_timeout if r.connect_timeout is not None else 5.0
    alpha = t.alpha if t.alpha is not None else bool(r.alpha)
    return lm.Timing(delay_loop=delay_loop, connect_timeout=timeout, retry=retry,
                     delay_before_retry=dbr, warmup=warmup, alpha=alpha,
                     log_all_failures=ck.log_all_failures or log_all_failures)


def _checker(vs: VsDraft, rs: RsDraft, ck: CheckerDraft, log_all_failures: bool) -> lm.Checker:
    f: dict[str, Any] = dict(ck.fields)
    if ck.kind == "FILE_CHECK":
        return lm.FileCheck(loc=ck.loc, **f)
    timing = _timing(rs, ck, log_all_failures)
    if ck.kind == "MISC_CHECK":
        if f.get("timeout") is None:
            f["timeout"] = vs.delay_loop  # keepalived: the virtual server's delay_loop
        return lm.MiscCheck(timing=timing, loc=ck.loc, **f)
    co = ck.conn
    assert co is not None, ck.kind
    conn = lm.Connection(ip=co.ip, port=co.port, bindto=co.bindto, bind_port=co.bind_port,
                         bind_if=co.bind_if, fwmark=co.fwmark)
    if ck.kind in ("HTTP_GET", "SSL_GET"):
        # the Host header's name: the url's own, else the checker's, the real server's, the
        # virtual server's (keepalived's http_request_thread)
        f["virtualhost"] = f.get("virtualhost") or rs.virtualhost or vs.virtualhost
        return lm.HttpCheck(conn=conn, timing=timing, loc=ck.loc,
                            kind="SSL_GET" if ck.kind == "SSL_GET" else "HTTP_GET", **f)
    cls: dict[str, Any] = {"TCP_CHECK": lm.TcpCheck, "SMTP_CHECK": lm.SmtpCheck,
                           "DNS_CHECK": lm.DnsCheck, "UDP_CHECK": lm.UdpCheck,
                           "PING_CHECK": lm.PingCheck}
    made: lm.Checker = cls[ck.kind](conn=conn, timing=timing, loc=ck.loc, **f)
    return made
