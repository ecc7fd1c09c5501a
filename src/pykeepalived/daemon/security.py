"""keepalived's script security: who scripts run as, and which scripts are refused.

keepalived (core/notify.c) decides this once, at start-up and on reload:

* The default script user is `script_user [group]` from global_defs; else the user
  `keepalived_script` if it exists; else the daemon's own uid/gid (root). With
  `enable_script_security` a missing `keepalived_script` user is a configuration error and
  scripts without an explicit user are not run.
* Each script is resolved (a bare name is searched in $PATH, with a warning) and checked:
  it must exist and be executable by the uid/gid it will run as. When it runs with root
  privileges (uid 0, gid 0, or a setuid/setgid-root file), every component of its path must
  be owned by root and not writable by a non-root group or by others (a directory with the
  sticky bit is allowed to be world-writable). A violation is logged as
  `Unsafe permissions found for script '...'`; with `enable_script_security` the script is
  disabled (" - disabling" is appended), without it the script runs and keepalived instead
  warns `SECURITY VIOLATION - scripts are being executed but script_security not enabled.`
  with " There are insecure scripts." when any were found.
* A disabled track script is removed from every instance that tracks it; a disabled notify
  script is simply not run.
"""

from __future__ import annotations

import enum
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from pykeepalived.daemon.scripts import CommandSyntaxError, RunAs, split_command
from pykeepalived.errors import LocalError

DEFAULT_SCRIPT_USER = "keepalived_script"

LogFn = Callable[[str], object]


class ScriptFlag(enum.IntFlag):
    """What the check found; mirrors keepalived's SC_* bits."""

    NONE = 0
    INSECURE = 0x01  #: a path component is writable by non-root
    ISSCRIPT = 0x02  #: it is a real script file (not the `</file` test form)
    INHIBIT = 0x04  #: must not be run
    NOTFOUND = 0x08  #: missing or inaccessible
    EXECUTABLE = 0x10  #: executable by the user it runs as
    SYSTEM = 0x40  #: the `</path` file-openable test, safe without a script


class ScriptUser(NamedTuple):
    uid: int
    gid: int
    name: str


class ScriptUserError(LocalError):
    """The configured (or required default) script user cannot be used."""


def resolve_script_user(
    script_user: str | None,
    script_group: str | None = None,
    *,
    enable_script_security: bool = False,
    log: LogFn | None = None,
) -> ScriptUser:
    """The user scripts run as when they name none themselves."""
    say: LogFn = log or (lambda _m: None)
    if script_user is not None:
        run_as = RunAs.from_names(script_user, script_group)
        assert run_as.uid is not None and run_as.gid is not None
        return ScriptUser(run_as.uid, run_as.gid, script_user)
    try:
        pw = pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        say(f"Script user '{DEFAULT_SCRIPT_USER}' does not exist")
        if enable_script_security:
            raise ScriptUserError(
                f"Unable to set default user {DEFAULT_SCRIPT_USER} for script"
            ) from None
        uid, gid = os.geteuid(), os.getegid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return ScriptUser(uid, gid, name)
    return ScriptUser(pw.pw_uid, pw.pw_gid, pw.pw_name)


@dataclass(frozen=True)
class ScriptCheck:
    """The verdict on one script line."""

    ok: bool  #: may be run
    path: str | None  #: the file that will be exec'd (absolute), None if not found
    reason: str | None  #: why it is refused or flagged (None when all is well)
    flags: ScriptFlag = ScriptFlag.NONE
    argv: tuple[str, ...] = ()  #: the split command with argv[0] replaced by `path`

    @property
    def insecure(self) -> bool:
        return bool(self.flags & ScriptFlag.INSECURE)


def is_executable(st: os.stat_result, uid: int, gid: int) -> bool:
    """keepalived's executability test: root needs any x bit, others the matching class."""
    mode = st.st_mode
    if uid == 0:
        return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    if uid == st.st_uid:
        return bool(mode & stat.S_IXUSR)
    if gid == st.st_gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def find_in_path(
    name: str, uid: int, gid: int, path_env: str | None = None
) -> tuple[str | None, bool]:
    """Search $PATH (or the C default) for an executable regular file; (path, denied)."""
    search = path_env if path_env is not None else os.environ.get("PATH")
    if search is None:
        search = os.confstr("CS_PATH") or "/bin:/usr/bin"
    denied = False
    for directory in search.split(":"):
        candidate = os.path.join(directory, name) if directory else name
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and is_executable(st, uid, gid):
            return candidate, False
        denied = True
    return None, denied


def _unsafe_component(path: str, security: bool, log: LogFn) -> ScriptFlag | None:
    """Walk '/', '/a', '/a/b', ... path; the flags to add if one is unsafe, else None."""
    parts = [p for p in path.split("/") if p]
    prefixes = ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
    for index, prefix in enumerate(prefixes):
        last = index == len(prefixes) - 1
        try:
            st = os.lstat(prefix)
        except OSError:
            log(f"check_script_secure could not find script '{path}' - disabling")
            return ScriptFlag.NOTFOUND
        mode = st.st_mode
        if (not last and not stat.S_ISDIR(mode)) or (
            last and not stat.S_ISREG(mode) and not stat.S_ISLNK(mode)
        ):
            log(f"Wrong file type found in script path '{path}'.")
            return ScriptFlag.INHIBIT
        # Only directories without the sticky bit and regular files are judged by their
        # write bits; a symlink's own mode means nothing. Any non-root owner is unsafe.
        judged = (stat.S_ISDIR(mode) and not mode & stat.S_ISVTX) or stat.S_ISREG(mode)
        writable = (st.st_gid != 0 and mode & stat.S_IWGRP) or mode & stat.S_IWOTH
        if st.st_uid != 0 or (judged and writable):
            suffix = " - disabling" if security else ""
            log(f"Unsafe permissions found for script '{path}'{suffix}.")
            return ScriptFlag.INSECURE | (ScriptFlag.INHIBIT if security else ScriptFlag.NONE)
    return None


