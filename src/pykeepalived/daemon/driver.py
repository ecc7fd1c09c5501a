"""The asyncio driver: runs the pure core against the real kernel.

One event loop owns everything that does I/O: raw VRRP sockets, netlink, packet sockets for
gratuitous ARP / unsolicited NA, script and notify subprocesses, signals. After every input
(a datagram, a tracker change, a signal) the driver hands the input to the core's
:class:`~pykeepalived.core.node.Node`, carries out the returned actions in order, and re-arms
its single protocol timer at the node's next deadline.

Crash-safe VIPs: every VIP is added with a kernel address lifetime (``vip_lifetime``, a few
seconds) that a MASTER renews well before it runs out. A daemon that is SIGKILLed or hangs
therefore loses its VIPs by itself instead of holding them beside the new master forever. With
``-V`` (keep VIPs on stop) addresses are permanent, as keepalived's are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, ip_address

from pykeepalived.config import load_config
from pykeepalived.config.model import KeepalivedConfig, VirtualIP, VrrpInstance
from pykeepalived.core import frames
from pykeepalived.core import packet as vrrp_packet
from pykeepalived.core.actions import (
    Action,
    AddAddresses,
    IPAddress,
    Log,
    Notify,
    NotifyMasterRxLowerPri,
    RemoveAddresses,
    SendAdvert,
    SendGratuitous,
    State,
    Transition,
)
from pykeepalived.core.node import Node
from pykeepalived.core.router import RouterParams, TrackerKind, TrackerSpec
from pykeepalived.daemon.control import Operations
from pykeepalived.daemon.log import EventLog
from pykeepalived.daemon.notify import FifoSpec, Notifier, NotifyScript, NotifySpec
from pykeepalived.daemon.process import apply_process_settings
from pykeepalived.daemon.routes import route_spec, rule_spec
from pykeepalived.daemon.scripts import RunAs, ScriptSpec, ScriptTracker
from pykeepalived.daemon.sdnotify import SystemdNotifier
from pykeepalived.daemon.security import (
    ScriptCheck,
    check_script,
    resolve_script_user,
    security_violation_message,
)
from pykeepalived.daemon.trackers import (
    FileTracker,
    ProcessTracker,
    TrackFileSpec,
    TrackProcessSpec,
)
from pykeepalived.errors import PyKeepalivedError
from pykeepalived.net.netlink import (
    AddressRenewer,
    LinkMonitor,
    Netlink,
    NetlinkOpError,
    RouteSpec,
    RuleSpec,
    encode_newaddr,
)
from pykeepalived.net.nft import VipFilter
from pykeepalived.net.packet_socket import PacketSocket
from pykeepalived.net.vrrp_socket import VrrpSocket, vrrp_filter

DEFAULT_VIP_LIFETIME = 4.0
MAX_READS_PER_PASS = 64
INFINITY = float("inf")


class DaemonError(PyKeepalivedError):
    """The daemon cannot start (bad configuration, missing privileges)."""


@dataclass
class InstanceRuntime:
    """Kernel-side facts of one instance: where its VIPs go and how to reach its peers."""

    cfg: VrrpInstance
    params: RouterParams
    base_if: str
    vip_if: str
    family: int
    notify: NotifySpec
    vmac_created: bool = False
    holding: bool = False
    installed: list[tuple[int, VirtualIP]] = field(default_factory=list)
    routes_installed: list[RouteSpec] = field(default_factory=list)
    rules_installed: list[RuleSpec] = field(default_factory=list)


def _ip(value: object) -> IPAddress:
    addr = ip_address(str(value))
    assert isinstance(addr, (IPv4Address, IPv6Address))
    return addr


class Daemon:
    """One pykeepalived process: configuration, the core node, and all its I/O."""

    def __init__(
        self,
        options: argparse.Namespace,
        log: EventLog,
        *,
        vip_lifetime: float | None = DEFAULT_VIP_LIFETIME,
    ) -> None:
        self.options = options
        self.log = log
        self.vip_lifetime = None if getattr(options, "dont_release_vrrp", False) else vip_lifetime
        self.fast_preempt = not getattr(options, "no_fast_preempt", False)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.netlink = Netlink()
        self.config: KeepalivedConfig | None = None
        self.node: Node | None = None
        self.instances: dict[str, InstanceRuntime] = {}
        self.sockets: dict[tuple[str, int], VrrpSocket] = {}
        self.packet_sockets: dict[str, PacketSocket] = {}
        self.scripts: dict[str, ScriptTracker] = {}
        self.group_notify: dict[str, NotifySpec] = {}
        self.notifier: Notifier | None = None
        self.link_monitor: LinkMonitor | None = None
        self.sd = SystemdNotifier()
        self._timer: asyncio.TimerHandle | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.started_at = time.time()
        self.on_transition: list[Callable[[Transition], None]] = []
        #: called with (now, interface, src, dst, payload) for every VRRP datagram, before the core
        self.on_datagram: list[Callable[[float, str, IPAddress, IPAddress, bytes], None]] = []
        self._scripts_disabled = False
        self._script_uid = 0
        self._script_security = False
        self._script_checks: list[ScriptCheck] = []
        self._stopping = False
        self._frame_cache: dict[tuple[str, IPAddress], bytes] = {}
        self._mac_cache: dict[str, bytes] = {}
        self.vmac_senders: dict[str, VrrpSocket] = {}
        #: receiving interface -> the interface the core knows the instance by (VMAC -> parent)
        self._demux_if: dict[str, str] = {}
        self.file_tracker: FileTracker | None = None
        self.process_tracker: ProcessTracker | None = None
        self.vip_filter: VipFilter | None = None
        # Control socket, maintenance, metrics, split-brain detection (daemon/control.py).
        self.operations = Operations(self)

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> KeepalivedConfig:
        result = load_config(self.options.config_file, config_id=self.options.config_id)
        for diag in result.diagnostics:
            self.log.event(str(diag))
        if result.config is None or not result.ok:
            raise DaemonError(f"configuration {self.options.config_file} has errors")
        return result.config

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.config = self.load()
        self.operations.open()
        if getattr(self.options, "dump_conf", False):
            from pykeepalived.config.dump import dump_config, render_config

            for line in render_config(dump_config(self.config)).splitlines():
                self.log.event(line)
        for applied in apply_process_settings(self.config.global_defs.raw, self.log.event):
            self.log.detail(f"process setting applied: {applied}")
        self._install_signals()
        await self._start(self.config)
        self.sd.ready(self._status_line())
        await self._stop.wait()
        self.sd.stopping()
        await self._shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def _install_signals(self) -> None:
        assert self.loop is not None
        self.loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        self.loop.add_signal_handler(signal.SIGINT, self.request_stop)
        self.loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self.loop.add_signal_handler(signal.SIGUSR1, self._dump_data)
        self.loop.add_signal_handler(signal.SIGUSR2, self._dump_stats)

    async def _start(self, config: KeepalivedConfig) -> None:
        assert self.loop is not None
        g = config.global_defs
        script_uid, script_gid = self._script_user(config)
        default_run_as = RunAs(uid=script_uid, gid=script_gid) if script_uid != 0 else None
        fifos = []
        for path, reader in ((g.notify_fifo, g.notify_fifo_script),
                             (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script)):
            if path:
                fifos.append(FifoSpec(path, NotifyScript(reader) if reader else None))
        self.notifier = Notifier(log=self.log.event, default_run_as=default_run_as, fifos=fifos)
        await self.notifier.open()
        self.link_monitor = LinkMonitor(on_link=self._on_link)
        self.link_monitor.start(self.loop)
        self._build(config, script_uid)
        self._start_scripts(config, script_uid)
        self._start_trackers(config)
        self._setup_accept_mode()
        self._static_setup(config)
        for inst in self.instances.values():
            self._open_sockets(inst)
        assert self.node is not None
        now = self.loop.time()
        for rt in self.instances.values():
            self._initial_trackers(rt, now)
        if g.vrrp_startup_delay > 0:
            # keepalived's vrrp_startup_delay: give the network time to come up after boot.
            self.log.event(f"Delaying startup for {g.vrrp_startup_delay:g} seconds")
            await asyncio.sleep(g.vrrp_startup_delay)
            now = self.loop.time()
        self._execute(self.operations.prepare(now))
        self._execute(self.node.start(now))
        self._rearm()
        self._renew_task = self.loop.create_task(self._renew_loop(), name="vip-renew")
        await self.operations.start()

    def _script_user(self, config: KeepalivedConfig) -> tuple[int, int]:
        g = config.global_defs
        try:
            user = resolve_script_user(g.script_user, g.script_group,
                                       enable_script_security=g.enable_script_security,
                                       log=self.log.event)
        except PyKeepalivedError as exc:
            self.log.event(str(exc))
            self._scripts_disabled = True
            return 0, 0
        self._scripts_disabled = False
        self._script_uid = user.uid
        self._script_security = g.enable_script_security
        return user.uid, user.gid

    async def _shutdown(self) -> None:
        assert self.loop is not None
        if self._timer is not None:
            self._timer.cancel()
        # Priority-0 adverts first: the backups' skew timers start when they hear them.
        self._stopping = True
        if self.node is not None:
            self._execute(self.node.stop(self.loop.time()))
        await self.operations.stop()
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
        for tracker in self.scripts.values():
            await tracker.stop()
        if self.process_tracker is not None:
            await self.process_tracker.stop()
        if self.file_tracker is not None:
            await self.file_tracker.stop()
        if self.vip_filter is not None:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.vip_filter.destroy()
        for rt in self.instances.values():
            if rt.vmac_created:
                with contextlib.suppress(PyKeepalivedError, OSError):
                    self.netlink.remove_vmac(rt.vip_if)
        if self.link_monitor is not None:
            self.link_monitor.stop()
        for sock in self.sockets.values():
            self.loop.remove_reader(sock.fileno())
            sock.close()
        for sender in self.vmac_senders.values():
            self.loop.remove_reader(sender.fileno())
            sender.close()
        for psock in self.packet_sockets.values():
            psock.close()
        if self.notifier is not None:
            await self.notifier.close()
        self.netlink.close()
        self.log.event("Stopped")

    # ------------------------------------------------------------------ configuration -> core

    def _build(self, config: KeepalivedConfig, script_uid: int) -> None:
        params: list[RouterParams] = []
        self.instances = {}
        for cfg in config.vrrp_instances:
            rt = self._runtime_for(config, cfg, script_uid)
            self.instances[cfg.name] = rt
            params.append(rt.params)
        groups = [(sg.name, list(sg.group)) for sg in config.sync_groups
                  if all(m in self.instances for m in sg.group)]
        self.group_notify = {
            sg.name: self._notify_spec(sg.notify, sg.notify_master, sg.notify_backup,
                                       sg.notify_fault, sg.notify_stop, None, None)
            for sg in config.sync_groups
        }
        self.node = Node(params, groups)

    def _runtime_for(self, config: KeepalivedConfig, cfg: VrrpInstance,
                     script_uid: int) -> InstanceRuntime:
        g = config.global_defs
        base_if = cfg.interface or g.default_interface or "eth0"
        family = socket.AF_INET6 if cfg.family == 6 else socket.AF_INET
        vip_if = base_if
        vmac_created = False
        if cfg.use_vmac is not None:
            try:
                name = cfg.use_vmac or None
                info = self.netlink.add_vmac(base_if, cfg.virtual_router_id, family=family,
                                             ifname=name)
                vip_if = info.name
                vmac_created = True
            except (PyKeepalivedError, OSError) as exc:
                self.log.event(f"({cfg.name}) cannot create VMAC interface: {exc}")
        src = self._source_for(cfg, base_if, family)
        if cfg.unicast_peers:
            dests: tuple[IPAddress, ...] = tuple(p.address for p in cfg.unicast_peers)
        elif cfg.mcast_dst_ip is not None:
            dests = (cfg.mcast_dst_ip,)
        else:
            dests = (g.vrrp_mcast_group6 if family == socket.AF_INET6 else g.vrrp_mcast_group4,)
        trackers: list[TrackerSpec] = []
        if not cfg.dont_track_primary:
            trackers.append(TrackerSpec(TrackerKind.INTERFACE, base_if))
            if vip_if != base_if:
                trackers.append(TrackerSpec(TrackerKind.INTERFACE, vip_if))
        for ti in cfg.track_interfaces:
            trackers.append(TrackerSpec(TrackerKind.INTERFACE, ti.name, ti.weight, ti.reverse))
        for ts in cfg.track_scripts:
            script = config.vrrp_scripts.get(ts.name)
            if script is None:
                continue
            weight = ts.weight if ts.weight is not None else script.weight
            reverse = ts.reverse or (ts.weight is None and script.reverse)
            trackers.append(TrackerSpec(TrackerKind.SCRIPT, ts.name, weight, reverse))
        for tf in cfg.track_files:
            fdef = config.track_files.get(tf.name)
            if fdef is None:
                continue
            weight = tf.weight if tf.weight is not None else fdef.weight
            trackers.append(TrackerSpec(TrackerKind.FILE, tf.name, weight, tf.reverse))
        for tp in cfg.track_processes:
            pdef = config.track_processes.get(tp.name)
            if pdef is None:
                continue
            weight = tp.weight if tp.weight is not None else pdef.weight
            reverse = tp.reverse or (tp.weight is None and pdef.reverse)
            trackers.append(TrackerSpec(TrackerKind.PROCESS, tp.name, weight, reverse))
        strict = cfg.strict_mode or g.vrrp_strict
        auth_type = {None: vrrp_packet.AUTH_NONE, "PASS": vrrp_packet.AUTH_PASS,
                     "AH": vrrp_packet.AUTH_AH}[cfg.auth_type]
        if cfg.version == 3:
            auth_type = vrrp_packet.AUTH_NONE
        params = RouterParams(
            name=cfg.name,
            vrid=cfg.virtual_router_id,
            priority=cfg.priority,
            src=src,
            addresses=tuple(v.address.ip for v in cfg.virtual_ipaddresses),
            destinations=dests,
            interface=base_if,
            version=cfg.version,
            advert_int=cfg.advert_int,
            want_master=cfg.state == "MASTER",
            unicast=bool(cfg.unicast_peers),
            check_unicast_src=cfg.check_unicast_src or g.vrrp_check_unicast_src,
            auth_type=auth_type,
            auth_pass=(cfg.auth_pass or "").encode(),
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
            fast_preempt=self.fast_preempt and not strict,
            trackers=tuple(trackers),
        )
        notify = self._notify_spec(cfg.notify, cfg.notify_master, cfg.notify_backup,
                                   cfg.notify_fault, cfg.notify_stop, cfg.notify_deleted,
                                   cfg.notify_master_rx_lower_pri)
        return InstanceRuntime(cfg, params, base_if, vip_if, family, notify,
                               vmac_created=vmac_created)

    def _source_for(self, cfg: VrrpInstance, ifname: str, family: int) -> IPAddress:
        explicit = cfg.unicast_src_ip or cfg.mcast_src_ip
        if explicit is not None:
            return explicit
        try:
            info = self.netlink.link(ifname)
        except PyKeepalivedError:
            info = None
        if family == socket.AF_INET6:
            if info is not None and info.ipv6_link_local is not None:
                return info.ipv6_link_local
            return IPv6Address("::")
        if info is not None and info.primary_ipv4 is not None:
            return info.primary_ipv4
        return IPv4Address("0.0.0.0")

    def _notify_spec(self, notify: str | None, master: str | None, backup: str | None,
                     fault: str | None, stop: str | None, deleted: str | None,
                     rx_lower: str | None) -> NotifySpec:
        def s(cmd: str | None) -> NotifyScript | None:
            if not cmd or self._scripts_disabled:
                return None
            # keepalived checks notify scripts like tracked ones and refuses unsafe ones.
            verdict = check_script(cmd, self._script_uid, self._script_security,
                                   log=self.log.event)
            self._script_checks.append(verdict)
            return NotifyScript(cmd) if verdict.ok else None
        return NotifySpec(master=s(master), backup=s(backup), fault=s(fault), stop=s(stop),
                          deleted=s(deleted), notify=s(notify), master_rx_lower_pri=s(rx_lower))

    def _start_scripts(self, config: KeepalivedConfig, script_uid: int) -> None:
        used = {ts.name for i in config.vrrp_instances for ts in i.track_scripts}
        used |= {ts.name for sg in config.sync_groups for ts in sg.track_scripts}
        g = config.global_defs
        checks = self._script_checks
        for name in sorted(used):
            script = config.vrrp_scripts.get(name)
            if script is None or not script.script or self._scripts_disabled:
                continue
            verdict = check_script(script.script, script_uid, g.enable_script_security,
                                   log=self.log.event)
            checks.append(verdict)
            if not verdict.ok:
                continue
            spec = ScriptSpec(
                name=name, command=script.script, interval=script.interval,
                timeout=script.timeout, rise=script.rise, fall=script.fall,
                weight=script.weight, reverse=script.reverse,
                user=script.user or g.script_user, group=script.group,
                init_fail=script.init_fail,
            )
            tracker = ScriptTracker(spec, self._on_script, self.log.event,
                                    argv=list(verdict.argv) or None)
            self.scripts[name] = tracker
            tracker.start()
        warning = security_violation_message(checks, g.enable_script_security)
        if warning:
            self.log.event(warning)
        self._script_checks = []

    def _static_setup(self, config: KeepalivedConfig) -> None:
        """static_ipaddress / static_routes / static_rules: set once at start-up, permanent."""
        for sa in config.static_addresses:
            with contextlib.suppress(NetlinkOpError):
                self._add_vip(sa, sa.dev or "eth0", lifetime=None)
        for route in config.static_routes:
            try:
                self.netlink.add_route(route_spec(route.words, self.netlink.ifindex),
                                       replace=True)
            except (PyKeepalivedError, ValueError) as exc:
                self.log.event(f"static route {' '.join(route.words)}: {exc}")
        for rule in config.static_rules:
            try:
                self.netlink.add_rule(rule_spec(rule.words))
            except (PyKeepalivedError, ValueError) as exc:
                self.log.event(f"static rule {' '.join(rule.words)}: {exc}")

    def _start_trackers(self, config: KeepalivedConfig) -> None:
        """track_file and track_process watchers feeding the core's trackers."""
        files = [TrackFileSpec(t.name, t.file, t.weight, t.reverse, t.init_file,
                               t.init_file_overwrite)
                 for t in config.track_files.values() if t.file]
        if files:
            self.file_tracker = FileTracker(files, self._on_track_file, self.log.event)
            self.file_tracker.start()
        procs = []
        for t in config.track_processes.values():
            if not t.process:
                continue
            words = t.process.split()
            procs.append(TrackProcessSpec(
                name=t.name, process=words[0], params=tuple(words[1:]) or None,
                param_match=t.param_match or "none",  # type: ignore[arg-type]
                full_command=t.full_command, quorum=t.quorum, quorum_max=t.quorum_max,
                weight=t.weight, reverse=t.reverse, fork_delay=t.fork_delay or 0.0,
                terminate_delay=t.terminate_delay or 0.0))
        if procs:
            self.process_tracker = ProcessTracker(procs, self._on_track_process, self.log.event)
            self.process_tracker.start()

    def _setup_accept_mode(self) -> None:
        """no_accept / vrrp_strict: drop traffic to the VIPs through nftables, as keepalived."""
        if all(rt.cfg.accept for rt in self.instances.values()):
            return
        try:
            self.vip_filter = VipFilter()
            self.vip_filter.setup()
        except (PyKeepalivedError, OSError) as exc:
            self.log.event(f"cannot set up the nftables accept-mode filter: {exc}")
            self.vip_filter = None

    def _open_sockets(self, rt: InstanceRuntime) -> None:
        assert self.loop is not None
        if (rt.vmac_created and rt.family == socket.AF_INET and not rt.cfg.vmac_xmit_base
                and rt.vip_if not in self.vmac_senders):
            # keepalived sends and receives a VMAC instance's adverts on the VMAC interface, so
            # switches learn the virtual MAC from every advert (vmac_xmit_base: the parent).
            # The receiving side must listen there too: the kernel hands a multicast frame whose
            # source is a local private macvlan's MAC (the peer's VMAC has ours) to that
            # macvlan only, never to the parent.
            try:
                # The source is always given: looking it up here would run pyroute2's own
                # event loop inside ours.
                sender = VrrpSocket.open(
                    rt.family, rt.vip_if, src=rt.params.src,
                    group=None if rt.params.unicast else rt.params.destinations[0],
                    join_group=not rt.params.unicast)
                self.vmac_senders[rt.vip_if] = sender
                self._demux_if[rt.vip_if] = rt.base_if
                self.loop.add_reader(sender.fileno(), self._on_readable, sender)
            except (PyKeepalivedError, OSError) as exc:
                self.log.event(f"({rt.cfg.name}) cannot use {rt.vip_if} for adverts: {exc}")
        key = (rt.base_if, rt.family)
        if key in self.sockets:
            return
        try:
            sock = VrrpSocket.open(
                rt.family, rt.base_if, src=rt.params.src,
                group=None if rt.params.unicast else rt.params.destinations[0],
                join_group=not rt.params.unicast,
            )
        except (PyKeepalivedError, OSError) as exc:
            self.log.event(f"({rt.cfg.name}) cannot open VRRP socket on {rt.base_if}: {exc}")
            return
        self.sockets[key] = sock
        self.loop.add_reader(sock.fileno(), self._on_readable, sock)

    def _initial_trackers(self, rt: InstanceRuntime, now: float) -> None:
        assert self.node is not None
        router = self.node.routers[rt.cfg.name]
        for spec in rt.params.trackers:
            if spec.kind is TrackerKind.INTERFACE:
                try:
                    info = self.netlink.link(spec.name)
                    up = info.admin_up and info.oper_up
                except PyKeepalivedError:
                    up = False
                router.tracker_values[spec.key] = up
            elif spec.kind is TrackerKind.FILE and self.file_tracker is not None:
                router.tracker_values[spec.key] = self.file_tracker.value(spec.name)
            elif spec.kind is TrackerKind.SCRIPT and spec.name not in self.scripts:
                # A refused or missing script never runs: keepalived treats it as not tracked.
                router.tracker_values[spec.key] = spec.weight >= 0 or None

    # ------------------------------------------------------------------ inputs

    def _now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _on_readable(self, sock: VrrpSocket) -> None:
        assert self.node is not None
        rejected_before = self.node.rejected + sock.dropped_malformed
        try:
            batch = sock.recv_batch(MAX_READS_PER_PASS)
        except OSError as exc:
            self.log.event(f"VRRP socket error on {sock.ifname}: {exc}")
            return
        now = self._now()
        if batch:
            actions: list[Action] = []
            ifname = self._demux_if.get(sock.ifname, sock.ifname)
            for rx in batch:
                for hook in self.on_datagram:
                    hook(now, ifname, rx.src, rx.dst, rx.payload)
                actions.extend(self.node.datagram(now, rx.payload, rx.src, rx.dst,
                                                  interface=ifname, ttl=rx.ttl))
            self._execute(actions)
            self._rearm()
        rejected = self.node.rejected + sock.dropped_malformed - rejected_before
        if rejected and sock.flood.note(now, rejected):
            self._engage_flood_filter(sock)

    # A flood of rejected packets costs no timer (the core ignores them, and asyncio runs due
    # timers on every loop pass, between our bounded batches), but it costs CPU: while rejects
    # arrive faster than the guard's threshold, a kernel filter drops wrong TTLs, versions and
    # VRIDs before they reach Python. See net/vrrp_socket.py FloodGuard.

    def _engage_flood_filter(self, sock: VrrpSocket) -> None:
        assert self.loop is not None
        mine = [rt for rt in self.instances.values()
                if rt.base_if == sock.ifname and rt.family == sock.family]
        vrids = {rt.params.vrid for rt in mine}
        check_ttl = not any(rt.params.unicast for rt in mine)
        try:
            sock.attach_filter(vrrp_filter(sock.family, vrids=vrids, check_ttl=check_ttl))
        except OSError as exc:
            self.log.event(f"VRRP flood on {sock.ifname}: cannot attach kernel filter: {exc}")
            return
        self.log.event(f"VRRP flood on {sock.ifname}: {sock.flood.peak_rate:.0f} rejected "
                       f"packets/s; kernel filter attached for {sock.flood.hold:g}s (packets "
                       "it drops are not counted by reason)")
        self.loop.call_later(sock.flood.hold, self._release_flood_filter, sock)

    def _release_flood_filter(self, sock: VrrpSocket) -> None:
        sock.flood.released()
        if sock not in self.sockets.values():
            return  # closed meanwhile
        try:
            sock.detach_filter()
        except OSError as exc:
            self.log.event(f"VRRP flood on {sock.ifname}: cannot detach kernel filter: {exc}")
            return
        self.log.detail(f"VRRP flood filter on {sock.ifname} detached")

    def _on_timer(self) -> None:
        assert self.node is not None
        self._timer = None
        self._execute(self.node.handle_timer(self._now()))
        self._rearm()

    def _rearm(self) -> None:
        assert self.loop is not None and self.node is not None
        deadline = self.node.deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _tracker_input(self, key: str, value: bool | int | None) -> None:
        if self.node is None or self.loop is None:
            return
        self._execute(self.node.update_tracker(self._now(), key, value))
        self._rearm()

    def _on_track_file(self, name: str, value: int) -> None:
        self._tracker_input(f"{TrackerKind.FILE.value}:{name}", value)

    def _on_track_process(self, name: str, up: bool) -> None:
        self._tracker_input(f"{TrackerKind.PROCESS.value}:{name}", up)

    def _on_script(self, name: str, good: bool) -> None:
        self._tracker_input(f"{TrackerKind.SCRIPT.value}:{name}", good)

    def _on_link(self, ifname: str, ifindex: int, up: bool) -> None:
        self._mac_cache.pop(ifname, None)  # the MAC may have changed with the link
        for key in [k for k in self._frame_cache if k[0] == ifname]:
            del self._frame_cache[key]
        self.log.event(f"Netlink reports {ifname} {'up' if up else 'down'}")
        self._tracker_input(f"{TrackerKind.INTERFACE.value}:{ifname}", up)
        if up:
            # The interface may have appeared or got its address only now.
            for rt in self.instances.values():
                if rt.base_if == ifname and (rt.base_if, rt.family) not in self.sockets:
                    self._open_sockets(rt)
                if rt.base_if == ifname and rt.params.src.is_unspecified:
                    src = self._source_for(rt.cfg, ifname, rt.family)
                    if self.node is not None:
                        self.node.routers[rt.cfg.name].update_source(src)

    # ------------------------------------------------------------------ actions

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._do(action)
            except (PyKeepalivedError, OSError) as exc:
                self.log.event(f"error carrying out {type(action).__name__}: {exc}")

    def _do(self, action: Action) -> None:
        if isinstance(action, SendAdvert):
            rt = self.instances[action.instance]
            sock = self.vmac_senders.get(rt.vip_if) or self.sockets.get((rt.base_if, rt.family))
            if sock is None:
                return
            src = self.node.routers[action.instance].params.src if self.node else None
            if src is not None and not src.is_unspecified:
                sock.set_source(src)
            for dst, data in action.packets:
                sock.send(data, dst)
        elif isinstance(action, Log):
            if action.detail:
                self.log.detail(action.message)
            else:
                self.log.event(action.message)
        elif isinstance(action, AddAddresses):
            self._add_addresses(self.instances[action.instance])
        elif isinstance(action, RemoveAddresses):
            if self._stopping and self.vip_lifetime is None:
                return  # -V: keepalived leaves the VIPs and routes in place on stop
            self._remove_addresses(self.instances[action.instance])
        elif isinstance(action, SendGratuitous):
            self._send_gratuitous(self.instances[action.instance], action.count)
        elif isinstance(action, Notify):
            self._notify(action)
        elif isinstance(action, NotifyMasterRxLowerPri):
            rt = self.instances[action.instance]
            if self.notifier is not None and rt.notify.master_rx_lower_pri is not None:
                self.notifier.run_script(rt.notify.master_rx_lower_pri)
        elif isinstance(action, Transition):
            for hook in self.on_transition:
                hook(action)
            self.sd.status(self._status_line())

    def _notify(self, action: Notify) -> None:
        if self.notifier is None:
            return
        if action.kind == "GROUP":
            spec = self.group_notify.get(action.name)
        else:
            spec = self.instances[action.name].notify
        self.notifier.notify(action.kind, action.name, action.state.value,  # type: ignore[arg-type]
                             action.priority, spec)

    def _vips(self, rt: InstanceRuntime) -> list[tuple[VirtualIP, str]]:
        out = [(v, v.dev or rt.vip_if) for v in rt.cfg.virtual_ipaddresses]
        out += [(v, v.dev or rt.vip_if) for v in rt.cfg.virtual_ipaddresses_excluded]
        return out

    def _add_vip(self, vip: VirtualIP, ifname: str, *, lifetime: float | None) -> int | None:
        try:
            ifindex = self.netlink.ifindex(ifname)
        except PyKeepalivedError as exc:
            self.log.event(f"cannot add {vip.address}: {exc}")
            return None
        iface = vip.address
        self.netlink.add_address(
            ifindex, iface, brd=vip.brd, scope=vip.scope, label=vip.label,
            peer=vip.peer.ip if vip.peer is not None else None, lifetime=lifetime,
            nodad=isinstance(iface, IPv6Interface),
        )
        return ifindex

    def _add_addresses(self, rt: InstanceRuntime) -> None:
        # keepalived's order: accept-mode filter, VIPs, excluded VIPs, routes, rules.
        if not rt.cfg.accept and self.vip_filter is not None:
            try:
                self.vip_filter.add_vips([v.address.ip for v, _ in self._vips(rt)])
            except (PyKeepalivedError, OSError) as exc:
                self.log.event(f"({rt.cfg.name}) accept-mode filter: {exc}")
        rt.installed = []
        for vip, ifname in self._vips(rt):
            try:
                ifindex = self._add_vip(vip, ifname, lifetime=self.vip_lifetime)
            except NetlinkOpError as exc:
                self.log.event(f"({rt.cfg.name}) cannot add {vip.address}: {exc}")
                continue
            if ifindex is not None:
                rt.installed.append((ifindex, vip))
        rt.holding = True
        for route in rt.cfg.virtual_routes:
            try:
                spec = route_spec(route.words, self.netlink.ifindex, default_dev=None)
                self.netlink.add_route(spec, replace=True)
                rt.routes_installed.append(spec)
            except (PyKeepalivedError, ValueError) as exc:
                self.log.event(f"({rt.cfg.name}) cannot add route {' '.join(route.words)}: {exc}")
        for rule in rt.cfg.virtual_rules:
            try:
                rspec = rule_spec(rule.words)
                self.netlink.add_rule(rspec)
                rt.rules_installed.append(rspec)
            except (PyKeepalivedError, ValueError) as exc:
                self.log.event(f"({rt.cfg.name}) cannot add rule {' '.join(rule.words)}: {exc}")

    def _remove_addresses(self, rt: InstanceRuntime) -> None:
        for rspec in rt.rules_installed:
            with contextlib.suppress(PyKeepalivedError):
                self.netlink.remove_rule(rspec)
        rt.rules_installed = []
        for spec in rt.routes_installed:
            with contextlib.suppress(PyKeepalivedError):
                self.netlink.remove_route(spec)
        rt.routes_installed = []
        installed = rt.installed
        if not installed:
            # Nothing recorded (start-up): remove what an earlier run may have left behind.
            for vip, ifname in self._vips(rt):
                with contextlib.suppress(PyKeepalivedError):
                    installed.append((self.netlink.ifindex(ifname), vip))
        for ifindex, vip in installed:
            with contextlib.suppress(NetlinkOpError):
                self.netlink.remove_address(ifindex, vip.address,
                                            peer=vip.peer.ip if vip.peer else None)
        rt.installed = []
        rt.holding = False
        if not rt.cfg.accept and self.vip_filter is not None:
            with contextlib.suppress(PyKeepalivedError, OSError):
                self.vip_filter.remove_vips([v.address.ip for v, _ in self._vips(rt)])

    async def _renew_loop(self) -> None:
        """Keep the lifetimes of held VIPs topped up (crash-safe VIPs).

        One batch of prebuilt RTM_NEWADDR (create-or-replace) messages per round, sent without
        waiting for answers: renewing hundreds of VIPs costs the loop a sendmsg or two, and a
        VIP that expired during a stall, or was removed by hand, is put back by the same message.
        """
        if self.vip_lifetime is None:
            return
        assert self.loop is not None
        renewer = AddressRenewer()
        self.loop.add_reader(renewer.fileno(), self._renew_failures, renewer)
        cache: dict[tuple[int, str], bytes] = {}
        period = self.vip_lifetime / 4
        try:
            while True:
                await asyncio.sleep(period)
                batch = []
                for rt in self.instances.values():
                    if not rt.holding:
                        continue
                    for ifindex, vip in rt.installed:
                        key = (ifindex, str(vip.address))
                        msg = cache.get(key)
                        if msg is None:
                            msg = encode_newaddr(
                                ifindex, vip.address, lifetime=self.vip_lifetime, brd=vip.brd,
                                scope=vip.scope, label=vip.label,
                                peer=vip.peer.ip if vip.peer is not None else None,
                                nodad=isinstance(vip.address, IPv6Interface))
                            cache[key] = msg
                        batch.append(msg)
                if batch:
                    renewer.send(batch)
        finally:
            self.loop.remove_reader(renewer.fileno())
            renewer.close()

    def _renew_failures(self, renewer: AddressRenewer) -> None:
        for code, _seq in renewer.drain_errors():
            self.log.event(f"renewing a VIP failed: {os.strerror(code)}")

    def _send_gratuitous(self, rt: InstanceRuntime, count: int) -> None:
        for vip, ifname in self._vips(rt):
            psock = self.packet_sockets.get(ifname)
            if psock is None:
                try:
                    psock = PacketSocket.open(ifname)
                except PyKeepalivedError as exc:
                    self.log.event(f"({rt.cfg.name}) cannot send gratuitous ARP: {exc}")
                    continue
                self.packet_sockets[ifname] = psock
            addr = vip.address.ip
            frame = self._gratuitous_frame(ifname, addr)
            if frame is None:
                continue
            if isinstance(addr, IPv4Address):
                what, each = "gratuitous ARPs", "gratuitous ARP"
            else:
                what, each = "Unsolicited Neighbour Adverts", "unsolicited Neighbour Advert"
            self.log.detail(f"({rt.cfg.name}) Sending/queueing {what} on {ifname} for {addr}")
            for _ in range(count):
                # keepalived (-D) logs every frame it sends, in these words.
                self.log.detail(f"Sending {each} on {ifname} for {addr}")
                psock.send_frame(frame)

    def _gratuitous_frame(self, ifname: str, addr: IPAddress) -> bytes | None:
        """The ARP / NA frame announcing ``addr`` on ``ifname``, built once per MAC.

        A netlink round trip per VIP on every takeover would stall the loop with many VIPs;
        the MAC is cached until a link event for the interface says it may have changed.
        """
        key = (ifname, addr)
        frame = self._frame_cache.get(key)
        if frame is None:
            mac = self._mac_cache.get(ifname)
            if mac is None:
                # One lookup per interface, not per VIP: Netlink.link dumps the interface's
                # addresses, which costs tens of ms with hundreds of VIPs on it.
                try:
                    mac = self._mac_cache[ifname] = self.netlink.link(ifname).mac
                except PyKeepalivedError as exc:
                    self.log.event(f"cannot announce {addr} on {ifname}: {exc}")
                    return None
            if isinstance(addr, IPv4Address):
                frame = frames.build_gratuitous_arp(mac, addr)
            else:
                frame = frames.build_unsolicited_na(mac, addr, addr)
            self._frame_cache[key] = frame
        return frame

    # ------------------------------------------------------------------ reload, dumps

    def _on_sighup(self) -> None:
        assert self.loop is not None
        self.loop.create_task(self.reload())

    async def reload(self) -> bool:
        """SIGHUP: validate the new configuration; keep the running one if it is broken."""
        self.sd.reloading()
        self.log.event("Reloading")
        try:
            new = self.load()
        except DaemonError as exc:
            self.log.event(f"Reload failed, keeping the running configuration: {exc}")
            self.sd.ready(self._status_line())
            return False
        assert self.node is not None and self.config is not None
        now = self._now()
        old_routers = dict(self.node.routers)
        old_instances = dict(self.instances)
        script_uid, _ = self._script_user(new)
        for tracker in self.scripts.values():
            await tracker.stop()
        self.scripts = {}
        new_runtimes = {c.name: self._runtime_for(new, c, script_uid)
                        for c in new.vrrp_instances}
        actions: list[Action] = []
        for name, router in old_routers.items():
            kept = new_runtimes.get(name)
            if kept is None or not _same_identity(router.params, kept.params):
                actions.extend(router.stop(now))
        self._execute(actions)
        params = [rt.params for rt in new_runtimes.values()]
        groups = [(sg.name, list(sg.group)) for sg in new.sync_groups
                  if all(m in new_runtimes for m in sg.group)]
        node = Node(params, groups)
        start: list[Action] = []
        for name, rt in new_runtimes.items():
            old = old_routers.get(name)
            if old is not None and _same_identity(old.params, rt.params) \
                    and old.state is not State.STOP:
                node.adopt(old)
                start.extend(old.reconfigure(now, rt.params))
                rt.installed = old_instances[name].installed
                rt.holding = old_instances[name].holding
        self.node = node
        self.instances = new_runtimes
        self.config = new
        self._start_scripts(new, script_uid)
        for rt in new_runtimes.values():
            self._open_sockets(rt)
            router = node.routers[rt.cfg.name]
            if router.state is State.INIT:
                self._initial_trackers(rt, now)
                start.extend(router.start(now))
        self._execute(start)
        self._rearm()
        self.sd.ready(self._status_line())
        return True

    def _status_line(self) -> str:
        if self.node is None:
            return "starting"
        return ", ".join(f"{n} {r.state.value} prio {r.effective_priority}"
                         for n, r in self.node.routers.items())

    def _dump_data(self) -> None:
        path = self.config.global_defs.state_dump_file if self.config else "/tmp/keepalived.data"
        self._write_dump(path, self._data_text())

    def _dump_stats(self) -> None:
        path = self.config.global_defs.stats_dump_file if self.config else "/tmp/keepalived.stats"
        self._write_dump(path, self._stats_text())

    def _write_dump(self, path: str, text: str) -> None:
        # Opened without following symlinks, as keepalived does, so /tmp tricks cannot redirect.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            self.log.event(f"Unable to open {path}: {exc}")
            return
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    def _data_text(self) -> str:
        """SIGUSR1 dump, in the layout of keepalived's /tmp/keepalived.data (the VRRP parts)."""
        g = self.config.global_defs if self.config else None
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
                f" Default script uid:gid {self._script_uid}:{self._script_uid}",
            ]
        lines.append("------< VRRP Topology >------")
        offset = time.time() - self._now() if self.loop is not None else 0.0
        for name, router in (self.node.routers.items() if self.node else []):
            rt = self.instances[name]
            p = router.params
            since = router.state_since + offset
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
            held = {str(vip.address) for _, vip in rt.installed}
            for v in rt.cfg.virtual_ipaddresses:
                mark = "set" if str(v.address) in held else "unset"
                lines.append(f"     {v.address} dev {v.dev or rt.vip_if} scope "
                             f"{v.scope or 'global'} {mark}")
        return "\n".join(lines) + "\n"

    def _stats_text(self) -> str:
        """SIGUSR2 dump, in the layout of keepalived's /tmp/keepalived.stats."""
        from pykeepalived.core.packet import DropReason as R

        lines = []
        for name, router in (self.node.routers.items() if self.node else []):
            s = router.stats
            d = s.drops
            shown = {R.TOO_SHORT, R.BAD_LENGTH, R.BAD_TTL, R.BAD_TYPE, R.INTERVAL_MISMATCH,
                     R.ADDRESS_MISMATCH, R.AUTH_TYPE_MISMATCH, R.AUTH_FAILURE}
            lines += [
                f"VRRP Instance: {name}",
                "  Advertisements:",
                f"    Received: {s.adverts_received}",
                f"    Sent: {s.adverts_sent}",
                f"  Became master: {s.became_master}",
                f"  Released master: {s.released_master}",
                "  Packet Errors:",
                f"    Length: {d[R.TOO_SHORT] + d[R.BAD_LENGTH]}",
                f"    TTL: {d[R.BAD_TTL]}",
                f"    Invalid Type: {d[R.BAD_TYPE]}",
                f"    Advertisement Interval: {d[R.INTERVAL_MISMATCH]}",
                f"    Address List: {d[R.ADDRESS_MISMATCH]}",
                "  Authentication Errors:",
                "    Invalid Type: 0",
                f"    Type Mismatch: {d[R.AUTH_TYPE_MISMATCH]}",
                f"    Failure: {d[R.AUTH_FAILURE]}",
                "  Priority Zero:",
                f"    Received: {s.priority_zero_received}",
                f"    Sent: {s.priority_zero_sent}",
            ]
            others = sorted((r.value, n) for r, n in d.items() if r not in shown and n)
            if others:
                lines.append("  Other drops (pykeepalived):")
                lines += [f"    {reason}: {count}" for reason, count in others]
        return "\n".join(lines) + "\n"

def _same_identity(a: RouterParams, b: RouterParams) -> bool:
    """Whether a reload may keep the running router (and its state and VIPs)."""
    keys = ("vrid", "version", "interface", "addresses", "destinations", "src", "unicast")
    return all(getattr(a, k) == getattr(b, k) for k in keys)

