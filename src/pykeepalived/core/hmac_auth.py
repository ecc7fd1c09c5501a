"""keepalived 2.4's ``auth_hmac``: an authentication trailer after the VRRP message
(draft-cassen-vrrp-auth-hmac), pure functions and per-instance state only.

The trailer is 28 bytes: scheme (1 = HMAC-SHA256 truncated to 128 bits), key id, two reserved
zero bytes, a 64-bit sequence (32 bits of UTC seconds, a 16-bit binary fraction of a second and
a 16-bit counter that breaks ties within one timestamp) and the 16-byte HMAC. What the HMAC
covers, as keepalived 2.4.3 computes it (``tests/vectors/auth_hmac`` are its frames):

- a 20-byte pseudo-header: address family (4 or 6), VRRP version, VRID, a zero byte, then the
  sender's address (the IP source) zero-padded to 16 bytes; the IP header itself is not covered;
- the VRRP message with its checksum field read as zero, then the trailer up to its HMAC, then
  16 zero bytes in the HMAC's place.

The checksum never covers what the HMAC covers, so the two are independent: for IPv4 the VRRP
checksum covers the message alone (it stays the same from advert to advert), for IPv6 it
covers the message and the trailer (the kernel's rule for raw IPv6 sockets: the whole payload).

A sender's sequence is its clock (``anti_replay time`` by default) or, if the clock has not
moved on, the last one plus one. A receiver with ``anti_replay time`` refuses a timestamp more
than ``time_window`` seconds away from its own clock (before spending an HMAC on it), and
every receiver refuses a sequence not above the last one it accepted from that sender (one
state per unicast peer; for multicast, the 4 most recently heard senders).

Modes, for rolling it out on a live cluster: ``receive-only`` sends no trailer and accepts
adverts with or without one (a trailer present must verify); ``permissive`` sends trailers and
still accepts adverts without; ``enforce`` (the default) requires them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.core.packet import with_ipv6_trailer_checksum

IPAddress = IPv4Address | IPv6Address

TRAILER_LEN = 28
HMAC_LEN = 16
SCHEME_SHA256 = 1
KEY_MIN, KEY_MAX = 32, 64
WINDOW_MIN, WINDOW_MAX, WINDOW_FLOOR = 1, 300, 5
MCAST_SENDERS = 4
_PREFIX = struct.Struct("!BBHIHH")  # scheme, key id, reserved, seconds, fraction, counter
_ZERO_HMAC = bytes(HMAC_LEN)
#: (destination, VRRP message) as a SendAdvert carries them
Packets = tuple[tuple[IPAddress, bytes], ...]
_MASK64 = (1 << 64) - 1


class Mode(enum.Enum):
    ENFORCE = "enforce"
    PERMISSIVE = "permissive"
    RECEIVE_ONLY = "receive-only"


class Outcome(enum.Enum):
    """What checking a received advert's trailer concluded (OK: accepted as far as
    auth_hmac goes). The values are the drop reasons' names."""

    OK = "ok"
    MISSING = "auth_ext_missing"
    MALFORMED = "auth_ext_malformed"
    UNKNOWN_KEY = "auth_ext_unknown_key"
    INVALID_HMAC = "auth_ext_invalid_hmac"
    STALE = "auth_ext_stale"
    REPLAY = "auth_ext_replay"


@dataclass(frozen=True, slots=True)
class HmacConfig:
    """An instance's ``auth_hmac`` block, resolved (keys decoded, window derived)."""

    keys: tuple[tuple[int, bytes], ...]  #: (key id, key), in configuration order
    active_key: int
    mode: Mode = Mode.ENFORCE
    anti_replay_time: bool = True
    time_window: int = WINDOW_FLOOR


def no_wall_clock() -> float:
    raise RuntimeError("auth_hmac needs the wall clock: give the Node / VirtualRouter wall=")


def default_window(advert_int: float) -> int:
    """keepalived's window when none is configured: three whole advert intervals, within
    [5, 300] seconds."""
    return max(WINDOW_FLOOR, min(WINDOW_MAX, 3 * int(advert_int)))


