"""Groups the lexer's lines of tokens into a tree of statements.

A statement is a keyword with the words after it on its line and, when a ``{`` follows (on the same
line or alone on the next), the block of statements up to the matching ``}``. This level knows
nothing of what keywords mean; inside list blocks such as ``virtual_ipaddress`` the "keyword" is
simply the first word (an address, a script name). The tree is internal to the config package; the
typed model is what the rest of pykeepalived sees.
"""

from __future__ import annotations

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import LBRACE, RBRACE, WORD, RawLine, Token, token_columns


class Statement:
    """One keyword line, with its block (``None`` when it has none).

    Built once per line of the whole configuration, so it keeps plain strings; word positions
    are worked out from the line's text only when asked for (`arg_loc`, `args`).
    """

    __slots__ = ("block", "col", "end_loc", "file", "first", "keyword", "line", "text", "words")

    def __init__(self, keyword: str, words: list[str], file: str, line: int, col: int,
                 text: str = "", first: int = -1) -> None:
        self.keyword = keyword
        self.words = words
        self.file = file
        self.line = line
        #: Column where the logical line's text starts, and this keyword's token index in it.
        self.col = col
        self.text = text
        self.first = first
        self.block: list[Statement] | None = None
        #: Where the block's closing brace is (keepalived reports block-end checks there).
        self.end_loc: Location = Location(file, line, col)

    def _cols(self) -> list[int]:
        if self.first < 0:
            return [self.col] * (len(self.words) + 1)
        return token_columns(self.text, self.col)[self.first :]

    @property
    def loc(self) -> Location:
        if self.first <= 0:
            return Location(self.file, self.line, self.col)
        return Location(self.file, self.line, self._cols()[0])

    def arg_loc(self, index: int) -> Location:
        """Where word `index` (0 = first after the keyword) is; the keyword's place if absent."""
        cols = self._cols()
        if 0 <= index < len(self.words) and index + 1 < len(cols):
            return Location(self.file, self.line, cols[index + 1])
        return self.loc

    def sub(self, index: int) -> Statement:
        """Word `index` onwards as a statement of its own (an entry on its keyword's line)."""
        first = self.first + 1 + index if self.first >= 0 else -1
        return Statement(self.words[index], self.words[index + 1 :], self.file, self.line,
                         self.col, self.text, first)

    @property
    def args(self) -> list[Token]:
        return [Token(WORD, w, self.arg_loc(i)) for i, w in enumerate(self.words)]

    def __repr__(self) -> str:
        inner = "" if self.block is None else f" {{{len(self.block)}}}"
        return f"Statement({self.keyword!r}, {self.words!r}{inner} @ {self.loc})"


def parse_lines(lines: list[RawLine], diags: Diagnostics) -> list[Statement]:
    """Build the statement tree, reporting unbalanced braces."""
    top: list[Statement] = []
    current = top
    stack: list[tuple[list[Statement], Statement]] = []
    last: Statement | None = None  # the statement a '{' on the next line would open
    for file, line, col, text, words, kinds in lines:
        if kinds is None:
            # The common shapes, without a loop over tokens.
            if "{" not in words and "}" not in words:
                last = Statement(words[0], words[1:], file, line, col, text, 0)
                current.append(last)
                continue
            if len(words) == 1 and words[0] == "}" and stack:
                current, closed = stack.pop()
                closed.end_loc = Location(file, line, col)
                last = None
                continue
            if words[-1] == "{" and words.count("{") == 1 and "}" not in words and len(words) > 1:
                last = Statement(words[0], words[1:-1], file, line, col, text, 0)
                current.append(last)
                last.block = []
                stack.append((current, last))
                current = last.block
                last = None
                continue
            kinds = [LBRACE if w == "{" else RBRACE if w == "}" else WORD for w in words]
        cols: list[int] | None = None
        i, n = 0, len(words)
        while i < n:
            kind = kinds[i]
            if kind != WORD:
                if cols is None:
                    cols = token_columns(text, col)
                here = Location(file, line, cols[i] if i < len(cols) else col)
            if kind == LBRACE:
                if last is None or last.block is not None:
                    diags.error(here, "'{' without a keyword before it")
                    # Still nest, so that the matching '}' does not close an outer block.
                    last = Statement("", [], file, line, here.col)
                    current.append(last)
                last.block = []
                stack.append((current, last))
                current = last.block
                last = None
                i += 1
            elif kind == RBRACE:
                if not stack:
                    diags.error(here, "'}' without a block to close")
                else:
                    current, closed = stack.pop()
                    closed.end_loc = here
                last = None
                i += 1
            else:
                j = i + 1
                while j < n and kinds[j] == WORD:
                    j += 1
                last = Statement(words[i], words[i + 1 : j], file, line, col, text, i)
                current.append(last)
                i = j
    for _, opened in reversed(stack):
        diags.error(opened.loc, f"block '{opened.keyword}' opened here is never closed")
    return top
