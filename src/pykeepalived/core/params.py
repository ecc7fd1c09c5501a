"""The resolved parameters of one VRRP instance, as the state machine
(:class:`pykeepalived.core.router.VirtualRouter`) sees them."""

from __future__ import annotations

from dataclasses import dataclass

from pykeepalived.core import packet
from pykeepalived.core.actions import IPAddress
from pykeepalived.core.hmac_auth import HmacConfig
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
