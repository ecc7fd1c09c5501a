"""Every keepalived flag is classified: it works as in keepalived, or the daemon refuses it.

The option list comes from the installed keepalived's --help, so a flag added there fails
here until pykeepalived classifies it (pykeepalived.flags) and docs/compatibility.md shows it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pykeepalived import cli
from pykeepalived.daemon.log import LOG_DAEMON, facility_from_option
from pykeepalived.flags import FLAGS, Support

DOCS = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
#: a value for each option that takes one (what a unit file would pass)
VALUES = {"-f": "/etc/keepalived/keepalived.conf", "-S": "local3", "-u": "022",
          "-p": "/run/k.pid", "-r": "/run/v.pid", "-c": "/run/c.pid", "-b": "/run/b.pid",
          "-A": "/run/agentx", "-s": "ns1", "-i": "n1", "-M": "core", "--signum": "JSON"}


def keepalived_help() -> str:
    binary = shutil.which("keepalived") or "/usr/sbin/keepalived"
    if not Path(binary).exists():
        pytest.skip("keepalived not installed (scripts/setup installs it)")
    done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return done.stdout + done.stderr


def help_options(text: str) -> set[tuple[str | None, str]]:
    found = set()
    for line in text.splitlines():
        m = re.match(r"\s+(?:(-\w), )?\s*(--[\w-]+)", line)
        if m:
            found.add((m.group(1), m.group(2)))
    return found


def test_every_option_of_keepalived_help_is_classified() -> None:
    listed = help_options(keepalived_help())
    assert len(listed) > 30  # the parse found the option table
    ours = {(f.short, f.long) for f in FLAGS}
    assert listed - ours == set(), "keepalived options pykeepalived does not classify"
    assert ours - listed == set(), "classified options keepalived does not have"


def test_every_same_flag_is_accepted_by_the_parser() -> None:
    parser = cli.build_parser()
    for flag in FLAGS:
        if flag.long in ("--help",):
            continue
        for spelling in filter(None, (flag.short, flag.long)):
            argv = [spelling, VALUES[flag.short or flag.long]] \
                if (flag.short or flag.long) in VALUES else [spelling]
            options = parser.parse_args(argv)
            assert getattr(options, flag.dest) not in (None, False), (spelling, flag.dest)


@pytest.mark.parametrize("flag", [f for f in FLAGS if f.support is Support.REFUSED],
                         ids=lambda f: f.long)
def test_refused_flags_stop_the_daemon_with_one_line(
        flag: object, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert hasattr(flag, "short")
    spelling = flag.short or flag.long  # type: ignore[attr-defined]
    argv = [spelling, VALUES[spelling]] if spelling in VALUES else [spelling]
    status = cli.main([*argv, "-f", str(tmp_path / "none.conf"), "-n"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == cli.EXIT_USAGE
    assert len(err) == 1 and flag.long in err[0] and "not supported" in err[0]  # type: ignore[attr-defined]


def test_docs_table_lists_every_flag() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for flag in FLAGS:
        row = next((line for line in text.splitlines()
                    if line.startswith("|") and f"`{flag.long}" in line), None)
        assert row is not None, f"{flag.long} missing from docs/compatibility.md"
        assert flag.support.value in row, f"{flag.long}: docs say otherwise"


def test_log_facility_takes_keepalived_forms() -> None:
    for number in range(8):
        assert facility_from_option(str(number)) == facility_from_option(f"local{number}")
    assert facility_from_option("local3") == 19 << 3
    assert facility_from_option("user") == 1 << 3
    assert facility_from_option("daemon") == facility_from_option(None) == LOG_DAEMON
    for bad in ("8", "local8", "kern", "3x", ""):
        with pytest.raises(ValueError, match="Invalid log facility"):
            facility_from_option(bad)
