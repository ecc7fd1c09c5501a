"""One VRRP virtual router (a keepalived ``vrrp_instance``) as a pure state machine.

Rules, in the order they matter:

* Time is passed in. Every input method takes ``now`` (seconds, any monotonic origin) and
  returns the actions to carry out; :meth:`VirtualRouter.deadline` says when the router next
  needs :meth:`VirtualRouter.handle_timer`. Nothing here sleeps, reads a clock or does I/O.
* Every state change is one entry of :data:`pykeepalived.core.states.TRANSITIONS`, made in
  :meth:`VirtualRouter._transition` and nowhere else; the methods here decide which
  :class:`~pykeepalived.core.states.Event` happened and carry out its actions. Timers are the
  :class:`Timer` members, each with its own handler.
* RFC 5798 section 6 is the skeleton; keepalived 2.x is the reference wherever it differs,
  because pykeepalived must elect the same master as keepalived nodes on the same segment:
  - start-up: the address owner (priority 255) that wants MASTER becomes MASTER at once; an
    instance configured ``state MASTER`` below 255 waits one advert interval plus the minimum
    skew (to hear any existing master); everything else starts BACKUP for a full
    Master_Down_Interval.
  - a MASTER answers a lower-priority advert with an advert of its own at once (the RFC says
    discard) unless ``lower_prio_no_advert``;
  - a MASTER stepping down on a better advert sends no priority-0 advert; leaving MASTER for
    FAULT or shutdown does.
  - a BACKUP accepts (restarts its down timer on) adverts of priority >= its own, every advert
    when ``nopreempt``, and lower ones while a ``preempt_delay`` runs; it compares no addresses.
* Fast preempt (pykeepalived's own, on by default): a BACKUP that may preempt and hears the
  MASTER advertise a priority below its own takes over after its Skew_Time, as on a
  priority-0 advert, instead of waiting out the whole Master_Down_Interval. The skew makes the
  best backup fire first; the others hear its advert and stand down.
* A packet that fails any check changes no timer and no state: it is only counted. (keepalived
  2.2.7 restarts its MASTER advert timer on every packet for its VRID, so a trickle of garbage
  silences a MASTER; we must not.)
* Effective priority = configured priority + tracker weights, clamped to 1..254; priority 255
  is never changed. A weight-0 tracker that fails puts the router in FAULT. The rules are
  :mod:`pykeepalived.core.priority`; sync groups are :mod:`pykeepalived.core.sync_group`.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Callable
from typing import assert_never

from pykeepalived.core import packet
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
from pykeepalived.core.ah import AhSequence
from pykeepalived.core.hmac_auth import HmacAuth, no_wall_clock
from pykeepalived.core.packet import Advertisement, DropReason
from pykeepalived.core.params import RouterParams as RouterParams  # re-exported
from pykeepalived.core.params import RouterStats as RouterStats  # re-exported
from pykeepalived.core.params import master_down_interval as master_down_interval
from pykeepalived.core.params import skew_time as skew_time
from pykeepalived.core.priority import PRIO_OWNER, contributions, effective_priority
from pykeepalived.core.states import Event, next_state
from pykeepalived.core.sync_group import SyncGroup

PRIO_STOP = 0


_ARMING = itertools.count()


class _Timers(dict["Timer", float]):
    """A router's timers, each remembering when it was (re)armed, across all routers."""

    def __init__(self) -> None:
        super().__init__()
        self.armed: dict[Timer, int] = {}

    def __setitem__(self, timer: Timer, when: float) -> None:
        super().__setitem__(timer, when)
        self.armed[timer] = next(_ARMING)


