"""Fakes of the daemon's two doors, for tests without root or kernel.

* :class:`CoreView` is a :class:`~pykeepalived.daemon.view.DaemonView` over a real core
  :class:`~pykeepalived.core.node.Node`: control, maintenance, metrics and conflict detection
  run against it exactly as against the driver, with the kernel side replaced by a record.
* :class:`FakeEffects` is a :class:`~pykeepalived.daemon.vips.KernelEffects` that records what
  the driver asked of the host (install, release, VMACs) instead of doing it.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address

from pykeepalived import __version__
from pykeepalived.config.model import KeepalivedConfig, VrrpInstance
from pykeepalived.core.actions import (
    Action,
    AddAddresses,
    IPAddress,
    Log,
    RemoveAddresses,
    Transition,
)
from pykeepalived.core.node import Node
from pykeepalived.core.packet import DropReason
from pykeepalived.core.router import RouterParams
from pykeepalived.daemon.control import Operations
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.daemon.view import DaemonInfo, RouterView, ScriptView, VipRef

MAC = b"\x02\x00\x00\x00\x00\x01"


class CoreView:
    """A DaemonView over a real Node; VIPs are "present" while the instance holds them."""

    def __init__(self, node: Node, console: io.StringIO | None = None) -> None:
        self.node = node
        self.console = console if console is not None else io.StringIO()
        self.actions: list[Action] = []
        self.holding: set[str] = set()
        self.ops: Operations | None = None

    def info(self) -> DaemonInfo:
        return DaemonInfo(pid=os.getpid(), started_at=time.time(), version=__version__,
                          config_file="test.conf", metrics_listen=None)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def routers(self) -> Mapping[str, RouterView]:
        return self.node.routers

    def vips(self, name: str) -> Sequence[VipRef]:
        router = self.node.routers.get(name)
        if router is None:
            return []
        return [VipRef(f"{a}/{a.max_prefixlen}", a, "eth0", False)
                for a in router.params.addresses]

    def unattributed_drops(self) -> Mapping[DropReason, int]:
        return self.node.drops

    def scripts(self) -> Mapping[str, ScriptView]:
        return {}

    def log_event(self, message: str) -> None:
        self.console.write(message + "\n")

    def apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, Log) and not action.detail:
                self.log_event(action.message)
            elif isinstance(action, AddAddresses):
                self.holding.add(action.instance)
            elif isinstance(action, RemoveAddresses):
                self.holding.discard(action.instance)
            elif isinstance(action, Transition) and self.ops is not None:
                self.ops.transition(action)

    def set_priority_override(self, name: str, priority: int | None) -> None:
        self.apply(self.node.routers[name].set_priority_override(self.now(), priority))

    def interface_mac(self, ifname: str) -> bytes | None:
        return MAC

    def present_addresses(self, ifnames: set[str]) -> dict[str, set[str]]:
        held = {str(v.ip) for name in self.holding for v in self.vips(name)}
        return {ifname: held for ifname in ifnames}


def owner_params(name: str, vrid: int, src: str = "192.0.2.1") -> RouterParams:
    """An address owner that wants MASTER: MASTER at once, no peers needed."""
    return RouterParams(
        name=name, vrid=vrid, priority=255, src=IPv4Address(src),
        addresses=(IPv4Address(f"192.0.2.{100 + vrid % 100}"),),
        destinations=(IPv4Address("224.0.0.18"),),
        want_master=True, garp_master_repeat=0, advert_int=1.0,
    )


class FakeEffects:
    """Records what the driver asks of the host; VMACs get made-up names."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.holding: dict[str, set[str]] = {}
        self.vmacs: set[str] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.calls.append(("start", ""))

    async def stop(self) -> None:
        self.calls.append(("stop", ""))

    def close(self) -> None:
        self.calls.append(("close", ""))

    def setup_accept_filter(self, runtimes: Iterable[InstanceRuntime]) -> None:
        self.calls.append(("accept_filter", ",".join(sorted(rt.name for rt in runtimes
                                                            if not rt.cfg.accept))))

    def static_setup(self, config: KeepalivedConfig) -> None:
        self.calls.append(("static_setup", ""))

    def create_vmac(self, cfg: VrrpInstance, base_if: str, family: int) -> str | None:
        if cfg.use_vmac is None:
            return None
        name = cfg.use_vmac or f"vrrp.{cfg.virtual_router_id}"
        self.vmacs.add(name)
        self.calls.append(("create_vmac", name))
        return name

    def remove_vmac(self, rt: InstanceRuntime) -> None:
        if rt.vmac:
            self.vmacs.discard(rt.vip_if)
            self.calls.append(("remove_vmac", rt.vip_if))

    def install(self, rt: InstanceRuntime) -> None:
        self.holding[rt.name] = {str(v.address) for v, _ in rt.vips()}
        self.calls.append(("install", rt.name))

    def release(self, rt: InstanceRuntime) -> None:
        self.holding.pop(rt.name, None)
        self.calls.append(("release", rt.name))

    def announce(self, rt: InstanceRuntime, count: int) -> None:
        self.calls.append(("announce", rt.name))

    def held(self, name: str) -> set[str]:
        return self.holding.get(name, set())

    def unreleased(self, name: str) -> set[str]:
        return set()

    def holder_of(self, ifindex: int, ip: IPAddress) -> str | None:
        return None

    def link_changed(self, ifname: str) -> None:
        pass

    def named(self, kind: str) -> list[str]:
        return [arg for k, arg in self.calls if k == kind]
