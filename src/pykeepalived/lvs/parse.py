"""keepalived.conf's load balancer blocks, read into the typed model (`pykeepalived.lvs.model`).

The configuration builder (`pykeepalived.config.build`) hands `LvsBuilder` the blocks in the
order of the files: ``global_defs`` (the load balancer's global settings), ``SSL``,
``virtual_server_group`` and ``virtual_server``, the last with the ``track_file`` and
``bfd_instance`` names defined before it (keepalived's checker looks them up as it reads, so a
later definition is "not found" there too). `LvsBuilder.build` then makes keepalived 2.2.7's
end-of-read checks and resolves the inheritance (virtual server -> real server -> checker), and
returns the `LvsConfig` stored as ``KeepalivedConfig.lvs``.

What keepalived's config test fails on is a mistake here (an error under ``-t``), at the
keyword's file:line:col, or at the block's closing brace where keepalived checks at the end of a
block; the checks keepalived makes once everything is read are reported at the virtual or real
server they concern. What keepalived accepts and pykeepalived's load balancer does not do is a
``parsed, not supported`` warning: per keyword in `config.unsupported.UNSUPPORTED`, per value
here (a scheduler, a forwarding method, a regex option), with what the daemon does instead.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection, Mapping

from pykeepalived.config import model as cm
from pykeepalived.config.diagnostics import Diagnostics
from pykeepalived.config.parser import Statement
from pykeepalived.lvs.model import (
    HttpCheck,
    LvsConfig,
    MiscCheck,
    RealServer,
    Script,
    Ssl,
    VirtualServer,
    VirtualServerGroup,
)
from pykeepalived.lvs.parse_checkers import CHECKERS, CheckerReader
from pykeepalived.lvs.parse_draft import (
    Ctx,
    GroupDraft,
    RsDraft,
    TimingDraft,
    VsDraft,
    fmt_vs,
    keep,
)
from pykeepalived.lvs.parse_finish import finish
from pykeepalived.lvs.parse_group import group_entry
from pykeepalived.lvs.parse_values import INT32_MAX, UINT_MAX, read_unsigned

#: keepalived 2.2.7's schedulers (check_parser.c)
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed",
              "nq", "twos")
#: what pykeepalived's nftables plane schedules in place of IPVS's connection counters
STAND_IN = {"lc": "rr", "wlc": "wrr"}
REFUSED_SCHEDULERS = frozenset({"lblc", "lblcr", "sed", "nq", "ovf", "twos"})
LVS_MAX_TIMEOUT = 86400 * 31
PERSISTENT_TIMEOUT = 360
_PLANE = "pykeepalived's nftables load balancer"

_COMMON = ("retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures")
_CONN = ("connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "connect_timeout",
         "fwmark")
_URL = ("path", "digest", "status_code", "virtualhost", "regex", "regex_no_match",
        "regex_options", "regex_min_offset", "regex_max_offset")
_VS, _RS = ("virtual_server",), ("virtual_server", "real_server")
#: The keyword paths (as in `config.keywords.KEYWORDS`) whose values the load balancer's model
#: carries or is steered by; every other load balancer keyword is in `config.unsupported`.
KEYWORDS_READ: frozenset[tuple[str, ...]] = frozenset({
    ("SSL",), *(("SSL", k) for k in ("password", "ca", "certificate", "key")),
    *(("global_defs", k) for k in ("checker_log_all_failures", "lvs_flush", "lvs_flush_on_stop",
                                   "lvs_flush_onstop")),
    ("virtual_server_group",), _VS,
    *((*_VS, k) for k in (
        "ip_family", "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop",
        "inhibit_on_failure", "lb_algo", "lvs_sched", "hashed", "flag-2", "sh-port", "mh-port",
        "lb_kind", "lvs_method", "persistence_timeout", "persistence_granularity", "protocol",
        "virtualhost", "alpha", "omega", "quorum_up", "quorum_down", "quorum",
        "hysteresis", "weight", "sorry_server", "sorry_server_inhibit",
        "sorry_server_lvs_method", "real_server")),
    *((*_RS, k) for k in ("weight", "lvs_method", "inhibit_on_failure", "notify_up",
                          "notify_down", "alpha", "retry", "delay_before_retry", "warmup",
                          "connect_timeout", "delay_loop", "virtualhost")),
    *((*_RS, c) for c in ("TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK",
                          "MISC_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK")),
    *((*_RS, c, k) for c in ("TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK",
                             "UDP_CHECK", "PING_CHECK") for k in _COMMON + _CONN),
    *((*_RS, "MISC_CHECK", k) for k in (*_COMMON, "misc_path", "misc_timeout", "misc_dynamic",
                                        "user")),
    *((*_RS, c, k) for c in ("HTTP_GET", "SSL_GET")
      for k in ("nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery",
                "url")),
    *((*_RS, c, "url", k) for c in ("HTTP_GET", "SSL_GET") for k in _URL),
    (*_RS, "SMTP_CHECK", "helo_name"), (*_RS, "SMTP_CHECK", "host"),
    *((*_RS, "SMTP_CHECK", "host", k) for k in _COMMON + _CONN),
    (*_RS, "DNS_CHECK", "type"), (*_RS, "DNS_CHECK", "name"),
    *((*_RS, "UDP_CHECK", k) for k in ("payload", "require_reply", "min_reply_length",
                                       "max_reply_length")),
    (*_RS, "FILE_CHECK", "track_file"), (*_RS, "FILE_CHECK", "weight"),
})


def lvs_scripts(lvs: LvsConfig) -> list[tuple[str, Script]]:
    """Every script the load balancer may run, with what it is for (for the script checks made
    at start and by ``-t``, as keepalived's check_check_script_security)."""
    out: list[tuple[str, Script]] = []
    for vs in lvs.virtual_servers:
        for hook in ("quorum_up", "quorum_down"):
            script = getattr(vs, hook)
            if script is not None:
                out.append((f"{hook} {vs.name}", script))
        for rs in vs.real_servers:
            for hook in ("notify_up", "notify_down"):
                script = getattr(rs, hook)
                if script is not None:
                    out.append((f"{hook} {vs.rs_name(rs)}", script))
            out += [(f"MISC_CHECK {vs.rs_name(rs)}", ck.path) for ck in rs.checkers
                    if isinstance(ck, MiscCheck)]
    return out


class LvsBuilder:
    """Collects the load balancer's blocks as the configuration is read (see the module)."""

    def __init__(self, diags: Diagnostics) -> None:
        self.ctx = Ctx(diags)
        self.vss: list[VsDraft] = []
        self.groups: dict[str, GroupDraft] = {}
        self.ssl_block: Ssl | None = None
        self.lvs_flush = False
        self.lvs_flush_on_stop: str | None = None
        self.log_all_failures = False

    # --- global_defs, SSL --------------------------------------------------------------------

    def global_defs(self, st: Statement) -> None:
        c = self.ctx
        for s in st.block or []:
            k = s.keyword
            if k == "checker_log_all_failures":
                got = c.flag(s, "Invalid value for checker_log_all_failures specified")
                if got is not None:
                    self.log_all_failures = got
            elif k == "lvs_flush":
                self.lvs_flush = True
            elif k in ("lvs_flush_on_stop", "lvs_flush_onstop"):
                if not s.words:
                    self.lvs_flush_on_stop = "FULL"
                elif s.words[0] == "VS":
                    self.lvs_flush_on_stop = "VS"
                else:
                    c.mistake(s.arg_loc(0), f"Unknown lvs_flush_on_stop type {s.words[0]}")
            elif k == "lvs_timeouts":
                self._lvs_timeouts(s)
            elif k == "lvs_sync_daemon":
                if not s.words:
                    c.mistake(s.loc, "lvs_sync_daemon requires interface")
                elif len(s.words[0]) >= 16:
                    c.mistake(s.arg_loc(0), f"lvs_sync_daemon interface name '{s.words[0]}' "
                              "too long - ignoring")

    def _lvs_timeouts(self, s: Statement) -> None:
        c = self.ctx
        if len(s.words) < 2:
            c.mistake(s.loc, "lvs_timeouts requires at least one option")
            return
        i = 0
        while i < len(s.words):
            word = s.words[i]
            if word not in ("tcp", "tcpfin", "udp"):
                c.mistake(s.arg_loc(i), f"Unknown option {word} specified for lvs_timeouts")
            elif i == len(s.words) - 1:
                c.mistake(s.arg_loc(i), f"No value specified for lvs_timeout {word} - ignoring")
            else:
                i += 1
                if read_unsigned(s.words[i], 0, LVS_MAX_TIMEOUT).problem is not None:
                    c.mistake(s.arg_loc(i), f"Invalid lvs_timeout {word} ({s.words[i]}) - "
                              "ignoring")
            i += 1

    def ssl(self, st: Statement) -> None:
        c = self.ctx
        if self.ssl_block is not None:
            c.mistake(st.loc, "SSL context already specified - replacing")
        names = {"password": "password", "ca": "cafile", "certificate": "certfile",
                 "key": "keyfile"}
        got: dict[str, str] = {}
        for s in st.block or []:
            if s.keyword not in names:
                continue
            if not s.words:
                c.mistake(s.loc, f"SSL {names[s.keyword]} missing")
                continue
            if s.keyword in got:
                c.mistake(s.loc, f"SSL {names[s.keyword]} already specified - replacing")
            got[s.keyword] = s.words[0]
        self.ssl_block = Ssl(password=got.get("password"), ca=got.get("ca"),
                             certificate=got.get("certificate"), key=got.get("key"),
                             loc=st.loc)

    # --- virtual_server_group ----------------------------------------------------------------

    def group(self, st: Statement) -> None:
        c = self.ctx
        name = c.word(st)
        if name is None:
            return
        g = GroupDraft(name, st.loc)
        lines = st.block if st.block is not None else []
        if st.block is None and len(st.words) > 1:
            lines = [st.sub(1)]  # keepalived reads an entry on the keyword's own line too
        for s in lines:
            entry = group_entry(c, name, s)
            if entry is None:
                continue
            g.entries.append(entry)
            if entry.fwmark is not None and entry.family is None:
                g.fwmark_no_family = True
            elif entry.fwmark is not None:
                g.have4, g.have6 = g.have4 or entry.family == 4, g.have6 or entry.family == 6
            elif entry.first is not None:
                g.have4, g.have6 = g.have4 or entry.first.version == 4, \
                    g.have6 or entry.first.version == 6
        end = st.end_loc if st.block is not None else st.loc
        if not g.entries:
            c.mistake(end, f"virtual server group {name} has no entries - removing")
            return
        if g.have4 and g.have6 and g.fwmark_no_family:
            c.mistake(end, f"virtual server group {name} cannot have IPv4, IPv6 and fwmark "
                      "without family - removing")
            return
        if name in self.groups:
            # keepalived keeps both and finds the first by name
            c.warning(st.loc, f"virtual_server_group {name} is defined twice (first at "
                      f"{self.groups[name].loc}); the first is used")
            return
        self.groups[name] = g

    # --- virtual_server ----------------------------------------------------------------------

    def virtual_server(self, st: Statement, track_files: Mapping[str, cm.TrackFileDef],
                       bfds: Collection[str] = ()) -> None:
        """A ``virtual_server`` block; `track_files` and `bfds` are those defined before it."""
        c = self.ctx
        first = c.word(st)
        if first is None:
            return
        end = st.end_loc if st.block is not None else st.loc
        vs = VsDraft(st.loc, end)
        if first == "group":
            name = c.word(st, 1)
            if name is None:
                return
            vs.group = name
        elif first == "fwmark":
            if c.word(st, 1) is None:
                return
            mark = c.unsigned(st, 0, UINT_MAX, "virtual server fwmark '{}' must be in "
                              f"[0, {UINT_MAX}] - ignoring", index=1)
            if mark is None:
                return
            if mark == 0:
                # keepalived takes fwmark 0 as "no fwmark": a service with no address at all
                c.mistake(st.arg_loc(1), "virtual server fwmark 0 is no fwmark - ignoring")
                return
            vs.fwmark = mark
        else:
            got = c.sockaddr(st, "virtual server IP address")
            if got is None:
                return
            vs.address, vs.port, vs.family = got.address, got.port, got.address.version
        for s in st.block or []:
            self._vs_keyword(vs, s, track_files, bfds)
        self._vs_end(vs)
        self.vss.append(vs)

    def _vs_keyword(self, vs: VsDraft, s: Statement, track_files: Mapping[str, cm.TrackFileDef],
                    bfds: Collection[str]) -> None:
        c = self.ctx
        k = s.keyword
        vs.at.setdefault(k, s.loc)
        if k == "real_server":
            self._real_server(vs, s, track_files, bfds)
        elif k == "ip_family":
            word = c.word(s)
            family = {"inet": 4, "inet6": 6}.get(word or "")
            if word is None:
                return
            if family is None:
                c.mistake(s.arg_loc(0), f"unknown address family {word}")
            elif vs.family is not None and vs.family != family:
                c.mistake(s.arg_loc(0), f"Virtual server specified family {word} conflicts "
                          "with server family")
            else:
                vs.family = family
        elif k == "retry":
            vs.retry = keep(vs.retry, c.unsigned(s, 1, UINT_MAX, "retry value invalid - {}",
                                                ignore_error=False))
        elif k == "delay_before_retry":
            vs.delay_before_retry = keep(vs.delay_before_retry, c.timer(
                s, 0, 0, "virtual server delay before retry '{}' invalid - ignoring"))
        elif k == "warmup":
            vs.warmup = keep(vs.warmup, c.timer(
                s, 0, 0, "virtual server warmup '{}' invalid - ignoring"))
        elif k == "connect_timeout":
            vs.connect_timeout = keep(vs.connect_timeout, c.timer(
                s, 1, UINT_MAX, "virtual server connect_timeout {} invalid - ignoring"))
        elif k == "delay_loop":
            vs.delay_loop = keep(vs.delay_loop, c.timer(
                s, 1, 0, "virtual server delay loop '{}' invalid - ignoring"))
        elif k in ("inhibit_on_failure", "ha_suspend", "alpha", "omega"):
            c.bare(s)
            setattr(vs, "inhibit" if k == "inhibit_on_failure" else k, True)
        elif k in ("lb_algo", "lvs_sched"):
            self._scheduler(vs, s)
        elif k in ("hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback",
                   "mh-port", "mh-fallback"):
            self._sched_flag(vs, s)
        elif k in ("lb_kind", "lvs_method"):
            vs.lb_kind = keep(vs.lb_kind, self._method(s, "virtual"))
        elif k == "persistence_engine":
            name = c.word(s)
            if name is not None and len(name) > 15:
                c.mistake(s.arg_loc(0), f"persistence_name too long, truncating - {name}")
        elif k == "persistence_timeout":
            if not s.words:
                vs.persistence_timeout = PERSISTENT_TIMEOUT
            else:
                vs.persistence_timeout = keep(vs.persistence_timeout, c.unsigned(
                    s, 1, LVS_MAX_TIMEOUT, "persistence_timeout invalid", ignore_error=False))
        elif k == "persistence_granularity":
            self._granularity(vs, s)
        elif k == "protocol":
            word = c.word(s)
            if word is not None and word.upper() in ("TCP", "UDP", "SCTP"):
                vs.protocol = word.upper()
            elif word is not None:
                c.mistake(s.arg_loc(0), f"Unknown protocol {word} - ignoring")
        elif k == "smtp_alert":
            c.flag(s, "Invalid virtual_server smtp_alert parameter {}")
        elif k == "virtualhost":
            if not s.words:
                c.mistake(s.loc, "virtual server virtualhost missing")
            else:
                vs.virtualhost = s.words[0]
        elif k == "snmp_name":
            if len(s.words) != 1:
                c.mistake(s.loc, "virtual server snmp_name missing or extra parameters")
        elif k in ("quorum_up", "quorum_down"):
            if getattr(vs, k) is not None:
                c.mistake(s.loc, f"({fmt_vs(vs)}) {k} script already specified - ignoring "
                          f"{' '.join(s.words)}")
            else:
                setattr(vs, k, c.script(s))
        elif k == "quorum":
            got = c.unsigned(s, 1, UINT_MAX, f"Quorum {{}} must be in [1, {UINT_MAX}]. "
                             "Setting to 1.")
            vs.quorum = 1 if got is None else got
        elif k == "hysteresis":
            vs.hysteresis = keep(vs.hysteresis, c.unsigned(
                s, 0, UINT_MAX, f"Hysteresis {{}} must be in [0, {UINT_MAX}] - ignoring"))
        elif k == "weight":
            vs.weight = keep(vs.weight, c.unsigned(
                s, 1, INT32_MAX, f"Virtual server weight {{}} is outside range 1-{INT32_MAX}"))
        elif k == "sorry_server":
            where = c.sockaddr(s, "sorry server IP address")
            if where is not None:
                vs.sorry = RsDraft(where.address, where.port, s.loc, s.loc, weight=1,
                                   lb_kind=vs.lb_kind)
        elif k == "sorry_server_inhibit":
            if vs.sorry is None:
                c.mistake(s.loc, "Ignoring sorry_server inhibit used before or without "
                          "sorry_server")
            else:
                c.bare(s)
                vs.sorry.inhibit = True
        elif k == "sorry_server_lvs_method":
            if vs.sorry is None:
                c.mistake(s.loc, "sorry_server forwarding used without sorry_server")
            else:
                vs.sorry.lb_kind = keep(vs.sorry.lb_kind, self._method(s, "sorry"))

    def _scheduler(self, vs: VsDraft, s: Statement) -> None:
        c = self.ctx
        word = c.word(s)
        if word is None:
            return
        if word not in SCHEDULERS:
            import difflib

            close = difflib.get_close_matches(word, SCHEDULERS, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            c.mistake(s.arg_loc(0), f"Invalid lvs_scheduler '{word}' - ignoring{hint}")
            return
        vs.lb_algo = word
        if word in STAND_IN:
            c.unsupported(s.arg_loc(0), f"{s.keyword} {word}", f"{_PLANE} has no connection "
                          f"counts: it schedules {word} as {STAND_IN[word]}")
        elif word in REFUSED_SCHEDULERS:
            c.unsupported(s.arg_loc(0), f"{s.keyword} {word}",
                          f"{_PLANE} refuses this virtual server at start; use rr, wrr, sh, "
                          "mh, dh or fo")

    def _sched_flag(self, vs: VsDraft, s: Statement) -> None:
        k = s.keyword
        c = self.ctx
        c.bare(s)
        if k == "ops":
            vs.ops = True
        elif k == "flag-1":  # IPVS's SCHED1: sh-fallback / mh-fallback
            vs.hash_fallback = True
        elif k == "flag-2":  # SCHED2: sh-port / mh-port
            vs.hash_port = True
        elif k == "flag-3":
            pass
        elif vs.lb_algo in ("sh", "mh"):
            # the other scheduler's flags (and "hashed") are silently ignored by keepalived
            if k == f"{vs.lb_algo}-port":
                vs.hash_port = True
            elif k == f"{vs.lb_algo}-fallback":
                vs.hash_fallback = True
        else:
            c.mistake(s.loc, f"{k} only applies to sh scheduler - ignoring"
                      + ("" if vs.lb_algo else " (write lb_algo before it)"))

    def _method(self, s: Statement, s_type: str) -> str | None:
        """keepalived's svr_forwarding_handler: NAT, DR, or TUN with its tunnel options."""
        c = self.ctx
        method = c.word(s)
        if method is None:
            return None
        if method not in ("NAT", "DR", "TUN"):
            c.mistake(s.arg_loc(0), f"PARSER : unknown [{method}] routing method for {s_type} "
                      "server.")
            return None
        if method != "TUN":
            if len(s.words) > 1:
                c.mistake(s.arg_loc(1), f"Invalid tunnel option {s.words[1]} for {s_type} "
                          "server.")
            return method
        c.unsupported(s.arg_loc(0), f"{s.keyword} TUN", f"IP tunnelling: {_PLANE} refuses "
                      "it at start; use NAT or DR")
        tun_type, port, csum = "ipip", 0, "nocsum"
        words, i = s.words, 1
        while i < len(words):
            w = words[i]
            if w in ("type", "port") and i + 1 == len(words):
                what = "tunnel type" if w == "type" else "port"
                c.mistake(s.arg_loc(i), f"Missing {what} for {s_type} server"
                          + (" gue tunnel." if w == "port" else "."))
                return method
            if w == "type":
                if words[i + 1] not in ("ipip", "gue", "gre"):
                    c.mistake(s.arg_loc(i + 1), f"Unknown tunnel type {words[i + 1]} for "
                              f"{s_type} server.")
                    return method
                tun_type = words[i + 1]
                i += 1
            elif w == "port":
                got = read_unsigned(words[i + 1], 1, 65535)
                if got.value is None or got.problem:
                    c.mistake(s.arg_loc(i + 1), f"Invalid gue tunnel port {words[i + 1]} for "
                              f"{s_type} server.")
                    return method
                port = got.value
                i += 1
            elif w in ("nocsum", "csum", "remcsum"):
                csum = w
            else:
                c.mistake(s.arg_loc(i), f"Invalid tunnel option {w} for {s_type} server.")
                return method
            i += 1
        if (tun_type == "gue") != (port != 0):
            c.mistake(s.loc, "gue tunnels require port, otherwise cannot have port.")
        elif tun_type == "ipip" and csum != "nocsum":
            c.mistake(s.loc, "ipip tunnels do not support checksum option.")
        elif tun_type == "gre" and csum == "remcsum":
            c.mistake(s.loc, "gre tunnels do not support remote checksum option.")
        return method

    def _granularity(self, vs: VsDraft, s: Statement) -> None:
        c = self.ctx
        word = c.word(s)
        if word is None:
            return
        family = vs.family or (4 if "." in word else 6)
        if family == 6:
            got = read_unsigned(word, 1, 128)
            if got.value is None or got.problem:
                c.mistake(s.arg_loc(0), f"Invalid IPv6 persistence_granularity specified - "
                          f"{word}")
                return
            vs.persistence_granularity = got.value
        else:
            try:
                vs.persistence_granularity = ipaddress.IPv4Address(word)
            except ValueError:
                c.mistake(s.arg_loc(0), f"Invalid IPv4 persistence_granularity specified - "
                          f"{word}")
                return
        if vs.family is None:
            vs.family = family
        if not vs.persistence_timeout:
            vs.persistence_timeout = PERSISTENT_TIMEOUT

    # --- real_server -------------------------------------------------------------------------

    def _real_server(self, vs: VsDraft, st: Statement,
                     track_files: Mapping[str, cm.TrackFileDef], bfds: Collection[str]) -> None:
        c = self.ctx
        got = c.sockaddr(st, "real server ip address/port")
        if got is None:
            return
        end = st.end_loc if st.block is not None else st.loc
        rs = RsDraft(got.address, got.port, st.loc, end, lb_kind=vs.lb_kind)
        reader = CheckerReader(c, vs, rs, track_files, bfds)
        for s in st.block or []:
            if s.keyword in CHECKERS:
                rs.checkers += reader.read(s)
            else:
                self._rs_keyword(vs, rs, s, rs.timing)
        # keepalived's rs_end_handler: a tunnelled server may be of the other family
        if rs.lb_kind != "TUN":
            if vs.family is None:
                vs.family = rs.address.version
            elif vs.family != rs.address.version:
                c.mistake(end, f"Address family of virtual server and real server "
                          f"{rs.address} don't match - skipping real server.")
                return
        vs.reals.append(rs)

    def _rs_keyword(self, vs: VsDraft, rs: RsDraft, s: Statement, t: TimingDraft) -> None:
        c = self.ctx
        k = s.keyword
        if k == "weight":
            rs.weight = keep(rs.weight, c.unsigned(
                s, 0, INT32_MAX, f"Real server weight {{}} is outside range 0-{INT32_MAX}"))
        elif k == "lvs_method":
            rs.lb_kind = keep(rs.lb_kind, self._method(s, "real"))
        elif k in ("uthreshold", "lthreshold"):
            value = c.unsigned(s, 0, UINT_MAX, f"Invalid real_server {k} '{{}}' - ignoring")
            if value is not None:
                setattr(rs, k, value)
        elif k == "inhibit_on_failure":
            rs.inhibit = keep(rs.inhibit, c.flag(s, "Invalid inhibit_on_failure parameter {}"))
        elif k in ("notify_up", "notify_down"):
            if getattr(rs, k) is not None:
                c.mistake(s.loc, f"({fmt_vs(vs)}) {k} script already specified - ignoring "
                          f"{' '.join(s.words)}")
            else:
                script: Script | None = c.script(s)
                setattr(rs, k, script)
        elif k == "alpha":
            t.alpha = keep(t.alpha, c.flag(s, "Invalid alpha parameter {}"))
        elif k == "retry":
            t.retry = keep(t.retry, c.unsigned(s, 1, UINT_MAX, "retry value invalid - {}",
                                              ignore_error=False))
        elif k == "delay_before_retry":
            t.delay_before_retry = keep(t.delay_before_retry, c.timer(
                s, 0, 0, "real server delay_before_retry '{}' invalid - ignoring"))
        elif k == "warmup":
            t.warmup = keep(t.warmup, c.timer(s, 0, 0, "real server warmup '{}' invalid - "
                                             "ignoring"))
        elif k == "connect_timeout":
            t.connect_timeout = keep(t.connect_timeout, c.timer(
                s, 1, UINT_MAX, "real server connect_timeout {} invalid - ignoring"))
        elif k == "delay_loop":
            t.delay_loop = keep(t.delay_loop, c.timer(
                s, 1, 0, "real server delay_loop '{}' invalid - ignoring"))
        elif k == "smtp_alert":
            c.flag(s, "Invalid real_server smtp_alert parameter {}")
        elif k == "virtualhost":
            if not s.words:
                c.mistake(s.loc, "real server virtualhost missing")
            else:
                rs.virtualhost = s.words[0]
        elif k == "snmp_name" and len(s.words) != 1:
            c.mistake(s.loc, "real server snmp_name missing or extra parameters")

    def _vs_end(self, vs: VsDraft) -> None:
        """keepalived's vs_end_handler: the sorry server's family, and the family of a fwmark
        service all of whose servers are tunnelled."""
        s = vs.sorry
        if s is not None and s.lb_kind != "TUN":
            if vs.family is None:
                vs.family = s.address.version
            elif vs.family != s.address.version:
                self.ctx.mistake(vs.end_loc, "Address family of virtual server and sorry "
                                 f"server {s.address} don't match - skipping sorry server.")
                vs.sorry = None
        if vs.family is None and vs.group is None:
            families = {x.address.version for x in ([vs.sorry] if vs.sorry else []) + vs.reals}
            vs.family = families.pop() if len(families) == 1 else 4

    # --- the end -----------------------------------------------------------------------------

    def build(self) -> LvsConfig:
        """The checks keepalived makes once everything is read, and the resolved model."""
        vss = finish(self.ctx, self.vss, self.groups, self.log_all_failures)
        if self.ssl_block is not None and self.ssl_block.certificate:
            vss = tuple(_with_client_cert(vs, self.ssl_block) for vs in vss)
        by_name = {vs.group.name: vs.group for vs in vss if vs.group is not None}
        groups = tuple(by_name.get(g.name) or VirtualServerGroup(g.name, tuple(g.entries), g.loc)
                       for g in self.groups.values())
        return LvsConfig(virtual_servers=vss, groups=groups, lvs_flush=self.lvs_flush,
                         checker_log_all_failures=self.log_all_failures,
                         lvs_flush_on_stop=self.lvs_flush_on_stop, ssl=self.ssl_block)


def _with_client_cert(vs: VirtualServer, ssl: Ssl) -> VirtualServer:
    """SSL_GET checkers present the SSL block's certificate (keepalived's one context)."""
    def rs(r: RealServer) -> RealServer:
        return dataclasses.replace(r, checkers=tuple(
            dataclasses.replace(c, client_cert=ssl) if isinstance(c, HttpCheck) and c.ssl
            else c for c in r.checkers))

    return dataclasses.replace(vs, real_servers=tuple(rs(r) for r in vs.real_servers))
