"""Split-brain detection: does anyone else claim the addresses this MASTER holds?

Two masters for one VRID happen when VRRP is filtered between nodes (a firewall dropping IP
protocol 112, a hypervisor dropping multicast) while ordinary traffic still passes. Each side
then sees nothing wrong in VRRP terms. This module looks at what still gets through:

* **Address probes.** Every ``probe_interval`` a MASTER asks "who has this VIP?" for each of its
  virtual addresses: an RFC 5227 ARP probe (sender protocol address 0.0.0.0, so no neighbour
  cache learns anything from it) or an IPv6 neighbour solicitation from the unspecified address
  (the DAD form, RFC 4862 5.4.2, which updates no cache either). Any host that has the address
  configured answers; an answer, gratuitous ARP or neighbour advert for the VIP from a MAC that
  is not ours means another node holds it too. At most :data:`PROBES_PER_ROUND` probes go out
  per interface and round: beyond that (1,000 VIPs, or 255 instances of 4) the VIPs take turns,
  so every one is still probed, once every few rounds, and the segment is not flooded with a
  broadcast per VIP per second.
* **Foreign adverts.** A BACKUP never advertises, so a MASTER that keeps hearing valid adverts for
  its VRID from another address is looking at a second MASTER that does not hear it back (the
  one-way filter case; at equal priority the core's tie-break cannot settle it either).

Evidence is gathered per probe round. A conflict is declared only when two consecutive rounds,
each spent entirely in MASTER state, both saw the same foreign claim: during a normal hand-over
the old master's last reply or the new master's gratuitous ARPs fall into one round at most, and
the old master leaves MASTER in that round anyway. A VIP waiting for its turn keeps what its
last probed round saw: for it, "consecutive" means its own consecutive probes. A conflict
clears after one clean round (for a VIP: one probed round without the claim); if the instance
is still MASTER then, it re-sends its gratuitous ARPs / unsolicited NAs so switches and
neighbours follow it again.

With ``use_vmac`` both masters answer with the same virtual MAC, so address probes cannot tell
them apart (replies from our own MAC are ignored); foreign adverts are still seen.

The bookkeeping (:class:`ConflictBook`) is pure and tested without sockets; the
:class:`ConflictDetector` wires it to packet sockets, the log, metrics and the conflict script.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from pykeepalived.core import frames
from pykeepalived.core.actions import IPAddress, SendGratuitous, State
from pykeepalived.core.frames import ArpFrame, NeighborAdvert
from pykeepalived.daemon.pulse import sleep_chore
from pykeepalived.daemon.scripts import RunAs, run_command, split_command
from pykeepalived.daemon.view import DaemonView
from pykeepalived.errors import PyKeepalivedError
from pykeepalived.net.packet_socket import HeardFrame, NeighborListener, PacketSocket

DEFAULT_PROBE_INTERVAL = 1.0
#: Probes per interface and round; more VIPs than this take turns.
PROBES_PER_ROUND = 64
#: Probes sent in one go (each one crosses the segment), then the loop's turn.
PROBE_CHUNK = 4
CONFLICT_SCRIPT_TIMEOUT = 10.0

class ConflictKind(enum.StrEnum):
    """Kinds of evidence."""

    ADDRESS = "address"  #: another MAC answers for / announces one of our VIPs
    ADVERT = "advert"  #: another node advertises our VRID while we are MASTER


ADDRESS = ConflictKind.ADDRESS
ADVERT = ConflictKind.ADVERT


@dataclass(frozen=True, slots=True)
class Conflict:
    """One confirmed competing claim."""

    instance: str
    kind: ConflictKind
    subject: str  #: the VIP (ADDRESS) or the other master's source address (ADVERT)
    holder: str  #: the other MAC (ADDRESS) or "priority N" (ADVERT)
    since: float  #: wall-clock time it was confirmed

    def describe(self) -> str:
        if self.kind == ADDRESS:
            return f"{self.subject} also held by {self.holder}"
        return f"another MASTER {self.subject} advertises our VRID with {self.holder}"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "subject": self.subject, "holder": self.holder,
                "since": self.since, "text": self.describe()}


@dataclass
class RoundResult:
    new: list[Conflict] = field(default_factory=list)
    cleared: list[Conflict] = field(default_factory=list)
    #: the last conflict went away while the instance is MASTER: announce the VIPs again
    announce: bool = False


class ConflictBook:
    """Per-instance round bookkeeping; pure (no I/O, no clock: times are passed in)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.active: dict[tuple[ConflictKind, str], Conflict] = {}
        self.total = 0
        self.round_start: float | None = None
        self.evidence: dict[tuple[ConflictKind, str], str] = {}
        self.previous: dict[tuple[ConflictKind, str], str] = {}

    def saw(self, kind: ConflictKind, subject: str, holder: str) -> None:
        """Evidence heard during the current round (only meaningful while MASTER)."""
        if self.round_start is not None:
            self.evidence[(kind, subject)] = holder

    def close_round(self, *, master_since: float | None, now: float, wall: float,
                    probed: Collection[str] | None = None) -> RoundResult:
        """End the running round; ``master_since`` is when the instance became MASTER (None if
        it is not MASTER now). Starts the next round when it is MASTER.

        ``probed``: the VIPs probed in the round (None: all of them). A VIP that was not, and
        was not heard of either, neither clears its conflict nor forgets its last evidence."""
        out = RoundResult()
        if not (self.evidence or self.active or self.previous):  # the usual round: nothing
            self.round_start = now if master_since is not None else None
            return out
        whole_round = (master_since is not None and self.round_start is not None
                       and master_since <= self.round_start)

        def asked(key: tuple[ConflictKind, str]) -> bool:
            return probed is None or key[0] is not ADDRESS or key[1] in probed

        if whole_round:
            for key, holder in self.evidence.items():
                if key in self.previous and key not in self.active:
                    c = Conflict(self.instance, key[0], key[1], holder, wall)
                    self.active[key] = c
                    self.total += 1
                    out.new.append(c)
            for key in [k for k in self.active if k not in self.evidence and asked(k)]:
                out.cleared.append(self.active.pop(key))
            out.announce = bool(out.cleared) and not self.active
            waiting = {k: h for k, h in self.previous.items()
                       if k not in self.evidence and not asked(k)}
            self.previous = {**waiting, **self.evidence}
        elif master_since is None:
            # No longer MASTER: whatever we saw is the other side's business now.
            out.cleared.extend(self.active.values())
            self.active.clear()
            self.previous = {}
        else:
            # Became MASTER during the round: start counting afresh.
            self.previous = {}
        self.evidence = {}
        self.round_start = now if master_since is not None else None
        return out