class Timer(enum.Enum):
    """A virtual router's timers. Timers due at the same instant fire in the order of their
    values (an advert goes out before a gratuitous ARP burst due at the same moment)."""

    ADVERT = 1  #: RFC 5798 6.4.3 Adver_Timer: a MASTER sends its next advert
    DOWN = 2  #: RFC 5798 6.4.2 Master_Down_Timer: a BACKUP has heard no master long enough
    GARP_DELAY = 3  #: keepalived ``garp_master_delay``: a new MASTER's second ARP/NA burst
    GARP_LOWER = 4  #: keepalived ``garp_lower_prio_delay``: ARP/NA again after a lower advert
    GARP_REFRESH = 5  #: keepalived ``garp_master_refresh``: a MASTER's periodic ARP/NA


class VirtualRouter:
    """The state machine of one VRRP instance. See the module docstring for its rules."""

    def __init__(self, params: RouterParams, wall: Callable[[], float] = no_wall_clock) -> None:
        self.params = params
        self._wall = wall
        self.name = params.name
        self.state = State.INIT
        self.want = State.MASTER if params.want_master else State.BACKUP
        self.base_priority = params.priority
        self.priority_override: int | None = None
        self.effective_priority = params.priority
        self.master_adver_int = params.advert_int
        self.master_address: IPAddress | None = None
        self.master_priority: int | None = None
        self.state_since = 0.0
        self.group: SyncGroup | None = None
        self.stats = RouterStats()
        self.tracker_values: dict[str, bool | int | None] = {s.key: None for s in params.trackers}
        self.fault_reasons: list[str] = []
        self.init_pending = False
        #: the last advert received made this BACKUP follow its master (see :meth:`heard_again`)
        self.followed = False
        self._timers = _Timers()
        self._preempt_until: float | None = None
        self._last_lower_answer = float("-inf")
        self._last_lower_log = float("-inf")
        self._advert_cache: dict[int, tuple[tuple[IPAddress, bytes], ...]] = {}
        #: auth_type AH: the sequence counter and IP identification (None otherwise)
        self.ah = AhSequence.for_params(params.auth_type, params.auth_pass, None)
        #: auth_hmac: the sending sequence and each sender's replay state (None otherwise)
        self.hmac = HmacAuth.for_params(params.hmac, None, wall)
        self._recompute_priority(log=False, out=[])

    # ------------------------------------------------------------------ queries

    def deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        return min(self._timers.values()) if self._timers else None

    def deadline_order(self) -> tuple[float, int]:
        """(deadline, when it was armed): routers due at the same instant run in the order
        their timers were set, as keepalived's timer tree runs them."""
        timer = min(self._timers, key=lambda t: (self._timers[t], self._timers.armed[t]))
        return self._timers[timer], self._timers.armed[timer]

    def skew_time(self) -> float:
        return skew_time(self.params.version, self.effective_priority, self.master_adver_int)

    def master_down_interval(self) -> float:
        return master_down_interval(
            self.params.version, self.effective_priority, self.master_adver_int,
            self.params.down_timer_adverts,
        )

    def priority_contributions(self) -> list[tuple[str, int]]:
        """(tracker key, priority delta) for every tracker currently moving the priority."""
        return contributions(self.params.trackers, self.tracker_values)

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Action]:
        """Leave INIT as keepalived's vrrp_init_state does."""
        out: list[Action] = []
        self._recompute_priority(log=False, out=out)
        if not (self.want is State.MASTER and self.base_priority == PRIO_OWNER):
            # keepalived restores the interface first: a VIP left behind by an earlier run
            # (a crash, or -V) must not stay on a node that is not MASTER.
            out.append(Log(f"({self.name}) removing VIPs.", detail=True))
            out.append(RemoveAddresses(self.name))
        group_fault = self.group is not None and self.group.state is State.FAULT
        if self.fault_reasons or self.init_pending or group_fault:
            self._transition(now, Event.START_FAULT, "init", out)
            out.append(self._entering(State.FAULT, " (init)"))
            if self.fault_reasons:
                out.append(Notify(NotifyKind.INSTANCE, self.name, State.FAULT,
                                  self.effective_priority))
            if self.group:
                self.group.member_fault(now, self, out)
            return out
        if self.want is State.MASTER and self.base_priority == PRIO_OWNER:
            self._goto_master(now, Event.START_OWNER, "address owner", out)
            if self.group is not None:
                self.group.member_master(now, self, out)
            return out
        self._transition(now, Event.START_BACKUP, "init", out)
        out.append(self._entering(State.BACKUP, " (init)"))
        out.append(Notify(NotifyKind.INSTANCE, self.name, State.BACKUP, self.effective_priority))
        if self.want is State.MASTER:
            # keepalived: allow one advert interval (plus the minimum skew) to hear a master.
            minimum_skew = skew_time(self.params.version, 255, self.master_adver_int)
            wait = self.master_adver_int + minimum_skew
        else:
            wait = self.master_down_interval()
        self._timers[Timer.DOWN] = now + wait
        return out

    def stop(self, now: float) -> list[Action]:
        """Shut down: a MASTER sends priority 0 and removes its addresses; notify STOP."""
        out: list[Action] = []
        if self.state is State.MASTER:
            self._send_advert(PRIO_STOP, out)
            out.append(Log(f"({self.name}) sent 0 priority", detail=True))
            out.append(Log(f"({self.name}) removing VIPs.", detail=True))
            out.append(RemoveAddresses(self.name))
            self.stats.released_master += 1
        if self.state is not State.STOP:
            self._transition(now, Event.SHUTDOWN, "shutdown", out)
            out.append(Notify(NotifyKind.INSTANCE, self.name, State.STOP, self.effective_priority))
        self._timers.clear()
        return out

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        due = sorted((when, timer.value, timer) for timer, when in self._timers.items()
                     if when <= now)
        for when, _, timer in due:
            if self._timers.get(timer) != when:
                continue  # cancelled or moved by an earlier timer in this batch
            del self._timers[timer]
            match timer:
                case Timer.DOWN:
                    self._on_down(now, out)
                case Timer.ADVERT:
                    self._on_advert(now, when, out)
                case Timer.GARP_DELAY:
                    self._on_garp_delay(out)
                case Timer.GARP_REFRESH:
                    self._on_garp_refresh(now, out)
                case Timer.GARP_LOWER:
                    self._on_garp_lower(out)
                case _:
                    assert_never(timer)
        return out

    def receive(self, now: float, adv: Advertisement, src: IPAddress, *,
                arrived: float | None = None) -> list[Action]:
        """An advert for our VRID, already decoded (checksum, lengths) by the codec; it
        reached the host at ``arrived`` (<= ``now``), where a down timer it restarts begins."""
        out: list[Action] = []
        self.followed = False
        reason = self._check(adv, src)
        if reason is not None:
            self.stats.drops[reason] += 1
            return out
        self.stats.adverts_received += 1
        if adv.priority == PRIO_STOP:
            self.stats.priority_zero_received += 1
        if self.state is State.BACKUP:
            self._backup_rx(now, now if arrived is None else min(arrived, now), adv, src, out)
        elif self.state is State.MASTER:
            self._master_rx(now, adv, src, out)
        return out

    def follow_key(self) -> tuple[object, ...]:
        """All that hearing the master it follows again depends on, besides the advert itself
        (:meth:`pykeepalived.core.node.Node.datagram`'s fast path compares it)."""
        return (self.state, self.effective_priority, self.params, self.master_adver_int,
                self.master_address, self.master_priority, self.ah, self.hmac)

    def heard_again(self, now: float, down_interval: float) -> None:
        """The advert that last made this BACKUP follow its master, byte for byte again, with
        :meth:`follow_key` unchanged: what :meth:`receive` would do with it."""
        self.stats.adverts_received += 1
        self.want = State.BACKUP
        self._timers[Timer.DOWN] = now + down_interval

    def update_tracker(self, now: float, key: str, value: bool | int | None) -> list[Action]:
        """A tracker (``TrackerSpec.key``) reports a new value: bool for scripts, interfaces and
        processes (ok/up/quorum), an int for files; None means not yet known."""
        out: list[Action] = []
        if key not in self.tracker_values or self.tracker_values[key] == value:
            return out
        self.tracker_values[key] = value
        self._apply_tracking(now, out)
        return out

    def set_priority_override(self, now: float, priority: int | None) -> list[Action]:
        """Force the effective priority (maintenance), or clear the override with None."""
        out: list[Action] = []
        self.priority_override = priority
        self._apply_tracking(now, out)
        return out

    def reconfigure(self, now: float, params: RouterParams) -> list[Action]:
        """A reload changed settings that keep the instance's identity: take them on in the
        current state (a new priority applies at once, tracker values carry over)."""
        old_values = self.tracker_values
        self.params = params
        self.base_priority = params.priority
        self.tracker_values = {s.key: old_values.get(s.key) for s in params.trackers}
        self._advert_cache.clear()
        self.ah = AhSequence.for_params(params.auth_type, params.auth_pass, self.ah)
        self.hmac = HmacAuth.for_params(params.hmac, self.hmac, self._wall)
        return self.set_priority_override(now, self.priority_override)

    def update_source(self, src: IPAddress) -> None:
        """The interface's primary address changed: adverts now go out from ``src``."""
        if src != self.params.src:
            self.params = dataclasses.replace(self.params, src=src)
            self._advert_cache.clear()

    # ------------------------------------------------------------------ checks

    def _check(self, adv: Advertisement, src: IPAddress) -> DropReason | None:
        p = self.params
        if src.version != p.src.version:
            return DropReason.WRONG_FAMILY
        if src == p.src:
            return DropReason.OWN_PACKET
        if adv.version != p.version:
            return DropReason.BAD_VERSION
        if p.version == 2:
            if adv.auth_type != p.auth_type:
                return DropReason.AUTH_TYPE_MISMATCH
            if p.auth_type == packet.AUTH_PASS and adv.auth_data != packet.pass_auth_data(
                p.auth_pass
            ):
                return DropReason.AUTH_FAILURE
            if self.ah is not None and (adv.ah_seq is None or not self.ah.accept(
                    adv.ah_seq, backup=self.state is State.BACKUP)):
                return DropReason.AH_REPLAY
            if adv.interval != p.advert_units():
                return DropReason.INTERVAL_MISMATCH
        check_addresses = not (
            self.state is State.BACKUP
            and p.skip_check_adv_addr
            and self.master_address == src
        )
        if check_addresses and (
            len(adv.addresses) != len(p.addresses) or set(adv.addresses) != set(p.addresses)
        ):
            return DropReason.ADDRESS_MISMATCH
        if p.unicast and p.check_unicast_src and src not in p.destinations:
            return DropReason.NOT_A_PEER
        return None

    # ------------------------------------------------------------------ BACKUP

    def _backup_rx(self, now: float, at: float, adv: Advertisement, src: IPAddress,
                   out: list[Action]) -> None:
        p = self.params
        prio = adv.priority
        if prio == PRIO_STOP:
            # RFC 5798 6.4.2: Set the Master_Down_Timer to Skew_Time.
            out.append(Log(f"({self.name}) Backup received priority 0 advertisement", detail=True))
            self._timers[Timer.DOWN] = at + self.skew_time()
            return
        preempt_delay_running = p.preempt_delay > 0 and (
            self._preempt_until is None or self._preempt_until > now
        )
        if p.nopreempt or prio >= self.effective_priority or preempt_delay_running:
            if p.version == 3:
                self.master_adver_int = adv.interval / 100.0
            self.master_address = src
            self.master_priority = prio
            self._timers[Timer.DOWN] = at + self.master_down_interval()
            if p.preempt_delay > 0:
                if prio >= self.effective_priority:
                    self._preempt_until = None
                elif self._preempt_until is None:
                    self._preempt_until = now + p.preempt_delay
                    out.append(Log(f"({self.name}) start preempt delay ({p.preempt_delay:.6f})",
                                   detail=True))
            self.want = State.BACKUP
            # Hearing this advert again changes nothing but the down timer (preempt_delay
            # makes that depend on the time, so it is left to the full path).
            self.followed = p.preempt_delay <= 0
            return
        # A lower-priority master and we may preempt: the RFC discards the advert.
        # Logged as keepalived does, but at most about once per advert interval, so that a
        # flood of (valid, forged) lower adverts cannot flood the log.
        if now - self._last_lower_log >= self.params.advert_int / 2:
            self._last_lower_log = now
            out.append(Log(f"({self.name}) received lower priority ({prio}) advert from {src}"
                           " - discarding"))
        else:
            self.stats.lower_prio_logs_suppressed += 1
        if self.master_address is not None and src != self.master_address:
            # Not the master we follow: a stray or forged advert (PASS authentication is
            # cleartext) must not trigger fast preempt, or one packet makes us a second MASTER.
            return
        self.master_address = src
        self.master_priority = prio
        if p.fast_preempt:
            takeover = at + self.skew_time()
            if takeover < self._timers.get(Timer.DOWN, float("inf")):
                self._timers[Timer.DOWN] = takeover

    def _on_down(self, now: float, out: list[Action]) -> None:
        if self.state is not State.BACKUP:
            return
        out.append(Log(f"({self.name}) Receive advertisement timeout", detail=True))
        self.want = State.MASTER
        if self.group is not None and not self.group.can_goto_master(self):
            # Wait for the rest of the group to want MASTER too (keepalived avoids thrashing).
            self._timers[Timer.DOWN] = now + self.master_down_interval()
            return
        self._goto_master(now, Event.MASTER_DOWN, "master down", out)
        if self.group is not None:
            self.group.member_master(now, self, out)

    # ------------------------------------------------------------------ MASTER

    def _goto_master(self, now: float, event: Event, reason: str, out: list[Action]) -> None:
        p = self.params
        self._timers.pop(Timer.DOWN, None)
        self.master_adver_int = p.advert_int
        if self.ah is not None:
            self.ah.becoming_master()
        # Advert first, so the old master drops the addresses before our ARPs go out.
        self._send_advert(self.effective_priority, out)
        self._transition(now, event, reason, out)
        self.want = State.MASTER
        self.master_address = p.src
        self.master_priority = self.effective_priority
        self.stats.became_master += 1
        out.append(self._entering(State.MASTER))
        out.append(Log(f"({self.name}) setting VIPs.", detail=True))
        out.append(AddAddresses(self.name))
        if p.garp_master_repeat > 0:
            out.append(SendGratuitous(self.name, p.garp_master_repeat))
            if p.garp_master_delay > 0:
                self._timers[Timer.GARP_DELAY] = now + p.garp_master_delay
        if p.garp_master_refresh > 0:
            self._timers[Timer.GARP_REFRESH] = now + p.garp_master_refresh
        out.append(Notify(NotifyKind.INSTANCE, self.name, State.MASTER, self.effective_priority))
        self._timers[Timer.ADVERT] = now + p.advert_int

    def _on_advert(self, now: float, when: float, out: list[Action]) -> None:
        if self.state is not State.MASTER:
            return
        self._send_advert(self.effective_priority, out)
        nxt = when + self.params.advert_int
        # Stay on the advert grid (no drift) unless we fell a whole interval behind.
        self._timers[Timer.ADVERT] = nxt if nxt > now else now + self.params.advert_int

    def _on_garp_delay(self, out: list[Action]) -> None:
        if self.state is State.MASTER:
            out.append(SendGratuitous(self.name, self.params.garp_master_repeat))

    def _on_garp_refresh(self, now: float, out: list[Action]) -> None:
        if self.state is State.MASTER:
            out.append(SendGratuitous(self.name, self.params.garp_master_refresh_repeat))
            self._timers[Timer.GARP_REFRESH] = now + self.params.garp_master_refresh

    def _on_garp_lower(self, out: list[Action]) -> None:
        if self.state is State.MASTER:
            out.append(SendGratuitous(self.name, self.params.garp_lower_prio_repeat))

    def _master_rx(self, now: float, adv: Advertisement, src: IPAddress, out: list[Action]) -> None:
        p = self.params
        prio, ours = adv.priority, self.effective_priority
        higher_ip = _addr_gt(src, p.src)
        if prio == PRIO_STOP:
            # RFC 5798 6.4.3: send an ADVERTISEMENT at once, stay MASTER.
            if self._may_answer(now):
                self._send_advert(ours, out)
            out.append(Log(f"({self.name}) Master received priority 0 message", detail=True))
            return
        better = prio > ours or (prio == ours and higher_ip)
        if better and p.higher_prio_send_advert:
            self._send_advert(ours, out)
        if prio == ours and ours == PRIO_OWNER:
            out.append(Log(f"({self.name}) CONFIGURATION ERROR: local instance and a remote "
                           "instance are both configured as address owner, please fix - "
                           "reducing local priority", warning=True))
            self.base_priority = PRIO_OWNER - 1
            self._recompute_priority(log=False, out=out)
            ours = self.effective_priority
            better = prio > ours or (prio == ours and higher_ip)
        if not better:
            election = "" if p.lower_prio_no_advert else ", forcing new election"
            if self.ah is not None and adv.ah_seq is not None:
                self.ah.heard_lower(adv.ah_seq)  # keepalived's "Syncing seq_num"
            if not self._may_answer(now):
                self.stats.lower_prio_answers_suppressed += 1
                return
            out.append(Log(f"({self.name}) Received advert from {src} with lower priority "
                           f"{prio}, ours {ours}{election}"))
            if self.ah is not None:
                out.append(Log(f"({self.name}) IPSEC-AH : Syncing seq_num - Increment seq"))
            if not p.lower_prio_no_advert:
                self._send_advert(ours, out)
            if p.garp_lower_prio_repeat > 0:
                out.append(SendGratuitous(self.name, p.garp_lower_prio_repeat))
                if p.garp_lower_prio_delay > 0:
                    self._timers[Timer.GARP_LOWER] = now + p.garp_lower_prio_delay
            out.append(NotifyMasterRxLowerPri(self.name, src))
            return
        if prio > ours:
            out.append(Log(f"({self.name}) Master received advert from {src} with higher "
                           f"priority {prio}, ours {ours}"))
        else:
            out.append(Log(f"({self.name}) Master received advert from {src} with same "
                           f"priority {prio} but higher IP address than ours"))
        if self.ah is not None:
            self.ah.heard_higher()
        if p.version == 3:
            self.master_adver_int = adv.interval / 100.0
        self.master_address = src
        self.master_priority = prio
        self._leave_master(now, Event.PREEMPTED, f"higher priority advert from {src}", out)
        if self.group is not None:
            self.group.member_backup(now, self, out)

    def _may_answer(self, now: float) -> bool:
        # Answers to lower-priority or priority-0 adverts are rate-limited so that a flood
        # of (valid) adverts cannot turn the daemon into an amplifier.
        if now - self._last_lower_answer < self.params.advert_int / 4:
            return False
        self._last_lower_answer = now
        return True

    def _leave_master(self, now: float, event: Event, reason: str, out: list[Action], *,
                      said: bool = True) -> None:
        """Leave MASTER for BACKUP (priority 0 only for a deleted VIP) or FAULT (priority 0
        first; logged unless a sync group pulled the instance in: ``said``)."""
        for timer in (Timer.ADVERT, Timer.GARP_DELAY, Timer.GARP_REFRESH, Timer.GARP_LOWER):
            self._timers.pop(timer, None)
        if event is Event.FAULT:
            out.append(self._entering(State.FAULT))
            self._send_advert(PRIO_STOP, out)
            if said:
                out.append(Log(f"({self.name}) sent 0 priority", detail=True))
        else:
            out.append(self._entering(State.BACKUP))
            self._preempt_until = None
            if event is Event.VIP_DELETED:
                self._send_advert(PRIO_STOP, out)
                out.append(Log(f"({self.name}) sent 0 priority", detail=True))
        out.append(Log(f"({self.name}) removing VIPs.", detail=True))
        out.append(RemoveAddresses(self.name))
        self.stats.released_master += 1
        new = self._transition(now, event, reason, out)
        self.want = new
        out.append(Notify(NotifyKind.INSTANCE, self.name, new, self.effective_priority))
        if new is State.BACKUP:
            self._timers[Timer.DOWN] = now + self.master_down_interval()

    # ------------------------------------------------------------------ FAULT and tracking

    def _apply_tracking(self, now: float, out: list[Action]) -> None:
        was_faulty = bool(self.fault_reasons) or self.init_pending
        old_prio = self.effective_priority
        old_mdi = self.master_down_interval()
        self._recompute_priority(log=True, out=out)
        faulty = bool(self.fault_reasons) or self.init_pending
        moved = self.effective_priority != old_prio
        if self.state is State.BACKUP and moved and Timer.DOWN in self._timers:
            # keepalived moves the running down timer by the change in skew.
            self._timers[Timer.DOWN] += self.master_down_interval() - old_mdi
        if self.state in (State.INIT, State.STOP):
            return
        if faulty and not was_faulty and self.state is not State.FAULT:
            self.enter_fault(now, out)
            if self.group is not None:
                self.group.member_fault(now, self, out)
        elif not faulty and (was_faulty or self.state is State.FAULT):
            if self.group is not None:
                self.group.member_fault_cleared(now, self, out)
            else:
                self.leave_fault(now, out)

    def enter_fault(self, now: float, out: list[Action], *, by_group: bool = False) -> None:
        """Enter FAULT. A BACKUP pulled in by its sync group logs no state line of its own
        (keepalived 2.2.7 logs only the group's "Syncing instances to FAULT state")."""
        if self.state is State.MASTER:
            self._leave_master(now, Event.FAULT, ", ".join(self.fault_reasons), out,
                               said=not by_group)
        elif self.state is not State.FAULT:
            if not by_group:
                out.append(self._entering(State.FAULT))
            self._timers.pop(Timer.DOWN, None)
            self._transition(now, Event.FAULT, ", ".join(self.fault_reasons) or "fault", out)
            self.want = State.FAULT
            out.append(Notify(NotifyKind.INSTANCE, self.name, State.FAULT, self.effective_priority))

    def leave_fault(self, now: float, out: list[Action]) -> None:
        """Back from FAULT (or a group's forced FAULT): BACKUP, or MASTER for the owner."""
        if self.state is not State.FAULT:
            return
        self.master_adver_int = self.params.advert_int
        if self.base_priority == PRIO_OWNER and self.params.want_master:
            self._goto_master(now, Event.OWNER_FAULT_CLEARED, "fault cleared (address owner)", out)
            return
        out.append(self._entering(State.BACKUP))
        self._transition(now, Event.FAULT_CLEARED, "fault cleared", out)
        self.want = State.BACKUP
        self._preempt_until = None
        out.append(Notify(NotifyKind.INSTANCE, self.name, State.BACKUP, self.effective_priority))
        self._timers[Timer.DOWN] = now + self.master_down_interval()

    def vip_deleted(self, now: float, out: list[Action]) -> None:
        """Someone deleted one of our VIPs (keepalived's set_vrrp_backup): BACKUP with a
        priority 0, and MASTER again after the skew time unless a better router speaks."""
        if self.state is State.MASTER:
            self._leave_master(now, Event.VIP_DELETED, "a VIP was deleted", out)
            self._timers[Timer.DOWN] = now + self.skew_time()

    def force_backup(self, now: float, out: list[Action]) -> None:
        """A sync group moves this member to BACKUP."""
        if self.state is State.MASTER:
            self._leave_master(now, Event.SYNC_GROUP_BACKUP, "sync group", out)
        elif self.state is State.FAULT and not self.fault_reasons and not self.init_pending:
            self.leave_fault(now, out)

    def force_master(self, now: float, out: list[Action]) -> None:
        """A sync group moves this member to MASTER."""
        if self.state is State.BACKUP:
            self._goto_master(now, Event.SYNC_GROUP_MASTER, "sync group", out)

    def _recompute_priority(self, *, log: bool, out: list[Action]) -> None:
        result = effective_priority(self.base_priority, self.priority_override,
                                    self.params.trackers, self.tracker_values)
        self.fault_reasons = list(result.faults)
        self.init_pending = result.init_pending
        new = result.priority
        if new != self.effective_priority:
            if log:
                out.append(Log(f"({self.name}) Changing effective priority from "
                               f"{self.effective_priority} to {new}"))
            self.effective_priority = new

    # ------------------------------------------------------------------ helpers

    def _transition(self, now: float, event: Event, reason: str, out: list[Action]) -> State:
        """The only place the state changes: where :data:`states.TRANSITIONS` says ``event``
        leads from here (a :class:`states.TransitionError` if nowhere)."""
        old = self.state
        new = next_state(old, event)
        self.state = new
        self.state_since = now
        if self.hmac is not None:
            self.hmac.logged.clear()  # keepalived logs each auth problem once per state
        self.stats.transitions += 1
        if new in (State.FAULT, State.STOP):
            # Out of the election: whoever we heard before is no longer "the master we follow"
            # (fast preempt must work again when we come back as BACKUP).
            self.master_address = None
            self.master_priority = None
        out.append(Transition(self.name, old, new, self.effective_priority, reason))
        return new

    def _entering(self, state: State, suffix: str = "") -> Log:
        """keepalived's state-change line, with the fields the journal gets."""
        return Log(f"({self.name}) Entering {state.value} STATE{suffix}", instance=self.name,
                   state=state, priority=self.effective_priority)

    def goodbye_packets(self) -> tuple[tuple[IPAddress, bytes], ...]:
        """The priority-0 advert (RFC 5798 6.4.3: what a MASTER sends when it stops), encoded
        for each destination. Handed ahead of time to whoever must say it for this router
        when its process cannot (see pykeepalived.daemon.lastword); sending it is theirs."""
        packets = self._advert_packets(PRIO_STOP)
        p = self.params
        if self.ah is not None:
            return self.ah.seal_ahead(packets, p.src, unicast=p.unicast)
        if self.hmac is not None and self.hmac.sends_trailer:
            return self.hmac.seal(packets, p.version, p.vrid, p.src, ahead=True)
        return packets

    def _send_advert(self, priority: int, out: list[Action]) -> None:
        packets = self._advert_packets(priority)
        p = self.params
        if self.ah is not None:
            packets = self.ah.seal_next(packets, p.src, unicast=p.unicast)
        elif self.hmac is not None and self.hmac.sends_trailer:
            packets = self.hmac.seal(packets, p.version, p.vrid, p.src)
        self.stats.adverts_sent += 1
        if priority == PRIO_STOP:
            self.stats.priority_zero_sent += 1
        out.append(SendAdvert(self.name, priority, packets))

    def _advert_packets(self, priority: int) -> tuple[tuple[IPAddress, bytes], ...]:
        packets = self._advert_cache.get(priority)
        if packets is None:
            p = self.params
            adv = Advertisement(
                version=p.version, vrid=p.vrid, priority=priority, interval=p.advert_units(),
                addresses=p.addresses, auth_type=p.auth_type,
                auth_data=packet.pass_auth_data(p.auth_pass)
                if p.auth_type == packet.AUTH_PASS else b"",
            )
            packets = tuple(
                (dst, packet.encode(adv, p.src, dst, checksum_as_v2=p.checksum_as_v2))
                for dst in p.destinations
            )
            if len(self._advert_cache) > 8:
                self._advert_cache.clear()
            self._advert_cache[priority] = packets
        return packets


def _addr_gt(a: IPAddress, b: IPAddress) -> bool:
    return a.version == b.version and int(a) > int(b)
