"""The load balancer's blocks while they are being read: mutable drafts, and the reporting
helpers every part of the reader shares.

keepalived fills its virtual_server_t / real_server_t / checker_t as it reads, leaving "not set"
markers (UINT_MAX, -1) where the configuration said nothing, and resolves them against the level
above only once everything is read (``validate_check_config``). The drafts keep None for "not
set" in the same places, so the finishing pass (`parse_finish`) can apply keepalived's rules in
keepalived's order, and a value set after a nested block still counts as keepalived counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.parser import Statement
from pykeepalived.config.unsupported import Unsupported, report
from pykeepalived.lvs.model import GroupEntry, IPAddress, Script
from pykeepalived.lvs.parse_values import (
    Read,
    SockAddr,
    read_sockaddr,
    read_timer,
    read_unsigned,
    true_false,
)

T = TypeVar("T")


def keep(old: T, new: T | None) -> T:
    """`new` when a value was read, else what was there (a bad value changes nothing)."""
    return old if new is None else new


@dataclass
class GroupDraft:
    """A ``virtual_server_group`` and what its entries hold."""

    name: str
    loc: Location
    entries: list[GroupEntry] = field(default_factory=list)
    have4: bool = False
    have6: bool = False
    fwmark_no_family: bool = False


@dataclass
class TimingDraft:
    """A checker's scheduling settings at one level (None: not set here)."""

    delay_loop: float | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    alpha: bool | None = None


@dataclass
class ConnDraft:
    """Where a checker connects (keepalived's conn_opts_t)."""

    ip: IPAddress
    port: int
    bindto: IPAddress | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None
    connect_timeout: float | None = None


@dataclass
class CheckerDraft:
    kind: str
    loc: Location
    timing: TimingDraft = field(default_factory=TimingDraft)
    log_all_failures: bool = False
    #: keepalived's default_retry / default_delay_before_retry (None: delay_loop)
    default_retry: int = 1
    default_delay_before_retry: float | None = 1.0
    conn: ConnDraft | None = None
    #: the checker's own settings, as keyword arguments of its model class
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class RsDraft:
    """A real server or the sorry server (keepalived's real_server_t)."""

    address: IPAddress
    port: int
    loc: Location
    #: where its block ends (keepalived reports its end-of-block checks there)
    end_loc: Location
    weight: int | None = None
    #: NAT / DR / TUN; None: not set (keepalived's IP_VS_CONN_F_FWD_MASK)
    lb_kind: str | None = None
    inhibit: bool | None = None
    timing: TimingDraft = field(default_factory=TimingDraft)
    notify_up: Script | None = None
    notify_down: Script | None = None
    uthreshold: int = 0
    lthreshold: int = 0
    virtualhost: str | None = None
    checkers: list[CheckerDraft] = field(default_factory=list)


@dataclass
class VsDraft:
    """A virtual server (keepalived's virtual_server_t)."""

    loc: Location
    end_loc: Location
    address: IPAddress | None = None
    port: int = 0
    fwmark: int | None = None
    group: str | None = None
    #: 4, 6 or None (keepalived's AF_UNSPEC)
    family: int | None = None
    #: TCP / UDP / SCTP, or None (keepalived's 0: not set)
    protocol: str | None = None
    lb_algo: str | None = None
    lb_kind: str | None = None
    persistence_timeout: int = 0
    persistence_granularity: Any = None
    hash_port: bool = False
    hash_fallback: bool = False
    ops: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    sorry: RsDraft | None = None
    ha_suspend: bool = False
    alpha: bool = False
    omega: bool = False
    inhibit: bool = False
    virtualhost: str | None = None
    connect_timeout: float = 5.0
    delay_loop: float = 60.0
    warmup: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    weight: int = 1
    reals: list[RsDraft] = field(default_factory=list)
    #: where each keyword was written, for the checks made once the block is read
    at: dict[str, Location] = field(default_factory=dict)

    def where(self, keyword: str) -> Location:
        return self.at.get(keyword, self.loc)


def trio(address: IPAddress | None, protocol: str | None, port: int) -> str:
    """keepalived's inet_sockaddrtotrio, with "none" for a protocol not (yet) set."""
    return f"[{address}]:{(protocol or 'none').lower()}:{port}"


def fmt_vs(vs: VsDraft) -> str:
    """keepalived's FMT_VS of a virtual server as it stands."""
    if vs.group is not None:
        return f"[{vs.group}]:{vs.port}"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return trio(vs.address, vs.protocol, vs.port)


