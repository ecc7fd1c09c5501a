"""genhash's command line and verbose dumps, as keepalived 2.2.7 (``keepalived -T``) prints them.
(Fetching, and the byte-for-byte comparison with keepalived's own output, are in
tests/netns/test_lvs_probes.py.)"""

from __future__ import annotations

import io
from ipaddress import ip_address

import pytest

from pykeepalived.lvs.genhash import Options, dump_buffer, main, parse_args, usage


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    rc = main(list(args), prog="keepalived", stdout=out, stderr=err)
    return rc, out.getvalue().decode(), err.getvalue()


def test_dump_buffer_matches_keepalived() -> None:
    header = b"HTTP/1.0 200 OK\r\nContent-Length: 36\r\nX: y\r\n\r\n"
    assert dump_buffer(header) == (
        "0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK.\n"
        "0016  0a 43 6f 6e 74 65 6e 74 - 2d 4c 65 6e 67 74 68 3a   .Content-Length:\n"
        "0032  20 33 36 0d 0a 58 3a 20 - 79 0d 0a 0d 0a             36..X: y....   \n")
    assert dump_buffer(b"rld\n") == (
        "0000  72 6c 64 0a             -                           rld.            \n")
    assert dump_buffer(b"") == ""


def test_options_long_short_and_abbreviated() -> None:
    o = parse_args(["--serv", "2001:db8::1", "-p8443", "--url=/x", "-SIv", "-V", "h.example",
                    "--prot", "1.0c", "-t", " 7", "-m", "9"])
    assert o == Options(server=ip_address("2001:db8::1"), port=8443, url="/x",
                        vhost="h.example", ssl=True, sni=True, verbose=True, fwmark=9,
                        protocol="1.0C", timeout=7.0)
    assert parse_args(["-u", "/a", "-s", "192.0.2.1", "-u", "/b", "-p", "80"]).url == "/b"


@pytest.mark.parametrize(("args", "message"), [
    (("-s", "192.0.2.1", "-p", "80", "-u", "/", "-x"), "Unknown option -x\n"),
    (("--bogus",), "Unknown option --bogus\n"),
    (("-s",), "Missing parameter for option -s\n"),
    (("--port",), "Missing parameter for option --port\n"),
    (("-s", "www.example", "-p", "80", "-u", "/"), "server should be an IP, not www.example\n"),
    (("-s", "192.0.2.1", "-p", "0", "-u", "/"), "invalid port number '0'\n"),
    (("-s", "192.0.2.1", "-p", "80x", "-u", "/"), "invalid port number '80x'\n"),
    (("-s", "192.0.2.1", "-p", "80", "-u", "/", "-P", "2"),
     "invalid HTTP protocol version '2'\n"),
    (("-s", "192.0.2.1", "-p", "80", "-u", "/", "-t", "-1"), "invalid timeout '-1'\n"),
    (("-s", "192.0.2.1", "-p", "80", "-u", "/", "-m", "x"), "invalid fwmark 'x'\n"),
    (("-s", "192.0.2.1", "-p", "80", "-u", "/", "extra", "more"),
     "Unexpected argument(s): extra more\n"),
    (("-s", "192.0.2.1", "-p", "80"), ""),  # -u is mandatory
    (("-h",), ""),
    ((), ""),
])
def test_bad_command_lines_print_usage(args: tuple[str, ...], message: str) -> None:
    rc, out, err = run(*args)
    assert (rc, out) == (1, "")
    assert err == message + usage("keepalived")


def test_usage_names_the_program() -> None:
    assert usage("pykeepalived").startswith("Usage: pykeepalived --genhash COMMAND [OPTIONS]\n")
    assert usage("genhash", am_genhash=True).startswith("Usage: genhash COMMAND [OPTIONS]\n")
    assert "   --timeout         -t       Timeout in seconds\n" in usage("x")