def clock_seq(wall: float) -> int:
    """The sequence a wall-clock reading gives: seconds, a 1/65536 s fraction, counter 0."""
    seconds = int(wall)
    fraction = int((wall - seconds) * 65536) & 0xFFFF
    return ((seconds & 0xFFFFFFFF) << 32) | (fraction << 16)


def seq_after(a: int, b: int) -> bool:
    """RFC 1982 serial-number order over 64 bits: ``a`` comes after ``b``."""
    diff = (a - b) & _MASK64
    return 0 < diff < (1 << 63)


def _seconds_delta(later: int, earlier: int) -> int:
    """later - earlier, as the signed 32-bit difference of two 32-bit seconds fields."""
    d = (later - earlier) & 0xFFFFFFFF
    return d - (1 << 32) if d >= (1 << 31) else d


def hmac_pseudo_header(version: int, vrid: int, src: IPAddress) -> bytes:
    """The 20 bytes the HMAC starts with (family, version, VRID, sender)."""
    return bytes((6 if src.version == 6 else 4, version, vrid, 0)) + src.packed.ljust(16, b"\0")


def compute(key: bytes, message: bytes, prefix: bytes, version: int, vrid: int,
            src: IPAddress) -> bytes:
    """The 16-byte HMAC of ``message`` (the VRRP message) with the trailer ``prefix`` (its
    first 12 bytes), sent from ``src``."""
    import hmac  # here: OpenSSL is loaded only by daemons that use auth_hmac (memory)

    mac = hmac.new(key, digestmod="sha256")
    mac.update(hmac_pseudo_header(version, vrid, src))
    mac.update(message[:6])
    mac.update(b"\0\0")
    mac.update(message[8:])
    mac.update(prefix)
    mac.update(_ZERO_HMAC)
    return mac.digest()[:HMAC_LEN]


def trailer(key_id: int, key: bytes, seq: int, message: bytes, version: int, vrid: int,
            src: IPAddress) -> bytes:
    prefix = _PREFIX.pack(SCHEME_SHA256, key_id, 0, (seq >> 32) & 0xFFFFFFFF,
                          (seq >> 16) & 0xFFFF, seq & 0xFFFF)
    return prefix + compute(key, message, prefix, version, vrid, src)


@dataclass(slots=True)
class _Replay:
    seq: int | None = None  #: the last accepted sequence (None: nothing accepted yet)