def fmt_rs(rs: RsDraft, vs: VsDraft) -> str:
    return trio(rs.address, vs.protocol, rs.port)


class Ctx:
    """The diagnostics of one build, and keepalived's ways of reading words into them.

    `lenient` is keepalived outside its config test: a number with trailing junk is used (its
    leading digits) after a warning, where ``-t`` rejects it."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags
        self.lenient = not diags.strict

    def mistake(self, loc: Location, message: str) -> None:
        self.diags.mistake(loc, message)

    def warning(self, loc: Location, message: str) -> None:
        self.diags.warning(loc, message)

    def unsupported(self, loc: Location, name: str, reason: str) -> None:
        report(self.diags, loc, name, Unsupported(reason))

    def word(self, st: Statement, index: int = 0) -> str | None:
        """Word `index` after the keyword, or None after keepalived's complaint: a handler that
        reads a missing word stops keepalived's parse (exit 2); here it is one mistake."""
        if index < len(st.words):
            return st.words[index]
        self.mistake(st.loc, f"Configuration line starting `{st.keyword}` is missing a "
                     f"parameter after keyword `{st.keyword}` at word position {index + 2}")
        return None

    def unsigned(self, st: Statement, lo: int, hi: int, message: str, index: int = 0,
                 ignore_error: bool = True) -> int | None:
        """A number in `lo`..`hi`; `message` (formatted with ``{}`` = the word) when not."""
        raw = self.word(st, index)
        if raw is None:
            return None
        read: Read = read_unsigned(raw, lo, hi, ignore_error=ignore_error, lenient=self.lenient)
        if read.problem is not None:
            self.mistake(st.arg_loc(index), f"{message.format(raw)} ({read.problem})")
        return read.value

    def timer(self, st: Statement, lo_us: int, hi_us: int, message: str) -> float | None:
        """Seconds (keepalived's read_timer); `message` as for `unsigned`."""
        raw = self.word(st)
        if raw is None:
            return None
        t = read_timer(raw, lo_us, hi_us)
        if t.problem is not None:
            self.mistake(st.arg_loc(0), f"{message.format(raw)} ({t.problem})")
        return t.seconds

    def flag(self, st: Statement, message: str) -> bool | None:
        """A keyword with an optional true/false word (None after `message`: unchanged)."""
        if not st.words:
            return True
        value = true_false(st.words[0])
        if value is None:
            self.mistake(st.arg_loc(0), message.format(st.words[0]))
        return value

    def bare(self, st: Statement) -> None:
        """A keyword keepalived sets whatever follows it: a value is almost surely meant to
        say something, and keepalived does not read it."""
        if st.words:
            self.warning(st.arg_loc(0), f"'{st.keyword}' takes no value here: keepalived sets "
                         f"it whatever follows ('{' '.join(st.words)}' is not read)")

    def sockaddr(self, st: Statement, what: str) -> SockAddr | None:
        """``KEYWORD IP [PORT]`` (virtual_server, real_server, sorry_server)."""
        ip = self.word(st)
        if ip is None:
            return None
        port = st.words[1] if len(st.words) > 1 else None
        got = read_sockaddr(ip, port)
        if isinstance(got, str):
            shown = f"{ip}/{port}" if port is not None else ip
            self.mistake(st.arg_loc(0), f"Invalid {what} {shown} - skipping ({got})")
            return None
        if got.dropped:
            self.warning(st.arg_loc(0), f"{what} {ip}: '{got.dropped}' after the address is "
                         f"ignored (keepalived uses {got.address})")
        if len(st.words) > 2:
            self.warning(st.arg_loc(2), f"{what}: words after the port are ignored "
                         f"('{' '.join(st.words[2:])}')")
        return got

    def script(self, st: Statement) -> Script | None:
        """``notify_up`` / ``quorum_up`` ...: the (quoted) command line, then an optional user
        and group (keepalived's notify_script_init)."""
        command = self.word(st)
        if command is None:
            return None
        if not command.strip():
            self.mistake(st.arg_loc(0), f"Unable to parse script '{command}' - ignoring")
            return None
        user = st.words[1] if len(st.words) > 1 else None
        group = st.words[2] if len(st.words) > 2 else None
        if len(st.words) > 3:
            self.warning(st.arg_loc(3), f"{st.keyword}: words after the user and group are "
                         "ignored (quote the command line)")
        return Script(command, user, group, st.loc)