def check_script(
    command: str,
    run_as_uid: int,
    enable_script_security: bool,
    *,
    run_as_gid: int | None = None,
    log: LogFn | None = None,
    path_env: str | None = None,
) -> ScriptCheck:
    """Decide whether a script line may run as run_as_uid:run_as_gid, as keepalived does."""
    say: LogFn = log or (lambda _m: None)
    gid = run_as_gid if run_as_gid is not None else _primary_gid(run_as_uid)
    try:
        argv = split_command(command)
    except CommandSyntaxError as exc:
        say(f"Unable to parse script '{command}' - ignoring")
        return ScriptCheck(False, None, str(exc), ScriptFlag.NOTFOUND)
    if not argv:
        return ScriptCheck(False, None, "empty script", ScriptFlag.NOTFOUND)
    first = argv[0]
    # `</path` only tests that a file can be opened; nothing is executed.
    if first.startswith("<") and first[1:].lstrip(" \t").startswith("/"):
        return ScriptCheck(True, None, None, ScriptFlag.SYSTEM, tuple(argv))

    if "/" not in first:
        found, denied = find_in_path(first, run_as_uid, gid, path_env)
        if found is None:
            if denied:
                msg = f"Permissions failure for script {first} in path - disabling"
            else:
                msg = f"Cannot find script {first} in path - disabling"
            say(msg)
            return ScriptCheck(False, None, msg, ScriptFlag.NOTFOUND)
        say(
            f"WARNING - script `{first}` resolved by path search to `{found}`. "
            "Please specify full path."
        )
        first = found

    # keepalived 2.2.7 (lib/notify.c): run the script from its resolved directory but keep
    # the name it was called by (some programs look at argv[0]), e.g. /bin/sh on a merged-/usr
    # system becomes /usr/bin/sh, whose target /usr/bin/dash is checked as well.
    try:
        real_path = os.path.realpath(first, strict=True)
        st = os.stat(real_path)
    except OSError as exc:
        msg = f"Script {argv[0]} cannot be accessed - {exc.strerror}"
        say(msg)
        return ScriptCheck(False, None, msg, ScriptFlag.NOTFOUND)
    exec_path = real_path
    real_file_path: str | None = None
    if os.path.basename(first) != os.path.basename(real_path):
        renamed = os.path.join(os.path.dirname(real_path), os.path.basename(first))
        try:
            same = os.path.samefile(renamed, real_path)
        except OSError:
            same = False
        if same:
            exec_path, real_file_path = renamed, real_path

    flags = ScriptFlag.ISSCRIPT
    reasons: list[str] = []
    need_protection = False
    if is_executable(st, run_as_uid, gid):
        flags |= ScriptFlag.EXECUTABLE
        mode = st.st_mode
        need_protection = (
            run_as_uid == 0
            or gid == 0
            or (st.st_uid == 0 and bool(mode & stat.S_IXUSR) and bool(mode & stat.S_ISUID))
            or (st.st_gid == 0 and bool(mode & stat.S_IXGRP) and bool(mode & stat.S_ISGID))
        )
    else:
        msg = (
            f"WARNING - script '{argv[0]}' is not executable for uid:gid "
            f"{run_as_uid}:{gid} - disabling."
        )
        say(msg)
        reasons.append(msg)

    if need_protection:
        # Both the name used to run it and, through symlinks, the file actually run.
        for candidate in dict.fromkeys(p for p in (exec_path, real_file_path) if p):
            found_flags = _unsafe_component(candidate, enable_script_security, say)
            if found_flags is not None:
                flags |= found_flags
                reasons.append(f"Unsafe permissions found for script '{candidate}'")
                break

    ok = bool(flags & ScriptFlag.EXECUTABLE) and not flags & (
        ScriptFlag.INHIBIT | ScriptFlag.NOTFOUND
    )
    return ScriptCheck(
        ok,
        exec_path,
        "; ".join(reasons) or None,
        flags,
        (exec_path, *argv[1:]),
    )


def _primary_gid(uid: int) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid


def security_violation_message(
    checks: list[ScriptCheck], enable_script_security: bool, *, what: str = "scripts"
) -> str | None:
    """keepalived's summary warning after checking all scripts, or None when not due.
    ``what``: "scripts" (VRRP), "check scripts" (the health checkers' own warning)."""
    if enable_script_security or not any(c.flags & ScriptFlag.ISSCRIPT for c in checks):
        return None
    extra = " There are insecure scripts." if any(c.insecure for c in checks) else ""
    return (
        f"SECURITY VIOLATION - {what} are being executed but script_security not enabled."
        + extra
    )
