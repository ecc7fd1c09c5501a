"""Scripts reached through symlinked directories, as keepalived 2.2.7 resolves them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykeepalived.daemon.security import check_script

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks need root")


def test_symlinked_directory_is_resolved_and_the_called_name_kept(tmp_path: Path) -> None:
    real_dir = tmp_path / "usr-bin"
    real_dir.mkdir(mode=0o755)
    (tmp_path / "bin").symlink_to(real_dir)  # like /bin -> usr/bin on merged-/usr systems
    target = real_dir / "dash"
    target.write_text("#!/bin/true\n")
    target.chmod(0o755)
    (real_dir / "sh").symlink_to("dash")
    verdict = check_script(f"{tmp_path}/bin/sh -c 'echo hi'", 0, True)
    assert verdict.ok, verdict
    assert verdict.argv == (str(real_dir / "sh"), "-c", "echo hi")


def test_world_writable_resolved_directory_is_still_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (tmp_path / "link").symlink_to(open_dir)
    script = open_dir / "chk"
    script.write_text("#!/bin/true\n")
    script.chmod(0o755)
    logs: list[str] = []
    verdict = check_script(f"{tmp_path}/link/chk", 0, True, log=logs.append)
    assert not verdict.ok
    assert any("Unsafe permissions found for script" in line for line in logs)
