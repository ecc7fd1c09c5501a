"""The health checker blocks of a ``real_server``: TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK,
DNS_CHECK, MISC_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK (and BFD_CHECK, refused).

Each block becomes a `CheckerDraft` (or a few, for SMTP_CHECK's old ``host`` blocks, or none
when keepalived drops it), with the checker's own defaults (keepalived's ``default_retry``: 0 for
MISC_CHECK, 3 for DNS_CHECK, 1 otherwise; ``default_delay_before_retry``: 3 s for HTTP_GET and
SSL_GET, the delay loop for DNS_CHECK, 1 s otherwise). The settings inherited from the real and
virtual server are applied when the whole configuration is read (`parse_finish`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from pykeepalived.config import model as cm
from pykeepalived.config.diagnostics import Location
from pykeepalived.config.parser import Statement
from pykeepalived.lvs.model import HttpUrl, Script
from pykeepalived.lvs.parse_draft import (
    CheckerDraft,
    ConnDraft,
    Ctx,
    RsDraft,
    TimingDraft,
    VsDraft,
    fmt_rs,
    keep,
)
from pykeepalived.lvs.parse_values import (
    INT32_MAX,
    UINT_MAX,
    read_hex,
    read_int,
    read_sockaddr,
)

#: keepalived 2.2.7's DNS_CHECK query types (check_dns.c), matched without regard to case
DNS_TYPES = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY")
SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
#: keepalived's regex_options words (PCRE2 compile options)
REGEX_OPTIONS = frozenset({
    "allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly", "dotall",
    "dupnames", "extended", "firstline", "match_unset_backref", "multiline", "never_ucp",
    "never_utf", "no_auto_capture", "no_auto_possess", "no_dotstar_anchor", "no_start_optimize",
    "ucp", "ungreedy", "utf", "never_backslash_c", "alt_circumflex", "alt_verbnames",
    "use_offset_limit"})
#: what Python's re can do of them (the others are warned about where they are written)
REGEX_FLAGS = {"caseless": re.IGNORECASE, "dotall": re.DOTALL, "extended": re.VERBOSE,
               "multiline": re.MULTILINE}
_REGEX_HARMLESS = frozenset({"utf", "ucp", "no_auto_possess", "no_start_optimize",
                             "no_dotstar_anchor", "never_backslash_c", "dupnames",
                             "allow_empty_class", "never_ucp", "never_utf"})

CHECKERS = frozenset({"TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK",
                      "MISC_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK"})


class CheckerReader:
    """Reads the checker blocks of one real server as keepalived's handlers do."""

    def __init__(self, ctx: Ctx, vs: VsDraft, rs: RsDraft,
                 track_files: Mapping[str, cm.TrackFileDef], bfds: Collection[str]) -> None:
        self.ctx = ctx
        self.vs = vs
        self.rs = rs
        self.track_files = track_files
        self.bfds = bfds

    def read(self, st: Statement) -> list[CheckerDraft]:
        k = st.keyword
        if k == "FILE_CHECK":
            return self._file(st)
        if k == "BFD_CHECK":
            self._bfd(st)
            return []
        ck = CheckerDraft(k, st.loc)
        if k == "MISC_CHECK":
            ck.default_retry = 0
            return self._misc(ck, st)
        ck.conn = ConnDraft(self.rs.address, self.rs.port)
        if k in ("HTTP_GET", "SSL_GET"):
            ck.default_delay_before_retry = 3.0
            return self._http(ck, st)
        if k == "SMTP_CHECK":
            return self._smtp(ck, st)
        if k == "DNS_CHECK":
            ck.default_retry = 3
            ck.default_delay_before_retry = None
            return self._dns(ck, st)
        if k == "UDP_CHECK":
            return self._udp(ck, st)
        for s in _block(st):
            self.common(ck, s)
        return self._end_conn(ck)

    # --- keywords every checker has (check_api.c) --------------------------------------------

    def common(self, ck: CheckerDraft, s: Statement, conn: ConnDraft | None = None,
               timing: TimingDraft | None = None) -> bool:
        """One of the common keywords; False when `s` is not one."""
        c = self.ctx
        k = s.keyword
        t = timing if timing is not None else ck.timing
        co = conn if conn is not None else ck.conn
        if k == "retry":
            t.retry = keep(t.retry, c.unsigned(s, 0, UINT_MAX,
                                                "Invalid retry connection value '{}'"))
        elif k == "delay_before_retry":
            t.delay_before_retry = keep(t.delay_before_retry, c.timer(
                s, 0, 0, "Invalid delay_before_retry connection value '{}'"))
        elif k == "warmup":
            t.warmup = keep(t.warmup, c.timer(s, 0, 0, "Invalid warmup connection value '{}'"))
        elif k == "delay_loop":
            t.delay_loop = keep(t.delay_loop, c.timer(s, 1, 0,
                                                       "delay_loop '{}' is invalid - ignoring"))
        elif k == "alpha":
            t.alpha = keep(t.alpha, c.flag(s, "Invalid alpha parameter {}"))
        elif k == "log_all_failures":
            got = c.flag(s, "Invalid log_all_failures parameter {}")
            if got is not None:
                ck.log_all_failures = got
        elif co is not None and self._conn_keyword(co, s):
            pass
        else:
            return False
        return True

    def _conn_keyword(self, co: ConnDraft, s: Statement) -> bool:
        c = self.ctx
        k = s.keyword
        if k in ("connect_ip", "bindto"):
            raw = c.word(s)
            if raw is None:
                return True
            got = read_sockaddr(raw, None)
            what = "connect_ip" if k == "connect_ip" else "bindto"
            if isinstance(got, str) or got.dropped:
                c.mistake(s.arg_loc(0), f"Invalid {what} address {raw} - ignoring")
                return True
            other = co.bindto if k == "connect_ip" else co.ip
            if other is not None and other.version != got.address.version:
                c.mistake(s.arg_loc(0), f"{what} address {raw} does not match address family "
                          f"of {'bindto' if k == 'connect_ip' else 'connect_ip'} - skipping")
            elif k == "connect_ip":
                co.ip = got.address
            else:
                co.bindto = got.address
        elif k == "connect_port":
            co.port = keep(co.port, c.unsigned(s, 1, 65535, "Invalid checker connect_port '{}'"))
        elif k == "bind_port":
            co.bind_port = keep(co.bind_port,
                                 c.unsigned(s, 1, 65535, "Invalid checker bind_port '{}'"))
        elif k == "bind_if":
            name = c.word(s)
            if name is not None and len(name.encode()) > 15:
                c.mistake(s.arg_loc(0), f"Interface name {name} is too long - ignoring")
            elif name is not None:
                co.bind_if = name
        elif k == "connect_timeout":
            co.connect_timeout = keep(co.connect_timeout, c.timer(
                s, 1, UINT_MAX, "connect_timeout {} invalid - ignoring"))
        elif k == "fwmark":
            co.fwmark = keep(co.fwmark, c.unsigned(s, 0, UINT_MAX,
                                                    "Invalid fwmark connection value '{}'"))
        else:
            return False
        return True

    def _end_conn(self, ck: CheckerDraft) -> list[CheckerDraft]:
        """keepalived's check_conn_opts at the end of a block: a link-local IPv6 target needs
        an interface."""
        co = ck.conn
        if co is not None and co.ip.version == 6 and co.ip.is_link_local and not co.bind_if:
            self.ctx.mistake(ck.loc, f"Checker link local address {co.ip} requires a bind_if")
            return []
        if co is not None and co.port == 0 and ck.kind != "PING_CHECK":
            self.ctx.warning(ck.loc, f"({fmt_rs(self.rs, self.vs)}) {ck.kind} connects to "
                             "port 0: the real server has no port and no connect_port is set "
                             "(keepalived checks port 0 too)")
        return [ck]

    # --- HTTP_GET / SSL_GET (check_http.c) ---------------------------------------------------

    def _http(self, ck: CheckerDraft, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        urls: list[HttpUrl] = []
        f = ck.fields
        for s in _block(st):
            k = s.keyword
            if self.common(ck, s):
                continue
            if k == "nb_get_retry":
                got = c.unsigned(s, 0, UINT_MAX, "Invalid nb_get_retry value '{}'")
                c.mistake(s.loc, "nb_get_retry is deprecated - please use 'retry'")
                ck.timing.retry = keep(ck.timing.retry, got)
            elif k == "virtualhost":
                if not s.words:
                    c.mistake(s.loc, "HTTP_GET virtualhost name missing")
                else:
                    f["virtualhost"] = s.words[0]
            elif k == "http_protocol":
                if not s.words:
                    c.mistake(s.loc, "Missing http_protocol version")
                elif s.words[0] in ("1.0", "1.1", "1.0C", "1.0c"):
                    f["http_protocol"] = s.words[0].upper()
                else:
                    c.mistake(s.arg_loc(0), f"Invalid http_protocol version {s.words[0]}")
            elif k in ("enable_sni", "fast_recovery"):
                got = c.flag(s, f"Invalid {k} parameter {{}}")
                if got is not None:
                    f[k] = got
            elif k == "url":
                url = self._url(s)
                if url is not None:
                    urls.append(url)
        f["urls"] = tuple(urls)
        f["ssl"] = ck.kind == "SSL_GET"
        if not urls:
            c.mistake(st.end_loc, "HTTP/SSL_GET checker has no urls specified - ignoring")
            return []
        return self._end_conn(ck)

    def _url(self, st: Statement) -> HttpUrl | None:
        c = self.ctx
        path: str | None = None
        digest: str | None = None
        codes: list[tuple[int, int]] = []
        vhost: str | None = None
        regex: str | None = None
        options: set[str] = set()
        no_match = False
        lo, hi = 0, 0  # hi: one beyond the last acceptable offset, 0 none (keepalived's)
        stack = False
        options_at = st.loc
        for s in _block(st):
            k = s.keyword
            if k == "path":
                path = c.word(s) or path
            elif k == "digest":
                raw = c.word(s)
                if raw is None:
                    continue
                if digest is not None:
                    c.mistake(s.arg_loc(0), f"Digest '{raw}' is a duplicate")
                elif len(raw) != 32:
                    c.mistake(s.arg_loc(0), f"digest '{raw}' character length should be 32 "
                              f"rather than {len(raw)}")
                elif not re.fullmatch(r"[0-9A-Fa-f]{32}", raw):
                    c.mistake(s.arg_loc(0), f"Unable to interpret hex digit in '{raw}'")
                else:
                    digest = raw.lower()
            elif k == "status_code":
                for i, word in enumerate(s.words):
                    got = _status_range(word)
                    if got is None:
                        c.mistake(s.arg_loc(i), f"Invalid HTTP_GET status code '{word}'")
                    else:
                        codes.append(got)
            elif k == "virtualhost":
                if not s.words:
                    c.mistake(s.loc, "Missing HTTP_GET virtualhost name")
                else:
                    vhost = s.words[0]
            elif k == "regex":
                # keepalived logs this one (its config test passes): the url has no regex
                if len(s.words) != 1:
                    c.warning(s.loc, "regex missing or too many fields")
                else:
                    regex = s.words[0]
            elif k == "regex_no_match":
                no_match = True
            elif k == "regex_options":
                options_at = s.loc
                for i, word in enumerate(s.words):
                    if word not in REGEX_OPTIONS:
                        c.warning(s.arg_loc(i), f"unknown regex option '{word}' (keepalived "
                                  "ignores it)")
                    else:
                        options.add(word)
            elif k in ("regex_min_offset", "regex_max_offset"):
                which = "min" if k == "regex_min_offset" else "max"
                value = 0
                if len(s.words) != 1:
                    c.warning(s.loc, f"Missing or too may options for regex_{which}_offset")
                elif not s.words[0].isdigit():
                    c.warning(s.arg_loc(0), f"Invalid regex_{which}_offset {s.words[0]} "
                              "specified")
                else:
                    value = int(s.words[0])
                if which == "min":
                    lo = value
                else:
                    hi = value + 1
            elif k == "regex_stack":
                stack = True
        if path is None:
            c.mistake(st.end_loc, "HTTP/SSL_GET checker url has no path - ignoring")
            return None
        if regex is None and (options or no_match or lo or hi or stack):
            c.warning(st.end_loc, "regex parameters specified without regex")
            options, no_match, lo, hi = set(), False, 0, 0
        if hi and lo >= hi:
            c.warning(st.end_loc, f"regex min offset {lo} > regex_max_offset {hi - 1} - "
                      "ignoring")
            lo = hi = 0
        if regex is not None:
            regex = self._regex(st, regex, options, options_at)
        return HttpUrl(path=path, digest=digest, status_codes=tuple(codes), virtualhost=vhost,
                       regex=regex, regex_no_match=no_match if regex else False,
                       regex_min_offset=lo if regex else 0,
                       regex_max_offset=(hi - 1 if hi else None) if regex else None,
                       regex_options=tuple(sorted(options)) if regex else (), loc=st.loc)

    def _regex(self, st: Statement, pattern: str, options: set[str],
               options_at: Location) -> str | None:
        c = self.ctx
        for name in sorted(options - set(REGEX_FLAGS) - _REGEX_HARMLESS):
            c.unsupported(options_at, f"regex_options {name}",
                          "a PCRE2 option Python's re does not have; the regex is matched "
                          "without it")
        flags = 0
        for name in options & set(REGEX_FLAGS):
            flags |= REGEX_FLAGS[name]
        try:
            re.compile(pattern, flags)
        except re.error as e:
            c.unsupported(st.loc, f"regex '{pattern}'",
                          f"not a Python regular expression ({e}); the url is checked "
                          "without it")
            return None
        return pattern

    # --- SMTP_CHECK (check_smtp.c) -----------------------------------------------------------

    def _smtp(self, ck: CheckerDraft, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        main = ConnDraft(self.rs.address, 0)
        set_main = False
        hosts: list[ConnDraft] = []
        ck.fields["helo_name"] = SMTP_DEFAULT_HELO
        for s in _block(st):
            if s.keyword == "helo_name":
                if not s.words:
                    c.mistake(s.loc, "SMTP_CHECK helo name missing")
                else:
                    ck.fields["helo_name"] = s.words[0]
            elif s.keyword == "host":
                co = ConnDraft(self.rs.address, self.rs.port)
                for h in _block(s):
                    self.common(ck, h, conn=co)
                if co.ip.version == 6 and co.ip.is_link_local and not co.bind_if:
                    c.mistake(s.loc, f"Checker link local address {co.ip} requires a bind_if")
                else:
                    hosts.append(co)
            elif s.keyword in ("connect_ip", "connect_port", "bindto", "bind_port", "bind_if",
                               "connect_timeout", "fwmark"):
                self.common(ck, s, conn=main)
                set_main = True
            else:
                self.common(ck, s)
        if hosts:
            c.warning(st.loc, "The SMTP_CHECK host block is deprecated. Please define "
                      "additional checkers.")
        # keepalived: the connection timeout is settled at the end of this block, from what
        # the real server (else the virtual server) has set so far
        so_far = self.rs.timing.connect_timeout
        timeout = so_far if so_far is not None else self.vs.connect_timeout
        out: list[CheckerDraft] = []
        if set_main or not hosts:
            if main.port == 0:
                main.port = self.rs.port
            ck.conn = main
            out += self._end_conn(ck)
        else:
            ck.conn = hosts.pop(0)
            out.append(ck)
        for co in hosts:
            out.append(CheckerDraft(ck.kind, ck.loc, ck.timing, ck.log_all_failures,
                                    ck.default_retry, ck.default_delay_before_retry, co,
                                    dict(ck.fields)))
        for one in out:
            if one.conn is not None and one.conn.connect_timeout is None:
                one.conn.connect_timeout = timeout
        return out

    # --- DNS_CHECK, UDP_CHECK, MISC_CHECK ----------------------------------------------------

    def _dns(self, ck: CheckerDraft, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        for s in _block(st):
            if self.common(ck, s):
                continue
            raw = c.word(s) if s.keyword in ("type", "name") else None
            if raw is None:
                continue
            if s.keyword == "type":
                found = next((t for t in DNS_TYPES if t == raw.upper()), None)
                if found is None:
                    c.mistake(s.arg_loc(0), f"Unknown DNS check type {raw} - ignoring"
                              f"{_near(raw.upper(), DNS_TYPES)}")
                else:
                    ck.fields["type"] = found
            elif "name" in ck.fields:
                c.mistake(s.loc, "DNS_CHECK name already specified - ignoring")
            elif (raw.startswith(".") and raw != ".") or ".." in raw:
                c.mistake(s.arg_loc(0), f"DNS_CHECK name '{raw}' has empty label - ignoring")
            else:
                ck.fields["name"] = raw
        return self._end_conn(ck)

    def _udp(self, ck: CheckerDraft, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        f = ck.fields
        lo, hi = 0, 255
        for s in _block(st):
            k = s.keyword
            if self.common(ck, s):
                continue
            if k == "payload":
                if not s.words:
                    c.mistake(s.loc, "UDP_CHECK payload requires a payload")
                    continue
                got = read_hex(" ".join(s.words))
                if got is None:
                    c.mistake(s.arg_loc(0), "Invalid hex string for UDP_CHECK payload")
                else:
                    f["payload"] = got[0]
            elif k == "require_reply":
                f["require_reply"] = True
                if s.words:
                    got = read_hex(" ".join(s.words), wildcard=True)
                    if got is None:
                        c.mistake(s.arg_loc(0), "Invalid hex string for UDP_CHECK reply")
                    else:
                        f["reply_data"], f["reply_mask"] = got
            elif k in ("min_reply_length", "max_reply_length"):
                which = "min" if k == "min_reply_length" else "max"
                got_len = c.unsigned(s, 0, 65535, f"UDP_CHECK {which} length {{}} not valid - "
                                     "must be between 0 & 65535", ignore_error=False)
                if got_len is not None and which == "min":
                    lo = got_len
                elif got_len is not None:
                    hi = got_len
        f["min_reply_length"], f["max_reply_length"] = lo, hi
        out = self._end_conn(ck)
        if out and lo > hi:
            c.mistake(st.end_loc, f"UDP_CHECK min_reply length {lo} > max_reply_length {hi} - "
                      "will always fail")
        return out

    def _misc(self, ck: CheckerDraft, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        command: str | None = None
        user: str | None = None
        group: str | None = None
        for s in _block(st):
            k = s.keyword
            if self.common(ck, s):
                continue
            if k == "misc_path":
                command = c.word(s)
                if len(s.words) > 1:
                    c.warning(s.arg_loc(1), "misc_path: words after the script are ignored "
                              "(quote the whole command line)")
            elif k == "misc_timeout":
                got = c.unsigned(s, 0, UINT_MAX // 1_000_000, "Invalid misc_timeout value '{}'")
                if got is not None:
                    ck.fields["timeout"] = float(got) if got else None
            elif k == "misc_dynamic":
                ck.fields["dynamic"] = True
            elif k == "user":
                if not s.words:
                    c.mistake(s.loc, f"No user specified for misc checker script {command}")
                else:
                    user = s.words[0]
                    group = s.words[1] if len(s.words) > 1 else None
        if not command or not command.strip():
            c.mistake(st.end_loc, "No script path has been specified for MISC_CHECKER - "
                      "skipping")
            return []
        ck.fields["path"] = Script(command, user, group, st.loc)
        return [ck]

    # --- FILE_CHECK, BFD_CHECK ---------------------------------------------------------------

    def _file(self, st: Statement) -> list[CheckerDraft]:
        c = self.ctx
        tf: cm.TrackFileDef | None = None
        weight: int | None = None
        reverse = False
        for s in _block(st):
            if s.keyword == "track_file":
                name = c.word(s)
                if name is None:
                    continue
                tf = self.track_files.get(name)
                if tf is None:
                    c.mistake(s.arg_loc(0), f"track_file {name} not found"
                              f"{_near(name, self.track_files)}")
            elif s.keyword == "weight":
                if not s.words:
                    c.mistake(s.loc, "track file weight missing")
                    continue
                got = read_int(s.words[0], -INT32_MAX, INT32_MAX, lenient=c.lenient)
                if got.value is None or got.problem:
                    c.mistake(s.arg_loc(0), f"weight for track file must be in [{-INT32_MAX}.."
                              f"{INT32_MAX}] inclusive. Ignoring...")
                    if got.value is None:
                        continue
                option = s.words[1] if len(s.words) > 1 else "noreverse"
                if option not in ("reverse", "noreverse"):
                    c.mistake(s.arg_loc(1), f"unknown track file weight option {option} - "
                              "ignoring")
                    continue
                weight, reverse = got.value, option == "reverse"
        if tf is None:
            c.mistake(st.end_loc, "FILE_CHECK has no track_file specified - ignoring")
            return []
        if weight is None:
            weight, reverse = tf.weight, tf.reverse
        ck = CheckerDraft("FILE_CHECK", st.loc)
        ck.fields.update(track_file=tf.name, path=tf.file or "", weight=weight,
                         reverse=reverse, init_file=tf.init_file is not None)
        return [ck]

    def _bfd(self, st: Statement) -> None:
        """keepalived's config errors for BFD_CHECK (the checker itself is refused: the
        keyword's warning comes from the unsupported table)."""
        c = self.ctx
        who = f"({fmt_rs(self.rs, self.vs)})"
        named = False
        for s in _block(st):
            if s.keyword == "name":
                if len(s.words) != 1:
                    c.mistake(s.loc, f"{who} BFD_CHECK - No or too many names specified - "
                              "skipping checker")
                    return
                if s.words[0] not in self.bfds:
                    c.mistake(s.arg_loc(0), f"{who} BFD_CHECK - BFD {s.words[0]} not "
                              "configured")
                    return
                named = True
            elif s.keyword == "alpha" and s.words:
                c.flag(s, "Invalid alpha parameter {}")
        if not named:
            c.mistake(st.end_loc, f"{who} No name has been specified for BFD_CHECKER - "
                      "skipping")


def _block(st: Statement) -> list[Statement]:
    return st.block if st.block is not None else []


def _status_range(word: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", word)
    if m is None:
        return None
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if not (100 <= lo <= 599 and 100 <= hi <= 599 and lo <= hi):
        return None
    return lo, hi


def _near(word: str, known: Collection[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
