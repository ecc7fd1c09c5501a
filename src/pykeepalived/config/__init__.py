"""keepalived.conf lexer, parser, typed model and validator.

`load_config()` is the entry point: it reads a keepalived.conf (with its includes), returns the
typed `KeepalivedConfig` and every problem found as a `Diagnostic`. It raises nothing for bad
input. ``strict=True`` is the config test (``pykeepalived -t``): mistakes keepalived would tolerate
become errors. ``all_config=True`` is keepalived's ``-e``: a missing included file is an error.
Whatever keepalived accepts and the daemon does not act on gets a ``parsed, not supported``
diagnostic (`unsupported`).
"""

from __future__ import annotations

import bisect
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass, field

from pykeepalived.config.build import Builder
from pykeepalived.config.diagnostics import (
    ConfigError,
    Diagnostic,
    Diagnostics,
    Location,
)
from pykeepalived.config.lexer import Lexer
from pykeepalived.config.model import KeepalivedConfig, VrrpInstance, VrrpScript
from pykeepalived.config.parser import parse_lines
from pykeepalived.config.validate import validate

__all__ = [
    "ConfigError",
    "Diagnostic",
    "KeepalivedConfig",
    "LoadResult",
    "Location",
    "VrrpInstance",
    "VrrpScript",
    "default_config_id",
    "load_config",
    "parse_config_text",
]


@dataclass
class LoadResult:
    config: KeepalivedConfig | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: Included files (or glob patterns) that named no file; with ``all_config`` each is an
    #: error, and ``pykeepalived -e -t`` exits as keepalived -e -t does.
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def default_config_id() -> str:
    """keepalived's default config id: the host name up to the first dot."""
    return socket.gethostname().split(".", 1)[0]


def _in_reading_order(lexer: Lexer, items: list[Diagnostic]) -> list[Diagnostic]:
    """`items` sorted as keepalived reports them while it reads: in the order of the lines
    (an included file in place of its include line), left to right. A diagnostic on a line the
    lexer kept no tokens of (an include line) goes just after the line before it."""
    per_file: dict[str, tuple[list[int], list[int]]] = {}
    for index, raw in enumerate(lexer.lines):
        lines, indexes = per_file.setdefault(raw[0], ([], []))
        if not lines or raw[1] > lines[-1]:
            lines.append(raw[1])
            indexes.append(index)

    def key(d: Diagnostic) -> tuple[float, int]:
        lines, indexes = per_file.get(d.file, ([], []))
        at = bisect.bisect_right(lines, d.line) - 1
        if d.line <= 0 or at < 0:
            return (-1.0, d.col)
        return (indexes[at] + (0.0 if lines[at] == d.line else 0.5), d.col)

    return sorted(items, key=key)


def _finish(lexer: Lexer, diags: Diagnostics, interfaces: Collection[str] | None,
            check_files: bool) -> LoadResult:
    statements = parse_lines(lexer.lines, diags)
    cfg = Builder(diags, interfaces).build(statements, tuple(lexer.files))
    # What is found while reading comes in the order of the files; the checks of the whole
    # configuration (keepalived's end-of-parse checks) come after.
    diags.items[:] = _in_reading_order(lexer, diags.items)
    cfg = validate(cfg, diags, check_files=check_files)
    return LoadResult(cfg, diags.items, lexer.missing)


def load_config(
    path: str | os.PathLike[str],
    *,
    config_id: str | None = None,
    strict: bool = False,
    interfaces: Collection[str] | None = None,
    check_files: bool = True,
    all_config: bool = False,
) -> LoadResult:
    """Load a keepalived.conf and everything it includes.

    `interfaces`: the interface names that exist; when given, configured interfaces are checked
    against them as keepalived does (a warning). `check_files`: check that scripts exist and are
    executable. `all_config` is keepalived's ``-e`` / ``--all-config``: an include that names no
    file is an error (the daemon refuses to start) instead of a warning.
    """
    diags = Diagnostics(strict=strict)
    lexer = Lexer(diags, config_id if config_id is not None else default_config_id(),
                  all_config=all_config)
    lexer.read_file(os.fspath(path))
    if not lexer.files:
        return LoadResult(None, diags.items, lexer.missing)
    return _finish(lexer, diags, interfaces, check_files)


def parse_config_text(
    text: str,
    *,
    filename: str = "<string>",
    config_id: str | None = None,
    strict: bool = False,
    interfaces: Collection[str] | None = None,
    check_files: bool = True,
    all_config: bool = False,
) -> LoadResult:
    """Like `load_config` for text in memory (relative includes resolve from the cwd)."""
    diags = Diagnostics(strict=strict)
    lexer = Lexer(diags, config_id if config_id is not None else default_config_id(),
                  all_config=all_config)
    lexer.files.append(filename)
    lexer.read_text(text, filename)
    return _finish(lexer, diags, interfaces, check_files)