@dataclass
class HmacAuth:
    """One instance's auth_hmac state: the sending sequence and the replay state of each
    sender. ``wall`` is the wall clock (seconds since the epoch), injected."""

    config: HmacConfig
    wall: Callable[[], float]
    send_seq: int = 0
    keys: Mapping[int, bytes] = field(default_factory=dict)
    #: outcomes logged since the last state change (keepalived logs each once until then)
    logged: set[Outcome] = field(default_factory=set)
    peers: dict[IPAddress, _Replay] = field(default_factory=dict)
    #: multicast senders, the most recently heard last (at most MCAST_SENDERS)
    senders: dict[IPAddress, _Replay] = field(default_factory=dict)
    last_skew: int = 0

    def __post_init__(self) -> None:
        self.keys = dict(self.config.keys)

    @classmethod
    def for_params(cls, config: HmacConfig | None, current: HmacAuth | None,
                   wall: Callable[[], float]) -> HmacAuth | None:
        """The state an instance with this configuration needs (None: no auth_hmac). Across
        a reload (new keys, mode or window) sequences and replay state carry over: a key
        rotation must not look like a replay to anyone."""
        if config is None:
            return None
        if current is None:
            return cls(config, wall)
        current.config = config
        current.keys = dict(config.keys)
        return current

    @property
    def sends_trailer(self) -> bool:
        return self.config.mode is not Mode.RECEIVE_ONLY

    # ---------------------------------------------------------------- sending

    def _next_seq(self, commit: bool) -> int:
        clk = clock_seq(self.wall())
        if seq_after(clk, self.send_seq):
            seq = clk
        elif self.config.anti_replay_time and _seconds_delta(
                self.send_seq >> 32, clk >> 32) > self.config.time_window:
            seq = clk  # the clock was stepped back: receivers would refuse ours as stale
        else:
            seq = (self.send_seq + 1) & _MASK64
        if commit:
            self.send_seq = seq
        return seq

    def sign(self, message: bytes, version: int, vrid: int, src: IPAddress, *,
             ahead: bool = False) -> bytes:
        """The trailer for ``message`` (one sequence per advert, whatever its destinations).
        ``ahead``: for a message to be sent later by someone else (a last word), without
        counting it."""
        seq = self._next_seq(commit=not ahead)
        key = self.keys[self.config.active_key]  # the config layer made sure of it
        return trailer(self.config.active_key, key, seq, message, version, vrid, src)

    # ---------------------------------------------------------------- receiving

    def check(self, message: bytes, trailer_bytes: bytes, version: int, vrid: int,
              src: IPAddress, *, unicast: bool) -> Outcome:
        """Check a received advert's trailer (``b""``: it had none). On OK the sender's
        replay state has moved on; on anything else nothing has changed."""
        cfg = self.config
        if not trailer_bytes:
            return Outcome.OK if cfg.mode is not Mode.ENFORCE else Outcome.MISSING
        if len(trailer_bytes) != TRAILER_LEN:
            return Outcome.MALFORMED
        scheme, key_id, reserved, seconds, fraction, counter = _PREFIX.unpack_from(trailer_bytes)
        if scheme != SCHEME_SHA256 or reserved:
            return Outcome.MALFORMED
        seq = (seconds << 32) | (fraction << 16) | counter
        wall = self.wall()
        if cfg.anti_replay_time:
            # Before the HMAC, so that a flood of old captures costs no digest each.
            skew = _seconds_delta(int(wall) & 0xFFFFFFFF, seconds)
            self.last_skew = skew
            if abs(skew) > cfg.time_window:
                return Outcome.STALE
        key = self.keys.get(key_id)
        if key is None:
            return Outcome.UNKNOWN_KEY
        expected = compute(key, message, trailer_bytes[:TRAILER_LEN - HMAC_LEN], version, vrid,
                           src)
        import hmac

        if not hmac.compare_digest(expected, trailer_bytes[TRAILER_LEN - HMAC_LEN:]):
            return Outcome.INVALID_HMAC
        state = self._state(src, unicast)
        if state.seq is not None and cfg.anti_replay_time and abs(_seconds_delta(
                int(wall) & 0xFFFFFFFF, state.seq >> 32)) > cfg.time_window:
            state.seq = None  # a mark outside the window orders nothing the window lets in
        if state.seq is not None and not seq_after(seq, state.seq):
            return Outcome.REPLAY
        state.seq = seq
        return Outcome.OK

    def seal(self, packets: Packets, version: int, vrid: int, src: IPAddress, *,
             ahead: bool = False) -> Packets:
        """One advert's messages (one per destination) with their trailer: one sequence and
        one HMAC for all (neither covers the destination); an IPv6 checksum, which covers the
        trailer, is redone per destination."""
        if not packets:
            return packets
        tail = self.sign(packets[0][1], version, vrid, src, ahead=ahead)
        if src.version == 4:
            return tuple((dst, message + tail) for dst, message in packets)
        return tuple((dst, with_ipv6_trailer_checksum(message, src, dst, tail) + tail)
                     for dst, message in packets)

    def skew_warning(self) -> bool:
        """The last accepted timestamp was more than half the window away from our clock."""
        return self.config.anti_replay_time and abs(self.last_skew) > self.config.time_window // 2

    def _state(self, src: IPAddress, unicast: bool) -> _Replay:
        if unicast:
            return self.peers.setdefault(src, _Replay())
        state = self.senders.pop(src, None)
        if state is None:
            state = _Replay()
            if len(self.senders) >= MCAST_SENDERS:
                del self.senders[next(iter(self.senders))]  # the least recently heard
        self.senders[src] = state
        return state
