"""The Debian package: scripts/package-check builds it from this checkout with Debian's tooling,
installs it with apt, runs ``pykeepalived -t`` with Debian's python3 and ``systemd-analyze
verify`` on the installed unit, checks the service was neither enabled nor started, and
removes the package again. Root only (it installs a package); about a minute."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_PLUGIN = Path("/usr/share/dh-python/dhpython/build/plugin_pyproject.py")

pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it installs the package)"
    for tool in ("dpkg-buildpackage", "dh", "dh_python3", "apt-get", "systemd-analyze"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup installs it)"
    if not PYPROJECT_PLUGIN.exists():
        return "pybuild-plugin-pyproject is not installed (scripts/setup installs it)"
    return None


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
@pytest.mark.timeout(600)
def test_the_deb_builds_installs_and_runs_on_debians_python() -> None:
    result = subprocess.run([str(ROOT / "scripts" / "package-check")], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.rstrip().endswith("package-check: OK"), result.stdout
