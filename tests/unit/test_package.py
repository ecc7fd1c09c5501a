"""The version is written once (``pykeepalived.__version__``); everything else that names it
agrees: pyproject.toml reads it from there, ``pykeepalived -v``, debian/changelog and
CHANGELOG.md."""

import re
import tomllib
from pathlib import Path

import pykeepalived
from pykeepalived import cli

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_set() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", pykeepalived.__version__)


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "pykeepalived.__version__"}


def test_cli_version_line_names_it() -> None:
    assert cli.VERSION.startswith(f"pykeepalived {pykeepalived.__version__} ")


def test_debian_changelog_top_entry_is_this_version() -> None:
    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    m = re.match(r"pykeepalived \(([^)]+)\) ", first)
    assert m, first
    upstream = m.group(1).split(":")[-1].rsplit("-", 1)[0]  # no epoch, no Debian revision
    assert upstream == pykeepalived.__version__


def test_changelog_md_top_entry_is_this_version() -> None:
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings and headings[0] == pykeepalived.__version__


def test_license_is_gpl2_or_later() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "GPL-2.0-or-later" in text
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 2, June 1991" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == {"text": "GPL-2.0-or-later"}
