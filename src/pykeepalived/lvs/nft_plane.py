"""The load balancer's forwarding plane on nftables (this kernel has no IPVS).

:class:`NftPlane` makes the kernel match a tuple of :class:`~pykeepalived.lvs.table.Service`:
:meth:`NftPlane.apply` reads what the live tables hold (which objects exist, the ids in
conntrack marks and counter names), renders the whole desired ruleset with
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
- Counters, persistence entries and DR flows survive a re-apply (the objects are kept, not
  rewritten); an entry whose destination is gone is dropped when its client comes back.
- A new connection that meets a replacement as it commits may be dropped once (its SYN is
  sent again a second later): see ``guard`` in :mod:`pykeepalived.lvs.nft_render`.
- DR: the packet is duplicated to the real server as next hop (``dup to``: the kernel
  resolves its MAC and picks the interface by route, so no neighbour bookkeeping here) and
  the original dropped; the real server must be on-link. Connections stay on their server
  through a flow map (client address and port) rather than conntrack, which would call a
  one-way TCP stream invalid; a removed server's flows keep going to it until they end.
- The plane owns the conntrack mark of the connections it balances, and counters() also
  names DR destinations that are draining.
- NAT needs forwarding on (``net.ipv4.ip_forward``, ``net.ipv6.conf.all.forwarding``), as
  IPVS NAT does; the plane does not change sysctls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.lvs.nft_render import (
    CT_MARK_BASE,
    CT_MARK_MASK,
    MAX_ID,
    SUPPORTED_ALGOS,
    Carry,
    DestKey,
    LiveObject,
    assign_ids,
    base_spec,
    check_service,
    dest_keys,
    map_spec,
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
    """What the plane's live tables hold."""

    #: each destination's id, from its counter's name and comment
    ids: dict[DestKey, int] = field(default_factory=dict)
    #: the objects of each family's table ("ip", "ip6"), when it exists
    objects: dict[str, list[LiveObject]] = field(default_factory=dict)
    counters: dict[DestKey, Counters] = field(default_factory=dict)
    #: the ids the DR flow maps still send some flow to
    flow_ids: set[int] = field(default_factory=set)


def _objects(document: Any, kind: str) -> Iterator[dict[str, Any]]:
    """The ``kind`` objects of an ``nft -j`` answer."""
    if not isinstance(document, dict):
        return
    for item in document.get("nftables", ()):
        if isinstance(item, dict) and isinstance(item.get(kind), dict):
            yield item[kind]


def _spec(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """An object's kind as :data:`LiveObject` has it, and its spec."""
    if kind == "chain" and "hook" in obj:
        return "base", base_spec(str(obj.get("type")), str(obj.get("hook")),
                                 int(obj.get("prio", 0)))
    if kind == "map":
        types = obj.get("type")
        key_types = [str(t) for t in types] if isinstance(types, list) else [str(types)]
        timeout = obj.get("timeout")
        return kind, map_spec(key_types, str(obj.get("map")),
                              int(timeout) if isinstance(timeout, int | float) else None)
    return kind, ""


def _element_ids(elements: Any) -> set[int]:
    """The destination ids a map's elements (``[key, value]`` pairs) point to."""
    found = set()
    for pair in elements if isinstance(elements, list) else ():
        if (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int)
                and pair[1] & CT_MARK_MASK == CT_MARK_BASE):
            found.add(pair[1] & MAX_ID)
    return found


def read_live_state(table: str, documents: Sequence[Any]) -> LiveState:
    """A :class:`LiveState` from ``nft -j`` answers (pure: the answers are given): ``list
    tables``, and for each family the plane has a table in ``list counters table FAMILY
    TABLE``, ``list chains FAMILY``, ``list maps FAMILY`` and ``list sets FAMILY``. Malformed
    parts are skipped."""
    state = LiveState()
    for document in documents:
        for t in _objects(document, "table"):
            if t.get("name") == table and t.get("family") in _FAMILIES:
                state.objects.setdefault(str(t["family"]), [])
    for document in documents:
        for kind in ("chain", "map", "set", "counter"):
            for obj in _objects(document, kind):
                family, name = obj.get("family"), obj.get("name")
                if (obj.get("table") != table or family not in state.objects
                        or not isinstance(name, str)):
                    continue
                try:
                    kind_, spec = _spec(kind, obj)
                except (TypeError, ValueError):
                    continue
                entry = (kind_, name, spec)
                if entry not in state.objects[str(family)]:
                    state.objects[str(family)].append(entry)
                if kind == "map" and name.startswith("f_"):
                    state.flow_ids |= _element_ids(obj.get("elem"))
                comment = obj.get("comment")
                if kind != "counter" or not isinstance(comment, str):
                    continue
                key = parse_counter_comment(comment)
                if key is None or not name.startswith("c_") or not name[2:].isdigit():
                    continue
                state.ids[key] = int(name[2:])
                state.counters[key] = Counters(int(obj.get("packets", 0)),
                                               int(obj.get("bytes", 0)))
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

    def live_state(self, *, full: bool = True) -> LiveState:
        """What the live tables hold (``full=False``: ids and counters only). Rules are not
        listed: nft 1.0.6 prints a warning on stderr for each ``update`` it cannot put in
        JSON."""
        tables = nft_json("list tables", netns=self.netns)
        documents = [tables]
        families = [str(t["family"]) for t in _objects(tables, "table")
                    if t.get("name") == self.table and t.get("family") in _FAMILIES]
        for family in families:
            documents.append(nft_json(f"list counters table {family} {self.table}",
                                      netns=self.netns))
            if full:
                documents += [nft_json(f"list {kind} {family}", netns=self.netns)
                              for kind in ("chains", "maps", "sets")]
        return read_live_state(self.table, documents)

    def apply(self, services: Sequence[Service]) -> None:
        """Replace the ruleset with ``services`` in one transaction. Raises :class:`NftError`
        with nft's message when the kernel refuses it (the old ruleset then stays whole), and
        ValueError for services :func:`check_service` refuses or that overlap."""
        live = self.live_state()
        if self._next_id is None:
            self._next_id = max(live.ids.values(), default=0) % MAX_ID + 1
        wanted = {k for s in services for k in dest_keys(s)}
        draining = [k for k, dest_id in live.ids.items()
                    if dest_id in live.flow_ids and k not in wanted]
        carry = Carry(ids=live.ids, next_id=self._next_id, draining=draining,
                      live={k: tuple(v) for k, v in live.objects.items()})
        script = render(self.table, services, masquerade=self.masquerade, carry=carry)
        nft(script, netns=self.netns)
        _, self._next_id = assign_ids(services, live.ids, self._next_id,
                                      reserved=[live.ids[k] for k in draining])

    def counters(self) -> dict[DestKey, Counters]:
        """Packets and bytes sent from clients to each destination, by (service key,
        destination address, destination port)."""
        return self.live_state(full=False).counters

    def remove(self) -> None:
        """Delete the plane's tables; absent ones are fine."""
        t = self.table
        nft("\n".join(f"table {f} {t}\ndelete table {f} {t}" for f in _FAMILIES),
            netns=self.netns)

    def check(self, services: Sequence[Service]) -> None:
        """Have the kernel check the ruleset for ``services`` without applying it (``nft
        -c``); raises :class:`NftError` with nft's message when it would be refused."""
        nft_check(render(self.table, services, masquerade=self.masquerade), netns=self.netns)
