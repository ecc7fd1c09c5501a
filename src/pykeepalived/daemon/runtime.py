"""From a parsed keepalived.conf to what the core and the kernel side need per instance.

Pure functions, no I/O: what the host must answer (does the VMAC interface exist, which address
is the interface's primary one) is passed in, so the translation and the reload decisions are
tested without root. The driver asks the kernel, then calls these.
"""

from __future__ import annotations

import socket
from collections.abc import Container
from dataclasses import dataclass, replace
from functools import cached_property
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.config.model import KeepalivedConfig, SyncGroup, VirtualIP, VrrpInstance
from pykeepalived.core import packet as vrrp_packet
from pykeepalived.core.actions import IPAddress, State
from pykeepalived.core.hmac_auth import HmacConfig, Mode, default_window
from pykeepalived.core.priority import PRIO_OWNER, TrackerKind, TrackerSpec
from pykeepalived.core.router import RouterParams, VirtualRouter
from pykeepalived.daemon.view import VipRef

FALLBACK_INTERFACE = "eth0"

#: RouterParams fields that make an instance "the same one" across a reload: a router whose
#: identity is unchanged keeps its state and its VIPs.
IDENTITY_FIELDS = ("vrid", "version", "interface", "addresses", "destinations", "src", "unicast")


@dataclass(frozen=True)
class InstanceRuntime:
    """Where one instance lives on this host: its interfaces, family and resolved parameters.

    Not slotted: :attr:`vip_refs` is computed once per instance and load (a reload makes new
    runtimes), since the conflict probe and the status read it every round."""

    cfg: VrrpInstance
    params: RouterParams
    base_if: str  #: the interface adverts are received on (``interface``)
    vip_if: str  #: where VIPs without ``dev`` go: the VMAC interface, or base_if
    family: int  #: socket.AF_INET or socket.AF_INET6
    vmac: bool = False  #: vip_if is a VMAC interface this daemon created

    @property
    def name(self) -> str:
        return self.cfg.name

    def vips(self) -> list[tuple[VirtualIP, str]]:
        """Every address the instance installs as MASTER, with the interface it goes on:
        virtual_ipaddress first, then virtual_ipaddress_excluded (keepalived's order; the
        first ``len(cfg.virtual_ipaddresses)`` are the advertised ones)."""
        vips = [*self.cfg.virtual_ipaddresses, *self.cfg.virtual_ipaddresses_excluded]
        return [(v, v.dev or self.vip_if) for v in vips]

    @cached_property
    def vip_refs(self) -> tuple[VipRef, ...]:
        """:meth:`vips` as the daemon's view shows them (none of them unreleased)."""
        n = len(self.cfg.virtual_ipaddresses)
        out = []
        for i, (v, ifname) in enumerate(self.vips()):
            out.append(VipRef(str(v.address), v.address.ip, ifname, i >= n))
        return tuple(out)


def base_interface(config: KeepalivedConfig, cfg: VrrpInstance) -> str:
    return cfg.interface or config.global_defs.default_interface or FALLBACK_INTERFACE


def family_of(cfg: VrrpInstance) -> int:
    return socket.AF_INET6 if cfg.family == 6 else socket.AF_INET


def explicit_source(cfg: VrrpInstance) -> IPAddress | None:
    """The advert source the configuration names (unicast_src_ip / mcast_src_ip), if any."""
    return cfg.unicast_src_ip or cfg.mcast_src_ip


def unspecified_source(family: int) -> IPAddress:
    """The advert source until the interface has an address (see LinkInfo.default_source)."""
    return IPv6Address("::") if family == socket.AF_INET6 else IPv4Address("0.0.0.0")


def destinations(config: KeepalivedConfig, cfg: VrrpInstance, family: int
                 ) -> tuple[IPAddress, ...]:
    """The unicast peers, or the multicast group adverts go to."""
    if cfg.unicast_peers:
        return tuple(p.address for p in cfg.unicast_peers)
    if cfg.mcast_dst_ip is not None:
        return (cfg.mcast_dst_ip,)
    g = config.global_defs
    return (g.vrrp_mcast_group6 if family == socket.AF_INET6 else g.vrrp_mcast_group4,)


