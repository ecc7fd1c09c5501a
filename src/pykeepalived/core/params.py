"""The resolved parameters of one VRRP instance, as the state machine
(:class:`pykeepalived.core.router.VirtualRouter`) sees them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pykeepalived.core import packet
from pykeepalived.core.actions import IPAddress
from pykeepalived.core.hmac_auth import HmacConfig
from pykeepalived.core.packet import DropReason
from pykeepalived.core.priority import TrackerSpec


@dataclass(frozen=True, slots=True)
class RouterParams:
    """Everything the state machine needs to know about one instance, already resolved.

    ``advert_int`` is in seconds. ``destinations`` is the multicast group, or the unicast peers.
    ``want_master`` is keepalived's initial ``state MASTER``.
    """

    name: str
    vrid: int
    priority: int
    src: IPAddress
    addresses: tuple[IPAddress, ...]
    destinations: tuple[IPAddress, ...]
    interface: str = "eth0"
    version: int = 2
    advert_int: float = 1.0
    want_master: bool = False
    unicast: bool = False
    check_unicast_src: bool = False
    auth_type: int = packet.AUTH_NONE
    auth_pass: bytes = b""
    nopreempt: bool = False
    preempt_delay: float = 0.0
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 0.0
    garp_lower_prio_repeat: int = 0
    down_timer_adverts: int = 3
    skip_check_adv_addr: bool = False
    checksum_as_v2: bool = False
    fast_preempt: bool = True
    trackers: tuple[TrackerSpec, ...] = ()
    hmac: HmacConfig | None = None  #: auth_hmac (keepalived 2.4)

    def advert_units(self) -> int:
        """The advert interval in the wire's unit: seconds (v2) or centiseconds (v3)."""
        if self.version == 2:
            return max(1, round(self.advert_int))
        return max(1, min(packet.MAX_V3_INTERVAL_CS, round(self.advert_int * 100)))


def skew_time(version: int, priority: int, master_adver_int: float) -> float:
    """Skew_Time: (256-prio)/256 s in v2 (RFC 3768 6.1), scaled by the interval in v3."""
    if version == 2:
        return (256 - priority) / 256.0
    return (256 - priority) * master_adver_int / 256.0


def master_down_interval(
    version: int, priority: int, master_adver_int: float, down_timer_adverts: int = 3
) -> float:
    """Master_Down_Interval = down_timer_adverts x Master_Adver_Interval + Skew_Time."""
    return down_timer_adverts * master_adver_int + skew_time(version, priority, master_adver_int)


@dataclass
class RouterStats:
    """Counters for status and metrics."""

    adverts_sent: int = 0
    adverts_received: int = 0
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    became_master: int = 0
    released_master: int = 0
    transitions: int = 0
    lower_prio_answers_suppressed: int = 0
    lower_prio_logs_suppressed: int = 0
    drops: Counter[DropReason] = field(default_factory=Counter)
