"""Many VIPs take turns at the conflict probe: bounded probes per round, none left out, and a
conflict on a VIP probed every few rounds is still confirmed and cleared by its own probes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

import pytest

from pykeepalived.core.actions import IPAddress, State
from pykeepalived.daemon.conflict import (
    ADDRESS,
    ADVERT,
    PROBES_PER_ROUND,
    ConflictBook,
    ConflictDetector,
)
from pykeepalived.daemon.view import VipRef

OTHER = "02:00:00:00:00:02"


@dataclass
class Router:
    state: State = State.MASTER
    state_since: float = 0.0


class View:
    """Just what the detector's rounds read."""

    def __init__(self, vips: dict[str, list[str]]) -> None:
        self.vip_map = {name: [VipRef(f"{a}/32", ip_address(a), "eth0", False) for a in addrs]
                        for name, addrs in vips.items()}
        self.routers_ = {name: Router() for name in vips}
        self.clock = 10.0
        self.events: list[str] = []

    def now(self) -> float:
        return self.clock

    def routers(self) -> dict[str, Router]:
        return self.routers_

    def vips(self, name: str) -> list[VipRef]:
        return self.vip_map.get(name, [])

    def log_event(self, message: str) -> None:
        self.events.append(message)


class Recording(ConflictDetector):
    def __init__(self, view: View) -> None:
        super().__init__(view)  # type: ignore[arg-type]  # the rounds read only these
        self.sent: list[list[IPAddress]] = []

    def _send_probes(self, ifname: str, targets: list[tuple[str, IPAddress]]) -> None:
        self.sent.append([ip for _name, ip in targets])


def addrs(n: int, base: int = 0) -> list[str]:
    return [str(IPv4Address("198.51.100.0") + base + i) for i in range(n)]


def test_few_vips_are_all_probed_every_round() -> None:
    view = View({"VI_1": addrs(3), "VI_2": addrs(2, 10)})
    det = Recording(view)
    for _ in range(3):
        det.tick()
        view.clock += 1
    assert [len(s) for s in det.sent] == [5, 5, 5]
    assert det._probed == {"VI_1": None, "VI_2": None}


