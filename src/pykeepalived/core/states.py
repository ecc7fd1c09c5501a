"""The state machine of one virtual router, as data: which event moves which state where.

Rules of this table (in the manner of h11's ``_state.py``):

* Every state change a :class:`pykeepalived.core.router.VirtualRouter` makes is one
  ``(state, event) -> state`` entry of :data:`TRANSITIONS`, and the router changes state only
  through :func:`next_state`. Deciding *whether* an event happened (is the advert better, has
  the down timer run out, are all trackers fit) is the router's work; this table only says
  where each event leads, so the whole machine can be read, and tested, on one screen.
* An event that has no entry for the current state is a bug in the caller, not a remote
  peer's doing, so it raises :class:`TransitionError` (a ``LocalError``). Packets from the
  network never reach this table directly: the router has already checked and counted them.
* No entry leads back to its own state: an event either moves the router or has no entry.
* STOP is final. A stopped instance is replaced by a new router, never restarted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from pykeepalived.core.actions import State
from pykeepalived.errors import LocalError


class Event(enum.Enum):
    """Why a virtual router changes state."""

    #: RFC 5798 6.4.1: start-up as the address owner (priority 255, ``state MASTER``).
    START_OWNER = "start_owner"
    #: RFC 5798 6.4.1: start-up of any other instance (``state MASTER`` below 255 included:
    #: keepalived starts it as BACKUP and shortens its first down timer).
    START_BACKUP = "start_backup"
    #: keepalived vrrp_init_state: start-up while a tracker fails, a weight-0 script has not
    #: reported yet, or the instance's sync group is in FAULT.
    START_FAULT = "start_fault"
    #: RFC 5798 6.4.2: the Master_Down_Timer fired (a full down interval, the Skew_Time after a
    #: priority-0 advert, or pykeepalived's fast preempt).
    MASTER_DOWN = "master_down"
    #: RFC 5798 6.4.3: a MASTER heard a better advert (higher priority, or the same priority
    #: from a higher primary address).
    PREEMPTED = "preempted"
    VIP_DELETED = "vip_deleted"  #: keepalived's set_vrrp_backup: a VIP was deleted under us
    #: keepalived: a tracker with weight 0 failed (or a file tracker hit -254), or the sync
    #: group went to FAULT.
    FAULT = "fault"
    #: keepalived: every tracker (and every member of the sync group) is fit again.
    FAULT_CLEARED = "fault_cleared"
    #: keepalived: as :attr:`FAULT_CLEARED`, for the address owner with ``state MASTER``,
    #: which goes straight back to MASTER as it does at start-up.
    OWNER_FAULT_CLEARED = "owner_fault_cleared"
    #: keepalived ``vrrp_sync_group``: another member became MASTER, so this one follows.
    SYNC_GROUP_MASTER = "sync_group_master"
    #: keepalived ``vrrp_sync_group``: another member fell back to BACKUP, so this one follows.
    SYNC_GROUP_BACKUP = "sync_group_backup"
    #: RFC 5798 6.4.1/6.4.2/6.4.3 Shutdown event: the daemon stops or the instance is removed.
    SHUTDOWN = "shutdown"


TRANSITIONS: Mapping[tuple[State, Event], State] = MappingProxyType({
    (State.INIT, Event.START_OWNER): State.MASTER,
    (State.INIT, Event.START_BACKUP): State.BACKUP,
    (State.INIT, Event.START_FAULT): State.FAULT,
    (State.INIT, Event.SHUTDOWN): State.STOP,

    (State.BACKUP, Event.MASTER_DOWN): State.MASTER,
    (State.BACKUP, Event.SYNC_GROUP_MASTER): State.MASTER,
    (State.BACKUP, Event.FAULT): State.FAULT,
    (State.BACKUP, Event.SHUTDOWN): State.STOP,

    (State.MASTER, Event.PREEMPTED): State.BACKUP,
    (State.MASTER, Event.VIP_DELETED): State.BACKUP,
    (State.MASTER, Event.SYNC_GROUP_BACKUP): State.BACKUP,
    (State.MASTER, Event.FAULT): State.FAULT,
    (State.MASTER, Event.SHUTDOWN): State.STOP,

    (State.FAULT, Event.FAULT_CLEARED): State.BACKUP,
    (State.FAULT, Event.OWNER_FAULT_CLEARED): State.MASTER,
    (State.FAULT, Event.SHUTDOWN): State.STOP,
})
"""Every allowed ``(state, event) -> new state``; anything else is a :class:`TransitionError`."""


class TransitionError(LocalError):
    """The router was asked to make a state change the table does not allow (a bug)."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"no transition from {state.value} on {event.name}")
        self.state = state
        self.event = event


def next_state(state: State, event: Event) -> State:
    """Where ``event`` takes a router in ``state``; raises :class:`TransitionError` if nowhere."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(state, event) from None
