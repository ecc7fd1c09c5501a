"""enable_script_security: which scripts keepalived refuses, and the script user it picks."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.daemon.security import (
    ScriptFlag,
    ScriptUserError,
    check_script,
    resolve_script_user,
    security_violation_message,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks need root")


@pytest.fixture
def safe_dir() -> Iterator[Path]:
    # Under /tmp (root-owned, sticky), in a root-owned 0755 directory: a safe path.
    d = Path(tempfile.mkdtemp(prefix="pyka-sec-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


def script_in(directory: Path, name: str = "chk.sh", mode: int = 0o755) -> Path:
    p = directory / name
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(mode)
    return p


def test_root_owned_script_in_safe_path_is_accepted(safe_dir: Path) -> None:
    script = script_in(safe_dir)
    lines: list[str] = []
    check = check_script(f"{script} arg1 'arg 2'", 0, True, log=lines.append)
    assert check.ok
    assert check.path == str(script)
    assert check.argv == (str(script), "arg1", "arg 2")
    assert not check.insecure
    assert lines == []


def test_world_writable_script_is_refused_with_security(safe_dir: Path) -> None:
    script = script_in(safe_dir, mode=0o777)
    lines: list[str] = []
    check = check_script(str(script), 0, True, log=lines.append)
    assert not check.ok
    assert check.flags & ScriptFlag.INHIBIT
    assert lines == [f"Unsafe permissions found for script '{script}' - disabling."]


def test_world_writable_script_runs_without_security_but_is_flagged(safe_dir: Path) -> None:
    script = script_in(safe_dir, mode=0o777)
    lines: list[str] = []
    check = check_script(str(script), 0, False, log=lines.append)
    assert check.ok
    assert check.insecure
    assert lines == [f"Unsafe permissions found for script '{script}'."]
    assert security_violation_message([check], False) == (
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
        " There are insecure scripts."
    )
    assert security_violation_message([check], True) is None


def test_writable_parent_directory_is_unsafe(safe_dir: Path) -> None:
    sub = safe_dir / "sub"
    sub.mkdir()
    sub.chmod(0o777)  # world-writable, no sticky bit
    script = script_in(sub)
    check = check_script(str(script), 0, True)
    assert not check.ok
    assert "Unsafe permissions" in (check.reason or "")


def test_sticky_world_writable_directory_is_allowed(safe_dir: Path) -> None:
    sub = safe_dir / "sticky"
    sub.mkdir()
    sub.chmod(0o1777)
    assert check_script(str(script_in(sub)), 0, True).ok


def test_script_not_owned_by_root_run_as_root_is_unsafe(safe_dir: Path) -> None:
    script = script_in(safe_dir)
    nobody = pwd.getpwnam("nobody")
    os.chown(script, nobody.pw_uid, nobody.pw_gid)
    check = check_script(str(script), 0, True)
    assert not check.ok
    # Run as nobody instead, it needs no protection and is fine.
    assert check_script(str(script), nobody.pw_uid, True, run_as_gid=nobody.pw_gid).ok


def test_symlink_target_in_unsafe_place_is_checked(safe_dir: Path) -> None:
    unsafe = safe_dir / "unsafe"
    unsafe.mkdir()
    unsafe.chmod(0o777)
    target = script_in(unsafe)
    link = safe_dir / "link.sh"
    link.symlink_to(target)
    check = check_script(str(link), 0, True)
    assert not check.ok


def test_not_executable_is_refused(safe_dir: Path) -> None:
    script = script_in(safe_dir, mode=0o644)
    lines: list[str] = []
    check = check_script(str(script), 0, True, log=lines.append)
    assert not check.ok
    assert lines == [f"WARNING - script '{script}' is not executable for uid:gid 0:0 - disabling."]


def test_missing_script_is_not_found(safe_dir: Path) -> None:
    check = check_script(str(safe_dir / "missing"), 0, True)
    assert not check.ok
    assert check.flags & ScriptFlag.NOTFOUND


def test_bare_name_is_searched_in_path_with_a_warning(safe_dir: Path) -> None:
    script = script_in(safe_dir, "my_check")
    lines: list[str] = []
    check = check_script(
        "my_check --fast", 0, True, log=lines.append, path_env=f"/nonexistent:{safe_dir}"
    )
    assert check.ok
    assert check.argv == (str(script), "--fast")
    assert lines == [
        f"WARNING - script `my_check` resolved by path search to `{script}`. "
        "Please specify full path."
    ]
    missing = check_script("no_such_check", 0, True, log=lines.append, path_env=str(safe_dir))
    assert not missing.ok
    assert lines[-1] == "Cannot find script no_such_check in path - disabling"


def test_file_open_test_form_is_not_a_script() -> None:
    check = check_script("</etc/hostname", 0, True)
    assert check.ok
    assert check.flags == ScriptFlag.SYSTEM
    assert security_violation_message([check], False) is None


def test_default_script_user() -> None:
    lines: list[str] = []
    try:
        pwd.getpwnam("keepalived_script")
        has_default = True
    except KeyError:
        has_default = False
    user = resolve_script_user(None, log=lines.append)
    if has_default:
        assert user.name == "keepalived_script"
    else:
        assert (user.uid, user.gid) == (os.geteuid(), os.getegid())
        assert lines == ["Script user 'keepalived_script' does not exist"]
        with pytest.raises(ScriptUserError, match="Unable to set default user keepalived_script"):
            resolve_script_user(None, enable_script_security=True)
    nobody = resolve_script_user("nobody")
    assert nobody.uid == pwd.getpwnam("nobody").pw_uid
    assert nobody.name == "nobody"
