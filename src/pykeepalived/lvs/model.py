"""The load balancer's configuration, typed: what the checker process reads.

keepalived's ``virtual_server`` blocks, resolved the way keepalived resolves them: a setting left
out of a checker falls back to its real server's, and a real server's to its virtual server's
(``connect_timeout``, ``retry``, ``delay_before_retry``, ``warmup``, ``delay_loop``, ``alpha``,
``inhibit_on_failure``, ``virtualhost``), then to keepalived's defaults. Timers are seconds.

Frozen dataclasses, as :mod:`pykeepalived.config.model`: a reload builds new ones beside the
running ones, and a real server that compares equal across a reload keeps its state.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from pykeepalived.config.diagnostics import NOWHERE, Location

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Protocol: TypeAlias = Literal["TCP", "UDP", "SCTP"]
#: ``lvs_method`` / ``lb_kind``. TUN is parsed (keepalived accepts it) and refused by the planes.
LbKind: TypeAlias = Literal["NAT", "DR", "TUN"]

#: keepalived 2.2.7's defaults.
DEFAULT_DELAY_LOOP = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_WARMUP: float | None = None  # None: a random start within delay_loop
DEFAULT_PERSISTENCE_TIMEOUT = 360  # ``persistence_timeout`` with no value


@dataclass(frozen=True)
class Script:
    """``notify_up`` / ``notify_down`` / ``quorum_up`` / ``quorum_down`` / ``misc_path``:
    a command line run with ``/bin/sh -c``-free splitting as keepalived does, as ``user``."""

    command: str
    user: str | None = None
    group: str | None = None
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Timing:
    """How a checker is scheduled (keepalived's checker_t fields of the same names)."""

    delay_loop: float = DEFAULT_DELAY_LOOP
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: extra attempts after a failure of an up checker before it is declared down
    retry: int = 1
    #: the wait between those attempts
    delay_before_retry: float = 1.0
    #: None: the first check starts at a random time within delay_loop; 0: at once
    warmup: float | None = DEFAULT_WARMUP
    #: the checker starts down (keepalived's alpha mode)
    alpha: bool = False
    log_all_failures: bool = False


@dataclass(frozen=True)
class Connection:
    """Where a checker connects: the real server unless ``connect_ip`` / ``connect_port`` say
    otherwise, from ``bindto`` / ``bind_port`` / ``bind_if``, with ``fwmark`` on its socket."""

    ip: IPAddress
    port: int
    bindto: IPAddress | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None


@dataclass(frozen=True)
class TcpCheck:
    conn: Connection
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["TCP_CHECK"] = "TCP_CHECK"


@dataclass(frozen=True)
class HttpUrl:
    path: str
    #: lower-case hex MD5 of the body (keepalived's genhash output), or None
    digest: str | None = None
    #: inclusive ranges; empty: any 2xx (keepalived's default)
    status_codes: tuple[tuple[int, int], ...] = ()
    virtualhost: str | None = None
    #: a PCRE2 pattern the body must match (Python ``re`` semantics here), or None
    regex: str | None = None
    regex_no_match: bool = False
    regex_min_offset: int = 0
    regex_max_offset: int | None = None
    #: keepalived's ``regex_options`` words (PCRE2 option names), sorted
    regex_options: tuple[str, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class HttpCheck:
    """``HTTP_GET`` (ssl False) and ``SSL_GET`` (ssl True)."""

    conn: Connection
    urls: tuple[HttpUrl, ...]
    ssl: bool = False
    #: keepalived's ``http_protocol``: "1.0" (default), "1.0C" (Connection: close), "1.1", "1.0K"
    http_protocol: str = "1.0"
    virtualhost: str | None = None
    enable_sni: bool = False
    fast_recovery: bool = False
    #: SSL_GET: the top-level SSL block's client certificate and key (keepalived loads its
    #: ``ca`` too but verifies no server certificate)
    client_cert: Ssl | None = None
    timing: Timing = Timing(delay_before_retry=3.0)
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["HTTP_GET", "SSL_GET"] = "HTTP_GET"


@dataclass(frozen=True)
class SmtpCheck:
    conn: Connection
    helo_name: str = "localhost"
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["SMTP_CHECK"] = "SMTP_CHECK"


@dataclass(frozen=True)
class DnsCheck:
    conn: Connection
    #: the query type: A, NS, CNAME, SOA, MX, TXT, AAAA (keepalived's list)
    type: str = "SOA"
    name: str = "."
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["DNS_CHECK"] = "DNS_CHECK"


@dataclass(frozen=True)
class MiscCheck:
    path: Script
    #: seconds; None: delay_loop (keepalived's default)
    timeout: float | None = None
    #: exit 0 up; 1 down; 2-255 up with weight status-2 (keepalived's misc_dynamic)
    dynamic: bool = False
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["MISC_CHECK"] = "MISC_CHECK"


@dataclass(frozen=True)
class UdpCheck:
    conn: Connection
    #: bytes sent; None: a random payload as keepalived
    payload: bytes | None = None
    require_reply: bool = False
    #: the reply must start with these bytes (``require_reply HEX``), or None
    reply_data: bytes | None = None
    #: bits of `reply_data` not compared (``x`` nibbles in ``require_reply``), or None
    reply_mask: bytes | None = None
    min_reply_length: int = 0
    max_reply_length: int = 255
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["UDP_CHECK"] = "UDP_CHECK"


@dataclass(frozen=True)
class PingCheck:
    conn: Connection
    timing: Timing = Timing()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["PING_CHECK"] = "PING_CHECK"


@dataclass(frozen=True)
class FileCheck:
    """``FILE_CHECK`` on a ``track_file`` block: its number, times ``weight`` (``reverse``:
    negated); 0 or less with weight 0... see keepalived.conf(5); ``dynamic`` sets the real
    server's weight from it."""

    track_file: str
    path: str
    weight: int = 0
    reverse: bool = False
    dynamic: bool = False
    init_file: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    kind: Literal["FILE_CHECK"] = "FILE_CHECK"


Checker: TypeAlias = (TcpCheck | HttpCheck | SmtpCheck | DnsCheck | MiscCheck | UdpCheck
                      | PingCheck | FileCheck)


@dataclass(frozen=True)
class RealServer:
    address: IPAddress
    #: 0: no port (a persistent fwmark / port-less service)
    port: int
    weight: int = 1
    lb_kind: LbKind = "NAT"
    inhibit_on_failure: bool = False
    notify_up: Script | None = None
    notify_down: Script | None = None
    #: IPVS upper / lower connection thresholds (refused by the nftables plane when set)
    uthreshold: int = 0
    lthreshold: int = 0
    checkers: tuple[Checker, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class GroupEntry:
    """A ``virtual_server_group`` line: an address range ``first``-``last`` (equal for one
    address) with a port, or a fwmark."""

    first: IPAddress | None = None
    last: IPAddress | None = None
    port: int = 0
    fwmark: int | None = None
    #: ``fwmark N inet|inet6``: the fwmark's family (None: not given)
    family: Literal[4, 6] | None = None
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualServerGroup:
    name: str
    entries: tuple[GroupEntry, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualServer:
    """``virtual_server IP PORT`` / ``fwmark N`` / ``group NAME``: exactly one of
    (address, port), fwmark, group is set."""

    address: IPAddress | None = None
    port: int = 0
    fwmark: int | None = None
    group: VirtualServerGroup | None = None
    protocol: Protocol = "TCP"
    #: ``lb_algo`` / ``lvs_sched``
    lb_algo: str = "wlc"
    lb_kind: LbKind = "NAT"
    #: seconds; None: not persistent
    persistence_timeout: int | None = None
    persistence_granularity: ipaddress.IPv4Address | int | None = None
    #: ``sh-port`` / ``mh-port``: the source port joins the hash
    hash_port: bool = False
    #: ``sh-fallback`` / ``mh-fallback``
    hash_fallback: bool = False
    ops: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    sorry_server: RealServer | None = None
    sorry_server_inhibit: bool = False
    ha_suspend: bool = False
    alpha: bool = False
    omega: bool = False
    virtualhost: str | None = None
    #: 4 or 6; from the address, else from the real servers, else ``ip_family``
    family: Literal[4, 6] = 4
    real_servers: tuple[RealServer, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)

    @property
    def name(self) -> str:
        """keepalived's FMT_VS: ``[ip]:tcp:port``, ``FWM n`` or ``[group]:port``."""
        if self.group is not None:
            return f"[{self.group.name}]:{self.port}"
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        return trio(self.address, self.protocol, self.port)

    def rs_name(self, rs: RealServer) -> str:
        """keepalived's FMT_RS: ``[ip]:tcp:port`` (the virtual server's protocol)."""
        return trio(rs.address, self.protocol, rs.port)


def trio(address: IPAddress | None, protocol: str, port: int) -> str:
    """keepalived's inet_sockaddrtotrio: ``[192.0.2.10]:tcp:80``."""
    return f"[{address}]:{protocol.lower()}:{port}"


@dataclass(frozen=True)
class Ssl:
    """The top-level ``SSL`` block: the client certificate SSL_GET checkers present (all None:
    keepalived's auto-generated context, no client certificate)."""

    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class LvsConfig:
    """Everything the checker process acts on."""

    virtual_servers: tuple[VirtualServer, ...] = ()
    groups: tuple[VirtualServerGroup, ...] = ()
    #: global_defs: ``lvs_flush`` / ``lvs_flush_onstop``, ``checker_log_all_failures``
    lvs_flush: bool = False
    checker_log_all_failures: bool = False
    #: ``lvs_flush_onstop [VS]``: "FULL" (no word) or "VS"; None: not set
    lvs_flush_on_stop: str | None = None
    #: the ``SSL`` block, or None when there is none
    ssl: Ssl | None = None
    #: the nftables table the plane owns (pykeepalived's, not keepalived's ``nftables``)
    table: str = "pykeepalived_lvs"
