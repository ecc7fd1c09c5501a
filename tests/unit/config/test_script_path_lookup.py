"""The config check finds scripts as shutil.which does, without importing shutil in the daemon."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pykeepalived.config.validate import _on_path


@pytest.fixture
def scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, mode in (("runs", 0o755), ("readonly", 0o644)):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(mode)
    (bindir / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    return bindir


@pytest.mark.parametrize("path_env", ["{bin}", "/nonexistent:{bin}", "", None, ":/nonexistent"])
@pytest.mark.parametrize("name", ["runs", "readonly", "adir", "missing", "bin/runs",
                                  "bin/readonly", "./bin/runs", "bin/missing", "sh"])
def test_lookup_agrees_with_shutil_which(scripts: Path, monkeypatch: pytest.MonkeyPatch,
                                         path_env: str | None, name: str) -> None:
    if path_env is None:
        monkeypatch.delenv("PATH", raising=False)
    else:
        monkeypatch.setenv("PATH", path_env.format(bin=scripts))
    assert _on_path(name) == (shutil.which(name) is not None), (name, os.environ.get("PATH"))


def test_a_relative_name_with_a_directory_is_not_looked_for_in_path(
        scripts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(scripts.parent))  # PATH/bin/runs exists, cwd/bin/runs too
    assert _on_path("bin/runs")
    monkeypatch.chdir(scripts)  # now only PATH has bin/runs
    assert not _on_path("bin/runs")
