"""keepalived's genhash: the MD5 of a web page, as HTTP_GET / SSL_GET ``digest`` wants it.

``pykeepalived -T ARGS`` (keepalived's ``--genhash``: everything after it is genhash's) runs
:func:`main`. Options and output are keepalived 2.2.7's (check_genhash.c): the digest as 32 hex
digits on a line of its own; a failed step's name ("Connection failed", "Timeout connecting")
instead, and still exit status 0; with ``-v`` the header and body as hex dumps, the digest, and
the response time. The request is HTTP_GET's (:mod:`pykeepalived.lvs.probe_http`), the digest
covers the body up to Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import getopt
import ipaddress
import re
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from pykeepalived.lvs.model import Connection, IPAddress
from pykeepalived.lvs.probe_http import HttpFailure, HttpSkipped, build_request, http_get

#: keepalived's default connection_to in genhash mode: UINT_MAX microseconds.
DEFAULT_TIMEOUT = 4294.967295

_DELIM_BEGIN = "-----------------------["
_DELIM_END = "]-----------------------\n"
HTTP_HEADER_HEXA = f"{_DELIM_BEGIN}    HTTP Header Buffer    {_DELIM_END}"
HTTP_HEADER_ASCII = f"{_DELIM_BEGIN} HTTP Header Ascii Buffer {_DELIM_END}"
HTML_HEADER_HEXA = f"{_DELIM_BEGIN}        HTML Buffer        {_DELIM_END}"
HTML_HASH = f"{_DELIM_BEGIN}    HTML hash resulting    {_DELIM_END}"
HTML_HASH_FINAL = f"{_DELIM_BEGIN} HTML hash final resulting {_DELIM_END}"

_SHORT = "hvSIs:V:p:u:m:P:t:"
_LONG = ["help", "verbose", "use-ssl", "use-sni", "server=", "use-virtualhost=", "port=",
         "url=", "fwmark=", "protocol=", "timeout="]
_PROTOCOLS = {"1.0": "1.0", "1.0c": "1.0C", "1.0C": "1.0C", "1.1": "1.1"}


def usage(prog: str, am_genhash: bool = False) -> str:
    """keepalived's genhash_usage text."""
    return (
        f"Usage: {prog}{'' if am_genhash else ' --genhash'} COMMAND [OPTIONS]\n"
        "Commands:\n"
        "   -s server-address -p port -u url\n"
        "   -S -s server-address -p port -u url\n"
        "   -h\n\n"
        "Options:\n"
        "Either long or short options are allowed.\n"
        "   --use-ssl         -S       Use SSL connection to remote server.\n"
        "   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting;"
        " see -V).\n"
        "   --server          -s       Use the specified remote server address.\n"
        "   --port            -p       Use the specified remote server port.\n"
        "   --url             -u       Use the specified remote server url.\n"
        "   --use-virtualhost -V       Use the specified virtualhost in GET query.\n"
        "   --verbose         -v       Use verbose mode output.\n"
        "   --help            -h       Display this short inlined help screen.\n"
        "   --fwmark          -m       Use the specified FW mark.\n"
        "   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n"
        "                                1.0c means 1.0 with 'Connection: close'\n"
        "   --timeout         -t       Timeout in seconds\n")


def dump_buffer(data: bytes) -> str:
    """keepalived's dump_buffer: 16 bytes a line, offset, hex with a dash after 8, ASCII."""
    out: list[str] = []
    count = len(data)
    padded = count + (-count % 16)
    for i in range(padded):
        if i % 16 == 0:
            out.append(f"{i & 0xFFFF:04d} ")
        out.append(f" {data[i]:02x}" if i < count else "   ")
        if (i + 1) % 8 == 0:
            if (i + 1) % 16:
                out.append(" -")
            else:
                chunk = data[i - 15:i + 1].ljust(16, b" ")
                out.append("   " + "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in chunk)
                           + "\n")
    return "".join(out)


@dataclass
class Options:
    """genhash's command line."""

    server: IPAddress | None = None
    port: int | None = None
    url: str | None = None
    vhost: str | None = None
    ssl: bool = False
    sni: bool = False
    verbose: bool = False
    fwmark: int | None = None
    protocol: str = "1.0"
    timeout: float = DEFAULT_TIMEOUT


class _Usage(Exception):
    """Bad command line: print ``message`` (if any) and the usage."""


def _strtoul_arg(value: str) -> int | None:
    """keepalived's check of -m / -t: blanks, then digits only (no sign, nothing after)."""
    start = value.lstrip(" \t")
    return int(start) if re.fullmatch(r"\+?[0-9]+", start) else None


