"""What ``pykeepalived -t`` says about the load balancer's blocks: keepalived 2.2.7's config
errors as mistakes at file:line:col (errors under ``-t``), and what pykeepalived's load balancer
does not do as ``parsed, not supported`` warnings, never silently.
"""

from __future__ import annotations

import pytest

from pykeepalived.config import parse_config_text
from pykeepalived.config.keywords import KEYWORDS, KeywordTree
from pykeepalived.config.unsupported import UNSUPPORTED
from pykeepalived.lvs import model as lm
from pykeepalived.lvs.parse import KEYWORDS_READ

RS = "    real_server 192.0.2.20 80 {\n    }\n"


def vs_text(body: str, head: str = "192.0.2.10 80", algo: str = "rr") -> str:
    return (f"virtual_server {head} {{\n    lb_algo {algo}\n    lb_kind NAT\n"
            f"    protocol TCP\n{body}}}\n")


def diags(text: str, strict: bool = True) -> list[str]:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=strict)
    return [str(d) for d in r.diagnostics]


def lvs(text: str, strict: bool = True) -> lm.LvsConfig:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=strict)
    assert r.config is not None
    return r.config.lvs


def test_a_plain_virtual_server_says_nothing() -> None:
    assert diags(vs_text("    real_server 192.0.2.20 80 {\n        TCP_CHECK {\n"
                         "        }\n    }\n")) == []


# ------------------------------------------------------------------------ what is not done


@pytest.mark.parametrize(("algo", "says"), [
    ("lc", "parsed, not supported: lb_algo lc (pykeepalived's nftables load balancer has no "
           "connection counts: it schedules lc as rr)"),
    ("wlc", "parsed, not supported: lb_algo wlc (pykeepalived's nftables load balancer has no "
            "connection counts: it schedules wlc as wrr)"),
    ("sed", "parsed, not supported: lb_algo sed (pykeepalived's nftables load balancer refuses "
            "this virtual server at start; use rr, wrr, sh, mh, dh or fo)"),
])
def test_schedulers_the_nftables_plane_does_not_have(algo: str, says: str) -> None:
    assert diags(vs_text(RS, algo=algo)) == [f"k.conf:2:13: warning: {says}"]


@pytest.mark.parametrize("algo", ["rr", "wrr", "sh", "mh", "dh", "fo"])
def test_schedulers_the_nftables_plane_has(algo: str) -> None:
    assert diags(vs_text(RS, algo=algo)) == []


def test_an_omitted_scheduler_is_keepalived_s_error_and_says_what_runs() -> None:
    text = "virtual_server 192.0.2.10 80 {\n    lb_kind NAT\n    protocol TCP\n" + RS + "}\n"
    assert diags(text) == [
        "k.conf:1:1: error: Virtual server [192.0.2.10]:tcp:80: no scheduler set, setting "
        "default 'wlc' (pykeepalived's nftables load balancer schedules wlc as wrr)"]
    assert lvs(text, strict=False).virtual_servers[0].lb_algo == "wlc"


def test_tunnelling_is_refused_where_it_is_written() -> None:
    text = vs_text("    real_server 192.0.2.20 80 {\n        lvs_method TUN type gre csum\n"
                   "    }\n")
    assert diags(text) == [
        "k.conf:6:20: warning: parsed, not supported: lvs_method TUN (IP tunnelling: "
        "pykeepalived's nftables load balancer refuses it at start; use NAT or DR)"]
    assert lvs(text).virtual_servers[0].real_servers[0].lb_kind == "TUN"


