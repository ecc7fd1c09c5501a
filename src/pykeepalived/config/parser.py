"""Groups the lexer's lines of tokens into a tree of statements.

A statement is a keyword with the words after it on its line and, when a ``{`` follows (on the same
line or alone on the next), the block of statements up to the matching ``}``. This level knows
nothing of what keywords mean; inside list blocks such as ``virtual_ipaddress`` the "keyword" is
simply the first word (an address, a script name). The tree is internal to the config package; the
typed model is what the rest of pykeepalived sees.
"""

from __future__ import annotations

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import LBRACE, RBRACE, Token


class Statement:
    """One keyword line, with its block (``None`` when it has none)."""

    __slots__ = ("args", "block", "end_loc", "keyword", "loc")

    def __init__(self, keyword: str, args: list[Token], loc: Location) -> None:
        self.keyword = keyword
        self.args = args
        self.loc = loc
        self.block: list[Statement] | None = None
        #: Where the block's closing brace is (keepalived reports block-end checks there).
        self.end_loc: Location = loc

    @property
    def words(self) -> list[str]:
        return [t.value for t in self.args]

    def __repr__(self) -> str:
        inner = "" if self.block is None else f" {{{len(self.block)}}}"
        return f"Statement({self.keyword!r}, {self.words!r}{inner} @ {self.loc})"


def parse_lines(lines: list[list[Token]], diags: Diagnostics) -> list[Statement]:
    """Build the statement tree, reporting unbalanced braces."""
    top: list[Statement] = []
    current = top
    stack: list[tuple[list[Statement], Statement]] = []
    last: Statement | None = None  # the statement a '{' on the next line would open
    for toks in lines:
        i, n = 0, len(toks)
        while i < n:
            tok = toks[i]
            kind = tok.kind
            if kind == LBRACE:
                if last is None or last.block is not None:
                    diags.error(tok.loc, "'{' without a keyword before it")
                    # Still nest, so that the matching '}' does not close an outer block.
                    last = Statement("", [], tok.loc)
                    current.append(last)
                last.block = []
                stack.append((current, last))
                current = last.block
                last = None
                i += 1
            elif kind == RBRACE:
                if not stack:
                    diags.error(tok.loc, "'}' without a block to close")
                else:
                    current, closed = stack.pop()
                    closed.end_loc = tok.loc
                last = None
                i += 1
            else:
                j = i + 1
                while j < n and toks[j].kind not in (LBRACE, RBRACE):
                    j += 1
                last = Statement(tok.value, toks[i + 1 : j], tok.loc)
                current.append(last)
                i = j
    for _, opened in reversed(stack):
        diags.error(opened.loc, f"block '{opened.keyword}' opened here is never closed")
    return top
