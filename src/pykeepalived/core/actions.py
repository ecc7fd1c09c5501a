"""What the protocol core asks the driver to do.

The core never performs I/O: every method of a virtual router returns a list of these frozen
records, in the order they must be carried out (keepalived's order matters on the wire: a new
MASTER sends its advert before it adds addresses and sends gratuitous ARPs, so the old master
can let go of the addresses first).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

IPAddress = IPv4Address | IPv6Address


class State(enum.Enum):
    """A virtual router's state (RFC 5798 6.4, plus keepalived's FAULT and STOP)."""

    INIT = "INIT"  #: RFC 5798 6.4.1: not yet started
    BACKUP = "BACKUP"  #: RFC 5798 6.4.2: monitoring the master
    MASTER = "MASTER"  #: RFC 5798 6.4.3: forwarding for the virtual addresses
    FAULT = "FAULT"  #: keepalived: a tracked interface, script or file says we are unfit
    STOP = "STOP"  #: keepalived: the instance was shut down

    @property
    def number(self) -> int:
        """keepalived's numeric state (used in dumps and metrics): INIT 0 ... FAULT 3."""
        return _STATE_NUMBERS[self]


_STATE_NUMBERS = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3, State.STOP: 4}


@dataclass(frozen=True, slots=True)
class SendAdvert:
    """Send these ready-made VRRP messages (one per destination) on the instance's socket."""

    instance: str
    priority: int
    packets: tuple[tuple[IPAddress, bytes], ...]


@dataclass(frozen=True, slots=True)
class AddAddresses:
    """Install the instance's VIPs, excluded VIPs, virtual routes and rules."""

    instance: str


@dataclass(frozen=True, slots=True)
class RemoveAddresses:
    """Remove the instance's virtual rules, routes, excluded VIPs and VIPs."""

    instance: str


@dataclass(frozen=True, slots=True)
class SendGratuitous:
    """Send ``count`` gratuitous ARPs (IPv4 VIPs) / unsolicited NAs (IPv6 VIPs) per VIP."""

    instance: str
    count: int


class NotifyKind(enum.StrEnum):
    """keepalived's first notify argument. A ``str``, so it can be passed on as it is."""

    INSTANCE = "INSTANCE"  #: a ``vrrp_instance`` changed state
    GROUP = "GROUP"  #: a ``vrrp_sync_group`` changed state


@dataclass(frozen=True, slots=True)
class Notify:
    """Run the notify scripts and write the notify FIFO for an instance or a sync group."""

    kind: NotifyKind
    name: str
    state: State
    priority: int


@dataclass(frozen=True, slots=True)
class NotifyMasterRxLowerPri:
    """keepalived's ``notify_master_rx_lower_pri``: a MASTER heard a lower-priority advert."""

    instance: str
    source: IPAddress


@dataclass(frozen=True, slots=True)
class Log:
    """A log line in keepalived's exact wording. ``detail`` lines only appear with ``-D``."""

    message: str
    detail: bool = False
    warning: bool = False
    #: a state-change line: the journal gets VRRP_INSTANCE, VRRP_STATE and VRRP_PRIORITY
    instance: str | None = None
    state: State | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """The instance changed state (for status, metrics and sd_notify; not a log line)."""

    instance: str
    old: State
    new: State
    priority: int
    reason: str


Action = (
    SendAdvert
    | AddAddresses
    | RemoveAddresses
    | SendGratuitous
    | Notify
    | NotifyMasterRxLowerPri
    | Log
    | Transition
)