def test_keywords_the_load_balancer_does_not_do() -> None:
    text = ("global_defs {\n    lvs_timeouts tcp 900\n    lvs_sync_daemon eth0 VI_1\n}\n"
            + vs_text("    ops\n    sh-fallback\n    persistence_engine sip\n"
                      "    smtp_alert\n    snmp_name web\n"
                      "    real_server 192.0.2.20 80 {\n        uthreshold 100\n"
                      "        BFD_CHECK {\n        }\n        HTTP_GET {\n            url {\n"
                      "                path /\n                regex x\n"
                      "                regex_stack 1 2\n"
                      "                regex_options firstline\n            }\n        }\n"
                      "    }\n", algo="sh").replace("protocol TCP", "protocol UDP"))
    out = [d for d in diags(text) if "not supported" in d]
    assert [d.split(": warning: parsed, not supported: ")[1].split(" (")[0] for d in out] == [
        "lvs_timeouts", "lvs_sync_daemon", "ops", "sh-fallback", "persistence_engine",
        "smtp_alert", "snmp_name", "uthreshold", "BFD_CHECK", "regex_stack",
        "regex_options firstline"]
    assert all(": warning: " in d for d in out)
    assert out[0].startswith("k.conf:2:5: ") and out[-1].startswith("k.conf:23:17: ")


def test_a_regex_python_cannot_compile_is_dropped_with_a_warning() -> None:
    text = vs_text("    real_server 192.0.2.20 80 {\n        HTTP_GET {\n            url {\n"
                   "                path /\n                regex \"a\\\\Kb\"\n"
                   "            }\n        }\n    }\n")
    (d,) = diags(text)
    assert d.startswith("k.conf:7:13: warning: parsed, not supported: regex 'a\\Kb' (not a "
                        "Python regular expression")
    c = lvs(text).virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, lm.HttpCheck) and c.urls[0].regex is None


def test_unsupported_is_a_warning_in_the_config_test() -> None:
    r = parse_config_text(vs_text(RS, algo="wlc"), filename="k.conf", check_files=False,
                          strict=True)
    assert r.ok and len(r.warnings) == 1


# ------------------------------------------------------------------- keepalived's errors


def test_mistakes_are_errors_under_t_and_warnings_for_the_daemon() -> None:
    text = vs_text("    quorum 0\n" + RS)
    assert diags(text) == ["k.conf:5:12: error: Quorum 0 must be in [1, 4294967295]. Setting "
                           "to 1. (number '0' outside range [1, 4294967295])"]
    assert [d.split(": ")[1] for d in diags(text, strict=False)] == ["warning"]


def test_the_end_of_read_checks_point_at_what_they_fix() -> None:
    text = ("virtual_server 192.0.2.10 80 {\n    lb_algo rr\n    lb_kind DR\n"
            "    protocol TCP\n    quorum 9\n    hysteresis 9\n"
            "    real_server 192.0.2.20 8080 {\n    }\n"
            "    real_server 192.0.2.20 8080 {\n    }\n}\n"
            "virtual_server fwmark 4 {\n    lb_algo rr\n    lb_kind DR\n    protocol UDP\n"
            "    real_server 192.0.2.20 80 {\n    }\n}\n")
    assert diags(text) == [
        "k.conf:5:5: error: Warning - quorum 9 for [192.0.2.10]:tcp:80 exceeds total weight of "
        "real servers 1, reducing quorum to 1",
        "k.conf:6:5: error: Virtual server [192.0.2.10]:tcp:80: hysteresis 9 >= quorum 1; "
        "setting hysteresis to 0",
        "k.conf:7:5: error: WARNING - virtual server [192.0.2.10]:tcp:80 and real server "
        "[192.0.2.20]:tcp:8080 ports don't match - resetting",
        "k.conf:9:5: error: VS [192.0.2.10]:tcp:80: real server [192.0.2.20]:tcp:8080 is "
        "duplicated - removing second rs",
        "k.conf:15:5: error: Warning: Virtual server FWM 4: protocol specified for fwmark - "
        "protocol will be ignored",
        "k.conf:16:5: error: WARNING - fwmark virtual server FWM 4, real server "
        "[192.0.2.20]:none:80 has port specified - clearing",
    ]
    a, b = lvs(text, strict=False).virtual_servers
    assert (a.quorum, a.hysteresis, [r.port for r in a.real_servers]) == (1, 0, [80])
    assert b.real_servers[0].port == 0


