"""The checker process's SIGUSR1 dump: keepalived's /tmp/keepalived_check.data.

keepalived's checker child answers SIGUSR1 with "Printing checker data for process(PID) on
signal" and writes its global definitions, SSL block, LVS topology (virtual server groups,
virtual servers, real servers with their live state), health checkers and tracked files, in
the layout of keepalived 2.2.7's ``dump_data_check`` (check_data.c, check_api.c and each
checker's dump function). Scripts that read that file find the same sections, the same line
texts and indentation here, with pykeepalived's live state in them (``alive``, weights,
``num failed checkers``, ``RS set``, each checker's Up / Has run / Current weight).

What keepalived prints that pykeepalived does not have is left out, line by line, rather than
made up:

- virtual-server and real-server timers (``connection timeout``, ``delay_loop``, ``Retry
  count`` ..., ``Alpha is``, the virtual server's ``Inhibit on failure``, a real server's
  ``VirtualHost``): the configuration model resolves them into each checker, and the
  "Health checkers" section shows them there;
- reload bookkeeping (``reloaded``, ``previous effective_weight``, ``Reloaded``), a checker's
  ``Retries iterations``, HTTP's ``Failed URL``, ``Last errno``, regex JIT stack sizes;
- ``Router ID`` and a track file's own ``Weight`` when the caller passes no full configuration.

IPVS-only values are what keepalived shows for a service it has just installed: ``Hashed =
disabled``, LVS v1.2.1 (the headers keepalived 2.2.7 builds with), a group entry's ``Alive``
counts are the destinations the nftables table holds for it. ``Using smtp notification = no``
is the truth here: pykeepalived sends no checker e-mail. Two deliberate differences: an SSL
key ``Password`` is not written into a world-readable file, and ``Regex options`` lists the
options set (keepalived 2.2.7 lists all of them as soon as one is set).

Rendering (:func:`check_data_text`) is pure: the state is passed in, and so are the two
look-ups that touch the system (a script's words as run, its uid:gid).
:func:`write_check_data` is the I/O, through :func:`pykeepalived.daemon.dumps.write_dump`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.dumps import cmd_str, script_argv, write_dump
from pykeepalived.daemon.scripts import CommandSyntaxError, RunAs, split_command
from pykeepalived.errors import LocalError
from pykeepalived.lvs.checker import misc_timeout
from pykeepalived.lvs.model import (
    Checker,
    Connection,
    DnsCheck,
    FileCheck,
    HttpCheck,
    HttpUrl,
    LbKind,
    LvsConfig,
    MiscCheck,
    PingCheck,
    Script,
    SmtpCheck,
    TcpCheck,
    UdpCheck,
    VirtualServer,
    VirtualServerGroup,
)
from pykeepalived.lvs.pool import Pool, ServerState

#: keepalived's file name (in its TMPDIR, /tmp), as its log line names it
CHECK_DATA_NAME = "keepalived_check.data"
CHECK_DATA_FILE = f"/tmp/{CHECK_DATA_NAME}"
#: IP_VS_VERSION_CODE (0x010201) of the kernel headers keepalived is compiled with
LVS_VERSION = "1.2.1"
_INT32_MAX = 2**31 - 1
_HTTP_CODES = range(100, 600)
#: keepalived's regex_options table order (check_http.c)
_REGEX_OPTIONS = (
    "allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly", "dotall",
    "dupnames", "extended", "firstline", "match_unset_backref", "multiline", "never_ucp",
    "never_utf", "no_auto_capture", "no_auto_possess", "no_dotstar_anchor",
    "no_start_optimize", "ucp", "ungreedy", "utf", "never_backslash_c", "alt_circumflex",
    "alt_verbnames", "use_offset_limit")
# The probes' reasons that carry a number keepalived shows (probe_misc.py): the last exit
# status of a MISC_CHECK script, the last value read from a track_file.
_EXIT_STATUS = re.compile(r"exit status (\d+)\Z")
_FILE_VALUE = re.compile(r"file value (-?\d+)\Z")

Argv = Callable[[str], Sequence[str]]
Ids = Callable[[Script], tuple[int, int]]


class SlotView(Protocol):
    """What the dump reads of one running checker (the daemon's Slot)."""

    @property
    def pool(self) -> Pool: ...
    @property
    def server(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def last_reason(self) -> str: ...
    @property
    def last_at(self) -> float | None: ...


@dataclass(frozen=True)
class CheckDumpSource:
    """The checker process's state at the moment of the signal."""

    config: LvsConfig | None
    pools: Sequence[Pool]
    slots: Sequence[SlotView]
    #: the whole configuration, when the caller keeps it: Router ID, track_file weights
    keepalived: KeepalivedConfig | None = None


def write_check_data(src: CheckDumpSource, log: Callable[[str], None], *,
                     path: str = CHECK_DATA_FILE) -> None:
    """SIGUSR1 in the checker process: the log line, then the file (never through a
    symlink; keepalived's line when it cannot be opened)."""
    log(f"Printing checker data for process({os.getpid()}) on signal")
    uid = os.geteuid()
    text = check_data_text(src, argv=lambda command: script_argv(command, uid),
                           ids=script_ids)
    write_dump(path, text, log, failure=lambda exc: (
        f"Can't open dump file {CHECK_DATA_NAME} ({exc.errno}: {exc.strerror})"))


def script_ids(script: Script) -> tuple[int, int]:
    """The uid:gid a script runs as (the daemon's own when it names no user)."""
    try:
        run_as = RunAs.from_names(script.user, script.group)
    except LocalError:
        run_as = RunAs()
    return (run_as.uid if run_as.uid is not None else os.geteuid(),
            run_as.gid if run_as.gid is not None else os.getegid())


def _words(command: str) -> list[str]:
    try:
        return split_command(command)
    except CommandSyntaxError:
        return command.split()


def check_data_text(src: CheckDumpSource, *, argv: Argv = _words,
                    ids: Ids = lambda _script: (0, 0)) -> str:
    """The file's text. ``argv`` splits a script line as it is run (keepalived shows the
    resolved words); ``ids`` gives a script's uid:gid."""
    d = _Dumper(src, argv, ids)
    return "\n".join(d.render()) + "\n"


def _tf(flag: bool) -> str:
    return "true" if flag else "false"


def _on(flag: bool) -> str:
    return "ON" if flag else "OFF"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _abled(flag: bool) -> str:
    return "enabled" if flag else "disabled"


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _method(kind: LbKind) -> str:
    # Debian's keepalived is built with tunnel types: a plain TUN is IPIP
    return "TUN, type = IPIP" if kind == "TUN" else kind


def _code_runs(codes: tuple[tuple[int, int], ...]) -> list[str]:
    """A url's status codes as keepalived lists them: runs within 100-599 (none given:
    keepalived's default, 200-299)."""
    wanted = {n for lo, hi in (codes or ((200, 299),)) for n in range(lo, hi + 1)}
    runs: list[str] = []
    start: int | None = None
    for n in [*_HTTP_CODES, _HTTP_CODES.stop]:
        if n in wanted and n in _HTTP_CODES:
            start = n if start is None else start
        elif start is not None:
            runs.append(f"       {start}" if n - 1 == start else f"       {start}-{n - 1}")
            start = None
    return runs


def _granularity(vs: VirtualServer) -> str:
    g = vs.persistence_granularity
    if vs.family == 6:
        return str(g if isinstance(g, int) else bin(int(g or 0)).count("1"))
    if isinstance(g, int):
        return str(ipaddress.IPv4Network(f"0.0.0.0/{g}").netmask)
    return str(g)


class _Dumper:
    def __init__(self, src: CheckDumpSource, argv: Argv, ids: Ids) -> None:
        self.src = src
        self.cfg = src.config or LvsConfig()
        self.argv = argv
        self.ids = ids
        self.slots = {(id(s.pool), s.server, s.index): s for s in src.slots}

    def render(self) -> list[str]:
        out = self.globals() + self.ssl()
        if self.src.pools:
            out += ["------< LVS Topology >------",
                    f" System is compiled with LVS v{LVS_VERSION}"]
            for g in self.cfg.groups:
                out += self.group(g)
            for pool in self.src.pools:
                out += self.virtual_server(pool)
        checkers = [line for pool in self.src.pools for i in range(len(pool.servers))
                    for line in self.checkers(pool, i)]
        if checkers:
            out += ["------< Health checkers >------", *checkers]
        out += self.track_files()
        return out

    def script(self, script: Script) -> str:
        uid, gid = self.ids(script)
        return f"{cmd_str(self.argv(script.command))}, uid:gid {uid}:{gid}"

    # ------------------------------------------------------------------ global, SSL

    def globals(self) -> list[str]:
        out = ["------< Global definitions >------"]
        if self.src.keepalived is not None:
            g = self.src.keepalived.global_defs
            out.append(f" Router ID = {g.router_id or socket.gethostname()}")
        stop = self.cfg.lvs_flush_on_stop
        return [
            *out,
            f" Checkers log all failures = {_tf(self.cfg.checker_log_all_failures)}",
            f" LVS flush = {_tf(self.cfg.lvs_flush)}",
            " LVS flush on stop = " + ("full" if stop == "FULL" else "VS" if stop == "VS"
                                        else "disabled"),
        ]

    def ssl(self) -> list[str]:
        ssl = self.cfg.ssl
        uses_ssl = any(isinstance(c, HttpCheck) and c.ssl for pool in self.src.pools
                       for s in pool.servers for c in s.rs.checkers)
        if ssl is None and not uses_ssl:
            return []
        out = ["------< SSL definitions >------"]
        if ssl is None or (ssl.password, ssl.ca, ssl.certificate, ssl.key) == (None,) * 4:
            return [*out, " Using autogen SSL context"]
        if ssl.password is not None:
            out.append(" Password : (not shown)")  # keepalived writes it out; 0644 in /tmp
        if ssl.ca is not None:
            out.append(f" CA-file : {ssl.ca}")
        if ssl.certificate is not None:
            out.append(f" Certificate file : {ssl.certificate}")
        if ssl.key is not None:
            out.append(f" Key file : {ssl.key}")
        return out

    # ------------------------------------------------------------------ topology

    def group(self, g: VirtualServerGroup) -> list[str]:
        addrs = [e for e in g.entries if e.fwmark is None and e.first is not None]
        marks = [e for e in g.entries if e.fwmark is not None]
        v4 = any(e.first is not None and e.first.version == 4 for e in addrs) or \
            any(e.family == 4 for e in marks)
        v6 = any(e.first is not None and e.first.version == 6 for e in addrs) or \
            any(e.family == 6 for e in marks)
        # keepalived counts, per entry, the destinations it added to IPVS for each virtual
        # server using the group: here, those the table holds.
        alive = {"tcp": 0, "udp": 0, "sctp": 0, 4: 0, 6: 0}
        for pool in self.src.pools:
            service = pool.service()
            if pool.vs.group is None or pool.vs.group.name != g.name or service is None:
                continue
            alive[pool.vs.protocol.lower()] += len(service.destinations)
            alive[pool.vs.family] += len(service.destinations)
        out = [" ------< Virtual server group >------",
               f" Virtual Server Group = {g.name}, IPv4 = {_yes(v4)}, IPv6 = {_yes(v6)}"]
        for e in addrs:
            last = e.last or e.first
            span = f"VIP = {e.first}" if last == e.first else f"VIP Range = {e.first}-{last}"
            out += [f"   {span}, VPORT = {e.port}",
                    f"     Alive: {alive['tcp']} tcp, {alive['udp']} udp, "
                    f"{alive['sctp']} sctp"]
        for e in marks:
            family = {4: " IPv4", 6: " IPv6"}.get(e.family or 0, "")
            out += [f"   FWMARK = {e.fwmark}{family}",
                    f"     Alive: {alive[4]} IPv4, {alive[6]} IPv6"]
        return out

    def virtual_server(self, pool: Pool) -> list[str]:
        vs = pool.vs
        out = [" ------< Virtual server >------"]
        if vs.group is not None:
            out.append(f" VS GROUP = {vs.name}")
        elif vs.fwmark is not None:
            out.append(f" VS FWMARK = {vs.fwmark}")
        else:
            out.append(f" VS VIP = {vs.address}, VPORT = {vs.port}")
        if vs.virtualhost:
            out.append(f"   VirtualHost = {vs.virtualhost}")
        out += [f"   Address family = inet{'6' if vs.family == 6 else ''}",
                f"   lvs_sched = {vs.lb_algo}",
                "   Hashed = disabled"]  # the kernel's flag: never set from configuration
        if vs.lb_algo in ("sh", "mh"):
            out += [f"   {vs.lb_algo}-port = {_abled(vs.hash_port)}",
                    f"   {vs.lb_algo}-fallback = {_abled(vs.hash_fallback)}"]
        else:  # the same flag bits, under their generic names
            out += [f"   flag-1 = {_abled(vs.hash_fallback)}",
                    f"   flag-2 = {_abled(vs.hash_port)}",
                    "   flag-3 = disabled"]
        inactive = " (inactive due to not UDP)" if vs.ops and vs.protocol != "UDP" else ""
        out.append(f"   One packet scheduling = {_abled(vs.ops)}{inactive}")
        if vs.persistence_timeout:
            out.append(f"   persistence timeout = {vs.persistence_timeout}")
        if vs.persistence_granularity is not None:
            out.append(f"   persistence granularity = {_granularity(vs)}")
        out += [f"   protocol = {vs.protocol}",
                f"   alpha is {_on(vs.alpha)}",
                f"   omega is {_on(vs.omega)}",
                f"   quorum = {vs.quorum}, hysteresis = {vs.hysteresis}"]
        if vs.quorum_up is not None:
            out.append(f"   Quorum up notify script = {self.script(vs.quorum_up)}")
        if vs.quorum_down is not None:
            out.append(f"   Quorum down notify script = {self.script(vs.quorum_down)}")
        if vs.ha_suspend:
            out.append("   Using HA suspend")
        out += ["   Using smtp notification = no",
                f"   default forwarding method = {_method(vs.lb_kind)}"]
        s = vs.sorry_server
        if s is not None:
            dup = any((r.address, r.port) == (s.address, s.port) for r in vs.real_servers)
            out += [f"   sorry server {'(duplicates rs) ' if dup else ''}= {vs.rs_name(s)}",
                    f"     forwarding method = {_method(s.lb_kind)}",
                    f"     Inhibit on failure is {_on(s.inhibit_on_failure)}"]
        out += [f"   alive = {int(pool.started)}",
                f"   quorum_state_up = {int(pool.quorum_up)}"]
        for server in pool.servers:
            out += self.real_server(server)
        return out

    def real_server(self, s: ServerState) -> list[str]:
        rs = s.rs
        effective = rs.weight + sum(s.extra)
        out = ["   ------< Real server >------",
               f"   RIP = {rs.address}, RPORT = {rs.port}, WEIGHT = "
               f"{max(0, min(_INT32_MAX, effective))} EFF WEIGHT = {effective}",
               f"   forwarding method = {_method(rs.lb_kind)}",
               f"   connection limit range = {rs.lthreshold} -> {rs.uthreshold}",
               f"   Inhibit on failure is {_on(rs.inhibit_on_failure)}"]
        if rs.notify_up is not None:
            out.append(f"     RS up notify script = {self.script(rs.notify_up)}")
        if rs.notify_down is not None:
            out.append(f"     RS down notify script = {self.script(rs.notify_down)}")
        out += ["   Using smtp notification = no",
                f"   initial weight = {rs.weight}",
                f"   effective weight = {effective}",
                f"   alive = {int(s.alive)}",
                f"   num failed checkers = {s.failed}",
                f"   RS set = {int(s.set)}"]
        files = [c for c in rs.checkers if isinstance(c, FileCheck)]
        if files:
            out.append("   Tracked Files")
            out += [f"     {c.track_file}, weight {c.weight}{' reverse' if c.reverse else ''}"
                    for c in files]
        return out

    # ------------------------------------------------------------------ checkers

    def checkers(self, pool: Pool, i: int) -> list[str]:
        s = pool.servers[i]
        out: list[str] = []
        for ci, chk in enumerate(s.rs.checkers):
            out += [f" {pool.vs.name} -> {s.name}",
                    "   Enabled = yes",  # pykeepalived does not suspend checkers (ha_suspend)
                    f"   Up = {_yes(s.up[ci])}",
                    f"   Has run = {_yes(s.has_run[ci] or isinstance(chk, FileCheck))}",
                    f"   Current weight = {s.extra[ci]}"]
            if not isinstance(chk, FileCheck):
                t = chk.timing
                warmup = t.warmup if t.warmup is not None else t.delay_loop
                out += [f"   Alpha = {_yes(t.alpha)}",
                        f"   Delay loop = {_us(t.delay_loop)} us",
                        f"   Warmup = {_us(warmup)} us",
                        f"   Retries = {t.retry}"]
                if t.retry:
                    out.append(f"   Delay before retry = {_us(t.delay_before_retry)} us")
                out.append(f"   Default delay before retry = {_us(_default_dbr(chk))} us")
                # the model folds global_defs' checker_log_all_failures into each checker
                own = t.log_all_failures and not self.cfg.checker_log_all_failures
            else:
                own = False
            out.append(f"   Log all failures = {_yes(own)}")
            conn = getattr(chk, "conn", None)
            if isinstance(conn, Connection) and not isinstance(chk, (MiscCheck, FileCheck)):
                out += ["   Connection", *_connection(conn, chk.timing.connect_timeout)]
            out += self.method(chk, self.slots.get((id(pool), i, ci)))
        return out

    def method(self, chk: Checker, slot: SlotView | None) -> list[str]:
        if isinstance(chk, TcpCheck):
            return ["   Keepalive method = TCP_CHECK"]
        if isinstance(chk, PingCheck):
            return ["   Keepalive method = PING_CHECK"]
        if isinstance(chk, SmtpCheck):
            return ["   Keepalive method = SMTP_CHECK", f"   helo = {chk.helo_name}"]
        if isinstance(chk, DnsCheck):
            return ["   Keepalive method = DNS_CHECK", f"   Type = {chk.type}",
                    f"   Name = {chk.name}"]
        if isinstance(chk, UdpCheck):
            return _udp(chk)
        if isinstance(chk, HttpCheck):
            return self.http(chk)
        if isinstance(chk, MiscCheck):
            return self.misc(chk, slot)
        return ["   Keepalive method = FILE_CHECK", f"     Tracked file = {chk.track_file}"]

    def http(self, chk: HttpCheck) -> list[str]:
        proto = chk.http_protocol if chk.http_protocol in ("1.0C", "1.1") else "1.0"
        out = [f"   Keepalive method = {'SSL' if chk.ssl else 'HTTP'}_GET, http protocol "
               f"{proto}"]
        if chk.virtualhost:
            out.append(f"   Virtualhost = {chk.virtualhost}")
        out += [f"   Enable SNI {'' if chk.enable_sni else 'un'}set",
                f"   Fast recovery {'' if chk.fast_recovery else 'un'}set"]
        for url in chk.urls:
            out += self.url(url)
        return out

    def url(self, url: HttpUrl) -> list[str]:
        out = [f"   Checked url = {url.path}"]
        if url.digest:
            out.append(f"     digest = {url.digest}")
        out += ["     HTTP Status Code(s)", *_code_runs(url.status_codes)]
        if url.virtualhost:
            out.append(f"     Virtual host = {url.virtualhost}")
        if url.regex is None:
            return out
        out.append(f'     Regex = "{url.regex}"')
        if url.regex_no_match:
            out.append("     Regex no match")
        if url.regex_max_offset is not None:
            out.append(f"     Regex min offset = {url.regex_min_offset}, max_offset = "
                       f"{url.regex_max_offset}")
        elif url.regex_min_offset:
            out.append(f"     Regex min offset = {url.regex_min_offset}")
        names = "".join(f" {o}" for o in _REGEX_OPTIONS if o in url.regex_options)
        # keepalived compiles a pattern once per (pattern, options) and counts its users
        refs = sum(1 for pool in self.src.pools for s in pool.servers for c in s.rs.checkers
                   if isinstance(c, HttpCheck) for u in c.urls
                   if (u.regex, u.regex_options) == (url.regex, url.regex_options))
        return [*out, f"     Regex options:{names}", f"     Regex ref count = {refs}"]

    def misc(self, chk: MiscCheck, slot: SlotView | None) -> list[str]:
        uid, gid = self.ids(chk.path)
        ran = slot.last_at if slot is not None and slot.last_at is not None else 0.0
        whole, usec = divmod(_us(ran), 1_000_000)
        out = ["   Keepalive method = MISC_CHECK",
               f"   script = {cmd_str(self.argv(chk.path.command))}",
               f"   timeout = {int(misc_timeout(chk))}",
               f"   dynamic = {'YES' if chk.dynamic else 'NO'}",
               f"   uid:gid = {uid}:{gid}",
               # when the last run ended (keepalived: began); 0 before the first
               f"   Last ran = {whole}.{usec:06d} ({time.ctime(whole)}.{usec:06d})"]
        if slot is None or slot.last_at is None:
            return [*out, "   Last status = 0"]
        status = _EXIT_STATUS.match(slot.last_reason)
        # a run that timed out or was killed leaves keepalived's status as it was: unknown
        return [*out, f"   Last status = {status.group(1)}"] if status else out

    # ------------------------------------------------------------------ track files

    def track_files(self) -> list[str]:
        files: dict[str, list[tuple[Pool, int, int, FileCheck]]] = {}
        for pool in self.src.pools:
            for si, s in enumerate(pool.servers):
                for ci, c in enumerate(s.rs.checkers):
                    if isinstance(c, FileCheck):
                        files.setdefault(c.track_file, []).append((pool, si, ci, c))
        if not files:
            return []
        defs = self.src.keepalived.track_files if self.src.keepalived is not None else {}
        out = ["------< Checker track files >------"]
        for name, users in files.items():
            out += [f" Track file = {name}", f"   File = {users[0][3].path}",
                    f"   Status = {self._file_status(users)}"]
            tf = defs.get(name)
            if tf is not None:
                out.append(f"   Weight = {tf.weight}{' reverse' if tf.reverse else ''}")
            out.append("   Tracking instances :")
            out += [f"     {pool.vs.name} -> {pool.servers[si].name}, weight {c.weight}"
                    f"{' reverse' if c.reverse else ''}" for pool, si, _ci, c in users]
        return out

    def _file_status(self, users: list[tuple[Pool, int, int, FileCheck]]) -> int:
        """The value last read from the file (0 before a read, as keepalived's missing file)."""
        latest: tuple[float, int] | None = None
        for pool, si, ci, _c in users:
            slot = self.slots.get((id(pool), si, ci))
            if slot is None or slot.last_at is None:
                continue
            m = _FILE_VALUE.match(slot.last_reason)
            if m and (latest is None or slot.last_at >= latest[0]):
                latest = (slot.last_at, int(m.group(1)))
        return latest[1] if latest is not None else 0


def _default_dbr(chk: Checker) -> float:
    """keepalived's default_delay_before_retry of the checker's kind (DNS: 0, meaning
    delay_loop)."""
    if isinstance(chk, HttpCheck):
        return 3.0
    return 0.0 if isinstance(chk, DnsCheck) else 1.0


def _connection(conn: Connection, timeout: float) -> list[str]:
    out = [f"     Dest = [{conn.ip}]:{conn.port}"]
    if conn.bindto is not None:
        out.append(f"     Bind to = [{conn.bindto}]:{conn.bind_port or 0}")
    if conn.bind_if:
        out.append(f"     Bind i/f = {conn.bind_if}")
    if conn.fwmark:
        out.append(f"     Mark = {conn.fwmark}")
    return [*out, f"     Timeout = {timeout:f}"]


def _udp(chk: UdpCheck) -> list[str]:
    out = ["   Keepalive method = UDP_CHECK",
           f"   Payload len = {len(chk.payload)}" if chk.payload is not None
           else "   Payload specified = no",
           f"   Require reply = {_yes(chk.require_reply)}"]
    if chk.require_reply:
        out += [f"     Min reply length = {chk.min_reply_length}",
                f"     Max reply length = {chk.max_reply_length}",
                f"     Reply data len = {len(chk.reply_data or b'')}"]
        if chk.reply_data is not None:
            out.append(f"     Reply data mask = {_yes(chk.reply_mask is not None)}")
    return out
