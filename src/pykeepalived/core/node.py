"""All the virtual routers of one daemon: demultiplexing, sync groups and the next deadline.

The driver (or the simulator) owns exactly one :class:`Node`. It feeds it received datagrams
and timer expiries and carries out the returned actions; the node finds the instance a packet
is for, applies the checks that need the IP layer (TTL), and keeps rejected packets from
touching any state.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pykeepalived.core import ah, hmac_auth, packet
from pykeepalived.core.actions import Action, IPAddress, Log, SendAdvert, State
from pykeepalived.core.hmac_auth import no_wall_clock
from pykeepalived.core.packet import DropReason, PacketError
from pykeepalived.core.router import RouterParams, VirtualRouter
from pykeepalived.core.sync_group import SyncGroup

VRRP_TTL = 255
#: The longest kernel-to-core delay of a received message that its down timer is backdated by:
#: the loop's wake-up and read, not a step of the wall clock the kernel stamps with.
MAX_RX_AGE = 0.02


@dataclass(frozen=True, slots=True)
class AcceptedAdvert:
    """An advert that passed every check (TTL, version, checksum, auth, interval, addresses):
    the only kind split-brain detection may count as evidence of another MASTER."""

    instance: str
    src: IPAddress
    priority: int
    state_after: State  #: the instance's state once the advert was processed


@dataclass(frozen=True, slots=True)
class _Repeat:
    """The advert that last made a BACKUP follow its master, and what that depended on."""

    router: VirtualRouter
    data: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int
    key: tuple[object, ...]  #: the router's follow_key() right after
    down_interval: float  #: its Master_Down_Interval then
    accepted: AcceptedAdvert


class Node:
    """The set of VRRP instances run by one daemon.

    Fast path: a BACKUP hears its master's identical advert once per interval, for hours. An
    advert byte-identical to the one that last made its instance follow the master (same
    source, destination and TTL, no AH header), arriving while nothing that handling depended
    on has changed (:meth:`VirtualRouter.follow_key`), can only re-arm the down timer: it is
    counted and re-arms it without being decoded and checked again. Anything else takes the
    full path. Never for AH or auth_hmac (whose every advert differs) or preempt_delay.
    """

    def __init__(
        self,
        params: Iterable[RouterParams],
        groups: Iterable[tuple[str, Iterable[str]]] = (),
        *,
        wall: Callable[[], float] = no_wall_clock,
        fast_path: bool = True,
    ) -> None:
        """``wall``: the wall clock (seconds since the epoch), which auth_hmac's sequence
        numbers and freshness window are made of. ``fast_path``: see the class docstring
        (off only to test that it changes nothing)."""
        self.routers: dict[str, VirtualRouter] = {}
        self._by_vrid: dict[tuple[str, int, int], VirtualRouter] = {}
        for p in params:
            router = VirtualRouter(p, wall)
            self.routers[p.name] = router
            self._by_vrid[(p.interface, p.src.version, p.vrid)] = router
        self.groups: dict[str, SyncGroup] = {}
        for name, members in groups:
            self.groups[name] = SyncGroup(name, [self.routers[m] for m in members])
        #: drops that could not be attributed to an instance (unknown VRID, garbage)
        self.drops: Counter[DropReason] = Counter()
        #: every datagram rejected so far, by any check (the flood guard's running total)
        self.rejected = 0
        #: the advert of the last :meth:`datagram` call, if it passed every check
        self.last_accepted: AcceptedAdvert | None = None
        self.fast_path = fast_path
        #: per (interface, family, VRID): the advert the fast path may take
        self._repeats: dict[tuple[str, int, int], _Repeat] = {}
        #: adverts taken by the fast path so far
        self.repeats = 0

    def adopt(self, router: VirtualRouter) -> None:
        """Put a running router (kept across a reload) in place of the new one of its name,
        in the demultiplexing table and in its sync group."""
        p = router.params
        self.routers[p.name] = router
        self._by_vrid[(p.interface, p.src.version, p.vrid)] = router
        self._repeats.pop((p.interface, p.src.version, p.vrid), None)
        router.group = None
        for group in self.groups.values():
            group.members = [router if m.name == p.name else m for m in group.members]
            if router in group.members:
                router.group = group

    def router_for(self, interface: str, family: int, vrid: int) -> VirtualRouter | None:
        return self._by_vrid.get((interface, family, vrid))

    def start(self, now: float) -> list[Action]:
        out: list[Action] = []
        for router in self.routers.values():
            out.extend(router.start(now))
        return out

    def stop(self, now: float) -> list[Action]:
        out: list[Action] = []
        for router in self.routers.values():
            out.extend(router.stop(now))
        # Every instance's priority-0 advert first: each backup's skew timer starts when it
        # hears one, so none should wait behind another instance's address removal.
        adverts = [a for a in out if isinstance(a, SendAdvert)]
        return adverts + [a for a in out if not isinstance(a, SendAdvert)]

    def deadline(self) -> float | None:
        deadlines = [d for r in self.routers.values() if (d := r.deadline()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        due = [r for r in self.routers.values() if (d := r.deadline()) is not None and d <= now]
        for router in sorted(due, key=lambda r: r.deadline_order()):
            out.extend(router.handle_timer(now))
        return out

    def datagram(
        self,
        now: float,
        data: bytes,
        src: IPAddress,
        dst: IPAddress,
        *,
        interface: str,
        ttl: int = VRRP_TTL,
        ip_header: bytes = b"",
        age: float = 0.0,
    ) -> list[Action]:
        """A VRRP message (from the VRRP header on) arrived on ``interface``; or, when
        ``ip_header`` is an IPv4 header with protocol 51, an IPsec AH header and the VRRP
        message behind it (``auth_type AH``).

        ``age``: how long before ``now`` the kernel received it. A down timer the message
        (re)starts runs from then; ages outside (0, :data:`MAX_RX_AGE`) count as none.

        Afterwards :attr:`last_accepted` says whether it passed every check (and for whom)."""
        arrived = now - age if 0.0 < age < MAX_RX_AGE else now
        if len(data) > 1 and not ip_header:
            rep = self._repeats.get((interface, src.version, data[1]))
            if (rep is not None and rep.data == data and rep.src == src and rep.dst == dst
                    and rep.ttl == ttl and rep.key == rep.router.follow_key()):
                rep.router.heard_again(arrived, rep.down_interval)
                self.last_accepted = rep.accepted
                self.repeats += 1
                return []
        self.last_accepted = None
        under_ah = len(ip_header) >= ah.IPV4_HEADER_LEN and ip_header[9] == ah.IPPROTO_AH
        message = data
        if under_ah:
            try:
                message = ah.strip(data)
            except PacketError as err:
                self.drops[err.reason] += 1
                self.rejected += 1
                return []
        router = self.router_for(interface, src.version, message[1]) if len(message) > 1 \
            else None
        if router is None:
            self.drops[DropReason.UNKNOWN_VRID if len(message) > 1 else DropReason.TOO_SHORT] \
                += 1
            self.rejected += 1
            return []
        if ttl != VRRP_TTL and not router.params.unicast:
            # RFC 5798 7.1: MUST verify that the IP TTL / hop limit is 255.
            router.stats.drops[DropReason.BAD_TTL] += 1
            self.rejected += 1
            return []
        trailer = b""
        if router.hmac is not None:
            length = packet.message_length(message, src.version == 6)
            if length is not None and len(message) == length + hmac_auth.TRAILER_LEN:
                message, trailer = message[:length], message[length:]
        if under_ah != (router.ah is not None):
            # keepalived: "Received AH header but auth type not AH" / "No AH header but ..."
            router.stats.drops[DropReason.AUTH_TYPE_MISMATCH] += 1
            self.rejected += 1
            return []
        try:
            seq = None
            if router.ah is not None:
                opened = ah.open_datagram(ip_header, data, key=router.ah.key,
                                          unicast=router.params.unicast)
                seq = opened.seq
            adv = packet.decode(message, src, dst, checksum_as_v2=router.params.checksum_as_v2,
                                trailer=trailer)
        except PacketError as err:
            router.stats.drops[err.reason] += 1
            self.rejected += 1
            return []
        said: list[Action] = []
        if router.hmac is not None and adv.version == router.params.version:
            passed, said = self._authenticate(router, message, trailer, adv, src)
            if not passed:
                self.rejected += 1
                return said
        if seq is not None:
            adv = dataclasses.replace(adv, ah_seq=seq)
        accepted = router.stats.adverts_received
        out = router.receive(now, adv, src, arrived=arrived)
        if router.stats.adverts_received == accepted:
            self.rejected += 1
        else:
            self.last_accepted = AcceptedAdvert(router.name, src, adv.priority, router.state)
            if (router.followed and self.fast_path and not out and not said and seq is None
                    and router.hmac is None):
                p = router.params
                self._repeats[(p.interface, p.src.version, p.vrid)] = _Repeat(
                    router, data, src, dst, ttl, router.follow_key(),
                    router.master_down_interval(), self.last_accepted)
        return said + out if said else out

    @staticmethod
    def _authenticate(router: VirtualRouter, message: bytes, trailer: bytes,
                      adv: packet.Advertisement, src: IPAddress) -> tuple[bool, list[Action]]:
        """auth_hmac: whether the advert may go on to the state machine (if not, it has been
        counted), and what to log: each problem once per state, as keepalived logs them."""
        auth, p = router.hmac, router.params
        assert auth is not None
        if p.unicast and src not in p.destinations:
            router.stats.drops[DropReason.NOT_A_PEER] += 1
            return False, []
        outcome = auth.check(message, trailer, adv.version, adv.vrid, src, unicast=p.unicast)
        cfg = auth.config
        if outcome is hmac_auth.Outcome.OK:
            if not (trailer and auth.skew_warning()) or outcome in auth.logged:
                return True, []
            auth.logged.add(outcome)
            return True, [Log(f"({p.name}) authentication clock skew {auth.last_skew} sec from "
                              f"{src} approaching window {cfg.time_window} sec")]
        router.stats.drops[DropReason(outcome.value)] += 1
        if outcome in auth.logged:
            return False, []
        auth.logged.add(outcome)
        what = {
            hmac_auth.Outcome.MISSING: f"missing authentication trailer from {src}",
            hmac_auth.Outcome.MALFORMED: f"malformed authentication trailer from {src}",
            hmac_auth.Outcome.UNKNOWN_KEY:
                f"unknown authentication key id {trailer[1] if trailer else 0} from {src}",
            hmac_auth.Outcome.INVALID_HMAC: f"invalid authentication HMAC from {src}",
            hmac_auth.Outcome.STALE: f"stale authentication trailer from {src}, clock skew "
                                     f"{auth.last_skew} sec exceeds window {cfg.time_window} sec",
            hmac_auth.Outcome.REPLAY: f"replayed authentication trailer from {src}",
        }[outcome]
        return False, [Log(f"({p.name}) {what}")]

    def vip_deleted(self, now: float, name: str) -> list[Action]:
        """A VIP of MASTER instance ``name`` disappeared from the host without our asking:
        it and the other MASTER members of its sync group step back for a skew time, as
        keepalived does (the group's state follows without a notification of its own)."""
        router = self.routers.get(name)
        if router is None:
            return []
        out: list[Action] = []
        members = router.group.members if router.group is not None else [router]
        for member in [router, *(m for m in members if m is not router)]:
            if isinstance(member, VirtualRouter):
                member.vip_deleted(now, out)
        if router.group is not None:
            router.group.state = State.BACKUP
        return out

    def update_tracker(self, now: float, key: str, value: bool | int | None) -> list[Action]:
        """Deliver a tracker's new value to every instance that tracks it."""
        out: list[Action] = []
        for router in self.routers.values():
            if key in router.tracker_values:
                out.extend(router.update_tracker(now, key, value))
        return out