@pytest.mark.parametrize(("instances", "per"), [(1, 1000), (255, 4), (3, 30)])
def test_many_vips_take_turns_within_the_budget(instances: int, per: int) -> None:
    view = View({f"VI_{i}": addrs(per, i * per) for i in range(instances)})
    det = Recording(view)
    total = instances * per
    rounds = -(-total // PROBES_PER_ROUND)  # every VIP once in this many rounds
    for _ in range(2 * rounds):
        det.tick()
        view.clock += 1
    assert all(len(s) <= PROBES_PER_ROUND for s in det.sent)
    first_cycle = [ip for s in det.sent[:rounds] for ip in s]
    assert {str(ip) for ip in first_cycle} == {a for v in view.vip_map.values()
                                                for a in (str(r.ip) for r in v)}
    if total > PROBES_PER_ROUND:
        # what each instance was told it had probed is what went out
        named = {a: name for name, refs in view.vip_map.items() for a in (str(r.ip) for r in refs)}
        last = det.sent[-1]
        for name, probed in det._probed.items():
            assert probed == {str(ip) for ip in last if named[str(ip)] == name}


def test_a_vip_waiting_for_its_turn_keeps_its_evidence() -> None:
    book = ConflictBook("VI_1")
    vip = "198.51.100.7"
    book.close_round(master_since=0.0, now=1.0, wall=1.0, probed=set())
    book.saw(ADDRESS, vip, OTHER)
    assert book.close_round(master_since=0.0, now=2.0, wall=2.0, probed={vip}).new == []
    # two rounds in which it was not probed and nobody claimed it: nothing is forgotten
    for t in (3.0, 4.0):
        assert book.close_round(master_since=0.0, now=t, wall=t, probed={"198.51.100.8"}).new == []
    book.saw(ADDRESS, vip, OTHER)
    confirmed = book.close_round(master_since=0.0, now=5.0, wall=5.0, probed={vip})
    assert [c.subject for c in confirmed.new] == [vip]
    # not probed: the conflict stays; probed and unanswered: it clears
    assert book.close_round(master_since=0.0, now=6.0, wall=6.0, probed=set()).cleared == []
    assert vip in {k[1] for k in book.active}
    cleared = book.close_round(master_since=0.0, now=7.0, wall=7.0, probed={vip})
    assert [c.subject for c in cleared.cleared] == [vip] and cleared.announce


def test_unprobed_rounds_forget_when_every_vip_was_probed() -> None:
    """probed=None (every VIP probed): one round without the claim breaks the sequence."""
    book = ConflictBook("VI_1")
    vip = "198.51.100.7"
    book.close_round(master_since=0.0, now=1.0, wall=1.0)
    book.saw(ADDRESS, vip, OTHER)
    book.close_round(master_since=0.0, now=2.0, wall=2.0)
    book.close_round(master_since=0.0, now=3.0, wall=3.0)
    book.saw(ADDRESS, vip, OTHER)
    assert book.close_round(master_since=0.0, now=4.0, wall=4.0).new == []


def test_foreign_adverts_do_not_wait_for_turns() -> None:
    book = ConflictBook("VI_1")
    book.close_round(master_since=0.0, now=1.0, wall=1.0, probed=set())
    book.saw(ADVERT, "192.0.2.9", "priority 100")
    book.close_round(master_since=0.0, now=2.0, wall=2.0, probed=set())
    book.saw(ADVERT, "192.0.2.9", "priority 100")
    assert len(book.close_round(master_since=0.0, now=3.0, wall=3.0, probed=set()).new) == 1
    assert len(book.close_round(master_since=0.0, now=4.0, wall=4.0, probed=set()).cleared) == 1


class Sender:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send_frame(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True


class MacView(View):
    def interface_mac(self, ifname: str) -> bytes | None:
        return b"\x02\x00\x00\x00\x00\x01"


class Chunked(ConflictDetector):
    """The real probe sending, with a recording sender and no listener."""

    def __init__(self, view: View) -> None:
        super().__init__(view)  # type: ignore[arg-type]  # the rounds read only these
        self.sender = Sender()

    def _sender(self, ifname: str) -> Sender:  # type: ignore[override]  # duck-typed
        return self.sender

    def _listen(self, ifname: str) -> None:
        pass


def test_probes_leave_in_chunks_with_the_loop_in_between() -> None:
    """A round's probes go out PROBE_CHUNK at a time, each chunk in its own loop callback,
    so that an advert due meanwhile is not held up behind all of them; all of them go."""
    from pykeepalived.daemon.conflict import PROBE_CHUNK

    async def scenario() -> tuple[int, int, int]:
        view = MacView({"VI_1": addrs(PROBES_PER_ROUND)})
        det = Chunked(view)
        det.tick()
        at_once = len(det.sender.frames)
        await asyncio.sleep(0)
        after_one_turn = len(det.sender.frames)
        for _ in range(PROBES_PER_ROUND // PROBE_CHUNK + 1):
            await asyncio.sleep(0)
        return at_once, after_one_turn, len(set(det.sender.frames))

    at_once, after_one_turn, distinct = asyncio.run(scenario())
    assert at_once == PROBE_CHUNK
    assert after_one_turn == 2 * PROBE_CHUNK
    assert distinct == PROBES_PER_ROUND  # one ARP probe per VIP, none twice


def test_probes_still_queued_when_the_detector_stops_are_dropped() -> None:
    async def scenario() -> tuple[int, int]:
        det = Chunked(MacView({"VI_1": addrs(PROBES_PER_ROUND)}))
        det.tick()
        sent = len(det.sender.frames)
        await det.stop()
        for _ in range(PROBES_PER_ROUND):
            await asyncio.sleep(0)
        return sent, len(det.sender.frames)

    sent, after_stop = asyncio.run(scenario())
    assert sent < PROBES_PER_ROUND and after_stop == sent
