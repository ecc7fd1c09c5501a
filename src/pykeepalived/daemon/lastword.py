"""The last word: what must be said for a VRRP process that can no longer speak.

A MASTER that stops gracefully sends a priority-0 advert, so the best backup takes over after
its skew time, and removes its VIPs. A process that is SIGKILLed, killed by the OOM killer, hung
or crashed cannot; the backups wait out their whole Master_Down_Interval, and the VIPs stay
until their crash-safe lifetime runs out. So the VRRP process (the child) keeps its supervising
parent (:mod:`pykeepalived.daemon.supervisor`) told, whenever it changes, exactly what to say
for it: for each instance that is MASTER, the ready-made priority-0 advert packets per
destination with the interface and source they leave from, and the VIPs to remove (interface
index, address/prefix, peer). The parent cannot ask a dead process, so it gets everything ahead
of time, and it needs nothing heavy to act on it: :func:`hand_over` sends the packets on a raw
VRRP socket and removes the VIPs with hand-packed RTM_DELADDR messages.

The words travel over a SOCK_SEQPACKET socketpair, one message per datagram (``marshal`` of a
tuple; :func:`encode` / :func:`decode`): a word per instance (:class:`Say`, :class:`Unsay`),
the hang limit the event loop promises to keep (:class:`HangLimit`) and the moments it may
block for longer (:class:`Busy`), sd_notify lines for the parent to pass on
(:class:`SdNotify`), and the reason for an exit from inside (:class:`Farewell`). That the loop
runs is told by its :class:`~pykeepalived.daemon.pulse.Pulse` in shared memory (no message,
no wake-up of the parent), or by heartbeat messages (:class:`Beat`) where there is none.

The child's side is :class:`LastWord`, which the driver tells about every batch of actions it
carried out (:meth:`LastWord.after`): only batches that move an instance in or out of MASTER or
install or release VIPs cost anything. An unhandled error in the event loop takes the crash
path from inside (:meth:`LastWord.die`): priority 0 and VIPs removed, then a non-zero exit.

This module is imported by the small parent process too: nothing heavy at import time.
"""

from __future__ import annotations

import errno
import itertools
import marshal
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from typing import TYPE_CHECKING, Any, Protocol

from pykeepalived.core.actions import (
    Action,
    AddAddresses,
    RemoveAddresses,
    SendAdvert,
    State,
    Transition,
)
from pykeepalived.daemon.log import LOG_ERR, LOG_INFO
from pykeepalived.daemon.pulse import CHORES, Pulse
from pykeepalived.daemon.sdnotify import SystemdNotifier
from pykeepalived.errors import LocalError, PyKeepalivedError
from pykeepalived.net.addr_release import encode_deladdr, remove_addresses
from pykeepalived.net.vrrp_socket import IPPROTO_AH, IPPROTO_VRRP, VrrpSocket

if TYPE_CHECKING:
    import asyncio

    from pykeepalived.config.model import VirtualIP
    from pykeepalived.core.node import Node
    from pykeepalived.core.router import RouterParams, VirtualRouter
    from pykeepalived.daemon.runtime import InstanceRuntime
    from pykeepalived.daemon.vips import VipManager

#: Exit status of a VRRP process that handed over from inside after an unhandled error
#: (EX_SOFTWARE); the parent respawns it.
EXIT_UNHANDLED = 70
#: Exit status of a VRRP process that cannot start or go on (LocalError: its configuration or
#: its host is at fault); the parent does not respawn it, as keepalived's parent does not
#: respawn a child that exits with a configuration error.
EXIT_CANNOT_RUN = 1

#: The hang limit until the child knows its instances (imports, configuration, start-up).
STARTUP_HANG_LIMIT = 60.0
#: Default hang limit: this many of the shortest advert interval, but never below the floor
#: (a reload or a collection may block the loop for a moment without anything being wrong).
HANG_ADVERTS = 2
HANG_FLOOR = 1.0
#: Heartbeat messages per hang limit (and at least one a second), without a pulse.
BEATS_PER_LIMIT = 5
#: With a pulse: it is set on the loop's natural wake-ups, and by a fallback timer when this
#: share of the hang limit passed without one (so a loop that always has something to do
#: wakes for nothing else). A loop stalled for the rest of the limit counts as hung.
PULSE_SHARE = 0.6


