"""The load balancer's forwarding plane on nftables (this kernel has no IPVS).

:class:`NftPlane` makes the kernel match a tuple of :class:`~pykeepalived.lvs.table.Service`:
:meth:`NftPlane.apply` reads what the live ruleset should keep (counters, persistence and DR
flow entries, the ids in conntrack marks), renders the whole desired ruleset with
:func:`~pykeepalived.lvs.nft_render.render` and hands it to libnftables in one call: one
transaction, so traffic meets the old ruleset or the new one, never a mixture. The ruleset's
layout, the schedulers and what each rule is for are described in
:mod:`pykeepalived.lvs.nft_render`; the slot tables in :mod:`pykeepalived.lvs.nft_sched`.

What differs from IPVS, in short:

- lb_algo rr, wrr, sh, dh, mh, fo only (:data:`SUPPORTED_ALGOS`); :func:`check_service` says
  why a service cannot be installed (another algorithm, TUN, NAT and DR mixed ...).
- A VIP is balanced only while it is local (``fib daddr . mark type local``), in prerouting
  and output (local clients are balanced as IPVS balances them).
- NAT keeps established connections on their server through conntrack; new connections of a
  removed server's clients go elsewhere. The connection's ct mark belongs to the plane.
- Persistence entries survive a re-apply when their destination remains (read, then written
  back with the time they had left); packets counted between that read and the new ruleset's
  commit are lost from the counters (a few, at a re-apply).
- DR: the packet is duplicated to the real server as next hop (``dup to``: the kernel
  resolves its MAC and picks the interface by route, so no neighbour bookkeeping here) and
  the original dropped; the real server must be on-link. Connections stay on their server
  through a flow map (client address and port) rather than conntrack, which would call a
  one-way TCP stream invalid.
- NAT needs forwarding on (``net.ipv4.ip_forward``, ``net.ipv6.conf.all.forwarding``), as
  IPVS NAT does; the plane does not change sysctls.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.lvs.model import IPAddress
from pykeepalived.lvs.nft_render import (
    CT_MARK_BASE,
    CT_MARK_MASK,
    MAX_ID,
    SUPPORTED_ALGOS,
    Carry,
    DestKey,
    assign_ids,
    check_service,
    parse_counter_comment,
    render,
)
from pykeepalived.lvs.table import Counters, Service
from pykeepalived.net.nft import NftError, nft, nft_check, nft_json

__all__ = [
    "SUPPORTED_ALGOS",
    "Carry",
    "Counters",
    "DestKey",
    "LiveState",
    "NftError",
    "NftPlane",
    "check_service",
    "read_live_state",
    "render",
]

_FAMILIES = ("ip", "ip6")


@dataclass
class LiveState:
    """What the plane's live tables hold that a re-apply should keep."""

    ids: dict[DestKey, int] = field(default_factory=dict)
    counters: dict[DestKey, Counters] = field(default_factory=dict)
    persisted: dict[DestKey, list[tuple[IPAddress, int]]] = field(default_factory=dict)
    flows: dict[DestKey, list[tuple[IPAddress, int, int]]] = field(default_factory=dict)


def _objects(document: Any, kind: str) -> Iterator[dict[str, Any]]:
    """The ``kind`` objects of an ``nft -j`` answer."""
    if not isinstance(document, dict):
        return
    for item in document.get("nftables", ()):
        if isinstance(item, dict) and isinstance(item.get(kind), dict):
            yield item[kind]


def _element(raw: Any) -> tuple[Any, int | None]:
    """An element's key and seconds left (None: no expiry given)."""
    if isinstance(raw, dict) and isinstance(raw.get("elem"), dict):
        inner = raw["elem"]
        expires = inner.get("expires")
        return inner.get("val"), int(expires) if isinstance(expires, int | float) else None
    return raw, None


def _dest_id(mark: Any) -> int | None:
    if isinstance(mark, int) and mark & CT_MARK_MASK == CT_MARK_BASE and mark & MAX_ID:
        return mark & MAX_ID
    return None


