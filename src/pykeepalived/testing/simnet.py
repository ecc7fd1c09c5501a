"""A simulated Ethernet segment and a jumping clock for whole-cluster tests of the pure core.

N nodes (each a :class:`pykeepalived.core.node.Node`, i.e. one daemon's instances) share one
segment. Adverts are delivered as bytes, through the real codec, to every other live node
(multicast) or to the addressed peer (unicast), after a per-link delay, unless the link is down,
the pair is partitioned, or a seeded random drop says otherwise. The clock jumps straight to the
earliest pending deadline or delivery, so minutes of protocol run in milliseconds, and every run
with the same inputs is identical.

Every action the nodes return is carried out or recorded: addresses held, adverts and
gratuitous ARPs sent and state changes go to :attr:`SimNetwork.events`; notify requests
(instance and sync group) to each node's :attr:`SimNode.notifies`, read with
:meth:`SimNetwork.notifies`.

Faults: :meth:`SimNetwork.crash` (the daemon vanishes, kill -9), :meth:`SimNetwork.stop`
(graceful, priority 0), :meth:`SimNetwork.restart`, :meth:`SimNetwork.link_down`,
:meth:`SimNetwork.partition` / :meth:`SimNetwork.heal`, and tracker changes.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import assert_never

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
from pykeepalived.core.router import RouterParams


@dataclass(frozen=True)
class Event:
    """Something that happened in the simulation, for assertions and debugging."""

    time: float
    node: str
    #: "state", "vip_add", "vip_del", "advert", "garp", "log", "master_rx_lower_pri", "crash"
    kind: str
    instance: str = ""
    detail: str = ""
    old: State | None = None
    new: State | None = None
    priority: int | None = None


@dataclass
class SimNode:
    name: str
    params: list[RouterParams]
    groups: list[tuple[str, list[str]]]
    node: Node
    alive: bool = True
    link_up: bool = True
    holding: set[str] = field(default_factory=set)
    #: every notify the node's daemon ran, with its time, across restarts
    notifies: list[tuple[float, Notify]] = field(default_factory=list)

    def state(self, instance: str) -> State:
        if not self.alive:
            return State.STOP
        return self.node.routers[instance].state


class SimNetwork:
    """The segment, the clock and the event log."""

    def __init__(self, *, delay: float = 0.0005, seed: int = 0, start: float = 1000.0) -> None:
        self.now = start
        self.delay = delay
        self.random = random.Random(seed)
        self.nodes: dict[str, SimNode] = {}
        self.events: list[Event] = []
        self.drop_rate: dict[tuple[str, str], float] = {}
        self._blocked: set[frozenset[str]] = set()
        self._queue: list[tuple[float, int, str, IPAddress, IPAddress, bytes]] = []
        self._seq = itertools.count()
        self.on_action: Callable[[SimNode, Action], None] | None = None

    # ------------------------------------------------------------------ topology

    def add_node(
        self,
        name: str,
        params: Iterable[RouterParams],
        groups: Iterable[tuple[str, list[str]]] = (),
        *,
        start: bool = True,
    ) -> SimNode:
        plist, glist = list(params), list(groups)
        sim = SimNode(name, plist, glist, Node(plist, glist), alive=False)
        self.nodes[name] = sim
        if start:
            self.restart(name)
        return sim

    def restart(self, name: str) -> None:
        """(Re)start a node's daemon from scratch, as a fresh process would."""
        sim = self.nodes[name]
        sim.node = Node(sim.params, sim.groups)
        sim.alive = True
        self._execute(sim, sim.node.start(self.now))

    def crash(self, name: str) -> None:
        """kill -9: the daemon stops without a word. Its addresses die with it (crash-safe)."""
        sim = self.nodes[name]
        sim.alive = False
        for inst in sorted(sim.holding):
            self.events.append(Event(self.now, name, "vip_del", inst, "crash"))
        sim.holding.clear()
        self.events.append(Event(self.now, name, "crash"))

    def stop(self, name: str) -> None:
        """SIGTERM: priority-0 adverts, addresses removed, then the daemon exits."""
        sim = self.nodes[name]
        self._execute(sim, sim.node.stop(self.now))
        sim.alive = False

    def link_down(self, name: str) -> None:
        self.nodes[name].link_up = False

    def link_up(self, name: str) -> None:
        self.nodes[name].link_up = True

    def partition(self, group_a: Iterable[str], group_b: Iterable[str]) -> None:
        for a in group_a:
            for b in group_b:
                self._blocked.add(frozenset((a, b)))

    def heal(self) -> None:
        self._blocked.clear()

    def set_tracker(self, name: str, key: str, value: bool | int | None) -> None:
        sim = self.nodes[name]
        if sim.alive:
            self._execute(sim, sim.node.update_tracker(self.now, key, value))

    def delete_vip(self, name: str, instance: str) -> None:
        """Someone deleted a VIP of ``instance`` on node ``name`` by hand."""
        sim = self.nodes[name]
        if sim.alive:
            self._execute(sim, sim.node.vip_deleted(self.now, instance))

    def set_priority_override(self, name: str, instance: str, priority: int | None) -> None:
        sim = self.nodes[name]
        self._execute(sim, sim.node.routers[instance].set_priority_override(self.now, priority))

    # ------------------------------------------------------------------ running

    def next_time(self) -> float | None:
        times = [d for s in self.nodes.values() if s.alive and (d := s.node.deadline()) is not None]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times) if times else None

    def run_until(self, until: float) -> None:
        """Advance the clock to ``until``, processing everything due on the way."""
        while True:
            t = self.next_time()
            if t is None or t > until:
                break
            self.now = max(self.now, t)
            self._step()
        self.now = max(self.now, until)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def _step(self) -> None:
        while self._queue and self._queue[0][0] <= self.now:
            _, _, dest, src, dst, data = heapq.heappop(self._queue)
            sim = self.nodes[dest]
            if sim.alive and sim.link_up:
                self._execute(sim, sim.node.datagram(self.now, data, src, dst, interface="eth0"))
        for sim in list(self.nodes.values()):
            d = sim.node.deadline() if sim.alive else None
            if d is not None and d <= self.now:
                self._execute(sim, sim.node.handle_timer(self.now))

    def _execute(self, sim: SimNode, actions: list[Action]) -> None:
        for action in actions:
            if self.on_action is not None:
                self.on_action(sim, action)
            match action:
                case SendAdvert():
                    self.events.append(Event(self.now, sim.name, "advert", action.instance,
                                             priority=action.priority))
                    if sim.link_up:
                        for dst, data in action.packets:
                            self._transmit(sim, sim.node.routers[action.instance].params.src,
                                           dst, data)
                case AddAddresses():
                    sim.holding.add(action.instance)
                    self.events.append(Event(self.now, sim.name, "vip_add", action.instance))
                case RemoveAddresses():
                    sim.holding.discard(action.instance)
                    self.events.append(Event(self.now, sim.name, "vip_del", action.instance))
                case SendGratuitous():
                    self.events.append(Event(self.now, sim.name, "garp", action.instance,
                                             str(action.count)))
                case Notify():
                    sim.notifies.append((self.now, action))
                case NotifyMasterRxLowerPri():
                    self.events.append(Event(self.now, sim.name, "master_rx_lower_pri",
                                             action.instance, str(action.source)))
                case Transition():
                    self.events.append(Event(self.now, sim.name, "state", action.instance,
                                             action.reason, action.old, action.new,
                                             action.priority))
                case Log():
                    self.events.append(Event(self.now, sim.name, "log", detail=action.message))
                case _:
                    assert_never(action)

    def _transmit(self, sender: SimNode, src: IPAddress, dst: IPAddress, data: bytes) -> None:
        for name, sim in self.nodes.items():
            if name == sender.name or frozenset((sender.name, name)) in self._blocked:
                continue
            if not dst.is_multicast and not any(p.src == dst for p in sim.params):
                continue
            rate = self.drop_rate.get((sender.name, name), 0.0)
            if rate and self.random.random() < rate:
                continue
            heapq.heappush(self._queue, (self.now + self.delay, next(self._seq), name, src,
                                         dst, data))

    # ------------------------------------------------------------------ observing

    def masters(self, instance: str) -> list[str]:
        return [n for n, s in self.nodes.items() if s.alive and s.state(instance) is State.MASTER]

    def holders(self, instance: str) -> list[str]:
        return [n for n, s in self.nodes.items() if instance in s.holding]

    def logs(self, name: str | None = None) -> list[str]:
        return [e.detail for e in self.events
                if e.kind == "log" and (name is None or e.node == name)]

    def notifies(
        self,
        name: str,
        *,
        kind: NotifyKind | None = None,
        subject: str | None = None,
        since: float | None = None,
    ) -> list[tuple[float, Notify]]:
        """The notifies node ``name`` ran, oldest first: only those of ``kind``, for the
        instance or sync group ``subject``, at or after ``since``, when given."""
        return [(t, n) for t, n in self.nodes[name].notifies
                if (kind is None or n.kind is kind)
                and (subject is None or n.name == subject)
                and (since is None or t >= since)]

    def transitions(self, instance: str, new: State | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == "state" and e.instance == instance
                and (new is None or e.new is new)]

    def first_master_after(self, instance: str, t: float, exclude: str = "") -> Event | None:
        """The first transition to MASTER at or after ``t`` (by a node other than ``exclude``)."""
        for e in self.transitions(instance, State.MASTER):
            if e.time >= t and e.node != exclude:
                return e
        return None
