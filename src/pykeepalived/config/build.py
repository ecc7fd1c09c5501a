"""Turns the statement tree into the typed model, reporting every keyword or value it cannot use.

Two passes. First every statement in a keyword block is looked up in keepalived's vocabulary
(`keywords.KEYWORDS`); an unknown one is reported with the closest known keyword as a suggestion,
and one the daemon does not act on gets its ``parsed, not supported`` diagnostic
(`unsupported.UNSUPPORTED`).
Then each block the daemon understands is converted into its dataclass, value by value: a value that
cannot be used is reported and the default kept, as keepalived does, so that one run shows every
problem. Cross-object checks (script references, duplicate router ids, strict mode) live in
`validate`.

`Builder` is the entry point and reads ``global_defs``; the other blocks have a module each:
`instance` (``vrrp_instance``, ``vrrp_sync_group``), `trackers` (scripts, files, processes),
`addresses` (addresses, routes, rules) and `virtual_server` (the load balancer's blocks kept as
written, for the dump), all reading words through `values.Values`; the load balancer itself is
read by `pykeepalived.lvs.parse` into ``KeepalivedConfig.lvs``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

from pykeepalived.config import model as m
from pykeepalived.config.addresses import route, rule, virtual_ip
from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.instance import sync_group, vrrp_instance
from pykeepalived.config.keywords import KEYWORDS, LINE_BLOCKS, KeywordTree
from pykeepalived.config.parser import Statement
from pykeepalived.config.trackers import track_file_def, track_process_def, vrrp_script
from pykeepalived.config.unsupported import UNSUPPORTED
from pykeepalived.config.unsupported import report as report_unsupported
from pykeepalived.config.values import Values, each
from pykeepalived.config.virtual_server import generic, virtual_server, virtual_server_group

T = TypeVar("T")


def _suggest(word: str, choices: Iterable[str]) -> str:
    import difflib  # only for a misspelt word: not loaded by a daemon whose config is fine

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keywords(statements: list[Statement], diags: Diagnostics) -> None:
    """Report every statement whose keyword keepalived would not know in its block, and every
    one the daemon does not act on (`unsupported.UNSUPPORTED`), in the order of the files."""
    _check_block(statements, KEYWORDS, (), diags, covered=False)


def _check_block(
    statements: list[Statement], table: KeywordTree, path: tuple[str, ...], diags: Diagnostics,
    covered: bool,
) -> None:
    for st in statements:
        if st.keyword not in table:
            if st.keyword:
                where = f" in {path[-1]}" if path else ""
                diags.mistake(
                    st.loc, f"unknown keyword '{st.keyword}'{where}{_suggest(st.keyword, table)}"
                )
            continue
        sub_path = (*path, st.keyword)
        entry = None if covered else UNSUPPORTED.get(sub_path)
        if entry is not None:
            report_unsupported(diags, st.loc, st.keyword, entry)
        if st.block is None:
            continue
        sub = table[st.keyword]
        if sub is not None:
            # Inside an unsupported block, unknown keywords are still reported (keepalived's
            # config test does), but not each supported-looking keyword again.
            _check_block(st.block, sub, sub_path, diags, covered or entry is not None)
        elif sub_path not in LINE_BLOCKS:
            diags.mistake(st.loc, f"'{st.keyword}' does not take a block")


class Builder:
    """Builds `KeepalivedConfig` from statements; `interfaces` (when given) are checked to exist."""

    def __init__(self, diags: Diagnostics, interfaces: Collection[str] | None = None) -> None:
        self.diags = diags
        self.v = Values(diags, interfaces)

    def build(self, statements: list[Statement], files: tuple[str, ...]) -> m.KeepalivedConfig:
        # Imported here: pykeepalived.lvs.model loads this package (config.diagnostics), so a
        # module-level import would close that loop while one of them is half loaded.
        from pykeepalived.lvs.parse import LvsBuilder

        check_keywords(statements, self.diags)
        lvs = LvsBuilder(self.diags)
        gopts: dict[str, Any] = {}
        gloc: Location | None = None
        for st in statements:
            if st.keyword == "global_defs":
                gloc = gloc or st.loc
                self.global_defs(st, gopts)
                lvs.global_defs(st)
        g = m.GlobalDefs(**gopts) if gloc is None else m.GlobalDefs(loc=gloc, **gopts)
        scripts: dict[str, m.VrrpScript] = {}
        tfiles: dict[str, m.TrackFileDef] = {}
        tprocs: dict[str, m.TrackProcessDef] = {}
        instances: list[m.VrrpInstance] = []
        groups: list[m.SyncGroup] = []
        addrs: list[m.VirtualIP] = []
        routes: list[m.VirtualRoute] = []
        rules: list[m.VirtualRule] = []
        vsgs: list[m.VirtualServerGroup] = []
        vss: list[m.VirtualServer] = []
        bfds: list[str] = []
        other: list[m.GenericStatement] = []
        for st in statements:
            k = st.keyword
            if k == "global_defs":
                continue
            if k == "vrrp_script":
                sc = vrrp_script(self.v, st)
                if sc is not None:
                    self._unique(scripts, sc.name, sc, st, k)
            elif k in ("track_file", "vrrp_track_file"):
                tf = track_file_def(self.v, st)
                if tf is not None:
                    self._unique(tfiles, tf.name, tf, st, k)
            elif k == "vrrp_track_process":
                tp = track_process_def(self.v, st)
                if tp is not None:
                    self._unique(tprocs, tp.name, tp, st, k)
            elif k == "vrrp_instance":
                inst = vrrp_instance(self.v, st, g)
                if inst is not None:
                    instances.append(inst)
            elif k == "vrrp_sync_group":
                sg = sync_group(self.v, st)
                if sg is not None:
                    groups.append(sg)
            elif k == "static_ipaddress":
                addrs.extend(
                    x for x in (virtual_ip(self.v, y, "static_ipaddress")
                                for y in self.v.list_block(st)) if x
                )
            elif k == "static_routes":
                routes.extend(route(self.v, x, tracked=False) for x in self.v.list_block(st))
            elif k == "static_rules":
                rules.extend(rule(self.v, x, "static_rules") for x in self.v.list_block(st))
            elif k == "virtual_server_group":
                vsgs.append(virtual_server_group(st))
                lvs.group(st)
            elif k == "virtual_server":
                vs = virtual_server(st)
                if vs is not None:
                    vss.append(vs)
                # the track files and BFDs defined so far: keepalived looks them up as it reads
                lvs.virtual_server(st, dict(tfiles), tuple(bfds))
            elif k in ("SSL", "bfd_instance"):
                if k == "SSL":
                    lvs.ssl(st)
                elif st.words:
                    bfds.append(st.words[0])
                other.append(generic(st))
            elif k in KEYWORDS:
                other.append(generic(st))
        return m.KeepalivedConfig(
            global_defs=g, vrrp_scripts=scripts, track_files=tfiles, track_processes=tprocs,
            vrrp_instances=tuple(instances), sync_groups=tuple(groups),
            static_addresses=tuple(addrs), static_routes=tuple(routes), static_rules=tuple(rules),
            virtual_server_groups=tuple(vsgs), virtual_servers=tuple(vss), lvs=lvs.build(),
            other=tuple(other), files=files,
        )

    def _unique(self, into: dict[str, T], name: str, value: T, st: Statement, what: str) -> None:
        if name in into:
            self.diags.mistake(st.loc, f"{what} {name} is defined twice; this one replaces the "
                               "first")
        into[name] = value

    def global_defs(self, st: Statement, into: dict[str, Any]) -> None:
        v = self.v
        raw: list[tuple[str, tuple[str, ...]]] = list(into.get("raw", ()))
        for s in each(st.block):
            k = s.keyword
            raw.append((k, tuple(s.words)))
            val: Any
            if k in ("router_id", "script_user", "notify_fifo", "vrrp_notify_fifo",
                     "notification_email_from", "default_interface", "vmac_prefix",
                     "notify_fifo_script", "vrrp_notify_fifo_script"):
                val = v.string(s)
                if k == "script_user" and len(s.words) > 1:
                    into["script_group"] = s.words[1]
                if k in ("notify_fifo_script", "vrrp_notify_fifo_script"):
                    val = v.command(s)
            elif k == "smtp_server":
                val = " ".join(s.words) or None
            elif k == "notification_email":
                val = tuple(x.keyword for x in v.list_block(s))
            elif k in ("enable_script_security", "vrrp_strict", "vrrp_skip_check_adv_addr",
                       "vrrp_check_unicast_src", "vrrp_lower_prio_no_advert",
                       "vrrp_higher_prio_send_advert", "vrrp_min_garp", "smtp_alert",
                       "vrrp_notify_priority_changes", "dynamic_interfaces"):
                val = v.flag(s)
            elif k == "vrrp_version":
                val = v.integer(s, 2, 3)
            elif k == "vrrp_mcast_group4":
                a = v.address(s)
                val = a if isinstance(a, ipaddress.IPv4Address) and a.is_multicast else None
                if a is not None and val is None:
                    v.diags.mistake(s.loc, f"vrrp_mcast_group4 {a} is not IPv4 multicast")
            elif k == "vrrp_mcast_group6":
                a = v.address(s)
                val = a if isinstance(a, ipaddress.IPv6Address) and a.is_multicast else None
                if a is not None and val is None:
                    v.diags.mistake(s.loc, f"vrrp_mcast_group6 {a} is not IPv6 multicast")
            elif k in ("vrrp_garp_master_delay", "vrrp_garp_lower_prio_delay",
                       "vrrp_garp_master_refresh"):
                val = v.number(s, 0, 255)
            elif k in ("vrrp_garp_master_repeat", "vrrp_garp_lower_prio_repeat",
                       "vrrp_garp_master_refresh_repeat"):
                val = v.integer(s, 0, 255)
            elif k in ("vrrp_garp_interval", "vrrp_gna_interval"):
                val = v.number(s, 0.000001, 4294.967295)
            elif k == "vrrp_down_timer_adverts":
                val = v.integer(s, 1, 100)
            elif k == "vrrp_startup_delay":
                val = v.number(s, 0.001, 4294.967295)
            elif k == "smtp_connect_timeout":
                val = v.integer(s, 1, 3600)
            elif k == "max_auto_priority":
                val = v.integer(s, -1, 99) if s.words else 99
            elif k in ("state_dump_file", "stats_dump_file", "json_dump_file"):
                val = v.string(s)
            else:
                continue
            if val is not None:
                into[k] = val
        into["raw"] = tuple(raw)