def read_live_state(table: str, document_counters: Sequence[Any],
                    document_maps: Sequence[Any]) -> LiveState:
    """A :class:`LiveState` from ``nft -j`` answers: ``list counters table FAMILY TABLE`` and
    ``list maps FAMILY`` for each family the plane has a table in (pure: the answers are
    given). Malformed parts are skipped: the worst outcome is state not carried over."""
    state = LiveState()
    by_id: dict[int, DestKey] = {}
    for document in document_counters:
        for counter in _objects(document, "counter"):
            if counter.get("table") != table:
                continue
            name, comment = counter.get("name", ""), counter.get("comment")
            key = parse_counter_comment(comment) if isinstance(comment, str) else None
            if key is None or not name.startswith("c_") or not name[2:].isdigit():
                continue
            dest_id = int(name[2:])
            by_id[dest_id] = key
            state.ids[key] = dest_id
            state.counters[key] = Counters(int(counter.get("packets", 0)),
                                           int(counter.get("bytes", 0)))
    for document in document_maps:
        for m in _objects(document, "map"):
            name = m.get("name", "")
            if m.get("table") != table or name[:2] not in ("p_", "f_"):
                continue
            for pair in m.get("elem", ()):
                if not isinstance(pair, list) or len(pair) != 2:
                    continue
                element_id = _dest_id(pair[1])
                key_value, left = _element(pair[0])
                if element_id is None or element_id not in by_id or left is None:
                    continue
                dest = by_id[element_id]
                try:
                    if name.startswith("p_") and isinstance(key_value, str):
                        client = ipaddress.ip_address(key_value)
                        state.persisted.setdefault(dest, []).append((client, left))
                    elif (name.startswith("f_") and isinstance(key_value, dict)
                          and len(key_value.get("concat", ())) == 2):
                        address, port = key_value["concat"]
                        state.flows.setdefault(dest, []).append(
                            (ipaddress.ip_address(address), int(port), left))
                except (TypeError, ValueError):
                    continue
    return state


class NftPlane:
    """The plane's tables (``table ip TABLE`` and ``table ip6 TABLE``) in ``netns``."""

    def __init__(self, table: str = "pykeepalived_lvs", *, masquerade: bool = False,
                 netns: str | None = None) -> None:
        render(table, ())  # the name is checked now rather than at the first apply
        self.table = table
        self.masquerade = masquerade
        self.netns = netns
        self._next_id: int | None = None

    def _families(self) -> list[str]:
        """The families the plane has a table in now."""
        document = nft_json("list tables", netns=self.netns)
        return [str(t["family"]) for t in _objects(document, "table")
                if t.get("name") == self.table and t.get("family") in _FAMILIES]

    def live_state(self, *, maps: bool = True) -> LiveState:
        """What the live tables hold (``maps=False``: ids and counters only)."""
        counter_docs, map_docs = [], []
        for family in self._families():
            counter_docs.append(nft_json(f"list counters table {family} {self.table}",
                                         netns=self.netns))
            if maps:
                map_docs.append(nft_json(f"list maps {family}", netns=self.netns))
        return read_live_state(self.table, counter_docs, map_docs)

    def apply(self, services: Sequence[Service]) -> None:
        """Replace the ruleset with ``services`` in one transaction. Raises :class:`NftError`
        with nft's message when the kernel refuses it (the old ruleset then stays whole), and
        ValueError for services :func:`check_service` refuses or that overlap."""
        live = self.live_state()
        if self._next_id is None:
            self._next_id = max(live.ids.values(), default=0) % MAX_ID + 1
        carry = Carry(
            ids=live.ids, next_id=self._next_id, counters=live.counters,
            persisted={k: tuple(v) for k, v in live.persisted.items()},
            flows={k: tuple(v) for k, v in live.flows.items()})
        script = render(self.table, services, masquerade=self.masquerade, carry=carry)
        nft(script, netns=self.netns)
        _, self._next_id = assign_ids(services, live.ids, self._next_id)

    def counters(self) -> dict[DestKey, Counters]:
        """Packets and bytes sent from clients to each destination, by (service key,
        destination address, destination port)."""
        return self.live_state(maps=False).counters

    def remove(self) -> None:
        """Delete the plane's tables; absent ones are fine."""
        t = self.table
        nft("\n".join(f"table {f} {t}\ndelete table {f} {t}" for f in _FAMILIES),
            netns=self.netns)

    def check(self, services: Sequence[Service]) -> None:
        """Have the kernel check the ruleset for ``services`` without applying it (``nft
        -c``); raises :class:`NftError` with nft's message when it would be refused."""
        nft_check(render(self.table, services, masquerade=self.masquerade), netns=self.netns)