def default_hang_limit(advert_intervals: Iterable[float]) -> float:
    """How long the event loop may go without a heartbeat before it counts as hung."""
    shortest = min(advert_intervals, default=None)
    return HANG_FLOOR if shortest is None else max(HANG_FLOOR, HANG_ADVERTS * shortest)


# ---------------------------------------------------------------------------- the words


@dataclass(frozen=True, slots=True)
class VipWord:
    """A VIP to remove: interface index, ``address/prefix``, and the peer (or None)."""

    ifindex: int
    address: str
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceWord:
    """What to say for one MASTER instance when its process cannot."""

    name: str
    ifname: str  #: the interface its adverts leave from (its VMAC interface, if it sends there)
    family: int  #: socket.AF_INET or socket.AF_INET6
    src: str | None  #: the advert source address (None: the kernel chooses)
    adverts: tuple[tuple[str, bytes], ...]  #: (destination, priority-0 VRRP message)
    vips: tuple[VipWord, ...] = ()
    #: IPPROTO_VRRP, or IPPROTO_AH: then each advert is a whole datagram (auth_type AH)
    protocol: int = IPPROTO_VRRP


@dataclass(frozen=True, slots=True)
class Beat:
    """The event loop is alive."""


@dataclass(frozen=True, slots=True)
class HangLimit:
    """From now on, a heartbeat at least every ``seconds`` (else: hung)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Busy:
    """The loop is about to block for up to ``seconds`` (a reload): not a hang. Lasts until
    the next :class:`Beat`, which only a free loop sends."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Say:
    word: InstanceWord


@dataclass(frozen=True, slots=True)
class Unsay:
    """Nothing to say for this instance any more (it left MASTER, or is gone)."""

    name: str


@dataclass(frozen=True, slots=True)
class SdNotify:
    """sd_notify lines for the parent (systemd's main process) to pass on."""

    text: str


@dataclass(frozen=True, slots=True)
class Farewell:
    """Why the child is about to exit on its own (an unhandled error)."""

    reason: str


Message = Beat | HangLimit | Busy | Say | Unsay | SdNotify | Farewell

_BEAT, _LIMIT, _SAY, _UNSAY, _NOTIFY, _FAREWELL, _BUSY = range(1, 8)
_BEAT_BYTES = marshal.dumps((_BEAT,))


class LastWordError(LocalError):
    """A message on the last-word channel is malformed (a bug: both ends are ours)."""


def encode(message: Message) -> bytes:
    match message:
        case Beat():
            return _BEAT_BYTES
        case HangLimit(seconds):
            return marshal.dumps((_LIMIT, float(seconds)))
        case Busy(seconds):
            return marshal.dumps((_BUSY, float(seconds)))
        case Say(w):
            vips = tuple((v.ifindex, v.address, v.peer or "") for v in w.vips)
            return marshal.dumps((_SAY, w.name, w.ifname, int(w.family), w.src or "",
                                  w.adverts, vips, w.protocol))
        case Unsay(name):
            return marshal.dumps((_UNSAY, name))
        case SdNotify(text):
            return marshal.dumps((_NOTIFY, text))
        case Farewell(reason):
            return marshal.dumps((_FAREWELL, reason))
    raise TypeError(f"not a last-word message: {message!r}")


def _check(value: object, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kind):
        raise LastWordError(f"expected {kind}, got {type(value).__name__}")
    return value


def decode(data: bytes) -> Message:
    """One message from its bytes; :class:`LastWordError` when it is not one."""
    try:
        return _decode(marshal.loads(data))
    except LastWordError:
        raise
    except (EOFError, ValueError, TypeError) as exc:
        raise LastWordError(f"undecodable message: {exc}") from exc


