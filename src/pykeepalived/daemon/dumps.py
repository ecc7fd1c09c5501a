"""The SIGUSR1 and SIGUSR2 dumps, in the layouts of keepalived's /tmp/keepalived.data and
/tmp/keepalived.stats (the VRRP parts), so scripts that read those files keep working.

Rendering is pure (everything is passed in); :func:`write_dump` is the only I/O.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from pykeepalived.config.model import GlobalDefs
from pykeepalived.core.packet import DropReason
from pykeepalived.core.router import VirtualRouter
from pykeepalived.daemon.runtime import InstanceRuntime

#: Drop reasons keepalived's stats file has a line for; the rest go in our own section.
_KEEPALIVED_REASONS = frozenset({
    DropReason.TOO_SHORT, DropReason.BAD_LENGTH, DropReason.BAD_TTL, DropReason.BAD_TYPE,
    DropReason.INTERVAL_MISMATCH, DropReason.ADDRESS_MISMATCH, DropReason.AUTH_TYPE_MISMATCH,
    DropReason.AUTH_FAILURE,
})


def write_dump(path: str, text: str, log: Callable[[str], None]) -> None:
    """Write a dump file, opened without following symlinks as keepalived does (so /tmp
    tricks cannot redirect it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        log(f"Unable to open {path}: {exc}")
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def data_text(g: GlobalDefs | None, script_uid: int, routers: Mapping[str, VirtualRouter],
              runtimes: Mapping[str, InstanceRuntime], held: Callable[[str], set[str]],
              wall_offset: float) -> str:
    """SIGUSR1. ``wall_offset`` turns the core's monotonic times into wall-clock times;
    ``held(name)`` is the set of VIPs the instance has on the host."""
    lines = ["------< Global definitions >------"]
    if g is not None:
        lines += [
            f" Router ID = {g.router_id or socket.gethostname()}",
            f" VRRP IPv4 mcast group = {g.vrrp_mcast_group4}",
            f" VRRP IPv6 mcast group = {g.vrrp_mcast_group6}",
            f" Gratuitous ARP delay = {g.vrrp_garp_master_delay:g}",
            f" Gratuitous ARP repeat = {g.vrrp_garp_master_repeat}",
            f" Num adverts before down = {g.vrrp_down_timer_adverts}",
            f" VRRP default protocol version = {g.vrrp_version}",
            f" VRRP strict mode = {str(g.vrrp_strict).lower()}",
            f" Script security {'enabled' if g.enable_script_security else 'disabled'}",
            f" Default script uid:gid {script_uid}:{script_uid}",
        ]
    lines.append("------< VRRP Topology >------")
    for name, router in routers.items():
        rt = runtimes[name]
        p = router.params
        since = router.state_since + wall_offset
        stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(since))
        interval = (f"{round(p.advert_int * 1000)} milli-sec" if p.version == 3
                    else f"{p.advert_units()} sec")
        lines += [
            f" VRRP Instance = {name}",
            f"   VRRP Version = {p.version}",
            f"   State = {router.state.value}",
            f"   Wantstate = {router.want.value}",
            f"   Number of interface and track script faults = {len(router.fault_reasons)}",
            f"   Last transition = {since:.6f} ({stamp}.{int(since % 1 * 1e6):06d} "
            f"{time.strftime('%Y', time.localtime(since))})",
            f"   Master down timer = {round(router.master_down_interval() * 1e6)} usecs",
            f"   Interface = {rt.base_if}",
            f"   Using src_ip = {p.src}",
        ]
        if p.unicast:
            lines += ["   Unicast Peer ="] + [f"     {d}" for d in p.destinations]
        else:
            lines.append(f"   Multicast address {p.destinations[0]}")
        lines += [
            f"   Gratuitous ARP delay = {p.garp_master_delay:g}",
            f"   Gratuitous ARP repeat = {p.garp_master_repeat}",
            f"   Gratuitous ARP refresh = {p.garp_master_refresh:g}",
            f"   Gratuitous ARP refresh repeat = {p.garp_master_refresh_repeat}",
            f"   Down timer adverts = {p.down_timer_adverts}",
            f"   Virtual Router ID = {p.vrid}",
            f"   Priority = {router.base_priority}",
            f"   Effective priority = {router.effective_priority}",
            f"   Advert interval = {interval}",
            f"   Accept = {'enabled' if rt.cfg.accept else 'disabled'}",
            f"   Preempt = {'disabled' if p.nopreempt else 'enabled'}",
            f"   Master router = {router.master_address}",
            f"   Master priority = {router.master_priority}",
            f"   Virtual IP ({len(rt.cfg.virtual_ipaddresses)}):",
        ]
        on_host = held(name)
        for v in rt.cfg.virtual_ipaddresses:
            mark = "set" if str(v.address) in on_host else "unset"
            lines.append(f"     {v.address} dev {v.dev or rt.vip_if} scope "
                         f"{v.scope or 'global'} {mark}")
    return "\n".join(lines) + "\n"


def stats_text(routers: Mapping[str, VirtualRouter]) -> str:
    """SIGUSR2."""
    r = DropReason
    lines = []
    for name, router in routers.items():
        s = router.stats
        d = s.drops
        lines += [
            f"VRRP Instance: {name}",
            "  Advertisements:",
            f"    Received: {s.adverts_received}",
            f"    Sent: {s.adverts_sent}",
            f"  Became master: {s.became_master}",
            f"  Released master: {s.released_master}",
            "  Packet Errors:",
            f"    Length: {d[r.TOO_SHORT] + d[r.BAD_LENGTH]}",
            f"    TTL: {d[r.BAD_TTL]}",
            f"    Invalid Type: {d[r.BAD_TYPE]}",
            f"    Advertisement Interval: {d[r.INTERVAL_MISMATCH]}",
            f"    Address List: {d[r.ADDRESS_MISMATCH]}",
            "  Authentication Errors:",
            "    Invalid Type: 0",
            f"    Type Mismatch: {d[r.AUTH_TYPE_MISMATCH]}",
            f"    Failure: {d[r.AUTH_FAILURE]}",
            "  Priority Zero:",
            f"    Received: {s.priority_zero_received}",
            f"    Sent: {s.priority_zero_sent}",
        ]
        others = sorted((reason.value, n) for reason, n in d.items()
                        if reason not in _KEEPALIVED_REASONS and n)
        if others:
            lines.append("  Other drops (pykeepalived):")
            lines += [f"    {reason}: {count}" for reason, count in others]
    return "\n".join(lines) + "\n"