def _mac(mac: bytes) -> str:
    return frames.mac_to_str(mac)


class ConflictDetector:
    """Probes the VIPs of every MASTER instance and reports competing claims."""

    def __init__(self, view: DaemonView, *, probe_interval: float = DEFAULT_PROBE_INTERVAL,
                 script: str | None = None,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.view = view
        self.probe_interval = probe_interval
        self.script = script
        self.on_change = on_change
        self.books: dict[str, ConflictBook] = {}
        self.listeners: dict[str, NeighborListener] = {}
        self.senders: dict[str, PacketSocket] = {}
        self.probes_sent = 0
        #: per instance, the VIPs probed in its running round (None: all of them)
        self._probed: dict[str, set[str] | None] = {}
        #: per interface, where the next round's probes start when the VIPs take turns
        self._turn: dict[str, int] = {}
        #: the probe frame per (interface, VIP), with the MAC it was built for
        self._frames: dict[tuple[str, IPAddress], tuple[bytes, bytes]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._scripts: set[asyncio.Task[object]] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="conflict-probe")

    async def stop(self) -> None:
        self._stopped = True  # a round's remaining probes, queued on the loop, are dropped
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        loop = asyncio.get_running_loop()
        for lst in self.listeners.values():
            loop.remove_reader(lst.fileno())
            lst.close()
        for snd in self.senders.values():
            snd.close()
        self.listeners.clear()
        self.senders.clear()
        for task in list(self._scripts):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def book(self, name: str) -> ConflictBook:
        book = self.books.get(name)
        if book is None:
            book = self.books[name] = ConflictBook(name)
        return book

    # ------------------------------------------------------------------ rounds

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:  # the detector must never stop the daemon
                self.view.log_event(f"conflict detector error: {exc!r}")
            await sleep_chore(self.probe_interval)

    def tick(self) -> None:
        """Close the running round of every instance and probe for the next."""
        now = self.view.now()
        wall = time.time()
        routers = self.view.routers()
        masters = []
        for name, router in routers.items():
            book = self.book(name)
            master = router.state is State.MASTER
            result = book.close_round(master_since=router.state_since if master else None,
                                      now=now, wall=wall, probed=self._probed.get(name))
            self._report(name, result)
            if master:
                masters.append(name)
        self._probed = self._probe(masters)
        for gone in [n for n in self.books if n not in routers]:
            del self.books[gone]

    def _report(self, name: str, result: RoundResult) -> None:
        for c in result.new:
            self.view.log_event(f"({name}) CONFLICT: {c.describe()}")
            self._run_script("CONFLICT", c)
        for c in result.cleared:
            self.view.log_event(f"({name}) CONFLICT cleared: {c.describe()}")
            self._run_script("CLEARED", c)
        if result.announce:
            router = self.view.routers().get(name)
            if router is not None and router.state is State.MASTER:
                # The other claimant gave up: make the segment follow us again.
                repeat = max(1, router.params.garp_master_repeat)
                self.view.apply([SendGratuitous(name, repeat)])
        if (result.new or result.cleared) and self.on_change is not None:
            self.on_change(name)

    def _run_script(self, event: str, c: Conflict) -> None:
        if not self.script:
            return
        argv = [*split_command(self.script), event, c.instance, c.subject, c.holder]
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            run_command(argv, timeout=CONFLICT_SCRIPT_TIMEOUT, run_as=RunAs()))
        self._scripts.add(task)
        task.add_done_callback(self._scripts.discard)

    # ------------------------------------------------------------------ probes

    def _probe(self, masters: list[str]) -> dict[str, set[str] | None]:
        """Send this round's probes for the VIPs of the MASTER instances ``masters``; returns
        which VIPs each instance had probed (None: all of them)."""
        per_if: dict[str, list[tuple[str, IPAddress]]] = {}
        for name in masters:
            for vip in self.view.vips(name):
                per_if.setdefault(vip.interface, []).append((name, vip.ip))
        probed: dict[str, set[str] | None] = dict.fromkeys(masters)
        for ifname, targets in per_if.items():
            if len(targets) > PROBES_PER_ROUND:
                start = self._turn.get(ifname, 0) % len(targets)
                self._turn[ifname] = (start + PROBES_PER_ROUND) % len(targets)
                turn = (targets + targets)[start:start + PROBES_PER_ROUND]
                taking_turns: dict[str, set[str]] = {name: set() for name, _ in targets}
                for name, ip in turn:
                    taking_turns[name].add(str(ip))
                probed.update(taking_turns)
                targets = turn
            self._send_probes(ifname, targets)
        if len(self._frames) > 2 * sum(map(len, per_if.values())) + PROBES_PER_ROUND:
            self._frames.clear()  # VIPs were removed by reloads: rebuild what is still probed
        return probed

    def _send_probes(self, ifname: str, targets: list[tuple[str, IPAddress]]) -> None:
        if self._stopped:
            return
        self._listen(ifname)
        mac = self.view.interface_mac(ifname)
        sender = self._sender(ifname)
        if mac is None or sender is None or len(mac) != 6:
            return
        frames_ = self._frames
        for i, (_name, ip) in enumerate(targets):
            if i == PROBE_CHUNK:  # the rest after the loop's other work: adverts go first
                asyncio.get_running_loop().call_soon(self._send_probes, ifname, targets[i:])
                return
            cached = frames_.get((ifname, ip))
            if cached is None or cached[0] != mac:
                frame = (frames.build_arp_probe(mac, ip) if isinstance(ip, IPv4Address)
                         else frames.build_neighbor_solicitation(mac, ip))
                cached = frames_[(ifname, ip)] = (mac, frame)
            try:
                if sender.send_frame(cached[1]):
                    self.probes_sent += 1
            except OSError:
                continue  # the interface went away: the next round tries again

    def _sender(self, ifname: str) -> PacketSocket | None:
        snd = self.senders.get(ifname)
        if snd is None:
            try:
                snd = self.senders[ifname] = PacketSocket.open(ifname)
            except PyKeepalivedError as exc:
                self.view.log_event(f"conflict probes on {ifname} impossible: {exc}")
                return None
        return snd

    def _listen(self, ifname: str) -> None:
        if ifname in self.listeners:
            return
        try:
            lst = NeighborListener.open(ifname)
        except PyKeepalivedError as exc:
            self.view.log_event(f"cannot watch {ifname} for address conflicts: {exc}")
            return
        self.listeners[ifname] = lst
        asyncio.get_running_loop().add_reader(lst.fileno(), self._readable, lst)

    def _readable(self, lst: NeighborListener) -> None:
        try:
            heard = lst.recv_batch()
        except OSError:
            return
        for h in heard:
            self.frame(lst.ifname, h)

    def frame(self, ifname: str, heard: HeardFrame) -> None:
        """An ARP packet or neighbour advert arrived on ``ifname``."""
        f = heard.frame
        claimed: IPAddress
        if isinstance(f, ArpFrame):
            if f.sender_ip == IPv4Address(0):
                return  # a probe (maybe another detector's): it claims nothing
            claimed, claimer = f.sender_ip, f.sender_mac
        elif isinstance(f, NeighborAdvert):
            claimed, claimer = f.target, f.target_mac or f.eth_src
        else:
            return
        ours = self.view.interface_mac(ifname)
        if ours is not None and (claimer == ours or f.eth_src == ours):
            return
        for name, router in self.view.routers().items():
            if router.state is not State.MASTER:
                continue
            for vip in self.view.vips(name):
                if vip.interface == ifname and vip.ip == claimed:
                    self.book(name).saw(ADDRESS, str(claimed), _mac(claimer))

    # ------------------------------------------------------------------ adverts

    def advert(self, instance: str, src: IPAddress, priority: int) -> None:
        """The core accepted an advert for ``instance`` (it passed TTL, version, checksum,
        authentication, interval and address checks). Heard while MASTER, and not a
        priority-0 goodbye, it is another node claiming to be MASTER too."""
        router = self.view.routers().get(instance)
        if router is None or router.state is not State.MASTER or priority == 0:
            return
        self.book(instance).saw(ADVERT, str(src), f"priority {priority} "
                                f"(ours {router.effective_priority})")