def _decode(fields: object) -> Message:
    if not isinstance(fields, tuple) or not fields:
        raise LastWordError("a message is a non-empty tuple")
    kind, rest = fields[0], fields[1:]
    if kind == _BEAT and not rest:
        return Beat()
    if kind in (_LIMIT, _BUSY) and len(rest) == 1:
        seconds = float(_check(rest[0], (int, float)))
        if not seconds > 0:
            raise LastWordError(f"hang limit {seconds} is not positive")
        return HangLimit(seconds) if kind == _LIMIT else Busy(seconds)
    if kind == _SAY and len(rest) == 7:
        name, ifname, family, src, adverts, vips, protocol = rest
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise LastWordError(f"family {family!r}")
        if protocol not in (IPPROTO_VRRP, IPPROTO_AH):
            raise LastWordError(f"protocol {protocol!r}")
        packets = tuple((_check(d, str), _check(p, bytes)) for d, p in _check(adverts, tuple))
        removals = tuple(VipWord(_check(i, int), _check(a, str), _check(p, str) or None)
                         for i, a, p in _check(vips, tuple))
        return Say(InstanceWord(_check(name, str), _check(ifname, str), family,
                                _check(src, str) or None, packets, removals, protocol))
    if kind == _UNSAY and len(rest) == 1:
        return Unsay(_check(rest[0], str))
    if kind == _NOTIFY and len(rest) == 1:
        return SdNotify(_check(rest[0], str))
    if kind == _FAREWELL and len(rest) == 1:
        return Farewell(_check(rest[0], str))
    raise LastWordError(f"unknown message {fields[:1]!r} with {len(rest)} fields")


# ---------------------------------------------------------------------------- saying it


@dataclass
class Handover:
    """What :func:`hand_over` did, for the log (written after the time-critical part)."""

    adverts: list[tuple[str, str]] = field(default_factory=list)  #: (instance, interface)
    removed: list[tuple[str, str]] = field(default_factory=list)  #: (instance, address)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line, however many instances: what was said, in how long."""
        names = [name for name, _ in self.adverts]
        shown = ", ".join(names[:SUMMARY_NAMES]) + (", ..." if len(names) > SUMMARY_NAMES else "")
        said = f"priority 0 sent for {shown}" if names else "no priority 0 sent"
        if len(names) > 1:
            said += f" ({len(names)} instances)"
        vips = len(self.removed)
        return (f"handed over in {self.seconds * 1000:.1f} ms: {said}; {vips} "
                f"VIP{'' if vips == 1 else 's'} removed"
                + (f"; {len(self.problems)} problem(s)" if self.problems else ""))

    def details(self) -> list[str]:
        """keepalived's detailed lines (-D), one per advert and per VIP."""
        out = [f"({name}) sent 0 priority on {ifname}" for name, ifname in self.adverts]
        return out + [f"({name}) removed VIP {address}" for name, address in self.removed]


#: How many instance names the summary line lists.
SUMMARY_NAMES = 8

_sequence = itertools.count(1)


@dataclass(frozen=True)
class Prepared:
    """An :class:`InstanceWord` made ready to say: addresses parsed, RTM_DELADDR requests
    packed (each numbered, so the kernel's answer names it). The parent prepares each word
    when it arrives, so that saying it costs only the system calls."""

    word: InstanceWord
    src: IPv4Address | IPv6Address
    adverts: tuple[tuple[IPv4Address | IPv6Address, bytes], ...]
    removals: tuple[tuple[int, bytes, str], ...]  #: (sequence number, request, address)
    problems: tuple[str, ...] = ()


def prepare(word: InstanceWord) -> Prepared:
    src = ip_address(word.src) if word.src else (
        IPv6Address(0) if word.family == socket.AF_INET6 else IPv4Address(0))
    problems: list[str] = []
    adverts = []
    for dst, payload in word.adverts:
        try:
            adverts.append((ip_address(dst), payload))
        except ValueError as exc:
            problems.append(f"({word.name}) cannot send priority 0 to {dst}: {exc}")
    removals = []
    for v in word.vips:
        seq = next(_sequence)
        try:
            removals.append((seq, encode_deladdr(v.ifindex, ip_interface(v.address), seq=seq,
                                                 peer=ip_address(v.peer) if v.peer else None),
                             v.address))
        except ValueError as exc:
            problems.append(f"({word.name}) cannot remove VIP {v.address}: {exc}")
    return Prepared(word, src, tuple(adverts), tuple(removals), tuple(problems))


