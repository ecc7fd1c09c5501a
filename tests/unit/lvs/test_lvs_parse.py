"""keepalived.conf's load balancer blocks read into pykeepalived.lvs.model: keepalived 2.2.7's
defaults, its inheritance virtual server -> real server -> checker, every checker kind, groups.

Pure: configuration text in, model out (``check_files=False``: no file system look-ups).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import parse_config_text
from pykeepalived.config.dump import dump_config, render_config
from pykeepalived.lvs import model as lm
from pykeepalived.lvs.parse import lvs_scripts

ROOT = Path(__file__).parents[3]


def load(text: str, strict: bool = False) -> lm.LvsConfig:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=strict)
    assert r.config is not None
    return r.config.lvs


def vs_text(body: str, head: str = "192.0.2.10 80", algo: str = "rr") -> str:
    return (f"virtual_server {head} {{\n    lb_algo {algo}\n    lb_kind NAT\n"
            f"    protocol TCP\n{body}}}\n")


def one(body: str, **kw: str) -> lm.VirtualServer:
    vss = load(vs_text(body, **kw)).virtual_servers
    assert len(vss) == 1
    return vss[0]


def checker(rs_body: str, vs_body: str = "") -> Any:
    vs = one(vs_body + f"    real_server 192.0.2.20 80 {{\n{rs_body}    }}\n")
    (c,) = vs.real_servers[0].checkers
    return c


def ip(text: str) -> lm.IPAddress:
    return ipaddress.ip_address(text)


# ---------------------------------------------------------------------- defaults per checker


def test_tcp_check_takes_keepalived_defaults() -> None:
    c = checker("        TCP_CHECK {\n        }\n")
    assert isinstance(c, lm.TcpCheck)
    assert c.conn == lm.Connection(ip("192.0.2.20"), 80)
    # delay_loop 60 s, connect_timeout 5 s, retry 1, 1 s between, warmup up to delay_loop
    assert c.timing == lm.Timing(delay_loop=60.0, connect_timeout=5.0, retry=1,
                                 delay_before_retry=1.0, warmup=60.0, alpha=False)


def test_http_waits_three_seconds_before_a_retry() -> None:
    c = checker("        HTTP_GET {\n            url {\n                path /\n"
                "            }\n        }\n")
    assert isinstance(c, lm.HttpCheck) and not c.ssl and c.kind == "HTTP_GET"
    assert (c.timing.retry, c.timing.delay_before_retry) == (1, 3.0)
    assert c.http_protocol == "1.0" and c.urls[0].status_codes == ()


def test_dns_retries_three_times_a_delay_loop_apart() -> None:
    c = checker("        DNS_CHECK {\n            delay_loop 7\n        }\n")
    assert isinstance(c, lm.DnsCheck)
    assert (c.timing.retry, c.timing.delay_before_retry) == (3, 7.0)
    assert (c.type, c.name) == ("SOA", ".")


def test_misc_does_not_retry_and_times_out_after_the_virtual_servers_delay_loop() -> None:
    c = checker('        MISC_CHECK {\n            misc_path "/bin/check arg"\n'
                "            delay_loop 3\n        }\n", vs_body="    delay_loop 11\n")
    assert isinstance(c, lm.MiscCheck)
    assert c.timing.retry == 0 and c.timing.delay_loop == 3.0
    assert c.timeout == 11.0  # keepalived: checker->vs->delay_loop, not the checker's
    assert c.path == lm.Script("/bin/check arg")


def test_smtp_helo_defaults_to_keepalived_s_name() -> None:
    c = checker("        SMTP_CHECK {\n        }\n")
    assert isinstance(c, lm.SmtpCheck) and c.helo_name == "smtpchecker.keepalived.org"


def test_udp_and_ping_defaults() -> None:
    u = checker("        UDP_CHECK {\n        }\n")
    assert isinstance(u, lm.UdpCheck)
    assert (u.payload, u.require_reply, u.min_reply_length, u.max_reply_length) == \
        (None, False, 0, 255)
    p = checker("        PING_CHECK {\n        }\n")
    assert isinstance(p, lm.PingCheck) and p.timing.retry == 1


# --------------------------------------------------------------------------------- inheritance


def test_virtual_server_settings_reach_checkers_through_the_real_server() -> None:
    c = checker("        TCP_CHECK {\n        }\n",
                vs_body="    delay_loop 6\n    connect_timeout 2.5\n    retry 4\n"
                "    delay_before_retry 0.5\n    warmup 0\n    alpha\n")
    assert c.timing == lm.Timing(delay_loop=6.0, connect_timeout=2.5, retry=4,
                                 delay_before_retry=0.5, warmup=0.0, alpha=True)


def test_real_server_overrides_the_virtual_server_and_the_checker_both() -> None:
    vs = one("    delay_loop 6\n    retry 4\n    alpha\n"
             "    real_server 192.0.2.20 80 {\n        delay_loop 9\n        retry 2\n"
             "        alpha off\n        connect_timeout 3\n"
             "        TCP_CHECK {\n            retry 7\n            connect_timeout 1\n"
             "        }\n        HTTP_GET {\n            url {\n                path /\n"
             "            }\n        }\n    }\n")
    tcp: Any
    tcp, http = vs.real_servers[0].checkers
    assert (tcp.timing.delay_loop, tcp.timing.retry, tcp.timing.alpha,
            tcp.timing.connect_timeout) == (9.0, 7, False, 1.0)
    assert isinstance(http, lm.HttpCheck)
    # the real server's retry beats HTTP's own default; its delay_before_retry is HTTP's 3 s
    assert (http.timing.retry, http.timing.connect_timeout,
            http.timing.delay_before_retry) == (2, 3.0, 3.0)


def test_a_set_retry_beats_the_checker_kind_s_default() -> None:
    c = checker('        MISC_CHECK {\n            misc_path /bin/true\n        }\n',
                vs_body="    retry 2\n")
    assert c.timing.retry == 2  # not MISC_CHECK's 0
    d = checker("        DNS_CHECK {\n        }\n", vs_body="    delay_before_retry 2\n")
    assert (d.timing.retry, d.timing.delay_before_retry) == (3, 2.0)


def test_warmup_comes_from_the_real_server_else_the_checker_s_delay_loop() -> None:
    c = checker("        TCP_CHECK {\n            delay_loop 4\n        }\n")
    assert c.timing.warmup == 4.0
    c = checker("        warmup 1.5\n        TCP_CHECK {\n            delay_loop 4\n        }\n")
    assert c.timing.warmup == 1.5


def test_inhibit_on_failure_and_weight_from_the_virtual_server() -> None:
    vs = one("    inhibit_on_failure\n    weight 7\n"
             "    real_server 192.0.2.20 80 {\n    }\n"
             "    real_server 192.0.2.21 80 {\n        inhibit_on_failure off\n"
             "        weight 0\n    }\n")
    a, b = vs.real_servers
    assert (a.inhibit_on_failure, a.weight) == (True, 7)
    assert (b.inhibit_on_failure, b.weight) == (False, 0)


def test_virtualhost_of_the_url_then_checker_then_real_then_virtual_server() -> None:
    vs = one("    virtualhost vs.example\n"
             "    real_server 192.0.2.20 80 {\n        virtualhost rs.example\n"
             "        HTTP_GET {\n            url {\n                path /a\n"
             "                virtualhost url.example\n            }\n        }\n"
             "        SSL_GET {\n            virtualhost chk.example\n"
             "            url {\n                path /b\n            }\n        }\n    }\n"
             "    real_server 192.0.2.21 80 {\n        HTTP_GET {\n            url {\n"
             "                path /c\n            }\n        }\n    }\n")
    h, s = vs.real_servers[0].checkers
    assert isinstance(h, lm.HttpCheck) and isinstance(s, lm.HttpCheck)
    assert (h.urls[0].virtualhost, h.virtualhost) == ("url.example", "rs.example")
    assert s.virtualhost == "chk.example" and s.ssl and s.kind == "SSL_GET"
    (h2,) = vs.real_servers[1].checkers
    assert isinstance(h2, lm.HttpCheck) and h2.virtualhost == "vs.example"


def test_log_all_failures_per_checker_or_global() -> None:
    c = checker("        TCP_CHECK {\n            log_all_failures\n        }\n")
    assert c.timing.log_all_failures
    lvs = load("global_defs {\n    checker_log_all_failures\n}\n" + vs_text(
        "    real_server 192.0.2.20 80 {\n        TCP_CHECK {\n        }\n    }\n"))
    assert lvs.checker_log_all_failures
    tcp = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(tcp, lm.TcpCheck) and tcp.timing.log_all_failures


def test_smtp_connect_timeout_is_what_was_set_before_its_block() -> None:
    # keepalived settles SMTP_CHECK's timeout at the end of its block: a later setting of the
    # real server does not reach it (it does reach a TCP_CHECK)
    vs = one("    connect_timeout 4\n    real_server 192.0.2.20 25 {\n"
             "        SMTP_CHECK {\n        }\n        TCP_CHECK {\n        }\n"
             "        connect_timeout 9\n    }\n", head="192.0.2.10 25")
    smtp: Any
    tcp: Any
    smtp, tcp = vs.real_servers[0].checkers
    assert (smtp.timing.connect_timeout, tcp.timing.connect_timeout) == (4.0, 9.0)


# -------------------------------------------------------------------------- virtual servers


def test_aliases_of_the_scheduler_and_the_forwarding_method() -> None:
    text = ("virtual_server 192.0.2.10 80 {\n    lvs_sched wrr\n    lvs_method DR\n"
            "    protocol TCP\n    real_server 192.0.2.20 80 {\n    }\n"
            "    real_server 192.0.2.21 80 {\n        lvs_method NAT\n    }\n}\n")
    vs = load(text).virtual_servers[0]
    assert (vs.lb_algo, vs.lb_kind) == ("wrr", "DR")
    assert [r.lb_kind for r in vs.real_servers] == ["DR", "NAT"]


def test_persistence() -> None:
    vs = one("    persistence_timeout\n    real_server 192.0.2.20 80 {\n    }\n")
    assert vs.persistence_timeout == 360 and vs.persistence_granularity is None
    vs = one("    persistence_granularity 255.255.255.0\n"
             "    real_server 192.0.2.20 80 {\n    }\n")
    assert vs.persistence_timeout == 360  # granularity implies persistence
    assert vs.persistence_granularity == ipaddress.IPv4Address("255.255.255.0")
    vs = one("    persistence_timeout 50\n    persistence_granularity 64\n"
             "    real_server 2001:db8::20 80 {\n    }\n", head="2001:db8::10 80")
    assert (vs.persistence_timeout, vs.persistence_granularity, vs.family) == (50, 64, 6)


def test_a_port_less_service_is_made_persistent() -> None:
    r = parse_config_text(vs_text("    real_server 192.0.2.20 {\n    }\n", head="192.0.2.10"),
                          filename="k.conf", check_files=False)
    assert r.config is not None
    vs = r.config.lvs.virtual_servers[0]
    assert (vs.port, vs.persistence_timeout, vs.real_servers[0].port) == (0, 360, 0)
    assert "zero port only valid for persistent services - setting" in str(r.diagnostics)


def test_quorum_hysteresis_and_scripts() -> None:
    vs = one('    quorum 3\n    hysteresis 1\n    quorum_up "/bin/up x" nobody nogroup\n'
             "    quorum_down /bin/down\n    omega\n    ha_suspend\n"
             "    real_server 192.0.2.20 80 {\n        weight 2\n"
             '        notify_up "/bin/rs up"\n        notify_down /bin/rsdown root\n    }\n'
             "    real_server 192.0.2.21 80 {\n        weight 2\n    }\n")
    assert (vs.quorum, vs.hysteresis, vs.omega, vs.ha_suspend) == (3, 1, True, True)
    assert vs.quorum_up == lm.Script("/bin/up x", "nobody", "nogroup")
    assert vs.quorum_down == lm.Script("/bin/down")
    rs = vs.real_servers[0]
    assert rs.notify_up == lm.Script("/bin/rs up")
    assert rs.notify_down == lm.Script("/bin/rsdown", "root")
    names = [what for what, _ in lvs_scripts(load(vs_text(
        '    quorum_up /bin/up\n    real_server 192.0.2.20 80 {\n        notify_down /bin/d\n'
        "        MISC_CHECK {\n            misc_path /bin/m\n        }\n    }\n")))]
    assert names == ["quorum_up [192.0.2.10]:tcp:80", "notify_down [192.0.2.20]:tcp:80",
                     "MISC_CHECK [192.0.2.20]:tcp:80"]


def test_sorry_server() -> None:
    vs = one("    sorry_server 192.0.2.99 8080\n    sorry_server_inhibit\n"
             "    sorry_server_lvs_method NAT\n    real_server 192.0.2.20 80 {\n    }\n")
    assert vs.sorry_server == lm.RealServer(ip("192.0.2.99"), 8080, inhibit_on_failure=True)
    assert vs.sorry_server_inhibit
    # DR: the sorry server takes the virtual server's port
    text = vs_text("    sorry_server 192.0.2.99\n    real_server 192.0.2.20 80 {\n    }\n")
    vs = load(text.replace("lb_kind NAT", "lb_kind DR")).virtual_servers[0]
    assert vs.sorry_server is not None
    assert (vs.sorry_server.port, vs.sorry_server.lb_kind) == (80, "DR")


def test_scheduler_flags() -> None:
    vs = one("    sh-port\n    sh-fallback\n    real_server 192.0.2.20 80 {\n    }\n",
             algo="sh")
    assert (vs.lb_algo, vs.hash_port, vs.hash_fallback) == ("sh", True, True)
    vs = one("    mh-port\n    sh-port\n    real_server 192.0.2.20 80 {\n    }\n", algo="mh")
    assert vs.hash_port and not vs.hash_fallback
    vs = one("    flag-2\n    real_server 192.0.2.20 80 {\n    }\n", algo="rr")
    assert vs.hash_port  # flag-2 is IPVS's SCHED2: sh-port / mh-port


def test_fwmark_service_family_and_ports() -> None:
    text = ("virtual_server fwmark 7 {\n    lb_algo rr\n    lb_kind DR\n"
            "    real_server 2001:db8::20 {\n    }\n}\n"
            "virtual_server fwmark 8 {\n    ip_family inet6\n    lb_algo rr\n    lb_kind NAT\n"
            "    real_server 2001:db8::21 8080 {\n    }\n}\n")
    a, b = load(text).virtual_servers
    assert (a.name, a.fwmark, a.family, a.real_servers[0].port) == ("FWM 7", 7, 6, 0)
    assert (b.family, b.real_servers[0].port) == (6, 8080)  # NAT keeps its port


def test_dr_real_server_takes_the_virtual_server_s_port() -> None:
    text = vs_text("    real_server 192.0.2.20 {\n    }\n").replace("lb_kind NAT", "lb_kind DR")
    assert load(text).virtual_servers[0].real_servers[0].port == 80


def test_ssl_and_global_settings() -> None:
    text = ("global_defs {\n    lvs_flush\n    lvs_flush_onstop VS\n}\n"
            "SSL {\n    password secret\n    ca /etc/ca.pem\n    certificate /etc/c.pem\n"
            "    key /etc/k.pem\n}\n")
    lvs = load(text)
    assert lvs.ssl == lm.Ssl("secret", "/etc/ca.pem", "/etc/c.pem", "/etc/k.pem")
    assert (lvs.lvs_flush, lvs.lvs_flush_on_stop) == (True, "VS")
    assert load("").ssl is None and load("").virtual_servers == ()
    assert load("SSL\n").ssl == lm.Ssl()  # keepalived's auto-generated context


# ------------------------------------------------------------------------------------ groups


GROUP = ("virtual_server_group G {\n    192.0.2.1-10 80\n    192.0.2.250-192.0.3.10 80\n"
         "    198.51.100.8/29 443\n    203.0.113.5\n    fwmark 3\n}\n")


def test_group_entries_in_every_form() -> None:
    lvs = load(GROUP + vs_text("    real_server 192.0.2.20 80 {\n    }\n", head="group G")
               + vs_text("    real_server 192.0.2.21 80 {\n    }\n", head="group G")
               .replace("protocol TCP", "protocol UDP"))
    (g,) = lvs.groups
    e = g.entries
    assert (e[0].first, e[0].last, e[0].port) == (ip("192.0.2.1"), ip("192.0.2.10"), 80)
    assert (e[1].first, e[1].last) == (ip("192.0.2.250"), ip("192.0.3.10"))
    assert (e[2].first, e[2].last, e[2].port) == (ip("198.51.100.8"), ip("198.51.100.15"), 443)
    assert (e[3].first, e[3].last, e[3].port) == (ip("203.0.113.5"), ip("203.0.113.5"), 0)
    assert (e[4].fwmark, e[4].family, e[4].first) == (3, None, None)
    a, b = lvs.virtual_servers
    # the "port" of a group's virtual server is its number among the group's users
    assert (a.name, b.name, a.group, a.family) == ("[G]:0", "[G]:1", g, 4)
    assert a.persistence_timeout == 360  # an entry without a port makes it persistent


def test_ipv6_group_ranges_are_hex_and_fwmarks_take_a_family() -> None:
    text = ("virtual_server_group G6 {\n    2001:db8::1-ff 80\n    fwmark 5 inet6\n}\n"
            + vs_text("    real_server 2001:db8::20 80 {\n    }\n", head="group G6"))
    lvs = load(text)
    first, mark = lvs.groups[0].entries
    assert (first.first, first.last) == (ip("2001:db8::1"), ip("2001:db8::ff"))
    assert (mark.fwmark, mark.family) == (5, 6)
    assert lvs.virtual_servers[0].family == 6


def test_a_group_defined_after_its_virtual_server_is_found() -> None:
    lvs = load(vs_text("    real_server 192.0.2.20 80 {\n    }\n", head="group G") + GROUP)
    assert lvs.virtual_servers[0].group is not None


# --------------------------------------------------------------------------- checker details


def test_http_urls() -> None:
    c = checker("        HTTP_GET {\n            http_protocol 1.0c\n            enable_sni\n"
                "            fast_recovery on\n            url {\n                path /h\n"
                "                digest 9B3A0C85A887A256D6939DA88AABD8CD\n"
                "                status_code 200 300-302 404\n"
                '                regex "ok|up"\n                regex_options caseless\n'
                "                regex_no_match\n                regex_min_offset 2\n"
                "                regex_max_offset 9\n            }\n"
                "            url {\n                path /second\n            }\n        }\n")
    assert isinstance(c, lm.HttpCheck)
    assert (c.http_protocol, c.enable_sni, c.fast_recovery) == ("1.0C", True, True)
    u, u2 = c.urls
    assert u.digest == "9b3a0c85a887a256d6939da88aabd8cd"
    assert u.status_codes == ((200, 200), (300, 302), (404, 404))
    assert (u.regex, u.regex_options, u.regex_no_match) == ("ok|up", ("caseless",), True)
    assert (u.regex_min_offset, u.regex_max_offset) == (2, 9)
    assert u2 == lm.HttpUrl("/second")


def test_connection_options() -> None:
    c = checker("        TCP_CHECK {\n            connect_ip 198.51.100.7\n"
                "            connect_port 8443\n            bindto 192.0.2.1\n"
                "            bind_port 5000\n            bind_if eth0\n            fwmark 9\n"
                "        }\n")
    assert c.conn == lm.Connection(ip("198.51.100.7"), 8443, ip("192.0.2.1"), 5000, "eth0", 9)


def test_dns_and_udp_checks() -> None:
    d = checker("        DNS_CHECK {\n            type aaaa\n            name example.org\n"
                "        }\n")
    assert isinstance(d, lm.DnsCheck) and (d.type, d.name) == ("AAAA", "example.org")
    u = checker("        UDP_CHECK {\n            payload Ab12f 3 456 546443123\n"
                "            require_reply 0a x1\n            min_reply_length 2\n"
                "            max_reply_length 600\n        }\n")
    assert isinstance(u, lm.UdpCheck)
    # keepalived.conf(5)'s example: AB 12 0F 03 45 06 54 64 43 12 03
    assert u.payload == bytes.fromhex("ab120f0345065464431203")
    assert (u.require_reply, u.reply_data, u.reply_mask) == (True, b"\x0a\x01", b"\x00\xf0")
    assert (u.min_reply_length, u.max_reply_length) == (2, 600)


def test_misc_check_options() -> None:
    c = checker('        MISC_CHECK {\n            misc_path "/bin/c a b"\n'
                "            misc_timeout 4\n            misc_dynamic\n"
                "            user nobody nogroup\n        }\n")
    assert isinstance(c, lm.MiscCheck)
    assert (c.timeout, c.dynamic) == (4.0, True)
    assert c.path == lm.Script("/bin/c a b", "nobody", "nogroup")


def test_file_check_resolves_the_track_file_defined_before() -> None:
    text = ("track_file tf {\n    file /run/weight\n    weight 3 reverse\n    init_file 5\n}\n"
            + vs_text("    real_server 192.0.2.20 80 {\n        FILE_CHECK {\n"
                      "            track_file tf\n        }\n        FILE_CHECK {\n"
                      "            track_file tf\n            weight -2\n        }\n    }\n"))
    a, b = load(text).virtual_servers[0].real_servers[0].checkers
    assert a == lm.FileCheck("tf", "/run/weight", weight=3, reverse=True, init_file=True)
    assert isinstance(b, lm.FileCheck) and (b.weight, b.reverse) == (-2, False)


def test_smtp_host_blocks_are_checkers_of_their_own() -> None:
    vs = one("    real_server 192.0.2.20 25 {\n        SMTP_CHECK {\n"
             "            helo_name mail.example\n            host {\n"
             "                connect_ip 192.0.2.30\n            }\n            host {\n"
             "                connect_port 2525\n            }\n        }\n    }\n",
             head="192.0.2.10 25")
    a, b = vs.real_servers[0].checkers
    assert isinstance(a, lm.SmtpCheck) and isinstance(b, lm.SmtpCheck)
    assert (a.conn.ip, a.conn.port) == (ip("192.0.2.30"), 25)
    assert (b.conn.ip, b.conn.port, b.helo_name) == (ip("192.0.2.20"), 2525, "mail.example")


# ------------------------------------------------------------------------ the rest of the tree


def test_dump_shows_the_resolved_load_balancer_and_round_trips() -> None:
    text = GROUP + vs_text("    delay_loop 5\n    real_server 192.0.2.20 80 {\n"
                           "        HTTP_GET {\n            url {\n                path /\n"
                           "            }\n        }\n    }\n", head="group G")
    r = parse_config_text(text, filename="k.conf", check_files=False)
    assert r.config is not None
    dump = dump_config(r.config)
    vs = dump["lvs"]["virtual_servers"][0]
    assert vs["name"] == "[G]:0"
    assert vs["real_servers"][0]["checkers"][0]["timing"]["delay_before_retry"] == 3
    again = parse_config_text(render_config(dump), filename="k.conf", check_files=False)
    assert again.config is not None and dump_config(again.config) == dump


def test_the_lvs_model_can_be_imported_first() -> None:
    # pykeepalived.lvs.model loads pykeepalived.config (its diagnostics), which reads the load
    # balancer with pykeepalived.lvs.parse: neither may need the other half loaded
    for first in ("pykeepalived.lvs.model", "pykeepalived.lvs.parse", "pykeepalived.config"):
        proc = subprocess.run([sys.executable, "-c", f"import {first}\n"
                               "from pykeepalived.config import parse_config_text\n"
                               "parse_config_text('')"],
                              capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": str(ROOT / "src")})
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("text", [
    "virtual_server\n", "virtual_server group\n", "virtual_server 192.0.2.1 80\n",
    "virtual_server 192.0.2.1 80 {\n real_server\n}\n",
    "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 {\n  TCP_CHECK\n  HTTP_GET\n }\n}\n",
    "virtual_server_group\n", "virtual_server_group G\n", "virtual_server_group G {\n fwmark\n}\n",
    "virtual_server fwmark x {\n}\n",
])
def test_malformed_blocks_give_diagnostics_not_exceptions(text: str) -> None:
    r = parse_config_text(text, filename="k.conf", check_files=False, strict=True)
    assert r.config is not None and not r.ok