def parse_args(argv: list[str]) -> Options:
    """genhash's options (getopt_long: long names may be abbreviated, options and operands
    in any order); _Usage with keepalived's message when they are wrong."""
    if not argv:
        raise _Usage("")
    try:
        opts, rest = getopt.gnu_getopt(argv, _SHORT, _LONG)
    except getopt.GetoptError as exc:
        dashes = "--" if len(exc.opt) > 1 else "-"
        if "requires argument" in exc.msg:
            raise _Usage(f"Missing parameter for option {dashes}{exc.opt}") from None
        raise _Usage(f"Unknown option {dashes}{exc.opt}") from None
    o = Options()
    for opt, value in opts:
        if opt in ("-h", "--help"):
            raise _Usage("")
        if opt in ("-v", "--verbose"):
            o.verbose = True
        elif opt in ("-S", "--use-ssl"):
            o.ssl = True
        elif opt in ("-I", "--use-sni"):
            o.sni = True
        elif opt in ("-s", "--server"):
            try:
                o.server = ipaddress.ip_address(value)
            except ValueError:
                raise _Usage(f"server should be an IP, not {value}") from None
        elif opt in ("-V", "--use-virtualhost"):
            o.vhost = value
        elif opt in ("-p", "--port"):
            m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", value)
            if not m or not 0 < int(m.group(1)) <= 65535:
                raise _Usage(f"invalid port number '{value}'")
            o.port = int(m.group(1))
        elif opt in ("-u", "--url"):
            o.url = value  # the last one given is fetched, as in keepalived
        elif opt in ("-m", "--fwmark"):
            mark = _strtoul_arg(value)
            if mark is None or mark > 0xFFFFFFFF:
                raise _Usage(f"invalid fwmark '{value}'")
            o.fwmark = mark
        elif opt in ("-P", "--protocol"):
            if value not in _PROTOCOLS:
                raise _Usage(f"invalid HTTP protocol version '{value}'")
            o.protocol = _PROTOCOLS[value]
        elif opt in ("-t", "--timeout"):
            seconds = _strtoul_arg(value)
            if seconds is None:
                raise _Usage(f"invalid timeout '{value}'")
            o.timeout = float(seconds)
    if rest:
        raise _Usage("Unexpected argument(s): " + " ".join(rest))
    if o.server is None or o.port is None or o.url is None:
        raise _Usage("")
    return o


async def fetch(o: Options, out: BinaryIO, err: TextIO) -> None:
    """Fetch the page and print what genhash prints."""
    assert o.server is not None and o.port is not None and o.url is not None
    conn = Connection(ip=o.server, port=o.port, fwmark=o.fwmark)
    request = build_request(o.url, o.protocol, o.server, o.port, o.vhost)

    def trace(event: str, data: bytes) -> None:
        if event == "header-read":
            out.write(HTTP_HEADER_HEXA.encode())
        elif event == "header":
            out.write(dump_buffer(data).encode() + HTTP_HEADER_ASCII.encode() + data + b"\n")
        elif event == "body-first":
            out.write((HTML_HEADER_HEXA + dump_buffer(data)).encode())
        elif event == "body":
            out.write(dump_buffer(data).encode())
        elif event == "digest":
            out.write(("\n" + HTML_HASH + dump_buffer(data) + HTML_HASH_FINAL).encode())

    try:
        resp = await http_get(conn, request, use_ssl=o.ssl, sni=o.vhost if o.sni else None,
                              timeout=o.timeout, trace=trace if o.verbose else None)
    except HttpFailure as exc:
        if exc.step.startswith("Read, no data received"):
            err.write("no data received from remote webserver\n")
        else:
            out.write(f"{exc.step}\n".encode())
        return
    except HttpSkipped as exc:
        err.write("".join(f"{line}\n" for line in exc.lines))
        return
    out.write(f"{resp.md5.hex()}\n".encode())


def main(argv: list[str], *, prog: str = "pykeepalived", am_genhash: bool = False,
         stdout: BinaryIO | None = None, stderr: TextIO | None = None) -> int:
    """genhash with ``argv`` (the arguments after ``-T``): 0 once a fetch was attempted (as
    keepalived, whatever its result), 1 for a bad command line."""
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    try:
        options = parse_args(argv)
    except _Usage as exc:
        if str(exc):
            err.write(f"{exc}\n")
        err.write(usage(prog, am_genhash))
        err.flush()
        return 1
    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(fetch(options, out, err))
    if options.verbose:
        usecs = int((time.monotonic() - started) * 1e6)
        out.write(f"\nGlobal response time for [{options.url}] = {usecs} usecs\n".encode())
    out.flush()
    err.flush()
    return 0
