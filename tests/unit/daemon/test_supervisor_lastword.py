"""The last word: its messages on the wire between child and parent, and the child's side
(what the driver's actions make it tell the parent), without root: a real core Node, a fake
loop, and a socketpair for the channel."""

from __future__ import annotations

import marshal
import os
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import load_config
from pykeepalived.core import packet
from pykeepalived.core.node import Node
from pykeepalived.daemon import lastword, runtime
from pykeepalived.daemon.lastword import (
    EXIT_UNHANDLED,
    STARTUP_HANG_LIMIT,
    Beat,
    Busy,
    Farewell,
    Handover,
    HangLimit,
    InstanceWord,
    LastWord,
    LastWordError,
    Message,
    RelayNotifier,
    Say,
    SdNotify,
    Unsay,
    VipWord,
    decode,
    encode,
)
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.daemon.vips import Holding

WORD = InstanceWord(
    name="VI_1", ifname="eth0", family=socket.AF_INET, src="192.0.2.1",
    adverts=(("224.0.0.18", b"\x31\x33\x00\x01"), ("192.0.2.9", b"\x31\x33\x00\x01")),
    vips=(VipWord(2, "192.0.2.100/24"), VipWord(2, "192.0.2.101/32", "192.0.2.200")))


@pytest.mark.parametrize("message", [
    Beat(), HangLimit(1.5), Busy(60.0), Say(WORD), Unsay("VI_1"), SdNotify("READY=1\nSTATUS=x"),
    Farewell("unhandled KeyError: 'x'"),
    Say(InstanceWord("v6", "vrrp.51", socket.AF_INET6, None, (("ff02::12", b"\x31"),))),
    Say(InstanceWord("ah", "eth0", socket.AF_INET, "192.0.2.1", (("224.0.0.18", b"\x45"),),
                     protocol=51)),
])
def test_every_message_survives_the_channel(message: Message) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize("data", [
    b"", b"garbage", marshal.dumps([1]), marshal.dumps(()), marshal.dumps((99,)),
    marshal.dumps((2, -1.0)), marshal.dumps((2, "x")), marshal.dumps((1, "extra")),
    marshal.dumps((3, "VI_1", "eth0", 99, "", (), (), 112)),  # not an address family
    marshal.dumps((3, "VI_1", "eth0", 2, "", (("224.0.0.18", "text"),), (), 112)),
    marshal.dumps((3, "VI_1", "eth0", 2, "", (), ((2, "192.0.2.1/24"),), 112)),
    marshal.dumps((3, "VI_1", "eth0", 2, "", (), (), 17)),  # neither VRRP nor AH
])
def test_malformed_messages_are_refused_by_name(data: bytes) -> None:
    with pytest.raises(LastWordError):
        decode(data)


# ---------------------------------------------------------------------------- the child's side


class FakeLoop:
    def __init__(self) -> None:
        self.later: list[tuple[float, Callable[[], None]]] = []
        self.handler: Any = None
        self.defaults: list[dict[str, Any]] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> Any:
        self.later.append((delay, fn))
        return self

    def cancel(self) -> None:
        pass

    def set_exception_handler(self, handler: Any) -> None:
        self.handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.defaults.append(context)


class FakeVips:
    def __init__(self) -> None:
        self.holdings: dict[str, Holding] = {}


CONFIG = """
vrrp_instance VI_1 {
    interface eth0
    state MASTER
    virtual_router_id 51
    priority 255
    advert_int 1
    unicast_src_ip 192.0.2.1
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    state BACKUP
    virtual_router_id 52
    priority 100
    advert_int 1
    unicast_src_ip 192.0.2.1
    virtual_ipaddress {
        192.0.2.102/24
    }
}
"""


