"""The nftables ruleset for a tuple of :class:`~pykeepalived.lvs.table.Service`: pure text.

:func:`render` writes the whole script; :mod:`pykeepalived.lvs.nft_plane` runs it in one
libnftables call, which the kernel applies as one transaction, so no packet ever meets a
half-written table: it sees the old ruleset or the new one. A table the plane does not know
to exist is created and deleted (``table ip T`` / ``delete table ip T``: a delete alone would
fail when it is absent) and declared anew; one that exists (:attr:`Carry.live`) is emptied in
place, its base chains kept hooked (:func:`_empty_in_place` says why), and filled anew.

Layout, one table per family (``table ip T`` for IPv4 services, ``table ip6 T`` for IPv6; a
family without services gets no table, so no hook and no conntrack is registered for it).
Separate families rather than one ``inet`` table because direct routing's ``dup`` exists in
the ``ip`` / ``ip6`` families only, and because keepalived's own table
(:mod:`pykeepalived.net.nft`) is laid out the same way:

- ``nat_pre`` (nat, prerouting, dstnat) and ``nat_out`` (nat, output, -100) jump to
  ``nat_select`` only while ``fib daddr . mark type local``: the director balances a VIP only
  while it holds it (IPVS sits in LOCAL_IN, which sees only what routing delivered locally),
  so a BACKUP may hold the whole ruleset. Output is hooked as IPVS hooks LOCAL_OUT: clients on
  the director itself are balanced too. A nat chain sees the first packet of a connection
  only; conntrack keeps the rest on the chosen server, across re-applies too.
- ``nat_select`` looks the packet up, fwmark first as IPVS does, then address, protocol and
  port, then address and protocol (a port-0 service): ``vmap @nat_fwm``, ``@nat_ep``,
  ``@nat_ep_any`` -> ``goto s_<n>``.
- ``s_<n>``, one per service: the persistence map first, then the scheduler (below), each a
  ``goto d_<id>``; a service without destinations rejects (TCP reset, ICMP port unreachable).
- ``d_<id>``, one per (service, destination): ``ct mark set`` the id, refresh persistence,
  ``dnat to`` the real server (port 0: the port is kept).
- ``count`` (filter, postrouting): ``ct direction original counter name ct mark map
  @counters``: every packet client -> real server of a balanced connection counts in the
  named counter ``c_<id>``, whose comment names the destination (:func:`counter_comment`).
- ``guard`` (filter, input): a packet for a (NAT or DR) service's address, port and protocol
  (or fwmark) that reaches the director's own stack without having been translated is dropped.
  This catches the rare new connection that escapes during a replacement: nf_tables reads a
  chain's rules in the generation current when the packet entered it, but a map lookup in
  the generation current at the lookup, so a packet entering the old ruleset as the new one
  commits can miss in a map that the new ruleset replaced (measured: about one connection
  in 10,000 during back-to-back applies). Dropped, its SYN is sent again a second later and
  balanced; let through, the director's stack would reset it.
- ``nat_post`` (nat, postrouting, srcnat), with ``masquerade=True``: the balanced
  connections (``ct mark`` in the plane's range, ``ct status dnat``) are masqueraded, so real
  servers whose route back does not pass the director still answer through it.
- Direct routing: ``dr_pre`` (filter, prerouting, raw: before conntrack, which would call a
  one-way TCP stream invalid) jumps to ``dr_select`` / ``ds_<n>`` for the DR services
  (``notrack``), whose ``dd_<id>`` chains count, ``dup to`` the real server and drop the
  original: the packet leaves unchanged but for the MAC, the kernel resolving the real server
  as next hop (the route to it must be on-link, as for IPVS DR). Without conntrack a connection
  stays on its server through the flow map ``f_<tag>`` (client address and port -> id, 900 s /
  300 s for UDP, refreshed by every packet); ``meta mark`` carries the id found. A removed
  destination that flows still go to stays reachable from the flow map alone (draining, see
  :class:`Carry`), as IPVS keeps a removed server's connections. Why ``dup`` rather than a
  netdev ingress chain with ``ether daddr set ... fwd``: the kernel routes and resolves the
  next hop itself (ARP / ND on demand, any interface, route changes followed), so the plane
  keeps no neighbour table and no destination is skipped for an unknown MAC; and the
  packet-path maps and counters are the NAT side's.

The conntrack mark: the plane owns the ct mark of the connections it balances: ``CT_MARK_BASE
| id`` (ids 1-65535). It is how counting and masquerading recognise them after the NAT.

Schedulers (tables from :mod:`pykeepalived.lvs.nft_sched`): ``rr`` ``numgen inc mod N`` over
the destinations (the count restarts at each apply: its rule is new); ``wrr`` the same over
weighted interleaved slots; ``sh`` ``jhash`` of the
client address (and port with ``hash_port``) over 256 weighted buckets; ``dh`` the same on the
destination address; ``mh`` ``jhash`` over a Maglev table; ``fo`` all to the first destination
of the highest weight. Hash seeds are derived from the service key: stable across applies.

Persistence: ``p_<tag>`` (client address masked by the granularity -> id, ``timeout`` the
persistence timeout; the tag is a hash of the service key) is consulted first and refreshed at
each new connection. Counters and these dynamic maps (and DR's ``f_<tag>``) survive a
re-apply: they are declared again, not deleted (the kernel leaves an existing counter's values
and an existing map's entries alone). An entry whose destination is gone finds no chain for
its id: it is deleted on the packet path and the client scheduled afresh. Changing a
service's persistence timeout recreates its map, empty.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pykeepalived.lvs import nft_sched
from pykeepalived.lvs.model import IPAddress
from pykeepalived.lvs.table import Destination, Service

#: (service key, destination address, destination port): how counters and ids name a
#: destination of a service.
DestKey = tuple[str, IPAddress, int]

#: The lb_algo values this plane schedules (keepalived's others need per-server connection
#: counts, which nftables does not keep).
SUPPORTED_ALGOS: frozenset[str] = frozenset({"rr", "wrr", "sh", "dh", "mh", "fo"})

CT_MARK_BASE = 0x4B410000
CT_MARK_MASK = 0xFFFF0000
MAX_ID = 0xFFFF
#: DR flow map timeouts (IPVS's defaults for an established connection).
DR_FLOW_TIMEOUT: Mapping[str, int] = {"TCP": 900, "UDP": 300, "SCTP": 900}
#: nft's limit on a comment's length.
COMMENT_MAX = 128

#: The base chains: name -> (type, hook, priority). NAT at dstnat (-100) and srcnat (100);
#: counting at filter (0); DR at raw (-300), before conntrack.
BASE_CHAINS: Mapping[str, tuple[str, str, int]] = {
    "nat_pre": ("nat", "prerouting", -100),
    "nat_out": ("nat", "output", -100),
    "nat_post": ("nat", "postrouting", 100),
    "count": ("filter", "postrouting", 0),
    "dr_pre": ("filter", "prerouting", -300),
    "guard": ("filter", "input", 0),
}
#: An object of a live table: (kind, name, spec); kind "base" (spec "type hook priority", see
#: :func:`base_spec`), "chain", "map" (spec from :func:`map_spec`), "set" or "counter".
LiveObject = tuple[str, str, str]


def base_spec(kind: str, hook: str, priority: int) -> str:
    return f"{kind} {hook} {priority}"


def map_spec(key_types: Sequence[str], data: str, timeout: int | None) -> str:
    """What must match for a live dynamic map to be kept: its types and timeout (a map
    declared again with another timeout would keep its entries' old ones)."""
    return f"{'.'.join(key_types)} : {data} timeout {timeout}"


def map_tag(service: Service) -> str:
    """The stable part of a service's dynamic map names (its index in the list is not)."""
    return hashlib.blake2b(service.key.encode(), digest_size=6).hexdigest()


_PROTO = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ANY_L4 = "meta l4proto { tcp, udp, sctp }"


@dataclass(frozen=True)
class Carry:
    """What the live ruleset holds that a replacement must know.

    ``ids``: the ct-mark id each destination had (connections in conntrack still carry it,
    and its counter is named after it); ``next_id``: where the search for a new id starts, so
    a freed id is not reused at once; ``live``: the objects of each family's table that exists
    now ("ip", "ip6"), which is then changed in place rather than deleted (see
    :func:`_empty_in_place`): its base chains, counters and dynamic maps are kept;
    ``draining``: DR destinations no longer wanted that live flows still go to (their id
    in ``ids``): their flows keep going there until they end.
    """

    ids: Mapping[DestKey, int] = field(default_factory=dict)
    next_id: int = 1
    live: Mapping[str, tuple[LiveObject, ...]] = field(default_factory=dict)
    draining: Collection[DestKey] = ()


def live_destinations(service: Service) -> list[Destination]:
    """The destinations that take connections: weight > 0, each (address, port) once."""
    seen: set[tuple[IPAddress, int]] = set()
    out = []
    for d in service.destinations:
        if d.weight > 0 and (d.address, d.port) not in seen:
            seen.add((d.address, d.port))
            out.append(d)
    return out


def service_kind(service: Service) -> Literal["NAT", "DR"]:
    """DR when every live destination is DR; NAT otherwise (an empty service is refused
    through the NAT hooks whatever its kind)."""
    dests = live_destinations(service)
    return "DR" if dests and all(d.lb_kind == "DR" for d in dests) else "NAT"


def check_service(service: Service) -> str | None:
    """Why this plane cannot install ``service``, or None when it can."""
    if service.lb_algo not in SUPPORTED_ALGOS:
        return (f"lb_algo {service.lb_algo} is not available with the nftables forwarding "
                f"plane (it schedules {', '.join(sorted(SUPPORTED_ALGOS))})")
    if service.protocol not in _PROTO:
        return f"protocol {service.protocol} is not supported"
    if service.family not in (4, 6):
        return f"address family {service.family} is not supported"
    if not service.endpoints and not service.fwmarks:
        return "the service has neither an address nor a fwmark"
    for address, port in service.endpoints:
        if address.version != service.family:
            return f"address {address} is not IPv{service.family}"
        if not 0 <= port <= 0xFFFF:
            return f"port {port} is out of range"
    for mark in service.fwmarks:
        if not 0 < mark <= 0xFFFFFFFF:
            return f"fwmark {mark} is out of range"
    bits = 32 if service.family == 4 else 128
    granularity = service.persistence_granularity
    if granularity is not None and not 0 <= granularity <= bits:
        return f"persistence_granularity /{granularity} is out of range for IPv{service.family}"
    if service.persistence_timeout is not None and service.persistence_timeout < 0:
        return f"persistence_timeout {service.persistence_timeout} is negative"
    dests = live_destinations(service)
    for d in dests:
        if d.address.version != service.family:
            return f"real server {d.address} is not IPv{service.family}"
        if d.lb_kind == "TUN":
            return "lb_kind TUN is not supported by the nftables forwarding plane"
        if not 0 <= d.port <= 0xFFFF:
            return f"real server port {d.port} is out of range"
    if len({d.lb_kind for d in dests}) > 1:
        return "real servers mix NAT and DR forwarding (one lb_kind per virtual server here)"
    return None


def dest_keys(service: Service) -> list[DestKey]:
    return [(service.key, d.address, d.port) for d in live_destinations(service)]


def assign_ids(services: Sequence[Service], previous: Mapping[DestKey, int] | None = None,
               next_id: int = 1, *, reserved: Collection[int] = ()) -> tuple[
                   dict[DestKey, int], int]:
    """An id (1-65535) per destination of each service: the one it had in ``previous`` when
    still free, else the first free id from ``next_id`` on (skipping, while any is left, ids
    ``previous`` still names: their connections may still be in conntrack), never one of
    ``reserved`` (draining destinations'). Returns the ids and where the next search
    starts."""
    previous = previous or {}
    wanted = [k for s in services for k in dest_keys(s)]
    ids: dict[DestKey, int] = {}
    used: set[int] = set(reserved)
    for key in wanted:
        old = previous.get(key)
        if old is not None and 1 <= old <= MAX_ID and old not in used and key not in ids:
            ids[key] = old
            used.add(old)
    fresh = [k for k in dict.fromkeys(wanted) if k not in ids]
    if len(used) + len(fresh) > MAX_ID:
        raise ValueError(f"more than {MAX_ID} destinations in all")
    avoid = used | set(previous.values())
    cursor = min(max(next_id, 1), MAX_ID)
    for key in fresh:
        for strict in (True, False):
            found = None
            for step in range(MAX_ID):
                candidate = (cursor - 1 + step) % MAX_ID + 1
                if candidate not in (avoid if strict else used):
                    found = candidate
                    break
            if found is not None:
                break
        assert found is not None  # the count was checked above
        ids[key] = found
        used.add(found)
        avoid.add(found)
        cursor = found % MAX_ID + 1
    return ids, cursor


def counter_comment(key: DestKey) -> str:
    """The counter's comment, from which :func:`parse_counter_comment` gets the key back."""
    service, address, port = key
    text = f"{service} {address} {port}".replace('"', "'").replace("\\", "/")
    return "".join(c for c in text if c.isprintable())[:COMMENT_MAX]


def parse_counter_comment(comment: str) -> DestKey | None:
    parts = comment.rsplit(" ", 2)
    if len(parts) != 3:
        return None
    try:
        return parts[0], ipaddress.ip_address(parts[1]), int(parts[2])
    except ValueError:
        return None


def _mark(dest_id: int) -> str:
    return f"{CT_MARK_BASE | dest_id:#010x}"


def _addr(address: IPAddress, port: int) -> str:
    if port == 0:
        return str(address)
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def _client_key(family: int, granularity: int | None) -> str:
    """The persistence key expression: the source address under the granularity mask."""
    fam = "ip" if family == 4 else "ip6"
    bits = 32 if family == 4 else 128
    if granularity is None or granularity >= bits:
        return f"{fam} saddr"
    mask = ipaddress.ip_network(f"{'0.0.0.0' if family == 4 else '::'}/{granularity}").netmask
    return f"{fam} saddr & {mask}"


def _seed(service: Service) -> str:
    return f"{zlib.crc32(service.key.encode()):#010x}"


def _vmap(key: str, slots: Sequence[int], targets: Sequence[str]) -> str:
    elements = ", ".join(f"{a} : goto {targets[v]}" if a == b else
                         f"{a}-{b} : goto {targets[v]}" for a, b, v in nft_sched.runs(slots))
    return f"{key} vmap {{ {elements} }}"


def schedule_rule(service: Service, targets: Sequence[str]) -> str:
    """The rule that sends a new connection of ``service`` to one of ``targets`` (one chain
    name per live destination, in order)."""
    dests = live_destinations(service)
    weights = [d.weight for d in dests]
    fam = "ip" if service.family == 4 else "ip6"
    algo = service.lb_algo
    if len(targets) == 1:
        return f"goto {targets[0]}"
    if algo == "fo":
        best = max(range(len(dests)), key=lambda i: (weights[i], -i))
        return f"goto {targets[best]}"
    if algo in ("rr", "wrr"):
        slots = (nft_sched.round_robin(len(dests)) if algo == "rr"
                 else nft_sched.weighted_slots(weights))
        return _vmap(f"numgen inc mod {len(slots)}", slots, targets)
    if algo == "mh":
        names = [f"{d.address} {d.port}" for d in dests]
        slots = nft_sched.maglev(names, weights)
    else:  # sh, dh
        slots = nft_sched.bucket_slots(weights, max(nft_sched.HASH_BUCKETS, len(dests)))
    if algo == "dh":
        hashed = f"{fam} daddr"
    else:
        hashed = f"{fam} saddr . th sport" if service.hash_port else f"{fam} saddr"
    return _vmap(f"jhash {hashed} mod {len(slots)} seed {_seed(service)}", slots, targets)


def _persistent(service: Service) -> bool:
    return bool(service.persistence_timeout) and bool(live_destinations(service))


def _elements(items: Iterable[str]) -> str:
    listed = list(items)
    return f" elements = {{ {', '.join(listed)} }};" if listed else ""


class _FamilyTable:
    """The text of one family's table."""

    def __init__(self, table: str, family: Literal[4, 6], services: Sequence[Service],
                 ids: Mapping[DestKey, int], previous: Mapping[DestKey, int],
                 draining: Collection[DestKey], masquerade: bool) -> None:
        self.table = table
        self.family = family
        self.fam = "ip" if family == 4 else "ip6"
        self.addr_type = "ipv4_addr" if family == 4 else "ipv6_addr"
        self.services = services
        self.ids = ids
        self.previous = previous
        self.draining = [k for k in draining if k in previous and k not in ids]
        self.masquerade = masquerade
        self.objects: list[str] = []
        self.chains: list[str] = []
        self.base_chains: list[str] = []
        self.guard: list[str] = []
        #: live objects that are kept if they exist: counters and dynamic maps
        self.keep: set[LiveObject] = set()

    def chain(self, name: str, rules: Iterable[str]) -> None:
        """A chain: a base chain (hooked) when ``name`` is one of :data:`BASE_CHAINS`."""
        body = []
        if name in BASE_CHAINS:
            kind, hook, priority = BASE_CHAINS[name]
            body.append(f"\t\ttype {kind} hook {hook} priority {priority}; policy accept;")
            self.base_chains.append(name)
        body += [f"\t\t{r}" for r in rules]
        self.chains.append(f"\tchain {name} {{\n" + "\n".join(body) + "\n\t}")

    def render(self) -> str:
        nat = [(n, s) for n, s in enumerate(self.services) if service_kind(s) == "NAT"]
        dr = [(n, s) for n, s in enumerate(self.services) if service_kind(s) == "DR"]
        counters: list[str] = []
        for s in self.services:
            for key in dest_keys(s):
                # Declared again, a live counter keeps its values (the kernel has no update
                # for counters): no count is lost to a re-apply.
                self.objects.append(
                    f'\tcounter c_{self.ids[key]} {{ comment "{counter_comment(key)}"; }}')
                if self.previous.get(key) == self.ids[key]:  # else it counted another's
                    self.keep.add(("counter", f"c_{self.ids[key]}", ""))
                if service_kind(s) == "NAT":
                    counters.append(f'{_mark(self.ids[key])} : "c_{self.ids[key]}"')
        for s in self.services:
            if _persistent(s):
                self.dynamic_map(f"p_{map_tag(s)}", [self.addr_type], s.persistence_timeout or 0)
        if nat:
            self.select("nat", nat)
            for n, s in nat:
                self.nat_service(n, s)
            if counters:
                self.objects.append(f"\tmap counters {{ type mark : counter;"
                                    f"{_elements(counters)} }}")
                self.chain("count", ["ct direction original counter name ct mark map @counters"])
                if self.masquerade:
                    self.chain("nat_post", [
                        f"ct mark & {CT_MARK_MASK:#010x} == {CT_MARK_BASE:#010x} "
                        "ct status dnat masquerade"])
        if dr:
            self.select("dr", dr)
            for n, s in dr:
                self.dr_service(n, s)
        if self.guard:
            self.chain("guard", ["ct status dnat accept", *self.guard])
        lines = [f"table {self.fam} {self.table} {{", *self.objects, *self.chains, "}"]
        return "\n".join(lines) + "\n"

    def select(self, prefix: str, services: Sequence[tuple[int, Service]]) -> None:
        """The lookup maps and chains that lead a packet for a VIP to its service chain."""
        target = "s" if prefix == "nat" else "ds"
        fwm, ep, ep_any = [], [], []
        for n, s in services:
            proto = _PROTO[s.protocol]
            fwm += [f"{mark:#x} : goto {target}_{n}" for mark in s.fwmarks]
            for address, port in s.endpoints:
                if port:
                    ep.append(f"{address} . {proto} . {port} : goto {target}_{n}")
                else:
                    ep_any.append(f"{address} . {proto} : goto {target}_{n}")
        rules = []
        for name, key, key_type, elements in (
                (f"{prefix}_fwm", f"{_ANY_L4} meta mark", "mark", fwm),
                (f"{prefix}_ep", f"{self.fam} daddr . meta l4proto . th dport",
                 f"{self.addr_type} . inet_proto . inet_service", ep),
                (f"{prefix}_ep_any", f"{self.fam} daddr . meta l4proto",
                 f"{self.addr_type} . inet_proto", ep_any)):
            if not elements:
                continue
            self.objects.append(f"\tmap {name} {{ type {key_type} : verdict;"
                                f"{_elements(elements)} }}")
            rules.append(f"{key} vmap @{name}")
            # The guard's own set of the keys: a lookup in the verdict map from the input
            # hook would have the kernel refuse the map's dnat chains there.
            keys = (e.split(" : ", 1)[0] for e in elements)
            self.objects.append(f"\tset {name}_keys {{ type {key_type};{_elements(keys)} }}")
            self.guard.append(f"{key} @{name}_keys counter drop")
        local = f"fib daddr . mark type local jump {prefix}_select"
        self.chain(f"{prefix}_select", rules)
        if prefix == "nat":
            self.chain("nat_pre", [local])
            self.chain("nat_out", [local])
        else:
            self.chain("dr_pre", [local])

    def dynamic_map(self, name: str, key_types: Sequence[str], timeout: int) -> None:
        """A map the packet path fills (key -> id), kept with its entries across re-applies
        while its types and timeout stay the same."""
        self.objects.append(f"\tmap {name} {{ type {' . '.join(key_types)} : mark; "
                            f"flags dynamic,timeout; timeout {timeout}s; }}")
        self.keep.add(("map", name, map_spec(key_types, "mark", timeout)))

    def lookup(self, register: str, key: str, name: str, targets: str) -> list[str]:
        """Go where the map says; an entry whose destination is gone (its id has no chain
        now) is deleted, as the later ``update`` would only refresh it. (A map's ``delete``
        wants a value too; it is not compared.)"""
        return [f"{register} set {key} map @{name} {register} vmap {{ {targets} }}",
                f"delete @{name} {{ {key} : 0x0 }}"]

    def _dispatch(self, s: Service, register: str, chains: Sequence[str]) -> list[str]:
        """Rules of a service chain after its own preamble: persistence, then scheduling."""
        rules = []
        if _persistent(s):
            key = _client_key(s.family, s.persistence_granularity)
            rules += self.lookup(register, key, f"p_{map_tag(s)}", self.targets(s, chains))
        rules.append(schedule_rule(s, chains))
        return rules

    def targets(self, s: Service, chains: Sequence[str]) -> str:
        return ", ".join(f"{_mark(self.ids[k])} : goto {c}"
                         for k, c in zip(dest_keys(s), chains, strict=True))

    def nat_service(self, n: int, s: Service) -> None:
        keys = dest_keys(s)
        if not keys:
            self.chain(f"s_{n}", ["meta l4proto tcp reject with tcp reset", "reject"])
            return
        chains = [f"d_{self.ids[k]}" for k in keys]
        self.chain(f"s_{n}", self._dispatch(s, "ct mark", chains))
        dep = _ANY_L4 if s.fwmarks else f"meta l4proto {_PROTO[s.protocol]}"
        for d, key, name in zip(live_destinations(s), keys, chains, strict=True):
            mark = _mark(self.ids[key])
            rules = [f"ct mark set {mark}"]
            if _persistent(s):
                client_key = _client_key(s.family, s.persistence_granularity)
                rules.append(f"update @p_{map_tag(s)} {{ {client_key} : {mark} }}")
            rules.append(f"{dep} dnat to {_addr(d.address, d.port)}" if d.port
                         else f"dnat to {d.address}")
            self.chain(name, rules)

    def dr_service(self, n: int, s: Service) -> None:
        keys = dest_keys(s)
        flows = f"f_{map_tag(s)}"
        self.dynamic_map(flows, [self.addr_type, "inet_service"], DR_FLOW_TIMEOUT[s.protocol])
        chains = [f"dd_{self.ids[k]}" for k in keys]
        flow_key = f"{self.fam} saddr . th sport"
        # Destinations removed while flows still go to them: reached from the flow map only
        # (IPVS, too, keeps a removed server's connections), until those flows end.
        draining = [k for k in self.draining if k[0] == s.key]
        dests = [(d.address, key, self.ids[key]) for d, key in
                 zip(live_destinations(s), keys, strict=True)]
        dests += [(key[1], key, self.previous[key]) for key in draining]
        every = ", ".join(f"{_mark(dest_id)} : goto dd_{dest_id}" for _, _, dest_id in dests)
        # A packet of a known flow goes where the flow went; meta mark carries the id (the
        # fwmark, if it was one, has been matched already).
        self.chain(f"ds_{n}", [
            "notrack",
            *self.lookup("meta mark", flow_key, flows, every),
            *self._dispatch(s, "meta mark", chains)])
        for address, key, dest_id in dests:
            mark = _mark(dest_id)
            # Each update in a rule of its own: a full map fails the update (the rule stops),
            # and the packet must still be forwarded.
            rules = [f"update @{flows} {{ {flow_key} : {mark} }}"]
            if _persistent(s) and key not in draining:
                client_key = _client_key(s.family, s.persistence_granularity)
                rules.append(f"update @p_{map_tag(s)} {{ {client_key} : {mark} }}")
            rules += [f"counter name c_{dest_id} dup to {address}", "drop"]
            self.chain(f"dd_{dest_id}", rules)
        for key in draining:
            dest_id = self.previous[key]
            self.objects.append(
                f'\tcounter c_{dest_id} {{ comment "{counter_comment(key)}"; }}')
            self.keep.add(("counter", f"c_{dest_id}", ""))


def render(table: str, services: Sequence[Service], *, masquerade: bool = False,
           carry: Carry | None = None) -> str:
    """The nft script that replaces the plane's tables with ``services``, in one transaction.

    ``carry`` says what the live ruleset holds (see :class:`Carry`): the ids are kept, and
    existing tables are changed in place, keeping their counters and dynamic maps; without it
    the tables are declared afresh. Raises :class:`ValueError` for a bad table name, a service
    :func:`check_service` refuses, or two services claiming the same address, port and
    protocol or fwmark.
    """
    if not _TABLE_NAME.match(table):
        raise ValueError(f"bad nftables table name {table!r}")
    for s in services:
        reason = check_service(s)
        if reason:
            raise ValueError(f"{s.key}: {reason}")
    _check_overlaps(services)
    carry = carry or Carry()
    ids, _ = assign_ids(services, carry.ids, carry.next_id,
                        reserved=[carry.ids[k] for k in carry.draining if k in carry.ids])
    script = []
    families: tuple[tuple[Literal[4, 6], str], ...] = ((4, "ip"), (6, "ip6"))
    for family, fam in families:
        chosen = [s for s in services if s.family == family]
        if not chosen:
            script.append(f"table {fam} {table}\ndelete table {fam} {table}")
            continue
        body = _FamilyTable(table, family, chosen, ids, carry.ids, carry.draining,
                            masquerade)
        text = body.render()
        if fam in carry.live:
            script.append(_empty_in_place(fam, table, carry.live[fam], body.base_chains,
                                          body.keep))
        else:
            script.append(f"table {fam} {table}\ndelete table {fam} {table}")
        script.append(text)
    return "\n".join(script) + "\n"


def _empty_in_place(fam: str, table: str, live: Iterable[LiveObject],
                    base_chains: Sequence[str], keep: Collection[LiveObject]) -> str:
    """Commands that empty an existing table but for the ``base_chains`` (hooked as
    :data:`BASE_CHAINS` says), which stay registered, emptied of rules, and the objects in
    ``keep`` (counters, dynamic maps) that the new ruleset declares again, so they keep their
    values and entries: nothing created by a packet between reading the live table and the
    commit is lost.

    Deleting the table and declaring it anew would re-register its hooks, and the kernel runs
    a new nat chain before an old one of the same priority: a new connection arriving as the
    transaction commits could meet the new chain while it is still empty and the old one
    once it has been emptied, and escape the NAT (measured: a few in 10,000 connections
    during back-to-back applies). Rules, maps and regular chains, swapped in one
    transaction, change for a packet all at once.
    """
    live = list(live)
    out = [f"table {fam} {table}"]
    out += [f"flush chain {fam} {table} {name}" for kind, name, _ in live
            if kind in ("chain", "base")]
    out += [f"delete {kind} {fam} {table} {name}" for kind, name, spec in live
            if kind in ("map", "set") and (kind, name, spec) not in keep]
    wanted = {name: base_spec(*BASE_CHAINS[name]) for name in base_chains}
    out += [f"delete chain {fam} {table} {name}" for kind, name, spec in live
            if kind == "chain" or (kind == "base" and wanted.get(name) != spec)]
    out += [f"delete counter {fam} {table} {name}" for kind, name, spec in live
            if kind == "counter" and (kind, name, spec) not in keep]
    return "\n".join(out)


def _check_overlaps(services: Sequence[Service]) -> None:
    claimed: dict[tuple[object, ...], str] = {}
    for s in services:
        keys: list[tuple[object, ...]] = [(s.family, "fwmark", m) for m in s.fwmarks]
        keys += [(a, s.protocol, p) for a, p in s.endpoints]
        for k in keys:
            other = claimed.setdefault(k, s.key)
            if other != s.key:
                raise ValueError(f"{s.key}: {k[0]} {k[1]} {k[2]} is already {other}'s")
