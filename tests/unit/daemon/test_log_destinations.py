"""Log lines as keepalived writes them: console stamp, syslog datagram, journal protocol."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.daemon.log import (
    LOG_ERR,
    EventLog,
    console_timestamp,
    facility_from_option,
    setup_logging,
)
from pykeepalived.daemon.sdnotify import SystemdNotifier


@pytest.fixture
def dgram(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def parse_journal(data: bytes) -> dict[str, str]:
    """Decode the journal native protocol (both the KEY=value and binary forms)."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            i = nl + 1
        else:
            (length,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            fields[line.decode()] = data[start : start + length].decode()
            assert data[start + length : start + length + 1] == b"\n"
            i = start + length + 1
    return fields


def test_console_line_format() -> None:
    out = io.StringIO()
    log = EventLog(console=out, syslog=False)
    log.event("(VI_1) Entering MASTER STATE")
    line = out.getvalue()
    assert re.fullmatch(
        r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}: "
        r"\(VI_1\) Entering MASTER STATE\n",
        line,
    ), line


def test_console_timestamp_is_c_locale_percent_c() -> None:
    # Nov 5: the day is space-padded, exactly as strftime("%c") in the C locale does it.
    when = time.mktime((2026, 11, 5, 17, 11, 14, 0, 0, -1))
    assert console_timestamp(when) == "Thu Nov  5 17:11:14 2026"
    assert console_timestamp(when) == time.strftime("%c", time.localtime(when))


def test_journal_datagram_with_structured_fields(dgram: tuple[socket.socket, str]) -> None:
    sock, path = dgram
    log = EventLog(syslog=True, journal_socket=path, syslog_socket="/nonexistent")
    log.event("(VI_1) Entering MASTER STATE", instance="VI_1", state="MASTER", priority=150)
    fields = parse_journal(sock.recv(65536))
    assert fields == {
        "MESSAGE": "(VI_1) Entering MASTER STATE",
        "PRIORITY": "6",
        "SYSLOG_IDENTIFIER": "Keepalived_vrrp",
        "SYSLOG_FACILITY": "3",
        "SYSLOG_PID": str(os.getpid()),
        "VRRP_INSTANCE": "VI_1",
        "VRRP_STATE": "MASTER",
        "VRRP_PRIORITY": "150",
    }
    assert log.counters.sent_journal == 1
    log.close()


def test_journal_multiline_value_uses_binary_length(dgram: tuple[socket.socket, str]) -> None:
    sock, path = dgram
    log = EventLog(journal_socket=path)
    log.event("first line\nsecond = line", level=LOG_ERR)
    raw = sock.recv(65536)
    assert b"MESSAGE\n" + struct.pack("<Q", 24) + b"first line\nsecond = line\n" in raw
    fields = parse_journal(raw)
    assert fields["MESSAGE"] == "first line\nsecond = line"
    assert fields["PRIORITY"] == "3"
    log.close()


def test_syslog_datagram_when_no_journal(dgram: tuple[socket.socket, str], tmp_path: Path) -> None:
    sock, path = dgram
    log = EventLog(
        journal_socket=str(tmp_path / "no-journal"),
        syslog_socket=path,
        facility=facility_from_option(3),
    )
    log.event("(VI_1) Entering BACKUP STATE")
    raw = sock.recv(65536).decode()
    # LOG_LOCAL3 (19 << 3) | LOG_INFO (6) = 158
    assert re.fullmatch(
        r"<158>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d Keepalived_vrrp\[(\d+)\]: "
        r"\(VI_1\) Entering BACKUP STATE",
        raw,
    ), raw
    assert raw.split("[")[1].split("]")[0] == str(os.getpid())
    log.close()


def test_default_facility_is_daemon(dgram: tuple[socket.socket, str], tmp_path: Path) -> None:
    sock, path = dgram
    log = setup_logging(
        console=False,
        journal_socket=None,
        syslog_socket=path,
        logger_name=None,
    )
    log.event("x")
    assert sock.recv(1024).startswith(b"<30>")  # LOG_DAEMON | LOG_INFO
    log.close()


def test_no_syslog_sends_nothing(dgram: tuple[socket.socket, str]) -> None:
    sock, path = dgram
    log = setup_logging(console=False, syslog=False, journal_socket=path, logger_name=None)
    log.event("quiet")
    sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        sock.recv(1024)


def test_log_file_has_nanosecond_stamp(tmp_path: Path) -> None:
    path = tmp_path / "ka.log"
    log = EventLog(syslog=False, log_file=str(path))
    log.event("(VI_1) Entering FAULT STATE")
    log.close()
    assert re.fullmatch(
        r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d\.\d{9} \d{4}: "
        r"\(VI_1\) Entering FAULT STATE\n",
        path.read_text(),
    )


def test_python_logging_is_routed(dgram: tuple[socket.socket, str]) -> None:
    sock, path = dgram
    log = setup_logging(console=False, journal_socket=path, logger_name="pykeepalived.test")
    logging.getLogger("pykeepalived.test").warning(
        "(VI_1) Changing effective priority from 150 to 90",
        extra={"vrrp_instance": "VI_1", "vrrp_priority": 90},
    )
    fields = parse_journal(sock.recv(65536))
    assert fields["MESSAGE"] == "(VI_1) Changing effective priority from 150 to 90"
    assert fields["PRIORITY"] == "4"
    assert fields["VRRP_PRIORITY"] == "90"
    log.close()


def test_detail_only_with_detailed_logging() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    EventLog(console=quiet, syslog=False).detail("(VI_1) Receive advertisement timeout")
    EventLog(console=loud, syslog=False, detailed=True).detail(
        "(VI_1) Receive advertisement timeout"
    )
    assert quiet.getvalue() == ""
    assert loud.getvalue().endswith(": (VI_1) Receive advertisement timeout\n")


# --- sd_notify -------------------------------------------------------------------------


def test_sd_notify_messages(dgram: tuple[socket.socket, str]) -> None:
    sock, path = dgram
    n = SystemdNotifier(path)
    assert n.ready()
    assert sock.recv(1024).decode() == f"READY=1\nMAINPID={os.getpid()}"
    assert n.status("2 instances, VI_1 MASTER")
    assert sock.recv(1024) == b"STATUS=2 instances, VI_1 MASTER"
    assert n.reloading()
    assert re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=\d+", sock.recv(1024))
    assert n.watchdog()
    assert sock.recv(1024) == b"WATCHDOG=1"
    assert n.stopping()
    assert sock.recv(1024) == b"STOPPING=1"
    n.close()


def test_sd_notify_abstract_socket() -> None:
    name = f"pyka-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        n = SystemdNotifier("@" + name)
        assert n.watchdog()
        assert sock.recv(1024) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_sd_notify_is_a_noop_without_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = SystemdNotifier()
    assert not n.enabled
    assert n.ready() is False


def test_sd_notify_reads_environment(
    dgram: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = dgram
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert SystemdNotifier().stopping()
    assert sock.recv(1024) == b"STOPPING=1"
