"""The asyncio driver: the event loop that runs the pure core against the real kernel.

Inputs -> core -> actions -> effects, and one timer. Every input (a datagram, a tracker value,
a link event, a signal, an operator's request) goes to the core's
:class:`~pykeepalived.core.node.Node`; the actions it returns are carried out in order by
:meth:`Daemon.apply`; then the single protocol timer is re-armed at the node's next deadline.
The details live behind their own doors (runtime, vips, sockets, tracking, control, dumps):
docs/ARCHITECTURE.md draws the map.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import assert_never

from pykeepalived import __version__
from pykeepalived.config import load_config
from pykeepalived.config.model import KeepalivedConfig, VrrpInstance
from pykeepalived.core.actions import (
    Action,
    AddAddresses,
    IPAddress,
    Log,
    Notify,
    NotifyKind,
    NotifyMasterRxLowerPri,
    RemoveAddresses,
    SendAdvert,
    SendGratuitous,
    State,
    Transition,
)
from pykeepalived.core.node import Node
from pykeepalived.core.packet import DropReason
from pykeepalived.core.priority import TrackerKind
from pykeepalived.daemon import dumps, runtime
from pykeepalived.daemon.control import Operations
from pykeepalived.daemon.lastword import LastWord
from pykeepalived.daemon.log import LOG_ERR, LOG_INFO, LOG_WARNING, EventLog
from pykeepalived.daemon.notify import Notifier
from pykeepalived.daemon.process import prepare_process
from pykeepalived.daemon.ptimer import ProtocolTimer
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.daemon.sdnotify import SystemdNotifier, watchdog_interval
from pykeepalived.daemon.sockets import AdvertSockets
from pykeepalived.daemon.tracking import Tracking
from pykeepalived.daemon.view import DaemonInfo, RouterView, ScriptView, VipRef
from pykeepalived.daemon.vips import DEFAULT_VIP_LIFETIME, KernelEffects, VipManager
from pykeepalived.errors import DaemonError, PyKeepalivedError
from pykeepalived.net.netlink import LinkInfo, Netlink
from pykeepalived.net.rtnl_events import AddressEvent, LinkMonitor
from pykeepalived.net.vrrp_socket import VrrpSocket

__all__ = ["DEFAULT_VIP_LIFETIME", "Daemon"]

MAX_READS_PER_PASS = 64
_RANK = {SendAdvert: 0, AddAddresses: 0, RemoveAddresses: 0, SendGratuitous: 0, Log: 2}
#: From this many instances, fast-path-only batches leave the armed timer early (re-arms on firing)
LAZY_REARM_FROM = 16


class Daemon:
    """One pykeepalived process: configuration, the core node, and the loop that drives it.

    It is also the :class:`~pykeepalived.daemon.view.DaemonView` that control, metrics and
    conflict detection are given."""

    def __init__(self, options: argparse.Namespace, log: EventLog, *,
                 vip_lifetime: float | None = DEFAULT_VIP_LIFETIME,
                 effects: KernelEffects | None = None) -> None:
        self.options = options
        self.log = log
        lifetime = None if getattr(options, "dont_release_vrrp", False) else vip_lifetime
        self.vip_lifetime = lifetime
        self.fast_preempt = not getattr(options, "no_fast_preempt", False)
        self.netlink = Netlink()
        self.vip_manager = VipManager(self.netlink, log.event, log.detail, lifetime=lifetime,
                                      error=lambda m: log.event(m, level=LOG_ERR))
        self.effects: KernelEffects = effects if effects is not None else self.vip_manager
        self.loop: asyncio.AbstractEventLoop | None = None
        self.config: KeepalivedConfig | None = None
        self.node = Node([])
        self.instances: dict[str, InstanceRuntime] = {}
        self.tracking: Tracking | None = None
        self.notifier: Notifier | None = None
        self.sockets: AdvertSockets | None = None
        self.link_monitor: LinkMonitor | None = None
        self.sd = SystemdNotifier()
        self.started_at = time.time()
        self._timer: ProtocolTimer | None = None
        self._stop = asyncio.Event()
        self._stopping = False
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False
        # Control socket, maintenance, metrics, split-brain detection (daemon/control.py).
        self.operations = Operations(options, self)
        self.last_word = LastWord()  # given the supervisor's channel by daemon/main.py

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> KeepalivedConfig:
        result = load_config(self.options.config_file, config_id=self.options.config_id,
                             all_config=getattr(self.options, "all_config", False))
        for diag in result.diagnostics:
            self.log.event(str(diag))
        if result.config is None or not result.ok:
            raise DaemonError(f"configuration {self.options.config_file} has errors")
        return result.config

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.last_word.start()
        self.config = self.load()
        self.operations.open()
        prepare_process(self.config, self.options, self.log)
        self._install_signals()
        await self.start(self.config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self._stop_now)
        self.sd.ready(dumps.status_line(self.node.routers))
        self.sd.start_watchdog(self.loop, watchdog_interval())
        await self._stop.wait()
        self.sd.stopping()
        await self.shutdown()
        return 0

    def _install_signals(self) -> None:
        assert self.loop is not None
        for sig, handler in ((signal.SIGTERM, self._stop.set), (signal.SIGINT, self._stop.set),
                             (signal.SIGHUP, self.request_reload)):
            self.loop.add_signal_handler(sig, handler)
        dumps.install_signals(self.loop, self._dump_source, self.log.event,
                              self._dump_and_clear_stats)

    def _stop_now(self) -> None:
        """SIGTERM / SIGINT once running: priority 0 leaves from the signal's own callback."""
        self._goodbye()
        self._stop.set()

    def _goodbye(self) -> None:
        """Every MASTER's priority 0, once: the backups' skew timers start when they hear it."""
        timer, self._timer, self._stopping = self._timer, None, True
        if timer is not None and self.loop is not None:
            timer.close()
            self.apply(self.node.stop(self.loop.time()))

    async def start(self, config: KeepalivedConfig) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.config = config
        self.sockets = AdvertSockets(loop, self.log.event, self.log.detail, self._on_readable)
        self._timer = ProtocolTimer(loop, self._on_timer)
        tracking = Tracking(config, self.log.event, self._tracker_input)
        g = config.global_defs
        self.notifier = tracking.notifier()
        await self.notifier.open()
        # VMACs are made (and up) before links are watched: their creation is not news.
        self.instances = self._runtimes(config)
        self.link_monitor = LinkMonitor(on_link=self._on_link, on_address=self._on_address,
                                        removals_only=True)
        self.link_monitor.start(loop)
        self.node = Node([rt.params for rt in self.instances.values()],
                         runtime.sync_groups(config, self.instances), wall=time.time)
        self.tracking = tracking
        tracking.start()
        self.effects.setup_accept_filter(self.instances.values())
        self.effects.static_setup(config)
        for rt in self.instances.values():
            self.sockets.open_for(rt)
        self._initial_trackers(self.instances.values())
        now = loop.time()
        if g.vrrp_startup_delay > 0:
            # keepalived's vrrp_startup_delay: give the network time to come up after boot.
            self.log.event(f"Delaying startup for {g.vrrp_startup_delay:g} seconds")
            await asyncio.sleep(g.vrrp_startup_delay)
            now = loop.time()
        self.operations.prepare()
        self.apply(self.node.start(now))
        self.effects.start(loop)
        await self.operations.start()

    async def shutdown(self) -> None:
        self._goodbye()  # unless said from the signal's callback
        await self.operations.stop()
        await self.effects.stop()
        if self.tracking is not None:
            await self.tracking.stop()
        self.effects.close()
        for rt in self.instances.values():
            self.effects.remove_vmac(rt)
        if self.link_monitor is not None:
            self.link_monitor.stop()
        if self.sockets is not None:
            self.sockets.close()
        if self.notifier is not None:
            await self.notifier.close()
        self.netlink.close()
        self.log.event("Stopped")

    # ------------------------------------------------------------------ configuration -> core

    def _runtimes(self, config: KeepalivedConfig) -> dict[str, InstanceRuntime]:
        """Ask the host what the translation needs: VMACs, sources (one lookup per link)."""
        out, links = {}, {}
        for cfg in config.vrrp_instances:
            base_if = runtime.base_interface(config, cfg)
            family = runtime.family_of(cfg)
            vip_if = self.effects.create_vmac(cfg, base_if, family)
            if base_if not in links:
                links[base_if] = self._link(base_if)
            out[cfg.name] = runtime.instance_runtime(
                config, cfg, vip_if=vip_if, src=self._source_for(cfg, links[base_if]),
                fast_preempt=self.fast_preempt)
        return out

    def _link(self, ifname: str) -> LinkInfo | None:
        with contextlib.suppress(PyKeepalivedError):
            return self.netlink.link(ifname)
        return None

    def _source_for(self, cfg: VrrpInstance, link: LinkInfo | None) -> IPAddress:
        family = runtime.family_of(cfg)
        found = runtime.explicit_source(cfg)
        if found is None and link is not None:
            found = link.default_source(family)
        return found if found is not None else runtime.unspecified_source(family)

    def _initial_trackers(self, runtimes: Iterable[InstanceRuntime]) -> None:
        """Tracker values before the first election (one link lookup per interface)."""
        links: dict[str, LinkInfo | None] = {}
        for rt in runtimes:
            router = self.node.routers[rt.name]
            for spec in rt.params.trackers:
                if spec.kind is TrackerKind.INTERFACE:
                    if spec.name not in links:
                        links[spec.name] = self._link(spec.name)
                    info = links[spec.name]
                    # a VMAC we just made is up; its carrier follows the parent's shortly
                    router.tracker_values[spec.key] = info is not None and info.admin_up and (
                        info.oper_up or spec.name == rt.vip_if != rt.base_if)
                elif self.tracking is not None:
                    known, value = self.tracking.initial_value(spec)
                    if known:
                        router.tracker_values[spec.key] = value

    # ------------------------------------------------------------------ reload

    def request_reload(self) -> None:
        """SIGHUP. Reloads never interleave: one that arrives during a reload runs once
        more after it (the file may have changed again meanwhile)."""
        assert self.loop is not None
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = self.loop.create_task(self._reload_serially(), name="reload")

    async def _reload_serially(self) -> None:
        while True:
            self._reload_again = False
            await self.reload()
            if not self._reload_again:
                return

    async def reload(self) -> bool:
        """Validate the new configuration and switch to it; keep the running one if it is
        broken. Instances whose identity is unchanged keep their state and VIPs."""
        self.sd.reloading()
        self.log.event("Reloading")
        try:
            new = self.load()
        except DaemonError as exc:
            self.log.event(f"Reload failed, keeping the running configuration: {exc}")
            self.sd.ready(dumps.status_line(self.node.routers))
            return False
        assert self.loop is not None and self.sockets is not None
        now = self.loop.time()
        old_routers, old_instances = dict(self.node.routers), dict(self.instances)
        if self.tracking is not None:
            await self.tracking.stop()
        tracking = Tracking(new, self.log.event, self._tracker_input)
        self.last_word.busy()  # from here to the end no await: asking the host may take long
        new_instances = self._runtimes(new)
        plan = runtime.plan_reload(old_routers,
                                   {n: rt.params for n, rt in new_instances.items()})
        stopping: list[Action] = []
        for name in plan.stop:
            stopping.extend(old_routers[name].stop(now))
        self.apply(stopping)
        for name in plan.stop:
            old = old_instances[name]
            if name not in new_instances or new_instances[name].vip_if != old.vip_if:
                self.sockets.close_vmac(old.vip_if)
                self.effects.remove_vmac(old)
        node = Node([rt.params for rt in new_instances.values()],
                    runtime.sync_groups(new, new_instances), wall=time.time)
        start: list[Action] = []
        for name in plan.keep:
            node.adopt(old_routers[name])
            start.extend(old_routers[name].reconfigure(now, new_instances[name].params))
        self.node, self.instances, self.config = node, new_instances, new
        self.tracking = tracking
        tracking.start()
        self.effects.setup_accept_filter(new_instances.values())
        for rt in new_instances.values():
            self.sockets.open_for(rt)
        self._initial_trackers(new_instances[name] for name in plan.start)
        for name in plan.start:
            start.extend(node.routers[name].start(now))
        self.apply(start)
        self.sd.ready(dumps.status_line(self.node.routers))
        return True

    # ------------------------------------------------------------------ inputs

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _on_readable(self, sock: VrrpSocket, ifname: str) -> None:
        rejected_before = self.node.rejected + sock.dropped_malformed
        try:
            batch = sock.recv_batch(MAX_READS_PER_PASS)
        except OSError as exc:
            self.log.event(f"VRRP socket error on {sock.ifname}: {exc}")
            return
        now = self.now()
        if batch:
            actions: list[Action] = []
            conflicts, node = self.operations.conflicts, self.node
            if self.sockets is not None:
                batch = self.sockets.passed_on(sock, batch)
            timer, repeats = self._timer, node.repeats
            lazy = len(node.routers) > LAZY_REARM_FROM and timer is not None and bool(timer.when)
            for rx in batch:
                actions.extend(node.datagram(now, rx.payload, rx.src, rx.dst, interface=ifname,
                                             ttl=rx.ttl, ip_header=rx.header, age=rx.age))
                accepted = node.last_accepted
                if accepted and conflicts and accepted.state_after is State.MASTER:
                    conflicts.advert(accepted.instance, accepted.src, accepted.priority)
            if lazy and not actions and node.repeats - repeats == len(batch):
                self.last_word.alive()
            else:
                self.apply(actions)
        rejected = self.node.rejected + sock.dropped_malformed - rejected_before
        if rejected and sock.flood.note(now, rejected) and self.sockets is not None:
            self.sockets.engage_flood_filter(sock, self.instances.values())

    def _on_timer(self) -> None:
        self.apply(self.node.handle_timer(self.now()))

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.set(self.node.deadline())

    def _tracker_input(self, key: str, value: bool | int | None) -> None:
        if self.loop is None:
            return
        self.apply(self.node.update_tracker(self.now(), key, value))

    def _on_link(self, ifname: str, ifindex: int, up: bool) -> None:
        self.effects.link_changed(ifname)  # the MAC may have changed with the link
        key = f"{TrackerKind.INTERFACE.value}:{ifname}"
        if any(key in r.tracker_values for r in self.node.routers.values()) or any(
                ifname in (rt.base_if, rt.vip_if) for rt in self.instances.values()):
            # keepalived reports the links it uses or tracks, not every link on the host
            self.log.event(f"Netlink reports {ifname} {'up' if up else 'down'}")
        self._tracker_input(key, up)
        if not up:
            return
        # The interface may have appeared or got its address only now.
        for rt in self.instances.values():
            if rt.base_if != ifname:
                continue
            if self.sockets is not None and not self.sockets.has_socket(rt):
                self.sockets.open_for(rt)
            if rt.params.src.is_unspecified:
                self.node.routers[rt.name].update_source(
                    self._source_for(rt.cfg, self._link(ifname)))

    def _on_address(self, event: AddressEvent) -> None:
        # keepalived: a VIP deleted under a MASTER steps it back (and in again)
        name = None if event.added else self.effects.holder_of(event.ifindex, event.interface.ip)
        if name is not None and self.loop is not None:
            self.apply(self.node.vip_deleted(self.now(), name))

    # ------------------------------------------------------------------ actions

    def apply(self, actions: Sequence[Action]) -> None:
        """Carry out the core's actions: adverts, VIPs and first ARPs (per instance, as keepalived
        does them), log lines, then the rest, each in the core's order (what the network sees
        first); then re-arm the protocol timer."""
        for action in sorted(actions, key=lambda a: _RANK.get(type(a), 3)):
            try:
                self._do(action)
            except (PyKeepalivedError, OSError) as exc:
                self.log.event(f"error carrying out {type(action).__name__}: {exc}")
        if any(type(a) is Transition for a in actions):  # once a batch: it lists every instance
            self.sd.status(dumps.status_line(self.node.routers))
        self.last_word.after(actions)
        if self.loop is not None:
            self._rearm()

    def _do(self, action: Action) -> None:
        match action:
            case SendAdvert():
                if self.sockets is not None:
                    self.sockets.send(self.instances[action.instance],
                                      self.node.routers[action.instance].params.src,
                                      action.packets)
            case Log():
                if action.detail:
                    self.log.detail(action.message)
                else:
                    self.log.event(action.message,
                                   level=LOG_WARNING if action.warning else LOG_INFO,
                                   instance=action.instance, priority=action.priority,
                                   state=action.state.value if action.state else None)
            case AddAddresses():
                self.effects.install(self.instances[action.instance])
            case RemoveAddresses():
                if self._stopping and self.vip_lifetime is None:
                    return  # -V: keepalived leaves the VIPs and routes in place on stop
                self.effects.release(self.instances[action.instance])
            case SendGratuitous():
                self.effects.announce(self.instances[action.instance], action.count)
            case Notify():
                self._notify(action)
            case NotifyMasterRxLowerPri():
                script = self.tracking.lower_prio_script(action.instance) if self.tracking else None
                if self.notifier is not None and script is not None:
                    self.notifier.run_script(script)
            case Transition():
                self.operations.transition(action)
            case _:
                assert_never(action)

    def _notify(self, action: Notify) -> None:
        if self.notifier is None or self.tracking is None:
            return
        specs = self.tracking.group_notify if action.kind is NotifyKind.GROUP \
            else self.tracking.instance_notify
        self.notifier.notify(action.kind, action.name, action.state.value,
                             action.priority, specs.get(action.name))

    # ------------------------------------------------------------------ the DaemonView door

    def info(self) -> DaemonInfo:
        return DaemonInfo(pid=os.getpid(), started_at=self.started_at, version=__version__,
                          config_file=getattr(self.options, "config_file", None),
                          metrics_listen=getattr(self.options, "metrics_listen", None),
                          supervision=self.last_word.supervision)

    def routers(self) -> Mapping[str, RouterView]:
        return self.node.routers

    def vips(self, name: str) -> Sequence[VipRef]:
        rt = self.instances.get(name)
        if rt is None:
            return ()
        stuck = self.effects.unreleased(name)  # usually empty: the refs are then shared
        return [replace(r, unreleased=True) if r.address in stuck else r
                for r in rt.vip_refs] if stuck else rt.vip_refs

    def unattributed_drops(self) -> Mapping[DropReason, int]:
        return self.node.drops

    def scripts(self) -> Mapping[str, ScriptView]:
        return self.tracking.scripts if self.tracking is not None else {}

    def log_event(self, message: str) -> None:
        self.log.event(message)

    def set_priority_override(self, name: str, priority: int | None) -> None:
        router = self.node.routers.get(name)
        if router is not None and self.loop is not None:
            self.apply(router.set_priority_override(self.now(), priority))

    def interface_mac(self, ifname: str) -> bytes | None:
        return self.vip_manager.interface_mac(ifname)

    def present_addresses(self, ifnames: set[str]) -> dict[str, set[str]]:
        return self.vip_manager.present_addresses(ifnames)

    # ------------------------------------------------------------------ status line, dumps

    def _dump_source(self) -> dumps.DumpSource:
        return dumps.DumpSource(
            self.config, self.node.routers, self.instances, self.effects.held,
            self.tracking.script_uid if self.tracking is not None else 0,
            time.time() - self.now() if self.loop is not None else 0.0)

    def _dump_and_clear_stats(self) -> None:
        dumps.write_and_clear_stats(self._dump_source(), self.log.event, self.node.drops)
