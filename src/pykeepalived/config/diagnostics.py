"""Where a configuration problem is, and how it is reported.

Every token, statement and model object keeps a `Location`; every problem the loader finds becomes a
`Diagnostic` that prints as ``file:line:col: error|warning: message`` (the form compilers use, so
editors can jump to it). The loader never raises for bad input: it collects diagnostics and carries
on, so that one run reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from pykeepalived.errors import LocalError

Severity = Literal["error", "warning"]


class Location(NamedTuple):
    """A position in a configuration file (line and column count from 1).

    A named tuple rather than a dataclass because the lexer makes one per token and must be fast.
    """

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


#: Stands in where no file position exists (defaults, command-line values).
NOWHERE = Location("<default>", 0, 0)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a configuration."""

    severity: Severity
    file: str
    line: int
    col: int
    message: str

    @property
    def loc(self) -> Location:
        return Location(self.file, self.line, self.col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"


@dataclass
class Diagnostics:
    """Collects problems in the order they are found.

    `strict` is the config-test mode: problems that are "almost surely a mistake" are errors there
    but only warnings when the daemon starts, where the daemon is as forgiving as keepalived.
    """

    strict: bool = False
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: Location, message: str) -> None:
        self.items.append(Diagnostic("error", loc.file, loc.line, loc.col, message))

    def warning(self, loc: Location, message: str) -> None:
        self.items.append(Diagnostic("warning", loc.file, loc.line, loc.col, message))

    def mistake(self, loc: Location, message: str) -> None:
        """A problem keepalived tolerates but that is almost surely wrong: an error when strict."""
        if self.strict:
            self.error(loc, message)
        else:
            self.warning(loc, message)


class ConfigError(LocalError):
    """A configuration could not be used; carries the diagnostics that explain why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        first = str(errors[0]) if errors else "invalid configuration"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)

    @property
    def loc(self) -> Location | None:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        return errors[0].loc if errors else None
