"""The checker process's SIGUSR1 dump in keepalived 2.2.7's keepalived_check.data layout:
configuration text in, pools driven by verdicts, the text out (pure), then the file written
as the VRRP dumps are (no symlink followed) with keepalived's log lines.

The expected text follows keepalived's dump functions (check_data.c dump_vsg / dump_vs /
dump_rs, check_api.c dump_checker / dump_connection_opts, each checker's dump_*_check,
track_file.c dump_track_file) line for line, less the lines pykeepalived has no value for
(see the module docstring of pykeepalived.lvs.dump).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived.config import parse_config_text
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.lvs.dump import CheckDumpSource, check_data_text, write_check_data
from pykeepalived.lvs.model import MiscCheck, Script, Timing
from pykeepalived.lvs.pool import Pool
from pykeepalived.lvs.probe_misc import probe_misc, read_track_file


@dataclass
class Slot:
    """A checker's last result, as the daemon's Slot keeps it."""

    pool: Pool
    server: int
    index: int
    last_reason: str = ""
    last_at: float | None = None


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MISC_CHECK's "Last ran" is a local time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def configure(text: str) -> tuple[KeepalivedConfig, list[Pool]]:
    r = parse_config_text(text, filename="k.conf", check_files=False)
    assert r.config is not None and r.ok, [str(d) for d in r.diagnostics]
    pools = [Pool(vs) for vs in r.config.lvs.virtual_servers]
    for p in pools:
        p.start()
    return r.config, pools


def render(config: KeepalivedConfig | None, pools: list[Pool], slots: Sequence[Slot] = (),
           *, whole: bool = True) -> str:
    lvs = config.lvs if config is not None else None
    return check_data_text(CheckDumpSource(lvs, pools, list(slots),
                                           config if whole else None))


CONFIG = """
global_defs {
    router_id director1
    lvs_flush
}
track_file tf {
    file /run/weight
    weight 3
}
virtual_server_group GRP {
    192.0.2.10-20 80
    fwmark 7 inet
}
virtual_server group GRP {
    lb_algo mh
    mh-port
    lb_kind DR
    protocol UDP
    real_server 192.0.2.31 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
            bindto 192.0.2.1
            bind_port 1234
            fwmark 5
            delay_before_retry 0.5
            retry 2
            warmup 0
            alpha
        }
    }
}
virtual_server 192.0.2.100 80 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    persistence_timeout 30
    persistence_granularity 255.255.255.0
    quorum 2
    hysteresis 1
    omega
    quorum_up "/bin/true up"
    sorry_server 192.0.2.11 80
    real_server 192.0.2.11 80 {
        weight 1
        inhibit_on_failure
        notify_down "/bin/echo down"
        HTTP_GET {
            url {
                path /health
                digest 0123456789abcdef0123456789abcdef
                status_code 200
                status_code 301-302
                regex "ok"
                regex_options caseless
            }
            retry 2
            fast_recovery
            virtualhost www.example.org
        }
    }
    real_server 192.0.2.12 80 {
        weight 3
        MISC_CHECK {
            misc_path "/bin/true x"
            misc_dynamic
            misc_timeout 4
        }
        FILE_CHECK {
            track_file tf
            weight -2 reverse
        }
    }
}
"""

EXPECTED = """\
------< Global definitions >------
 Router ID = director1
 Checkers log all failures = false
 LVS flush = true
 LVS flush on stop = disabled
