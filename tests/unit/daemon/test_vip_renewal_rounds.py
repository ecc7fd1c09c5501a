"""The crash-safe renewal round: in datagrams of RENEW_CHUNK with the loop's turn between
them, and never for an instance that left MASTER while its round was under way (a renewal
is create-or-replace: it would put the released VIPs back on the host)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from ipaddress import IPv4Interface
from typing import Any, ClassVar

import pytest

from pykeepalived.config.model import VirtualIP
from pykeepalived.daemon import vips as vips_module
from pykeepalived.daemon.vips import RENEW_CHUNK, Holding, VipManager
from pykeepalived.net.addr_renewer import encode_newaddr

LIFETIME = 0.2


class Renewer:
    """AddressRenewer's stand-in: records each datagram's messages."""

    sent: ClassVar[list[list[bytes]]] = []
    #: called once, after the first datagram (what else the loop runs between datagrams)
    after_first: ClassVar[list[Callable[[], None]]] = []

    def __init__(self) -> None:
        self._r, self._w = os.pipe()

    def fileno(self) -> int:
        return self._r

    def send(self, messages: list[bytes]) -> None:
        if messages:
            Renewer.sent.append(list(messages))
            while Renewer.after_first:
                Renewer.after_first.pop()()

    def drain_errors(self) -> list[tuple[int, int]]:
        return []

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def holding(base: int, count: int) -> Holding:
    return Holding(addresses=[(3, VirtualIP(IPv4Interface(f"10.0.{base}.{i + 1}/32")))
                              for i in range(count)])


def message(base: int, i: int) -> bytes:
    return encode_newaddr(3, IPv4Interface(f"10.0.{base}.{i + 1}/32"), lifetime=LIFETIME)


def test_a_round_skips_an_instance_released_between_its_datagrams(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vips_module, "AddressRenewer", Renewer)
    Renewer.sent = []
    manager = VipManager(None, lambda _m: None, lambda _m: None,  # type: ignore[arg-type]
                         lifetime=LIFETIME)
    first = RENEW_CHUNK + 10  # VI_A's VIPs span two datagrams
    manager.holdings = {"VI_A": holding(1, first), "VI_B": holding(2, 20)}

    # VI_A leaves MASTER once the round's first datagram is out
    Renewer.after_first = [lambda: manager.holdings.pop("VI_A") and None]

    async def scenario() -> None:
        task = asyncio.get_running_loop().create_task(
            manager._renew_loop(LIFETIME))  # the round itself is under test
        while len(Renewer.sent) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert Renewer.sent[0] == [message(1, i) for i in range(RENEW_CHUNK)]
    rest: list[Any] = [m for d in Renewer.sent[1:] for m in d]
    assert rest == [message(2, i) for i in range(20)]  # none of VI_A's last ten
    assert all(len(d) <= RENEW_CHUNK for d in Renewer.sent)