class Speaker:
    """What LastWord reads of the daemon: a real Node, runtimes, holdings."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "k.conf"
        path.write_text(CONFIG)
        config = load_config(str(path)).config
        assert config is not None
        self.instances: dict[str, InstanceRuntime] = {
            cfg.name: runtime.instance_runtime(config, cfg, vip_if=None,
                                               src=IPv4Address("192.0.2.1"), fast_preempt=True)
            for cfg in config.vrrp_instances}
        self.node = Node([rt.params for rt in self.instances.values()])
        self.loop: Any = FakeLoop()
        self.vip_manager: Any = FakeVips()
        self.vip_lifetime: float | None = 4.0
        self.config = config


def received(parent: socket.socket) -> list[Message]:
    out = []
    while True:
        try:
            out.append(decode(parent.recv(1 << 20)))
        except BlockingIOError:
            return out


@pytest.fixture
def channel() -> Any:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent.setblocking(False)
    yield parent, child
    parent.close()
    child.close()


def test_the_parent_hears_each_master_and_its_vips_and_when_it_stops(
        tmp_path: Path, channel: Any) -> None:
    parent, child = channel
    speaker = Speaker(tmp_path)
    lw = LastWord(speaker, child, supervision={"respawns": 2})  # type: ignore[arg-type]
    lw.start()
    assert received(parent) == [HangLimit(STARTUP_HANG_LIMIT), Beat()]
    assert speaker.loop.later[0][0] == 1.0  # start-up: one beat a second
    actions = speaker.node.start(0.0)
    vip = speaker.instances["VI_1"].cfg.virtual_ipaddresses[0]
    speaker.vip_manager.holdings["VI_1"] = Holding(addresses=[(7, vip)])
    lw.after(actions)
    messages = received(parent)
    # VI_1 (an address owner) is MASTER at once; VI_2 is BACKUP: nothing to say for it.
    says = [m for m in messages if isinstance(m, Say)]
    assert [m.word.name for m in says] == ["VI_1"]
    word = says[0].word
    assert (word.ifname, word.family, word.src) == ("eth0", socket.AF_INET, "192.0.2.1")
    assert word.vips == (VipWord(7, "192.0.2.100/24"),)
    dst, data = word.adverts[0]
    adv = packet.decode(data, ip_address("192.0.2.1"), ip_address(dst))
    assert (adv.vrid, adv.priority) == (51, 0)
    # the instances' hang limit replaces the start-up one, and the beat follows it at once
    assert HangLimit(2.0) in messages and messages[-1] == Beat()  # two 1 s adverts
    assert speaker.loop.later[-1][0] == pytest.approx(2.0 / lastword.BEATS_PER_LIMIT)
    # Nothing changes: nothing is said (the common case costs nothing on the channel).
    lw.after([])
    assert received(parent) == []
    # Leaving MASTER: the word is withdrawn.
    lw.after(speaker.node.routers["VI_1"].stop(1.0))
    assert received(parent) == [Unsay("VI_1")]
    assert lw.words == {}


def test_with_dont_release_vrrp_only_the_advert_is_left_to_say(
        tmp_path: Path, channel: Any) -> None:
    parent, child = channel
    speaker = Speaker(tmp_path)
    speaker.vip_lifetime = None  # -V: VIPs stay on stop, and on a crash
    vip = speaker.instances["VI_1"].cfg.virtual_ipaddresses[0]
    speaker.vip_manager.holdings["VI_1"] = Holding(addresses=[(7, vip)])
    lw = LastWord(speaker, child)  # type: ignore[arg-type]
    lw.after(speaker.node.start(0.0))
    says = [m for m in received(parent) if isinstance(m, Say)]
    assert says and says[0].word.vips == () and says[0].word.adverts


def test_a_new_source_address_reaches_the_parent_with_the_next_heartbeat(
        tmp_path: Path, channel: Any) -> None:
    parent, child = channel
    speaker = Speaker(tmp_path)
    lw = LastWord(speaker, child)  # type: ignore[arg-type]
    lw.start()
    lw.after(speaker.node.start(0.0))
    received(parent)
    speaker.node.routers["VI_1"].update_source(IPv4Address("192.0.2.9"))
    _, beat = speaker.loop.later[-1]
    beat()
    says = [m for m in received(parent) if isinstance(m, Say)]
    assert [m.word.src for m in says] == ["192.0.2.9"]


def test_without_a_channel_it_does_nothing(tmp_path: Path) -> None:
    speaker = Speaker(tmp_path)
    lw = LastWord()
    lw.start()
    lw.after(speaker.node.start(0.0))
    assert not lw.enabled and lw.words == {} and lw.supervision is None


def test_an_error_escaping_a_callback_hands_over_from_inside_and_exits(
        tmp_path: Path, channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    parent, child = channel
    speaker = Speaker(tmp_path)
    logged: list[str] = []
    lw = LastWord(speaker, child, log=lambda m, **_: logged.append(m),  # type: ignore[arg-type]
                  detail=logged.append)
    lw.start()
    lw.after(speaker.node.start(0.0))
    received(parent)
    said: list[list[InstanceWord]] = []

    def fake_hand_over(words: Any) -> Handover:
        said.append(list(words))
        return Handover(adverts=[("VI_1", "eth0")])

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(lastword, "hand_over", fake_hand_over)
    monkeypatch.setattr(os, "_exit", fake_exit)
    # Errors of tasks and OSErrors are logged and the daemon goes on.
    speaker.loop.handler(speaker.loop, {"message": "Task exception was never retrieved",
                                        "exception": KeyError("x"), "future": object()})
    speaker.loop.handler(speaker.loop, {"message": "Exception in callback",
                                        "exception": OSError(5, "EIO"), "handle": object()})
    assert len(speaker.loop.defaults) == 2 and said == []
    # A bug in a callback (a timer, a socket reader) is fatal.
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        error = exc
    with pytest.raises(Exited) as exited:
        speaker.loop.handler(speaker.loop, {"message": "Exception in callback",
                                            "exception": error, "handle": object()})
    assert exited.value.args == (EXIT_UNHANDLED,)
    assert [[w.name for w in words] for words in said] == [["VI_1"]]
    messages = received(parent)
    assert messages[0] == Farewell(
        "unhandled ZeroDivisionError in the event loop: division by zero")
    assert messages[-1] == Unsay("VI_1")  # said already: the parent need not repeat it
    assert any("ZeroDivisionError" in line for line in logged)
    assert "(VI_1) sent 0 priority on eth0" in logged


def test_sd_notify_lines_go_to_the_parent_without_the_childs_mainpid(channel: Any) -> None:
    parent, child = channel
    lw = LastWord(object(), child)  # type: ignore[arg-type]
    relay = RelayNotifier(lw, enabled=True)
    assert relay.enabled and relay.ready("VI_1 MASTER prio 150")
    assert relay.watchdog()
    assert received(parent) == [SdNotify("READY=1\nSTATUS=VI_1 MASTER prio 150"),
                                SdNotify("WATCHDOG=1")]
    off = RelayNotifier(lw, enabled=False)  # not under systemd: nothing to relay
    assert not off.enabled and not off.ready("x")
    assert received(parent) == []


def test_the_handover_summary_is_one_line_for_any_number_of_instances() -> None:
    one = Handover(adverts=[("VI_1", "eth0")], removed=[("VI_1", "192.0.2.100/24")],
                   seconds=0.0008)
    assert one.summary() == ("handed over in 0.8 ms: priority 0 sent for VI_1; 1 VIP removed")
    assert one.details() == ["(VI_1) sent 0 priority on eth0",
                             "(VI_1) removed VIP 192.0.2.100/24"]
    many = Handover(adverts=[(f"VI_{i}", "eth0") for i in range(255)],
                    removed=[(f"VI_{i}", f"10.0.{i}.1/24") for i in range(255)],
                    problems=["(VI_9) cannot remove VIP 10.0.9.1/24: Operation not permitted"],
                    seconds=0.02)
    line = many.summary()
    assert "VI_7, ..." in line and "VI_8" not in line and "(255 instances)" in line
    assert line.endswith("255 VIPs removed; 1 problem(s)")