def test_omitted_protocol_and_forwarding_method() -> None:
    text = "virtual_server 192.0.2.10 80 {\n    lb_algo rr\n" + RS + "}\n"
    assert diags(text) == [
        "k.conf:1:1: error: Virtual server [192.0.2.10]:none:80: no protocol set - defaulting "
        "to UDP",
        "k.conf:1:1: error: Virtual server [192.0.2.10]:udp:80: no forwarding method set, "
        "setting default NAT"]
    vs = lvs(text, strict=False).virtual_servers[0]
    assert (vs.protocol, vs.lb_kind, vs.real_servers[0].lb_kind) == ("UDP", "NAT", "NAT")


def test_mixed_families_are_keepalived_s_errors() -> None:
    text = vs_text("    real_server 2001:db8::20 80 {\n    }\n" + RS
                   + "    sorry_server 2001:db8::99 80\n")
    assert diags(text) == [
        "k.conf:6:5: error: Address family of virtual server and real server 2001:db8::20 "
        "don't match - skipping real server.",
        "k.conf:10:1: error: Address family of virtual server and sorry server 2001:db8::99 "
        "don't match - skipping sorry server."]
    vs = lvs(text, strict=False).virtual_servers[0]
    assert [str(r.address) for r in vs.real_servers] == ["192.0.2.20"]
    assert vs.sorry_server is None


def test_values_keepalived_rejects_with_did_you_mean() -> None:
    text = vs_text("    real_server 192.0.2.20 80 {\n        DNS_CHECK {\n            type AAA\n"
                   "        }\n        FILE_CHECK {\n            track_file flie\n        }\n"
                   "    }\n", algo="wrrr")
    assert diags(text) == [
        "k.conf:1:1: error: Virtual server [192.0.2.10]:tcp:80: no scheduler set, setting "
        "default 'wlc' (pykeepalived's nftables load balancer schedules wlc as wrr)",
        "k.conf:2:13: error: Invalid lvs_scheduler 'wrrr' - ignoring (did you mean 'wrr'?)",
        "k.conf:7:18: error: Unknown DNS check type AAA - ignoring (did you mean 'AAAA'?)",
        "k.conf:10:24: error: track_file flie not found",
        "k.conf:11:9: error: FILE_CHECK has no track_file specified - ignoring",
    ]


def test_a_track_file_must_be_defined_before_its_file_check() -> None:
    check = vs_text("    real_server 192.0.2.20 80 {\n        FILE_CHECK {\n"
                    "            track_file tf\n        }\n    }\n")
    tf = "track_file tf {\n    file /run/w\n}\n"
    assert lvs(tf + check).virtual_servers[0].real_servers[0].checkers
    out = diags(check + tf)
    assert out[0] == "k.conf:7:24: error: track_file tf not found"


def test_groups_keepalived_removes() -> None:
    text = ("virtual_server_group G {\n    192.0.2.9/29 80\n    192.0.2.20-10 80\n"
            "    fwmark 9 bogus\n    2001:db8::1 80\n    fwmark 3\n    192.0.2.1 80\n}\n"
            + vs_text(RS, head="group G"))
    assert diags(text) == [
        "k.conf:2:5: error: Address mask bits not empty - 192.0.2.9/29 - skipping",
        "k.conf:3:5: error: Address range end is not greater than address range start - "
        "192.0.2.20-10 - skipping",
        "k.conf:4:14: error: (G): fwmark '9' family bogus unknown - ignoring",
        "k.conf:8:1: error: virtual server group G cannot have IPv4, IPv6 and fwmark without "
        "family - removing",
        # keepalived only logs this one; a virtual server that disappears is a mistake here
        "k.conf:9:1: error: Virtual server group G specified but not configured - ignoring "
        "virtual server [G]:0",
    ]


def test_keepalived_s_leniency_outside_the_config_test() -> None:
    text = vs_text("    real_server 192.0.2.20 80 {\n        weight 5x\n    }\n")
    assert diags(text) == [
        "k.conf:6:16: error: Real server weight 5x is outside range 0-2147483647 (invalid "
        "number '5x')"]
    assert lvs(text).virtual_servers[0].real_servers[0].weight == 1
    assert lvs(text, strict=False).virtual_servers[0].real_servers[0].weight == 5