def trackers(config: KeepalivedConfig, cfg: VrrpInstance, base_if: str, vip_if: str
             ) -> tuple[TrackerSpec, ...]:
    """Everything that moves the instance's priority or puts it in FAULT, with keepalived's
    rule for weights: the instance's ``weight`` overrides the tracked object's own. The
    objects its sync groups track count for it too (with the group's weights; none if a member
    is an address owner), as keepalived adds them to every member."""
    out: list[TrackerSpec] = []
    if not cfg.dont_track_primary:
        out.append(TrackerSpec(TrackerKind.INTERFACE, base_if))
        if vip_if != base_if:
            out.append(TrackerSpec(TrackerKind.INTERFACE, vip_if))
    out += _tracked_objects(config, cfg)
    faulting = {t.name for t in out if t.weight == 0 and not t.reverse}
    for name in address_interfaces(cfg, base_if, vip_if):
        if name not in faulting:
            faulting.add(name)
            out.append(TrackerSpec(TrackerKind.INTERFACE, name))
    members = {i.name: i for i in config.vrrp_instances}
    for sg in config.sync_groups:
        if cfg.name not in sg.group:
            continue
        owner = any(m in members and members[m].priority == PRIO_OWNER for m in sg.group)
        for spec in _tracked_objects(config, sg):
            if owner:
                spec = replace(spec, weight=0)
            same = [i for i, t in enumerate(out) if t.key == spec.key]
            if not same:
                out.append(spec)
            elif spec.kind is TrackerKind.INTERFACE:
                # keepalived keeps one entry per interface: the group's weight replaces a
                # weighted one of the instance (an unweighted one stays: FAULT on down)
                for i in same:
                    if out[i].weight:
                        out[i] = spec
    return tuple(out)


def _tracked_objects(config: KeepalivedConfig, holder: VrrpInstance | SyncGroup
                     ) -> list[TrackerSpec]:
    """The track_interface / track_script / track_file / track_process entries of an
    instance or a sync group; an entry's own weight overrides the object's."""
    out = [TrackerSpec(TrackerKind.INTERFACE, ti.name, ti.weight, ti.reverse)
           for ti in holder.track_interfaces]
    for ts in holder.track_scripts:
        script = config.vrrp_scripts.get(ts.name)
        if script is not None:
            weight = ts.weight if ts.weight is not None else script.weight
            reverse = ts.reverse or (ts.weight is None and script.reverse)
            out.append(TrackerSpec(TrackerKind.SCRIPT, ts.name, weight, reverse))
    for tf in holder.track_files:
        fdef = config.track_files.get(tf.name)
        if fdef is not None:
            weight = tf.weight if tf.weight is not None else fdef.weight
            out.append(TrackerSpec(TrackerKind.FILE, tf.name, weight, tf.reverse))
    for tp in holder.track_processes:
        pdef = config.track_processes.get(tp.name)
        if pdef is not None:
            weight = tp.weight if tp.weight is not None else pdef.weight
            reverse = tp.reverse or (tp.weight is None and pdef.reverse)
            out.append(TrackerSpec(TrackerKind.PROCESS, tp.name, weight, reverse))
    return out


def address_interfaces(cfg: VrrpInstance, base_if: str, vip_if: str) -> list[str]:
    """The other interfaces keepalived tracks for an instance (down: FAULT), unless the line
    says ``no_track``: the ``dev`` of each VIP and excluded VIP (but not the instance's own
    interfaces, which ``dont_track_primary`` decides about), of each virtual route, and the
    ``iif`` / ``oif`` of each virtual rule (these even on the instance's interface)."""
    names: list[str] = []
    for vip in (*cfg.virtual_ipaddresses, *cfg.virtual_ipaddresses_excluded):
        if vip.dev and not vip.no_track and vip.dev not in (base_if, vip_if):
            names.append(vip.dev)
    names += [r.dev for r in cfg.virtual_routes if r.dev and not r.no_track]
    for rule in cfg.virtual_rules:
        if not rule.no_track:
            names += [name for name in (rule.iif, rule.oif) if name]
    return list(dict.fromkeys(names))


def hmac_config(cfg: VrrpInstance) -> HmacConfig | None:
    """The instance's auth_hmac, resolved for the core (the window derived when unset)."""
    h = cfg.auth_hmac
    if h is None or h.active_key is None:
        return None
    window = h.time_window or default_window(cfg.advert_int)
    return HmacConfig(keys=h.keys, active_key=h.active_key, mode=Mode(h.mode),
                      anti_replay_time=h.anti_replay == "time", time_window=window)


