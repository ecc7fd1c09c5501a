"""A virtual server's pool: which real servers take traffic, by keepalived's rules.

The pure half of keepalived's ``ipwrapper.c``, with no kernel under it. Checkers report their
verdicts (:meth:`Pool.verdict`: the points where keepalived calls ``update_svr_checker_state``)
and their dynamic weights (:meth:`Pool.checker_weight`); the pool keeps, as keepalived does:

- a real server is *alive* while none of its checkers is down (``num_failed_checkers == 0``);
  one with no checker is always alive; an ``alpha`` checker starts down, so its server starts
  out of the pool;
- its *effective weight* is its configured weight plus what its dynamic checkers add
  (``misc_dynamic``, ``FILE_CHECK dynamic``), clamped to 0 at the bottom;
- the *quorum*: the sum of the alive servers' weights against ``quorum``, with ``hysteresis``
  either side of it (gained at ``quorum + hysteresis``, lost below ``quorum - hysteresis``);
  while it is lost and a ``sorry_server`` is configured, the sorry server alone takes new
  connections; without one, quorum loss only runs ``quorum_down`` (the alive servers stay);
- ``inhibit_on_failure``: a dead server stays in the table at weight 0 (it keeps its current
  connections and takes no new ones), and the log says Enabling / Disabling instead of
  Adding / Removing.

Every change comes back as actions: keepalived's log lines and the notify scripts to run. What
the plane should hold is :meth:`Pool.service`, recomputed from the state; the caller applies
it when it differs from what is installed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pykeepalived.lvs.model import RealServer, Script, VirtualServer
from pykeepalived.lvs.table import Destination, Service

#: what the nftables plane schedules in place of IPVS's connection-counting schedulers
ALGO_STANDIN = {"wlc": "wrr", "lc": "rr"}


@dataclass(frozen=True)
class Log:
    text: str


@dataclass(frozen=True)
class Notify:
    """Run a notify script (keepalived's notify_exec: no arguments added)."""

    script: Script
    #: what it is for, for the log and status: "notify_up [ip]:tcp:80", "quorum_down ..."
    why: str


Action = Log | Notify


@dataclass
class ServerState:
    """A real server (or the sorry server) as the pool sees it."""

    rs: RealServer
    name: str
    #: per checker: up? (keepalived's checker->is_up), and has it run?
    up: list[bool]
    has_run: list[bool]
    #: per checker: what it adds to the configured weight (dynamic checkers)
    extra: list[int]
    alive: bool = False
    #: in the table (alive, or dead under inhibit_on_failure at weight 0)
    set: bool = False

    @property
    def failed(self) -> int:
        return sum(1 for u in self.up if not u)

    @property
    def weight(self) -> int:
        return max(0, self.rs.weight + sum(self.extra))


@dataclass
class Pool:
    vs: VirtualServer
    servers: list[ServerState] = field(default_factory=list)
    sorry: ServerState | None = None
    quorum_up: bool = True
    started: bool = False

    def __post_init__(self) -> None:
        for rs in self.vs.real_servers:
            alpha = [_alpha(c) for c in rs.checkers]
            self.servers.append(ServerState(
                rs, self.vs.rs_name(rs), up=[not a for a in alpha],
                has_run=[False] * len(alpha), extra=[0] * len(alpha)))
        if self.vs.sorry_server is not None:
            s = self.vs.sorry_server
            self.sorry = ServerState(s, self.vs.rs_name(s), up=[], has_run=[], extra=[])

    # ------------------------------------------------------------------ state

    def live_weight(self) -> int:
        return sum(s.weight for s in self.servers if s.alive)

    def threshold(self) -> int:
        return self.vs.quorum + (-1 if self.quorum_up else 1) * self.vs.hysteresis

    def sorry_active(self) -> bool:
        return self.sorry is not None and self.sorry.alive

    def service(self) -> Service | None:
        """What the plane should hold now; None before :meth:`start` and after :meth:`stop`."""
        if not self.started:
            return None
        vs = self.vs
        if self.sorry is not None and self.sorry.alive:
            members = [self.sorry]
        else:
            members = [s for s in self.servers if s.alive]
        dests = tuple(Destination(s.rs.address, s.rs.port, s.weight, s.rs.lb_kind)
                      for s in members if s.weight > 0)
        endpoints: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = []
        fwmarks: list[int] = []
        if vs.group is not None:
            for e in vs.group.entries:
                if e.fwmark is not None:
                    fwmarks.append(e.fwmark)
                elif e.first is not None:
                    last = e.last or e.first
                    for n in range(int(e.first), int(last) + 1):
                        endpoints.append((ipaddress.ip_address(n) if e.first.version == 4
                                          else ipaddress.IPv6Address(n), e.port or vs.port))
        elif vs.fwmark is not None:
            fwmarks.append(vs.fwmark)
        elif vs.address is not None:
            endpoints.append((vs.address, vs.port))
        granularity = vs.persistence_granularity
        if isinstance(granularity, ipaddress.IPv4Address):
            granularity = bin(int(granularity)).count("1")
        return Service(
            key=vs.name, family=vs.family, protocol=vs.protocol, endpoints=tuple(endpoints),
            fwmarks=tuple(fwmarks), lb_algo=ALGO_STANDIN.get(vs.lb_algo, vs.lb_algo),
            persistence_timeout=vs.persistence_timeout, persistence_granularity=granularity,
            hash_port=vs.hash_port, destinations=dests)

    # ------------------------------------------------------------------ life cycle

    def start(self, *, init_notifies: bool = False) -> list[Action]:
        """keepalived's init_service_vs: the servers without a failed checker go in."""
        out: list[Action] = []
        self.started = True
        for s in self.servers:
            if s.failed == 0:
                s.alive = s.set = True
                if init_notifies:
                    out += self._rs_notifies(s)
            elif s.rs.inhibit_on_failure:
                s.set = True
        self.quorum_up = self.live_weight() >= self.vs.quorum + self.vs.hysteresis
        out += self._update_quorum(init=True)
        return out

    def take_over(self, old: Pool) -> tuple[list[Action], dict[tuple[int, int],
                                                                 tuple[int, int]]]:
        """A reload: this pool replaces ``old`` (the same virtual server name). As keepalived
        (clear_diff_rs, migrate_checkers, init_service_rs): a real server is the same when
        its address and port are; it keeps its alive state and every checker that is
        unchanged keeps its state; a changed weight is logged and applied; servers gone are
        logged out ("service ... no longer exist"). Returns the actions and, per kept
        checker, (server, checker) here -> (server, checker) in ``old``: the caller keeps
        those checkers running."""
        out: list[Action] = []
        kept: dict[tuple[int, int], tuple[int, int]] = {}
        vs = self.vs
        by_addr = {(s.rs.address, s.rs.port): (j, s) for j, s in enumerate(old.servers)}
        matched: set[int] = set()
        self.started = True
        self.quorum_up = old.quorum_up
        for i, s in enumerate(self.servers):
            hit = by_addr.get((s.rs.address, s.rs.port))
            if hit is None:  # new: as at start-up
                s.alive = s.failed == 0
                s.set = s.alive or s.rs.inhibit_on_failure
                continue
            j, before = hit
            matched.add(j)
            used: set[int] = set()
            for ci, chk in enumerate(s.rs.checkers):
                for cj, previous in enumerate(before.rs.checkers):
                    if cj not in used and previous == chk:
                        used.add(cj)
                        s.up[ci], s.has_run[ci] = before.up[cj], before.has_run[cj]
                        s.extra[ci] = before.extra[cj]
                        kept[(i, ci)] = (j, cj)
                        break
            s.alive, s.set = before.alive, before.set
            if before.weight != s.weight:
                state = "" if s.alive else "in"
                out.append(Log(f"Changing weight from {before.weight} to {s.weight} for "
                               f"{state}active service {s.name} of VS {vs.name}"))
            if s.alive != (s.failed == 0):  # checkers added or removed by the reload
                out += self._perform(s, s.failed == 0)
        for j, before in enumerate(old.servers):
            if j in matched:
                continue
            out.append(Log(f"service {before.name} no longer exist"))
            if before.set:
                inhibited = ("(inhibited) " if before.rs.inhibit_on_failure and not before.alive
                             else "")
                out.append(Log(f"Removing {inhibited}service {before.name} from VS "
                               f"{old.vs.name}"))
            if before.alive:
                before.alive = False
                out += old._rs_notifies(before)
        if self.sorry is not None and old.sorry is not None \
                and (self.sorry.rs.address, self.sorry.rs.port) == (old.sorry.rs.address,
                                                                    old.sorry.rs.port):
            self.sorry.alive = old.sorry.alive
        return out + self._update_quorum(init=True), kept

    def stop(self, *, keep: bool = False, stopping: bool = True) -> list[Action]:
        """keepalived's clear_service_vs: on shutdown (``stopping``) every server "Shutting
        down", and with omega the down notifiers of what was up; removed by a reload, every
        server in the table "Removing", with its down notifier. ``keep`` (-I): the table
        stays, the lines are the same."""
        out: list[Action] = []
        vs = self.vs
        every = list(self.servers)
        if self.sorry is not None and self.sorry.alive:
            every.append(self.sorry)
        for s in every:
            if not stopping and not s.set and s is not self.sorry:
                continue  # keepalived logs only what is in the table
            inhibited = "(inhibited) " if s.rs.inhibit_on_failure and not s.alive else ""
            verb = "Shutting down" if stopping else "Removing"
            out.append(Log(f"{verb} {inhibited}service {s.name} from VS {vs.name}"))
            was_alive = s.alive
            s.alive = s.set = False
            if was_alive and (vs.omega or not stopping) and s is not self.sorry:
                out += self._rs_notifies(s)
        if self.quorum_up:
            self.quorum_up = False
            if (vs.omega or not stopping) and vs.quorum_down is not None:
                out.append(Notify(vs.quorum_down, f"quorum_down {vs.name}"))
        self.started = False
        return out

    # ------------------------------------------------------------------ checker input

    def verdict(self, server: int, checker: int, alive: bool) -> list[Action]:
        """keepalived's update_svr_checker_state(alive, checker)."""
        s = self.servers[server]
        if s.up[checker] == alive:
            out: list[Action] = []
            if not s.has_run[checker]:
                if _alpha(s.rs.checkers[checker]) or not alive:
                    out += self._rs_notifies(s)
                s.has_run[checker] = True
            return out
        s.has_run[checker] = True
        out = []
        failed = s.failed
        if (alive and failed <= 1) or (not alive and failed == 0):
            out += self._perform(s, alive)
        s.up[checker] = alive
        return out

    def checker_weight(self, server: int, checker: int, weight: int) -> list[Action]:
        """A dynamic checker set its server's weight to ``weight`` (keepalived's cur_weight:
        the difference from the configured weight is the checker's share)."""
        s = self.servers[server]
        old = s.weight
        s.extra[checker] = weight - s.rs.weight
        new = s.weight
        if new == old:
            return []
        state = "" if s.alive else "in"
        out: list[Action] = [Log(f"Changing weight from {old} to {new} for {state}active "
                                 f"service {s.name} of VS {self.vs.name}")]
        return out + self._update_quorum(init=False)

    # ------------------------------------------------------------------ keepalived's rules

    def _perform(self, s: ServerState, alive: bool) -> list[Action]:
        """perform_svr_state: the server goes in or out of the pool."""
        if s.alive == alive:
            return []
        inhibit = s.rs.inhibit_on_failure
        verb = ("Enabl" if inhibit else "Add") if alive else ("Disabl" if inhibit else "Remov")
        prep = "of" if inhibit else ("to" if alive else "from")
        out: list[Action] = [Log(f"{verb}ing service {s.name} {prep} VS {self.vs.name}")]
        s.alive = alive
        s.set = alive or inhibit
        out += self._rs_notifies(s)
        return out + self._update_quorum(init=False)

    def _rs_notifies(self, s: ServerState) -> list[Action]:
        script = s.rs.notify_up if s.alive else s.rs.notify_down
        if script is None:
            return []
        return [Notify(script, f"{'notify_up' if s.alive else 'notify_down'} {s.name}")]

    def _update_quorum(self, *, init: bool) -> list[Action]:
        """update_quorum_state."""
        vs = self.vs
        total = self.live_weight()
        threshold = self.threshold()
        out: list[Action] = []
        if not self.quorum_up and total >= threshold:
            self.quorum_up = True
            out.append(Log(f"Gained quorum {vs.quorum}+{vs.hysteresis}={threshold} <= {total} "
                           f"for VS {vs.name}"))
            if self.sorry is not None and self.sorry.alive:
                verb = "Disabling" if vs.sorry_server_inhibit else "Removing"
                out.append(Log(f"{verb} sorry server {self.sorry.name} from VS {vs.name}"))
                self.sorry.alive = False
                out.append(Log(f"Adding alive servers to the pool for VS {vs.name}"))
            if vs.quorum_up is not None:
                out.append(Notify(vs.quorum_up, f"quorum_up {vs.name}"))
        elif ((self.quorum_up and (not total or total < threshold))
              or (init and not self.quorum_up and self.sorry is not None
                  and not self.sorry.alive)):
            self.quorum_up = False
            what = "Starting with quorum down" if init else "Lost quorum"
            out.append(Log(f"{what} {vs.quorum}-{vs.hysteresis}={threshold} > {total} "
                           f"for VS {vs.name}"))
            if self.sorry is not None and not self.sorry.alive:
                verb = "Enabling" if vs.sorry_server_inhibit else "Adding"
                out.append(Log(f"{verb} sorry server {self.sorry.name} to VS {vs.name}"))
                out.append(Log(f"Removing alive servers from the pool for VS {vs.name}"))
                self.sorry.alive = True
            if vs.quorum_down is not None:
                out.append(Notify(vs.quorum_down, f"quorum_down {vs.name}"))
        return out


def _alpha(checker: object) -> bool:
    timing = getattr(checker, "timing", None)
    return bool(timing is not None and timing.alpha)
