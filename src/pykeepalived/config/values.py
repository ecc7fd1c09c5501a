"""Reading a statement's words as typed values, for every block builder of `config.build`.

A value that cannot be used is reported (with the location of the word at fault) and None
returned, so that the builder keeps its default and carries on, as keepalived does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from pykeepalived.config import model as m
from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.parser import Statement

_TRUE = frozenset({"on", "true", "yes"})
_FALSE = frozenset({"off", "false", "no"})


class Values:
    """Converts a statement's words, reporting what it cannot convert.

    `interfaces` (when given) are the interfaces that exist: a configured one is checked
    against them.
    """

    def __init__(self, diags: Diagnostics, interfaces: Collection[str] | None = None) -> None:
        self.diags = diags
        self.interfaces = interfaces

    def _arg(self, st: Statement, index: int = 0) -> str | None:
        if len(st.words) <= index:
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a value")
            return None
        return st.words[index]

    def _loc(self, st: Statement, index: int = 0) -> Location:
        return st.arg_loc(index)

    def string(self, st: Statement) -> str | None:
        return self._arg(st)

    def command(self, st: Statement) -> str | None:
        """A script command line: the words after the keyword, joined as keepalived does."""
        if not st.words:
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a script")
            return None
        words = st.words
        if len(words) == 1:
            return words[0]
        return " ".join(f"'{w}'" if (" " in w or not w) else w for w in words)

    def integer(self, st: Statement, lo: int, hi: int, index: int = 0) -> int | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        try:
            value = int(raw, 10)
        except ValueError:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' needs an integer, got '{raw}'"
            )
            return None
        if not lo <= value <= hi:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' {value} is out of range {lo}..{hi}"
            )
            return None
        return value

    def number(self, st: Statement, lo: float, hi: float, index: int = 0) -> float | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.diags.mistake(self._loc(st, index), f"'{st.keyword}' needs a number, got '{raw}'")
            return None
        if not lo <= value <= hi or value != value:
            self.diags.mistake(
                self._loc(st, index), f"'{st.keyword}' {raw} is out of range {lo:g}..{hi:g}"
            )
            return None
        return value

    def flag(self, st: Statement) -> bool:
        """A keyword that turns something on, optionally followed by <BOOL>."""
        if not st.words:
            return True
        raw = st.words[0].lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        self.diags.mistake(st.arg_loc(0), f"'{st.keyword}' takes on|off|true|false|yes|no")
        return True

    def address(self, st: Statement, index: int = 0) -> m.IPAddress | None:
        raw = self._arg(st, index)
        if raw is None:
            return None
        return self.parse_address(raw, self._loc(st, index), st.keyword)

    def parse_address(self, raw: str, loc: Location, what: str) -> m.IPAddress | None:
        try:
            return ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            self.diags.mistake(loc, f"'{what}': invalid IP address '{raw}'")
            return None


    def check_interface(self, name: str, loc: Location, what: str) -> None:
        if self.interfaces is not None and name not in self.interfaces:
            # keepalived warns and runs (the interface may appear later), but its config test
            # fails ("Non-existent interface specified in configuration"); so do we.
            self.diags.mistake(loc, f"interface {name} for {what} doesn't exist")

    def list_block(self, st: Statement) -> list[Statement]:
        """The entries of a block such as ``virtual_ipaddress { ... }``, one per line."""
        if st.block is None:
            if st.words:
                # keepalived also accepts a single entry on the keyword's own line.
                return [st.sub(0)]
            self.diags.mistake(st.loc, f"'{st.keyword}' needs a block of entries")
            return []
        return st.block


def each(block: list[Statement] | None) -> list[Statement]:
    """The statements of a block, or none for a statement without one."""
    return block if block is not None else []


def line(st: Statement) -> list[str]:
    """A free-form line: its first word (the parser's keyword) and the rest."""
    return [st.keyword, *st.words]


def word_loc(st: Statement, i: int) -> Location:
    """Where word ``i`` of :func:`line` is."""
    return st.loc if i == 0 else st.arg_loc(i - 1)
