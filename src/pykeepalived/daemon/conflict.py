"""Split-brain detection: does anyone else claim the addresses this MASTER holds?

Two masters for one VRID happen when VRRP is filtered between nodes (a firewall dropping IP
protocol 112, a hypervisor dropping multicast) while ordinary traffic still passes. Each side
then sees nothing wrong in VRRP terms. This module looks at what still gets through:

* **Address probes.** Every ``probe_interval`` a MASTER asks "who has this VIP?" for each of its
  virtual addresses: an RFC 5227 ARP probe (sender protocol address 0.0.0.0, so no neighbour
  cache learns anything from it) or an IPv6 neighbour solicitation from the unspecified address
  (the DAD form, RFC 4862 5.4.2, which updates no cache either). Any host that has the address
  configured answers; an answer, gratuitous ARP or neighbour advert for the VIP from a MAC that
  is not ours means another node holds it too.
* **Foreign adverts.** A BACKUP never advertises, so a MASTER that keeps hearing valid adverts for
  its VRID from another address is looking at a second MASTER that does not hear it back (the
  one-way filter case; at equal priority the core's tie-break cannot settle it either).

Evidence is gathered per probe round. A conflict is declared only when two consecutive rounds,
each spent entirely in MASTER state, both saw the same foreign claim: during a normal hand-over
the old master's last reply or the new master's gratuitous ARPs fall into one round at most, and
the old master leaves MASTER in that round anyway. A conflict clears after one clean round; if
the instance is still MASTER then, it re-sends its gratuitous ARPs / unsolicited NAs so switches
and neighbours follow it again.

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
from collections.abc import Callable
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

    def close_round(self, *, master_since: float | None, now: float,
                    wall: float) -> RoundResult:
        """End the running round; ``master_since`` is when the instance became MASTER (None if
        it is not MASTER now). Starts the next round when it is MASTER."""
        out = RoundResult()
        whole_round = (master_since is not None and self.round_start is not None
                       and master_since <= self.round_start)
        if whole_round:
            for key, holder in self.evidence.items():
                if key in self.previous and key not in self.active:
                    c = Conflict(self.instance, key[0], key[1], holder, wall)
                    self.active[key] = c
                    self.total += 1
                    out.new.append(c)
            for key in [k for k in self.active if k not in self.evidence]:
                out.cleared.append(self.active.pop(key))
            out.announce = bool(out.cleared) and not self.active
            self.previous = dict(self.evidence)
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
        self._task: asyncio.Task[None] | None = None
        self._scripts: set[asyncio.Task[object]] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="conflict-probe")

    async def stop(self) -> None:
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
        for name, router in routers.items():
            book = self.book(name)
            master = router.state is State.MASTER
            result = book.close_round(master_since=router.state_since if master else None,
                                      now=now, wall=wall)
            self._report(name, result)
            if master:
                self._probe(name)
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

    def _probe(self, name: str) -> None:
        for vip in self.view.vips(name):
            ifname = vip.interface
            self._listen(ifname)
            mac = self.view.interface_mac(ifname)
            sender = self._sender(ifname)
            if mac is None or sender is None or len(mac) != 6:
                continue
            addr = vip.ip
            if isinstance(addr, IPv4Address):
                frame = frames.build_arp_probe(mac, addr)
            else:
                frame = frames.build_neighbor_solicitation(mac, addr)
            with contextlib.suppress(OSError):
                if sender.send_frame(frame):
                    self.probes_sent += 1

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