def hand_over(words: Iterable[InstanceWord | Prepared],
              clock: Callable[[], float] = time.monotonic) -> Handover:
    """Say the last word: every priority-0 advert first (the backups' skew timers start when
    they hear it), then every VIP removed, as a MASTER stopping gracefully does. Never raises:
    what failed is listed in the result."""
    start = clock()
    ready = [w if isinstance(w, Prepared) else prepare(w) for w in words]
    done = Handover()
    sockets: dict[tuple[str, int, int], VrrpSocket] = {}
    try:
        for p in ready:
            w = p.word
            done.problems.extend(p.problems)
            if not p.adverts:
                continue
            key = (w.ifname, w.family, w.protocol)
            sock = sockets.get(key)
            if sock is None:
                try:
                    sock = sockets[key] = VrrpSocket.open(w.family, w.ifname, src=p.src,
                                                          join_group=False, protocol=w.protocol)
                except (PyKeepalivedError, OSError) as exc:
                    done.problems.append(f"({w.name}) cannot send priority 0 on {w.ifname}: "
                                         f"{exc}")
                    continue
            sock.set_source(p.src)
            try:
                sent = all([sock.send(payload, dst) for dst, payload in p.adverts])
            except OSError as exc:
                sent, sock.last_send_errno = False, exc.errno or 0
            if sent:
                done.adverts.append((w.name, w.ifname))
            else:
                done.problems.append(f"({w.name}) priority 0 not sent on {w.ifname}: "
                                     f"{os.strerror(sock.last_send_errno)}")
    finally:
        for sock in sockets.values():
            sock.close()
    removals = [(p.word.name, seq, request, address)
                for p in ready for seq, request, address in p.removals]
    try:
        failed = remove_addresses([request for _, _, request, _ in removals])
    except OSError as exc:
        failed = {seq: exc.errno or -1 for _, seq, _, _ in removals}
    for name, seq, _, address in removals:
        code = failed.get(seq)
        if code is None:
            done.removed.append((name, address))
        else:
            why = os.strerror(code) if code > 0 else "no answer from the kernel"
            done.problems.append(f"({name}) cannot remove VIP {address}: {why}")
    done.seconds = clock() - start
    return done


# ---------------------------------------------------------------------------- the child's side


