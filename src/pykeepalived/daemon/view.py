"""The doors between the driver and the modules operators talk to.

Control (status, maintenance), metrics and split-brain detection never see the driver. Each
gets a :class:`DaemonView`: a read-only view of the instances and a few requests it may make
(carry out these core actions, override this priority). The driver implements it; tests
implement it with a real core :class:`~pykeepalived.core.node.Node` and no kernel at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pykeepalived.core.actions import Action, IPAddress, State
from pykeepalived.core.packet import DropReason
from pykeepalived.core.router import RouterParams, RouterStats


class RouterView(Protocol):
    """What may be read of one running instance (a core ``VirtualRouter`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> State: ...
    @property
    def state_since(self) -> float: ...
    @property
    def params(self) -> RouterParams: ...
    @property
    def base_priority(self) -> int: ...
    @property
    def effective_priority(self) -> int: ...
    @property
    def priority_override(self) -> int | None: ...
    @property
    def master_address(self) -> IPAddress | None: ...
    @property
    def master_priority(self) -> int | None: ...
    @property
    def tracker_values(self) -> Mapping[str, bool | int | None]: ...
    @property
    def fault_reasons(self) -> Sequence[str]: ...
    @property
    def stats(self) -> RouterStats: ...

    def priority_contributions(self) -> list[tuple[str, int]]: ...


class ScriptStatsView(Protocol):
    @property
    def runs(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def timeouts(self) -> int: ...


class ScriptView(Protocol):
    """What may be read of one running vrrp_script."""

    @property
    def good(self) -> bool | None: ...
    @property
    def stats(self) -> ScriptStatsView: ...


@dataclass(frozen=True, slots=True)
class VipRef:
    """One address an instance installs as MASTER."""

    address: str  #: ``addr/prefixlen`` as configured
    ip: IPAddress
    interface: str
    excluded: bool  #: from virtual_ipaddress_excluded (not in adverts)
    #: given up (the instance left MASTER) but its removal failed: retried, still on the host
    unreleased: bool = False


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    pid: int
    started_at: float  #: wall-clock time
    version: str
    config_file: str | None
    metrics_listen: str | None
    #: from the supervising parent: its pid, how often it respawned this process, why the last
    #: one ended (None: not supervised)
    supervision: Mapping[str, object] | None = None


class DaemonView(Protocol):
    """What control, metrics and conflict detection may read of the daemon and ask of it."""

    def info(self) -> DaemonInfo: ...

    def now(self) -> float:
        """The core's clock (the event loop's monotonic time)."""
        ...

    def routers(self) -> Mapping[str, RouterView]: ...

    def vips(self, name: str) -> Sequence[VipRef]: ...

    def unattributed_drops(self) -> Mapping[DropReason, int]:
        """Received packets no instance could be charged with (unknown VRID, garbage)."""
        ...

    def scripts(self) -> Mapping[str, ScriptView]: ...

    def log_event(self, message: str) -> None: ...

    def apply(self, actions: Sequence[Action]) -> None:
        """Carry out actions the core returned (then re-arm the core's timer)."""
        ...

    def set_priority_override(self, name: str, priority: int | None) -> None:
        """Force an instance's effective priority (maintenance), None to clear it."""
        ...

    def interface_mac(self, ifname: str) -> bytes | None: ...

    def present_addresses(self, ifnames: set[str]) -> dict[str, set[str]]:
        """The addresses on each interface right now. Blocking (netlink): call it from a
        worker thread."""
        ...
