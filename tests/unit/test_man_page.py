"""pykeepalived(8) (packaging/pykeepalived.8) keeps in step with the command line: every option
of cli.build_parser() and of the subcommands is in the page, and every long option the page
names exists."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from pykeepalived import cli

MAN_PAGE = Path(__file__).resolve().parents[2] / "packaging" / "pykeepalived.8"
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def man_text() -> str:
    """The page's source with roff's escapes undone: \\- is '-', font changes vanish."""
    text = MAN_PAGE.read_text()
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-")


def man_options() -> set[str]:
    return set(OPTION.findall(man_text()))


def daemon_options() -> set[str]:
    return {s for action in cli.build_parser()._actions for s in action.option_strings}


def subcommand_options(name: str) -> set[str]:
    """The options a subcommand's -h lists (its parser is built inside the command)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main([name, "-h"])
    return set(OPTION.findall(out.getvalue()))


def test_every_daemon_option_is_in_the_man_page() -> None:
    missing = daemon_options() - man_options()
    assert not missing, f"packaging/pykeepalived.8 lacks {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_option_is_in_the_man_page(name: str) -> None:
    assert name in man_text()
    missing = subcommand_options(name) - man_options()
    assert not missing, f"packaging/pykeepalived.8 lacks {name} {sorted(missing)}"


def test_every_long_option_the_man_page_names_exists() -> None:
    known = daemon_options().union(*(subcommand_options(n) for n in cli.SUBCOMMANDS))
    stale = {o for o in man_options() if o.startswith("--")} - known
    assert not stale, f"packaging/pykeepalived.8 names options that do not exist: {sorted(stale)}"