class Speaker(Protocol):
    """What :class:`LastWord` reads of the daemon (the driver's ``Daemon`` is one)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

    @property
    def node(self) -> Node: ...

    @property
    def instances(self) -> Mapping[str, InstanceRuntime]: ...

    @property
    def vip_manager(self) -> VipManager: ...

    @property
    def vip_lifetime(self) -> float | None: ...


def instance_word(router: VirtualRouter, rt: InstanceRuntime,
                  held: Sequence[tuple[int, VirtualIP]]) -> InstanceWord:
    """The last word of one MASTER instance: its priority-0 advert, sent where its adverts
    go (the VMAC interface, as AdvertSockets sends them), and the VIPs it installed."""
    vmac_sends = rt.vmac and not rt.cfg.vmac_xmit_base
    src = router.params.src
    return InstanceWord(
        name=rt.name, ifname=rt.vip_if if vmac_sends else rt.base_if, family=int(rt.family),
        src=None if src.is_unspecified else str(src),
        adverts=tuple((str(dst), data) for dst, data in router.goodbye_packets()),
        vips=tuple(VipWord(ifindex, str(vip.address),
                           str(vip.peer.ip) if vip.peer is not None else None)
                   for ifindex, vip in held),
        protocol=IPPROTO_AH if router.ah is not None else IPPROTO_VRRP)


class LastWord:
    """The VRRP process's end of the channel: keeps the parent told what to say for it.

    Built without a channel it does nothing (a daemon run without a supervisor, and the unit
    tests of the driver). ``hang_limit`` None: :func:`default_hang_limit` of the instances.
    ``supervision`` is what the parent said about earlier runs (for status)."""

    def __init__(self, speaker: Speaker | None = None, channel: socket.socket | None = None, *,
                 log: Callable[..., None] | None = None,
                 detail: Callable[[str], None] | None = None, hang_limit: float | None = None,
                 supervision: Mapping[str, object] | None = None,
                 pulse: Pulse | None = None) -> None:
        self._speaker = speaker
        self._pulse = pulse if channel is not None else None
        self._chan = channel if speaker is not None else None
        if self._chan is not None:
            self._chan.setblocking(False)
        self._log = log
        self._detail = detail
        self.hang_limit_option = hang_limit
        self.supervision: dict[str, object] | None = dict(supervision) \
            if supervision is not None else None
        self.hang_limit = STARTUP_HANG_LIMIT
        #: what the parent has been told (or will be, once the channel takes it)
        self.words: dict[str, InstanceWord] = {}
        self._params: dict[str, RouterParams] = {}
        self._pending: dict[str, bytes] = {}
        self._node: Node | None = None
        self._beat: asyncio.TimerHandle | None = None
        self.dying = False

    @property
    def enabled(self) -> bool:
        return self._chan is not None

    # ------------------------------------------------------------------ the channel

    def _send(self, key: str, message: Message) -> None:
        if self._chan is None:
            return
        data = encode(message)
        if self._pending:
            self._pending.pop(key, None)
            self._pending[key] = data
            self._flush()
            return
        try:
            self._chan.send(data)
        except (BlockingIOError, TimeoutError):
            self._pending[key] = data  # the parent is behind: the newest word per key wins
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                self._say_log(f"last word for {key} too long for the channel ({len(data)} "
                              "bytes): not sent", LOG_ERR)
                return
            self._chan = None  # the parent is gone; its death signal stops us

    def _flush(self) -> None:
        while self._pending and self._chan is not None:
            key = next(iter(self._pending))
            try:
                self._chan.send(self._pending[key])
            except (BlockingIOError, TimeoutError):
                return
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    self._chan = None
                    return
            del self._pending[key]

    def notify(self, text: str) -> None:
        """sd_notify lines, for the parent to pass on to systemd."""
        self._send(f"notify:{time.monotonic_ns()}", SdNotify(text))

    # ------------------------------------------------------------------ what the driver calls

    def start(self) -> None:
        """From inside the running event loop, before start-up: heartbeats begin, and an
        unhandled error in a callback takes the crash path."""
        if self._chan is None or self._speaker is None or self._speaker.loop is None:
            return
        loop = self._speaker.loop
        loop.set_exception_handler(self._on_loop_error)
        self._send("limit", HangLimit(self.hang_limit))
        self._heartbeat()

    def busy(self, seconds: float = STARTUP_HANG_LIMIT) -> None:
        """The loop is about to block for a while without being hung (a reload: asking the
        host about hundreds of instances takes seconds): the parent allows it ``seconds``,
        until the loop's next heartbeat."""
        self._send("busy", Busy(seconds))

    def alive(self) -> None:
        """The loop woke for something (the driver's inputs): the pulse is set, and the
        fallback timer moved on when it was about to fire."""
        pulse, beat = self._pulse, self._beat
        now = time.monotonic()
        CHORES.woke(now)
        if pulse is None or beat is None:
            return
        pulse.beat(int(now * 1e9))
        if beat.when() - now < self._period() / 2:
            beat.cancel()
            self._heartbeat()

    def after(self, actions: Sequence[Action]) -> None:
        """The driver carried out ``actions``: refresh the word of every instance they moved
        in or out of MASTER or whose VIPs they installed or released (of every instance after
        a reload: a new Node)."""
        self.alive()
        speaker = self._speaker
        if self._chan is None or speaker is None:
            return
        if speaker.node is not self._node:
            self._node = speaker.node
            self._refresh(set(speaker.node.routers) | set(self.words))
            if speaker.node.routers:  # not the empty Node the driver is built with
                self._update_limit(speaker)
            return
        routers = speaker.node.routers
        # A numbered priority 0 (auth_type AH, auth_hmac) must carry the number after the
        # last advert sent, and auth_hmac's a fresh timestamp: its word is renewed with every
        # advert.
        names = {a.instance for a in actions
                 if isinstance(a, (Transition, AddAddresses, RemoveAddresses))
                 or (isinstance(a, SendAdvert) and (r := routers.get(a.instance)) is not None
                     and (r.ah is not None or r.hmac is not None))}
        if names:
            self._refresh(names)

    def _update_limit(self, speaker: Speaker) -> None:
        limit = self.hang_limit_option or default_hang_limit(
            rt.params.advert_int for rt in speaker.instances.values())
        if limit != self.hang_limit:
            self.hang_limit = limit
            self._send("limit", HangLimit(limit))
            # The next beat was planned for the old limit: beat now, then at the new pace.
            if self._beat is not None:
                self._beat.cancel()
                self._heartbeat()

    def _refresh(self, names: Iterable[str]) -> None:
        speaker = self._speaker
        assert speaker is not None
        holdings = speaker.vip_manager.holdings
        release = speaker.vip_lifetime is not None  # -V: VIPs stay, as on a graceful stop
        for name in names:
            router = speaker.node.routers.get(name)
            rt = speaker.instances.get(name)
            if router is None or rt is None or router.state is not State.MASTER:
                if self.words.pop(name, None) is not None:
                    self._params.pop(name, None)
                    self._send(name, Unsay(name))
                continue
            held = holdings[name].addresses if release and name in holdings else []
            word = instance_word(router, rt, held)
            self._params[name] = router.params
            if self.words.get(name) != word:
                self.words[name] = word
                self._send(name, Say(word))

    def _heartbeat(self) -> None:
        speaker = self._speaker
        if self._chan is None or speaker is None or speaker.loop is None:
            return
        self._flush()
        if self._pulse is not None:
            self._pulse.beat()
        else:
            self._send("beat", Beat())
        # A router's parameters change without a transition when its interface's address
        # does (update_source): catch that here, a few times per hang limit.
        stale = [name for name, params in self._params.items()
                 if (r := speaker.node.routers.get(name)) is None or r.params is not params]
        if stale:
            self._refresh(stale)
        self._beat = speaker.loop.call_later(self._period(), self._heartbeat)

    def _period(self) -> float:
        if self._pulse is not None:
            return self.hang_limit * PULSE_SHARE
        return min(1.0, self.hang_limit / BEATS_PER_LIMIT)

    # ------------------------------------------------------------------ dying

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's exception handler. An exception escaping a callback (a timer, a socket
        reader, a signal handler: the VRRP machinery itself) left the daemon in an unknown
        state: hand over and exit. Errors of tasks (control socket, metrics, scripts) and
        OSErrors are logged and the daemon goes on."""
        exc = context.get("exception")
        if not isinstance(exc, Exception) or isinstance(exc, OSError) \
                or "handle" not in context:
            loop.default_exception_handler(context)
            return
        self.die(f"unhandled {type(exc).__name__} in the event loop: {exc}", exc)
        os._exit(EXIT_UNHANDLED)

    def die(self, reason: str, exc: BaseException | None = None) -> None:
        """The crash path from inside: log why, send priority 0 for every MASTER instance and
        remove its VIPs, tell the parent (so it neither repeats it nor wonders why)."""
        if self.dying:
            return
        self.dying = True
        if exc is not None:
            for chunk in traceback.format_exception(exc):
                for line in chunk.rstrip().splitlines():
                    self._say_log(line, LOG_ERR)
        self._say_log(f"{reason}: handing over and exiting", LOG_ERR)
        self._send("farewell", Farewell(reason))
        done = hand_over(self.words.values())
        self._say_log(done.summary(), LOG_INFO)
        if self._detail is not None:
            for line in done.details():
                self._detail(line)
        for line in done.problems:
            self._say_log(line, LOG_ERR)
        if self._chan is not None:
            self._chan.settimeout(1.0)  # the parent must hear it all before we exit
        for name in list(self.words):
            del self.words[name]
            self._send(name, Unsay(name))
        self._flush()

    def _say_log(self, line: str, level: int) -> None:
        if self._log is not None:
            self._log(line, level=level)


class RelayNotifier(SystemdNotifier):
    """The child's sd_notify: lines go to the parent, systemd's main process, which passes
    them on (so ``NotifyAccess=main`` is enough, and MAINPID stays the parent's)."""

    def __init__(self, last_word: LastWord, enabled: bool) -> None:
        # Not SystemdNotifier.__init__: no socket of its own.
        self.address = None
        self.failures = 0
        self._sock = None
        self._last_word = last_word
        self._relay = enabled

    @property
    def enabled(self) -> bool:
        return self._relay

    def send(self, *assignments: str) -> bool:
        if not self._relay:
            return False
        lines = [a for a in assignments if not a.startswith("MAINPID=")]
        if lines:
            self._last_word.notify("\n".join(lines))
        return True