------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server group >------
 Virtual Server Group = GRP, IPv4 = yes, IPv6 = no
   VIP Range = 192.0.2.10-192.0.2.20, VPORT = 80
     Alive: 0 tcp, 0 udp, 0 sctp
   FWMARK = 7 IPv4
     Alive: 0 IPv4, 0 IPv6
 ------< Virtual server >------
 VS GROUP = [GRP]:0
   Address family = inet
   lvs_sched = mh
   Hashed = disabled
   mh-port = enabled
   mh-fallback = disabled
   One packet scheduling = disabled
   protocol = UDP
   alpha is OFF
   omega is OFF
   quorum = 1, hysteresis = 0
   Using smtp notification = no
   default forwarding method = DR
   alive = 1
   quorum_state_up = 0
   ------< Real server >------
   RIP = 192.0.2.31, RPORT = 80, WEIGHT = 2 EFF WEIGHT = 2
   forwarding method = DR
   connection limit range = 0 -> 0
   Inhibit on failure is OFF
   Using smtp notification = no
   initial weight = 2
   effective weight = 2
   alive = 0
   num failed checkers = 1
   RS set = 0
 ------< Virtual server >------
 VS VIP = 192.0.2.100, VPORT = 80
   Address family = inet
   lvs_sched = rr
   Hashed = disabled
   flag-1 = disabled
   flag-2 = disabled
   flag-3 = disabled
   One packet scheduling = disabled
   persistence timeout = 30
   persistence granularity = 255.255.255.0
   protocol = TCP
   alpha is OFF
   omega is ON
   quorum = 2, hysteresis = 1
   Quorum up notify script = '/bin/true' 'up', uid:gid 0:0
   Using smtp notification = no
   default forwarding method = NAT
   sorry server (duplicates rs) = [192.0.2.11]:tcp:80
     forwarding method = NAT
     Inhibit on failure is ON
   alive = 1
   quorum_state_up = 1
   ------< Real server >------
   RIP = 192.0.2.11, RPORT = 80, WEIGHT = 1 EFF WEIGHT = 1
   forwarding method = NAT
   connection limit range = 0 -> 0
   Inhibit on failure is ON
     RS down notify script = '/bin/echo' 'down', uid:gid 0:0
   Using smtp notification = no
   initial weight = 1
   effective weight = 1
   alive = 0
   num failed checkers = 1
   RS set = 1
   ------< Real server >------
   RIP = 192.0.2.12, RPORT = 80, WEIGHT = 15 EFF WEIGHT = 15
   forwarding method = NAT
   connection limit range = 0 -> 0
   Inhibit on failure is OFF
   Using smtp notification = no
   initial weight = 3
   effective weight = 15
   alive = 1
   num failed checkers = 0
   RS set = 1
   Tracked Files
     tf, weight -2 reverse
------< Health checkers >------
 [GRP]:0 -> [192.0.2.31]:udp:80
   Enabled = yes
   Up = no
   Has run = no
   Current weight = 0
   Alpha = yes
   Delay loop = 60000000 us
   Warmup = 0 us
   Retries = 2
   Delay before retry = 500000 us
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [192.0.2.31]:80
     Bind to = [192.0.2.1]:1234
     Mark = 5
     Timeout = 2.000000
   Keepalive method = TCP_CHECK
 [192.0.2.100]:tcp:80 -> [192.0.2.11]:tcp:80
   Enabled = yes
   Up = no
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 5000000 us
   Warmup = 5000000 us
   Retries = 2
   Delay before retry = 3000000 us
   Default delay before retry = 3000000 us
   Log all failures = no
   Connection
     Dest = [192.0.2.11]:80
     Timeout = 5.000000
   Keepalive method = HTTP_GET, http protocol 1.0
   Virtualhost = www.example.org
   Enable SNI unset
   Fast recovery set
   Checked url = /health
     digest = 0123456789abcdef0123456789abcdef
     HTTP Status Code(s)
       200
       301-302
     Regex = "ok"
     Regex options: caseless
     Regex ref count = 1
 [192.0.2.100]:tcp:80 -> [192.0.2.12]:tcp:80
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 4
   Alpha = no
   Delay loop = 5000000 us
   Warmup = 5000000 us
   Retries = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Keepalive method = MISC_CHECK
   script = '/bin/true' 'x'
   timeout = 4
   dynamic = YES
   uid:gid = 0:0
   Last ran = 1700000000.500000 (Tue Nov 14 22:13:20 2023.500000)
   Last status = 9
 [192.0.2.100]:tcp:80 -> [192.0.2.12]:tcp:80
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 8
   Log all failures = no
   Keepalive method = FILE_CHECK
     Tracked file = tf
------< Checker track files >------
 Track file = tf
   File = /run/weight
   Status = 4
   Weight = 3
   Tracking instances :
     [192.0.2.100]:tcp:80 -> [192.0.2.12]:tcp:80, weight -2 reverse
