"""keepalived.conf lexer, parser, typed model and validator.

`load_config()` is the entry point: it reads a keepalived.conf (with its includes), returns the
typed `KeepalivedConfig` and every problem found as a `Diagnostic`. It raises nothing for bad
input. ``strict=True`` is the config test (``pykeepalived -t``): mistakes keepalived would tolerate
become errors.
"""

from __future__ import annotations

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


def _finish(lexer: Lexer, diags: Diagnostics, interfaces: Collection[str] | None,
            check_files: bool) -> LoadResult:
    statements = parse_lines(lexer.lines, diags)
    cfg = Builder(diags, interfaces).build(statements, tuple(lexer.files))
    cfg = validate(cfg, diags, check_files=check_files)
    return LoadResult(cfg, diags.items)


def load_config(
    path: str | os.PathLike[str],
    *,
    config_id: str | None = None,
    strict: bool = False,
    interfaces: Collection[str] | None = None,
    check_files: bool = True,
) -> LoadResult:
    """Load a keepalived.conf and everything it includes.

    `interfaces`: the interface names that exist; when given, configured interfaces are checked
    against them as keepalived does (a warning). `check_files`: check that scripts exist and are
    executable.
    """
    diags = Diagnostics(strict=strict)
    lexer = Lexer(diags, config_id if config_id is not None else default_config_id())
    lexer.read_file(os.fspath(path))
    if not lexer.files:
        return LoadResult(None, diags.items)
    return _finish(lexer, diags, interfaces, check_files)


def parse_config_text(
    text: str,
    *,
    filename: str = "<string>",
    config_id: str | None = None,
    strict: bool = False,
    interfaces: Collection[str] | None = None,
    check_files: bool = True,
) -> LoadResult:
    """Like `load_config` for text in memory (relative includes resolve from the cwd)."""
    diags = Diagnostics(strict=strict)
    lexer = Lexer(diags, config_id if config_id is not None else default_config_id())
    lexer.files.append(filename)
    lexer.read_text(text, filename)
    return _finish(lexer, diags, interfaces, check_files)