def router_params(config: KeepalivedConfig, cfg: VrrpInstance, *, base_if: str, vip_if: str,
                  src: IPAddress, fast_preempt: bool) -> RouterParams:
    """The core's view of one instance, with global defaults and strict mode applied."""
    g = config.global_defs
    family = family_of(cfg)
    strict = cfg.strict_mode or g.vrrp_strict
    auth_type = {None: vrrp_packet.AUTH_NONE, "PASS": vrrp_packet.AUTH_PASS,
                 "AH": vrrp_packet.AUTH_AH}[cfg.auth_type]
    if cfg.version == 3:
        auth_type = vrrp_packet.AUTH_NONE
    return RouterParams(
        name=cfg.name,
        vrid=cfg.virtual_router_id,
        priority=cfg.priority,
        src=src,
        addresses=tuple(v.address.ip for v in cfg.virtual_ipaddresses),
        destinations=destinations(config, cfg, family),
        interface=base_if,
        version=cfg.version,
        advert_int=cfg.advert_int,
        want_master=cfg.state == "MASTER",
        unicast=bool(cfg.unicast_peers),
        check_unicast_src=cfg.check_unicast_src or g.vrrp_check_unicast_src,
        auth_type=auth_type,
        auth_pass=(cfg.auth_pass or "").encode(),
        hmac=hmac_config(cfg),
        nopreempt=cfg.nopreempt,
        preempt_delay=cfg.preempt_delay,
        lower_prio_no_advert=cfg.lower_prio_no_advert or strict,
        higher_prio_send_advert=cfg.higher_prio_send_advert,
        garp_master_delay=cfg.garp_master_delay,
        garp_master_repeat=cfg.garp_master_repeat,
        garp_master_refresh=cfg.garp_master_refresh,
        garp_master_refresh_repeat=cfg.garp_master_refresh_repeat,
        garp_lower_prio_delay=cfg.garp_lower_prio_delay,
        garp_lower_prio_repeat=cfg.garp_lower_prio_repeat,
        down_timer_adverts=cfg.down_timer_adverts,
        skip_check_adv_addr=cfg.skip_check_adv_addr or g.vrrp_skip_check_adv_addr,
        fast_preempt=fast_preempt and not strict,
        trackers=trackers(config, cfg, base_if, vip_if),
    )


def instance_runtime(config: KeepalivedConfig, cfg: VrrpInstance, *, vip_if: str | None,
                     src: IPAddress, fast_preempt: bool) -> InstanceRuntime:
    """``vip_if`` is the VMAC interface the host created for the instance (None: no VMAC, or
    its creation failed and VIPs go on the base interface)."""
    base_if = base_interface(config, cfg)
    target = vip_if or base_if
    params = router_params(config, cfg, base_if=base_if, vip_if=target, src=src,
                           fast_preempt=fast_preempt)
    return InstanceRuntime(cfg, params, base_if, target, family_of(cfg),
                           vmac=vip_if is not None)


def sync_groups(config: KeepalivedConfig, known: Container[str]
                ) -> list[tuple[str, list[str]]]:
    """The sync groups whose members all exist (keepalived drops the others with a warning
    at config time)."""
    return [(sg.name, list(sg.group)) for sg in config.sync_groups
            if all(m in known for m in sg.group)]


def same_identity(a: RouterParams, b: RouterParams) -> bool:
    """Whether a reload may keep the running router (and its state and VIPs)."""
    return all(getattr(a, k) == getattr(b, k) for k in IDENTITY_FIELDS)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload does with each instance, by name."""

    stop: tuple[str, ...]  #: running instances that go away or change identity
    keep: tuple[str, ...]  #: running instances carried over with their state and VIPs
    start: tuple[str, ...]  #: instances that start from INIT


def plan_reload(running: dict[str, VirtualRouter], new: dict[str, RouterParams]) -> ReloadPlan:
    """Decide which routers survive a reload. A router survives when its instance still
    exists with the same identity and it has not stopped."""
    keep = tuple(n for n, r in running.items()
                 if n in new and same_identity(r.params, new[n]) and r.state is not State.STOP)
    stop = tuple(n for n in running if n not in keep)
    start = tuple(n for n in new if n not in keep)
    return ReloadPlan(stop=stop, keep=keep, start=start)