"""


def test_the_whole_file_in_keepalived_layout_with_live_state() -> None:
    config, (grp, vs) = configure(CONFIG)
    vs.verdict(0, 0, False)  # the HTTP check of .11 fails: inhibited, so still set
    # .12: misc_dynamic exit 9 (weight 7 = 3 + 4), the track file reads 4 (x -2 reverse: +8)
    vs.verdict(1, 0, True)
    vs.checker_weight(1, 0, 7)
    vs.checker_weight(1, 1, 3 + 8)
    slots = [Slot(vs, 1, 0, "exit status 9", 1700000000.5),
             Slot(vs, 1, 1, "file value 4", 1700000001.0)]
    assert render(config, [grp, vs], slots) == EXPECTED


def test_a_real_server_coming_back_shows_alive_and_its_counts() -> None:
    config, (_grp, vs) = configure(CONFIG)
    vs.verdict(0, 0, False)
    vs.verdict(0, 0, True)
    text = render(config, [vs])
    block = text.split("RIP = 192.0.2.11")[1].split("------<")[0]
    assert "   alive = 1\n   num failed checkers = 0\n   RS set = 1\n" in block


def test_without_a_configuration_only_the_global_section() -> None:
    assert check_data_text(CheckDumpSource(None, [], [])) == (
        "------< Global definitions >------\n"
        " Checkers log all failures = false\n"
        " LVS flush = false\n"
        " LVS flush on stop = disabled\n")


def test_what_only_the_whole_configuration_has_is_left_out_without_it() -> None:
    config, pools = configure(CONFIG)
    text = render(config, pools, whole=False)
    assert "Router ID" not in text
    assert "   Weight = 3\n" not in text  # the track_file block's own weight
    assert "   Status = 0\n   Tracking instances :\n" in text  # no read yet: keepalived's 0


def test_lines_pykeepalived_has_no_value_for_are_not_made_up() -> None:
    config, pools = configure(CONFIG)
    text = render(config, pools)
    for word in ("reloaded", "Reloaded", "previous effective_weight", "Retries iterations",
                 "Failed URL", "Last errno", "delay_loop =", "connection timeout"):
        assert word not in text, word


GROUP_ALIVE = """
virtual_server_group WEB {
    192.0.2.10 80
}
virtual_server group WEB {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 1
    }
    real_server 192.0.2.12 80 {
        weight 0
    }
    real_server 192.0.2.13 80 {
        weight 1
    }
}
"""


def test_a_group_entry_counts_the_destinations_the_table_holds() -> None:
    config, pools = configure(GROUP_ALIVE)
    text = render(config, pools)
    assert "   VIP = 192.0.2.10, VPORT = 80\n     Alive: 2 tcp, 0 udp, 0 sctp\n" in text
    assert " Virtual Server Group = WEB, IPv4 = yes, IPv6 = no\n" in text
    for p in pools:
        p.stop()
    assert "     Alive: 0 tcp, 0 udp, 0 sctp\n" in render(config, pools)
    assert "   alive = 0\n   quorum_state_up = 0\n" in render(config, pools)


def vs_with(body: str, head: str = "192.0.2.100 80", rs: str = "192.0.2.11 80",
            extra: str = "") -> str:
    return (f"{extra}virtual_server {head} {{\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n    real_server {rs} {{\n        weight 1\n{body}    }}\n}}\n")


def test_ssl_section_autogen_context_and_a_password_never_written() -> None:
    ssl_get = ("        SSL_GET {\n            url {\n                path /\n            }\n"
               "        }\n")
    config, pools = configure(vs_with(ssl_get))
    text = render(config, pools)
    assert "------< SSL definitions >------\n Using autogen SSL context\n" in text
    assert "   Keepalive method = SSL_GET, http protocol 1.0\n" in text
    block = ("SSL {\n    password s3cret\n    ca /etc/ca.pem\n    certificate /etc/c.pem\n"
             "    key /etc/k.pem\n}\n")
    config, pools = configure(vs_with(ssl_get, extra=block))
    text = render(config, pools)
    assert ("------< SSL definitions >------\n Password : (not shown)\n CA-file : /etc/ca.pem\n"
            " Certificate file : /etc/c.pem\n Key file : /etc/k.pem\n") in text
    assert "s3cret" not in text
    config, pools = configure(vs_with("        TCP_CHECK {\n        }\n"))
    assert "SSL definitions" not in render(config, pools)


def test_status_code_runs_at_the_ends_of_the_range_and_shared_regexes() -> None:
    url = ("            url {\n                path /{n}\n                status_code 100\n"
           "                status_code 598-599\n                status_code 204\n"
           "                regex \"^up\"\n                regex_options utf caseless\n"
           "                regex_max_offset 40\n                regex_no_match\n"
           "            }\n")
    http = ("        HTTP_GET {\n" + url.replace("{n}", "a") + url.replace("{n}", "b")
            + "            http_protocol 1.1\n            enable_sni\n        }\n")
    config, pools = configure(vs_with(http))
    text = render(config, pools)
    assert ("   Keepalive method = HTTP_GET, http protocol 1.1\n   Enable SNI set\n"
            "   Fast recovery unset\n") in text
    assert ("   Checked url = /a\n     HTTP Status Code(s)\n       100\n       204\n"
            "       598-599\n     Regex = \"^up\"\n     Regex no match\n"
            "     Regex min offset = 0, max_offset = 40\n"
            "     Regex options: caseless utf\n     Regex ref count = 2\n") in text


def test_udp_dns_smtp_ping_settings() -> None:
    body = ("        UDP_CHECK {\n            payload 0a0b0c\n            require_reply 0a x1\n"
            "            min_reply_length 2\n        }\n"
            "        UDP_CHECK {\n        }\n"
            "        DNS_CHECK {\n            type A\n            name example.org\n"
            "            bind_if eth0\n        }\n"
            "        SMTP_CHECK {\n            helo_name mx.example.org\n        }\n"
            "        PING_CHECK {\n        }\n")
    config, pools = configure(vs_with(body))
    text = render(config, pools)
    assert ("   Keepalive method = UDP_CHECK\n   Payload len = 3\n   Require reply = yes\n"
            "     Min reply length = 2\n     Max reply length = 255\n"
            "     Reply data len = 2\n     Reply data mask = yes\n") in text
    assert "   Payload specified = no\n   Require reply = no\n" in text
    assert ("   Retries = 3\n   Delay before retry = 60000000 us\n"
            "   Default delay before retry = 0 us\n") in text  # DNS: delay_loop
    assert "     Bind i/f = eth0\n" in text
    assert "   Keepalive method = DNS_CHECK\n   Type = A\n   Name = example.org\n" in text
    assert "   Keepalive method = SMTP_CHECK\n   helo = mx.example.org\n" in text
    assert "   Keepalive method = PING_CHECK\n" in text


def test_an_ipv6_service_and_a_fwmark_one() -> None:
    v6 = vs_with("", head="2001:db8::100 443", rs="2001:db8::11 443").replace(
        "    protocol TCP\n", "    protocol TCP\n    persistence_timeout\n"
        "    persistence_granularity 64\n    lb_kind DR\n", 1).replace(
        "    lb_kind NAT\n", "", 1)
    fwm = vs_with("", head="fwmark 9", rs="192.0.2.11 0").replace("lb_algo rr", "lb_algo sh")
    config, pools = configure(v6 + fwm)
    text = render(config, pools)
    assert (" VS VIP = 2001:db8::100, VPORT = 443\n   Address family = inet6\n") in text
    assert ("   persistence timeout = 360\n   persistence granularity = 64\n") in text
    assert "   RIP = 2001:db8::11, RPORT = 443, WEIGHT = 1 EFF WEIGHT = 1\n" in text
    assert (" VS FWMARK = 9\n   Address family = inet\n   lvs_sched = sh\n"
            "   Hashed = disabled\n   sh-port = disabled\n   sh-fallback = disabled\n") in text


def test_the_numbers_shown_come_from_the_probes_own_results(tmp_path: Path) -> None:
    """MISC_CHECK's "Last status" and a track file's "Status" are read from what the
    probes report: pin that to the probes themselves."""
    config, (_grp, vs) = configure(CONFIG)
    outcome = asyncio.run(probe_misc(MiscCheck(path=Script("/bin/sh -c 'exit 3'"),
                                               timing=Timing(delay_loop=5.0))))
    weight = tmp_path / "weight"
    weight.write_text("17\n")
    read = read_track_file(str(weight))
    slots = [Slot(vs, 1, 0, outcome.reason, 10.0), Slot(vs, 1, 1, read.reason, 10.0)]
    text = render(config, [vs], slots)
    assert "   Last ran = 10.000000 (Thu Jan  1 00:00:10 1970.000000)\n" in text
    assert "   Last status = 3\n" in text
    assert "   Status = 17\n" in text
    # a run that timed out says nothing of the status: no line rather than a made-up one
    slots[0].last_reason = "timed out after 4s"
    assert "Last status" not in render(config, [vs], slots)


def test_write_check_data_logs_and_writes_and_never_follows_a_symlink(
        tmp_path: Path) -> None:
    config, pools = configure(CONFIG)
    src = CheckDumpSource(config.lvs, pools, [], config)
    logged: list[str] = []
    path = tmp_path / "keepalived_check.data"
    write_check_data(src, logged.append, path=str(path))
    assert logged == [f"Printing checker data for process({os.getpid()}) on signal"]
    assert path.read_text().startswith("------< Global definitions >------\n")
    assert " VS VIP = 192.0.2.100, VPORT = 80\n" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o644
    path.unlink()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path.symlink_to(victim)
    logged.clear()
    write_check_data(src, logged.append, path=str(path))
    assert logged[1] == ("Can't open dump file keepalived_check.data "
                         "(40: Too many levels of symbolic links)")
    assert victim.read_text() == "precious\n"
