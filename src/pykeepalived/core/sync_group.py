"""A keepalived ``vrrp_sync_group``: instances that move to MASTER, BACKUP and FAULT together.

A member tells its group when it changes state on its own (``member_master``,
``member_backup``, ``member_fault``, ``member_fault_cleared``); the group moves the other
members after it, through the narrow :class:`GroupMember` surface, and notifies the group's
own state change. A member may become MASTER only when every member wants MASTER too
(keepalived's guard against thrashing).
"""

from __future__ import annotations

from typing import Protocol

from pykeepalived.core.actions import Action, Log, Notify, NotifyKind, State


class GroupMember(Protocol):
    """What a sync group reads and asks of a member (a
    :class:`~pykeepalived.core.router.VirtualRouter`)."""

    group: SyncGroup | None
    want: State

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> State: ...

    @property
    def fault_reasons(self) -> list[str]: ...

    @property
    def init_pending(self) -> bool: ...

    def force_master(self, now: float, out: list[Action]) -> None: ...

    def force_backup(self, now: float, out: list[Action]) -> None: ...

    def enter_fault(self, now: float, out: list[Action], *, by_group: bool = False) -> None: ...

    def leave_fault(self, now: float, out: list[Action]) -> None: ...


class SyncGroup:
    """A ``vrrp_sync_group``: members move to MASTER, BACKUP and FAULT together."""

    def __init__(self, name: str, members: list[GroupMember]) -> None:
        self.name = name
        self.members = members
        self.state = State.BACKUP
        for m in members:
            m.group = self

    def _notify(self, new: State, out: list[Action]) -> None:
        if self.state is new:
            return
        self.state = new
        out.append(Notify(NotifyKind.GROUP, self.name, new, 0))

    def can_goto_master(self, who: GroupMember) -> bool:
        if self.state is State.MASTER:
            return True
        return all(m is who or m.want is State.MASTER or m.state is State.MASTER
                   for m in self.members)

    def member_master(self, now: float, who: GroupMember, out: list[Action]) -> None:
        if self.state is State.MASTER:
            return
        out.append(Log(f"VRRP_Group({self.name}) Syncing instances to MASTER state"))
        for m in self.members:
            if m is not who:
                m.want = State.MASTER
                m.force_master(now, out)
        self._notify(State.MASTER, out)

    def member_backup(self, now: float, who: GroupMember, out: list[Action]) -> None:
        if self.state is State.BACKUP:
            return
        out.append(Log(f"VRRP_Group({self.name}) Syncing instances to BACKUP state"))
        for m in self.members:
            if m is not who and m.state is not State.BACKUP:
                m.want = State.BACKUP
                m.force_backup(now, out)
        self._notify(State.BACKUP, out)

    def member_fault(self, now: float, who: GroupMember, out: list[Action]) -> None:
        if self.state is State.FAULT:
            return
        out.append(Log(f"VRRP_Group({self.name}) Syncing instances to FAULT state"))
        for m in self.members:
            if m is not who and m.state in (State.MASTER, State.BACKUP):
                m.enter_fault(now, out, by_group=True)
        self._notify(State.FAULT, out)

    def member_fault_cleared(self, now: float, who: GroupMember, out: list[Action]) -> None:
        """The last fault of the group cleared with ``who``'s: it leaves FAULT first, then
        (keepalived's vrrp_sync_backup) the group brings the others along."""
        if any(m.fault_reasons or m.init_pending for m in self.members):
            return
        who.leave_fault(now, out)
        others = [m for m in self.members if m is not who]
        if self.state is not State.BACKUP and others:
            out.append(Log(f"VRRP_Group({self.name}) Syncing instances to BACKUP state"))
        for m in others:
            m.leave_fault(now, out)
        self._notify(State.BACKUP, out)
