"""MISC_CHECK and FILE_CHECK probes: a program's exit status, a number in a file.

MISC_CHECK runs ``misc_path`` as keepalived's system_call_script does: the line split into words
(keepalived's quoting rules, no shell; a file without ``#!`` goes to /bin/sh as execvp would),
as ``user``/``group``, in its own process group, stdin/stdout/stderr on /dev/null. After
``misc_timeout`` (default delay_loop) the whole group gets SIGTERM, two seconds later SIGKILL;
that is "timed out". A program that cannot be executed is, as in keepalived (whose child logs
the error and exits 0), a success: keepalived refuses such scripts when it loads the
configuration instead. The probe is bounded by misc_timeout + 2 s (plus reaping).

FILE_CHECK reads the first 127 bytes of the tracked file (a missing or empty file reads as 0),
the number as keepalived's strtol reads it; the core applies weight and reverse.
"""

from __future__ import annotations

import os

from pykeepalived.daemon.scripts import (
    CommandSyntaxError,
    RunAs,
    RunKind,
    run_command,
    split_command,
)
from pykeepalived.errors import LocalError
from pykeepalived.lvs.checker import Outcome, misc_timeout, parse_track_file_value
from pykeepalived.lvs.model import FileCheck, MiscCheck
from pykeepalived.lvs.probe_sock import seconds

#: keepalived reads this much of a track_file.
TRACK_FILE_READ = 127


def misc_argv(c: MiscCheck) -> list[str]:
    """The command line as keepalived splits it (CommandSyntaxError when it cannot)."""
    return split_command(c.path.command)


async def probe_misc(c: MiscCheck, *, timeout: float | None = None) -> Outcome:
    """Run the script once; ``timeout`` overrides misc_timeout / delay_loop."""
    limit = misc_timeout(c) if timeout is None else timeout
    try:
        argv = misc_argv(c)
        if not argv:
            raise CommandSyntaxError("empty misc_path")
        run_as = RunAs.from_names(c.path.user, c.path.group)
    except LocalError as exc:
        # a configuration problem keepalived would have refused at load time
        return Outcome(False, f"cannot run: {exc}", exit=("exited", 1))
    result = await run_command(argv, timeout=limit, run_as=run_as)
    if result.kind is RunKind.EXITED:
        code = result.code
        dynamic_ok = c.dynamic and 2 <= code <= 255
        return Outcome(code == 0 or dynamic_ok, f"exit status {code}",
                       weight=code - 2 if dynamic_ok else None, exit=("exited", code))
    if result.kind is RunKind.TIMED_OUT:
        return Outcome(False, f"timed out after {seconds(limit)}",
                       exit=("timed out", result.code))
    if result.kind is RunKind.SIGNALED:
        return Outcome(False, f"killed by signal {result.code}", exit=("signaled", result.code))
    err = result.code
    return Outcome(True, f"cannot execute: {os.strerror(err).lower()} (counted as exit status 0)",
                   exit=("exited", 0),
                   lines=(f"Error exec-ing command '{argv[0]}', error {err}: {os.strerror(err)}",))


def read_track_file(path: str) -> Outcome:
    """The tracked file's number (Outcome.weight; None when keepalived would ignore it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            data = os.read(fd, TRACK_FILE_READ)
        finally:
            os.close(fd)
    except OSError:
        data = b""
    if not data:
        return Outcome(True, "file value 0", weight=0)
    value, valid = parse_track_file_value(data)
    if not valid:
        return Outcome(False, f"invalid number {value}", weight=None,
                       lines=(f"Invalid number {value} read from {path} - ignoring",))
    return Outcome(True, f"file value {value}", weight=value)


async def probe_file(c: FileCheck) -> Outcome:
    return read_track_file(c.path)