def test_timers_have_at_most_six_decimal_places() -> None:
    text = vs_text("    delay_loop 1.0000005\n" + RS)
    assert diags(text) == ["k.conf:5:16: error: virtual server delay loop '1.0000005' invalid "
                           "- ignoring (number '1.0000005' has too many decimal places)"]
    assert lvs(text).virtual_servers[0] is not None


def test_missing_words_and_deprecated_keywords() -> None:
    text = vs_text("    delay_loop\n    real_server 192.0.2.20 80 {\n        HTTP_GET {\n"
                   "            nb_get_retry 2\n            url {\n            }\n        }\n"
                   "    }\n")
    assert diags(text) == [
        "k.conf:5:5: error: Configuration line starting `delay_loop` is missing a parameter "
        "after keyword `delay_loop` at word position 2",
        "k.conf:8:13: error: nb_get_retry is deprecated - please use 'retry'",
        "k.conf:10:13: error: HTTP/SSL_GET checker url has no path - ignoring",
        "k.conf:11:9: error: HTTP/SSL_GET checker has no urls specified - ignoring",
    ]


def test_a_flag_keepalived_sets_whatever_follows_it() -> None:
    (d,) = diags(vs_text("    inhibit_on_failure off\n" + RS))
    assert d.startswith("k.conf:5:24: warning: 'inhibit_on_failure' takes no value here")


def test_scheduler_flags_need_the_scheduler_written_before() -> None:
    text = ("virtual_server 192.0.2.10 80 {\n    sh-port\n    lb_algo sh\n    lb_kind NAT\n"
            "    protocol TCP\n" + RS + "}\n")
    assert diags(text) == ["k.conf:2:5: error: sh-port only applies to sh scheduler - "
                           "ignoring (write lb_algo before it)"]


def test_unknown_keywords_in_the_blocks_have_a_suggestion() -> None:
    (d,) = diags(vs_text("    delay_lop 5\n" + RS))
    assert d == ("k.conf:5:5: error: unknown keyword 'delay_lop' in virtual_server (did you "
                 "mean 'delay_loop'?)")


def test_misc_check_has_no_connection_keywords_in_keepalived_2_2_7() -> None:
    (d,) = diags(vs_text("    real_server 192.0.2.20 80 {\n        MISC_CHECK {\n"
                         "            misc_path /bin/true\n            connect_timeout 3\n"
                         "        }\n    }\n"))
    assert "unknown keyword 'connect_timeout' in MISC_CHECK" in d


def test_a_checker_without_a_port_to_connect_to_is_pointed_out() -> None:
    text = vs_text("    real_server 192.0.2.20 {\n        TCP_CHECK {\n        }\n    }\n")
    (d,) = diags(text)
    assert d.startswith("k.conf:6:9: warning: ([192.0.2.20]:tcp:0) TCP_CHECK connects to port 0")


# ------------------------------------------------------------------- every keyword classified


def _paths(tree: KeywordTree, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for k, sub in tree.items():
        out.add((*prefix, k))
        if sub is not None:
            out |= _paths(sub, (*prefix, k))
    return out


LB_ROOTS = ("virtual_server", "virtual_server_group", "SSL")
LB_GLOBALS = ("checker_log_all_failures", "lvs_flush", "lvs_flush_on_stop", "lvs_flush_onstop",
              "lvs_timeouts", "lvs_sync_daemon")


def test_every_load_balancer_keyword_is_read_or_warned_about() -> None:
    every = _paths(KEYWORDS)
    lb = {p for p in every if p[0] in LB_ROOTS
          or (p[0] == "global_defs" and len(p) > 1 and p[1] in LB_GLOBALS)}
    assert every >= KEYWORDS_READ
    assert not sorted(KEYWORDS_READ & set(UNSUPPORTED))
    covered = {p for p in lb if any(p[:i] in UNSUPPORTED for i in range(1, len(p) + 1))}
    assert not sorted(lb - KEYWORDS_READ - covered)
