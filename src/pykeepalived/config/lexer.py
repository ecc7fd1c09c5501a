"""Reads keepalived.conf text into tokens, doing keepalived's line-level preprocessing first.

keepalived's language is line based before it is block based: a line may be dropped by a
conditional (``@ID`` / ``@^ID``), may define a parameter (``$NAME=value``, ``\\`` continues
it), may be repeated by ``~SEQ(...)`` / ``~LST(...)``, may pull in other files (``include`` and
its variants),
and has ``$NAME`` / ``${NAME}`` replaced before it is split into words. So this module works one
line at a time: comments off, conditional, sequence, definition, include, substitution (whose
result is fed back through the same steps, since a parameter may expand to several lines), and only
then the single regular expression that splits the line into words and braces.

Every token keeps the file, line and column it came from. Text that came out of a parameter keeps
the position of the line that used the parameter.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterator
from typing import NamedTuple

from pykeepalived.config.diagnostics import Diagnostics, Location

WORD = 0
LBRACE = 1
RBRACE = 2


class Token(NamedTuple):
    """A word or a brace, with where it was written."""

    kind: int
    value: str
    loc: Location


#: What the lexer produces per logical line: file, line, column where the text starts, the text,
#: its words, and their kinds (None when the line has no quotes, so "{" and "}" are the braces).
RawLine = tuple[str, int, int, str, list[str], "list[int] | None"]


def token_columns(text: str, base_col: int) -> list[int]:
    """The column of each token of a logical line (computed only when a diagnostic needs it)."""
    return [base_col + m.start() for m in _TOKEN_RE.finditer(text)]


# A word is a run of unquoted non-space characters and quoted parts; "abc" def"g" is two words,
# and quotes only group, as in the shell. Braces outside quotes are tokens of their own.
_TOKEN_RE = re.compile(r"""([{}])|((?:[^\s{}"']+|"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)+)""")
_PLAIN_RE = re.compile(r"[{}]|[^\s{}]+")
_QUOTED_PART_RE = re.compile(r""""((?:[^"\\]|\\.)*)"?|'((?:[^'\\]|\\.)*)'?|([^"']+)""")
_ESCAPE_RE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]+)|c(.)|(.))", re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v"}
# Everything before a comment: '#' and '!' start one anywhere outside quotes.
_UNCOMMENTED_RE = re.compile(r"""(?:[^"'#!]+|"[^"]*"?|'[^']*'?)*""")
_DEFINITION_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_CONDITIONAL_RE = re.compile(r"@(\^?)(\S*)\s*")
_SUBST_RE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?:\s[^}]*)?)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|\Z)"
)
#: Limits that keep a hostile or broken file from exhausting memory or the stack.
MAX_INCLUDE_DEPTH = 128
MAX_FILE_BYTES = 64 << 20
MAX_REPEAT = 100_000
#: The most text one source line may expand to through parameters and ~SEQ.
MAX_EXPANSION = 16 << 20

_REPEAT_RE = re.compile(r"~(SEQx?|LST)\(")
_INCLUDE_WORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})
_GLOB_CHARS = frozenset("*?[")
_MAX_DEPTH = 64


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        octal, hexa, ctrl, other = m.groups()
        if octal is not None:
            return chr(int(octal, 8) & 0xFF)
        if hexa is not None:
            return chr(int(hexa, 16) & 0xFF)
        if ctrl is not None:
            return chr(ord(ctrl.upper()) ^ 0x40)
        return _SIMPLE_ESCAPES.get(other, other)

    return _ESCAPE_RE.sub(one, text) if "\\" in text else text


def unquote(word: str) -> str:
    """Remove quote characters from a word and decode escapes inside the quoted parts."""
    out = []
    for m in _QUOTED_PART_RE.finditer(word):
        dq, sq, plain = m.groups()
        if plain is not None:
            out.append(plain)
        else:
            out.append(_unescape(dq if dq is not None else sq or ""))
    return "".join(out)


def strip_comment(line: str) -> str:
    if "#" not in line and "!" not in line:
        return line
    m = _UNCOMMENTED_RE.match(line)
    return m.group(0) if m else line


def expand_braces(pattern: str) -> list[str]:
    """csh-style ``{a,b}`` expansion, as glob(3) with GLOB_BRACE does for include lines."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    parts: list[str] = []
    last = start + 1
    for i in range(start, len(pattern)):
        c = pattern[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[last:i])
                head, tail = pattern[:start], pattern[i + 1 :]
                return [x for p in parts for x in expand_braces(head + p + tail)]
        elif c == "," and depth == 1:
            parts.append(pattern[last:i])
            last = i + 1
    return [pattern]


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``{...}`` (for ~LST's grouped values)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for c in text:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur).strip())
    return out


class Lexer:
    """Turns a configuration file and everything it includes into lines of tokens."""

    def __init__(self, diags: Diagnostics, config_id: str, all_config: bool = False) -> None:
        self.diags = diags
        self.config_id = config_id
        #: keepalived's -e: an include that names no file is an error, not a warning.
        self.all_config = all_config
        self.params: dict[str, str] = {}
        self.lines: list[RawLine] = []
        self.files: list[str] = []
        #: Include files (or patterns) that named no file.
        self.missing: list[str] = []
        self._stack: list[str] = []
        self._pwd = "."
        self._expanded = 0

    # --- files -----------------------------------------------------------------------------

    def read_file(self, path: str, included_from: Location | None = None) -> None:
        real = os.path.realpath(path)
        where = included_from or Location(path, 0, 0)
        if real in self._stack:
            chain = " -> ".join([*self._stack[self._stack.index(real) :], real])
            self.diags.error(where, f"include loop: {chain}")
            return
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self.diags.error(where, f"includes nested deeper than {MAX_INCLUDE_DEPTH} files: "
                             f"{path} not read")
            return
        try:
            # Only regular files, and not unboundedly large ones: an include of a device or a
            # FIFO would never end or block a reload forever.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    self.diags.error(where, f"configuration file {path} is not a regular file")
                    return
                if st.st_size > MAX_FILE_BYTES:
                    self.diags.error(where, f"configuration file {path} is larger than "
                                     f"{MAX_FILE_BYTES >> 20} MiB")
                    return
                with os.fdopen(os.dup(fd), encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read(MAX_FILE_BYTES + 1)
            finally:
                os.close(fd)
        except OSError as e:
            reason = e.strerror or str(e)
            self.diags.error(where, f"cannot read configuration file {path}: {reason}")
            return
        self.files.append(path)
        self._stack.append(real)
        saved_pwd = self._pwd
        self._pwd = os.path.dirname(os.path.abspath(path))
        try:
            self.read_text(text, path)
        finally:
            self._pwd = saved_pwd
            self._stack.pop()

    def read_text(self, text: str, filename: str) -> None:
        raw_lines = text.split("\n")
        n = len(raw_lines)
        i = 0
        process = self._process
        append = self.lines.append
        findall = _PLAIN_RE.findall
        while i < n:
            raw = raw_lines[i]
            i += 1
            s = raw.lstrip()
            if not s or s[0] in "#!":
                continue
            if "#" in s or "!" in s:
                s = strip_comment(s)
            s = s.rstrip()
            if not s:
                continue
            col = len(raw) - len(raw.lstrip()) + 1
            first = s[0]
            if (first not in "@~$i" and "$" not in s) or (first == "i" and not s.startswith(
                    "include") and "$" not in s):
                # The usual line: nothing to preprocess (inlined `_tokenize` fast path).
                if '"' in s or "'" in s:
                    self._tokenize(s, Location(filename, i, col))
                else:
                    append((filename, i, col, s, findall(s), None))
                continue
            if first == "$" and s.endswith("\\"):
                m = _DEFINITION_RE.match(s)
                if m:
                    # A multi-line definition: every following line ending in '\' belongs to it.
                    parts = [m.group(2)[:-1].strip()]
                    while i < n:
                        cont = strip_comment(raw_lines[i]).rstrip()
                        i += 1
                        more = cont.endswith("\\")
                        parts.append((cont[:-1] if more else cont).strip())
                        if not more:
                            break
                    self.params[m.group(1)] = "\n".join(p for p in parts if p)
                    continue
            process(s, Location(filename, i, col), 0)

    # --- one logical line --------------------------------------------------------------------

    def _process(self, text: str, loc: Location, depth: int) -> None:
        if depth > _MAX_DEPTH:
            self.diags.error(loc, "parameter substitution nested too deeply (recursion?)")
            return
        # Everything one source line expands to ($VARIABLES, ~SEQ) shares one budget: a
        # definition that refers to itself twice doubles at every level, and must fail with a
        # message long before it eats the host's memory.
        if depth == 0:
            self._expanded = 0
        self._expanded += len(text)
        if self._expanded > MAX_EXPANSION:
            if self._expanded - len(text) <= MAX_EXPANSION:
                self.diags.error(loc, f"line expands to more than {MAX_EXPANSION >> 20} MiB "
                                 "(a parameter that refers to itself?)")
            return
        first = text[0]
        if first == "@":
            m = _CONDITIONAL_RE.match(text)
            assert m is not None
            negate, ident = m.group(1) == "^", m.group(2)
            if (ident == self.config_id) == negate:
                return
            text = text[m.end() :]
            if not text:
                return
            loc = Location(loc.file, loc.line, loc.col + m.end())
            first = text[0]
        if first == "~":
            m = _REPEAT_RE.match(text)
            if m:
                self._repeat(m, text, loc, depth)
                return
        if first == "$":
            m = _DEFINITION_RE.match(text)
            if m:
                self.params[m.group(1)] = m.group(2).strip()
                return
        if first == "i":
            word, _, rest = text.partition(" ")
            if word in _INCLUDE_WORDS:
                self._include(word, rest.strip(), loc, depth)
                return
        if "$" in text:
            expanded = _SUBST_RE.sub(self._substitute, text)
            if expanded != text:
                for piece in expanded.split("\n"):
                    piece = piece.strip()
                    if piece:
                        self._process(piece, loc, depth + 1)
                return
        self._tokenize(text, loc)

    def _tokenize(self, text: str, loc: Location) -> None:
        # This runs once per line of the whole configuration, so the usual line (no quotes) is
        # split by one C-level findall; columns are worked out later, only for lines that get
        # a diagnostic (see `token_columns`).
        if '"' in text or "'" in text:
            kinds: list[int] | None = []
            words: list[str] = []
            for brace, word in _TOKEN_RE.findall(text):
                if brace:
                    kinds.append(LBRACE if brace == "{" else RBRACE)  # type: ignore[union-attr]
                    words.append(brace)
                else:
                    kinds.append(WORD)  # type: ignore[union-attr]
                    words.append(unquote(word))
        else:
            words = _PLAIN_RE.findall(text)
            kinds = None
        if words:
            self.lines.append((loc.file, loc.line, loc.col, text, words, kinds))

    def _substitute(self, m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = self.params.get(name)
        if value is not None:
            return value
        if name == "_PWD":
            return self._pwd
        if name == "_INSTANCE":
            return self.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_ENV":
            # keepalived 2.4: ${_ENV NAME} is the environment variable (empty when unset), so
            # secrets such as auth_hmac keys can come from systemd credentials
            var = (m.group(2) or "").strip()
            return os.environ.get(var, "") if var else m.group(0)
        if name == "_RANDOM":
            bounds = (m.group(2) or "").split()
            lo = int(bounds[0]) if bounds and bounds[0].isdigit() else 0
            hi = int(bounds[1]) if len(bounds) > 1 and bounds[1].isdigit() else 32767
            import random  # only for ${_RANDOM}

            return str(random.randint(lo, max(lo, hi)))
        return m.group(0)

    def _repeat(self, m: re.Match[str], text: str, loc: Location, depth: int) -> None:
        kind = m.group(1)
        close = self._find_close(text, m.end())
        if close < 0:
            self.diags.error(loc, f"~{kind}( has no closing parenthesis")
            return
        spec = text[m.end() : close]
        rest = text[close + 1 :].strip()
        after = text[close + 1 :]
        rest_loc = Location(loc.file, loc.line, loc.col + len(text) - len(after.lstrip()))
        if not rest:
            return
        for binding in self._bindings(kind, spec, loc):
            self.params.update(binding)
            self._process(rest, rest_loc, depth + 1)

    @staticmethod
    def _find_close(text: str, start: int) -> int:
        depth = 0
        for i in range(start, len(text)):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == ")" and depth == 0:
                return i
        return -1

    def _bindings(self, kind: str, spec: str, loc: Location) -> Iterator[dict[str, str]]:
        args = _split_top_level(spec)
        if kind == "LST":
            if len(args) < 2:
                self.diags.error(loc, "~LST needs a variable and at least one value")
                return
            names = [a.strip() for a in args[0].strip("{}").split(",")]
            for value in args[1:]:
                values = [v.strip() for v in value.strip("{}").split(",")]
                if len(values) != len(names):
                    self.diags.error(loc, f"~LST value {value!r} does not match {args[0]!r}")
                    return
                yield dict(zip(names, values, strict=True))
            return
        name = args[0]
        try:
            nums = [int(a, 0) for a in args[1:]]
        except ValueError:
            self.diags.error(loc, f"~{kind} values must be integers: {spec!r}")
            return
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not 1 <= len(nums) <= 3:
            self.diags.error(loc, f"~{kind} needs (var, [start, [step,]] end), got ({spec})")
            return
        if len(nums) == 1:
            end = nums[0]
            start = 1 if end > 0 else -1
            step = 1 if end >= start else -1
        elif len(nums) == 2:
            start, end = nums
            step = 1 if end >= start else -1
        else:
            start, step, end = nums
        if step == 0:
            self.diags.error(loc, f"~{kind} step must not be 0")
            return
        count = (end - start) // step + 1
        if count > MAX_REPEAT:
            self.diags.error(loc, f"~{kind}({spec}) would repeat {count} times (at most "
                             f"{MAX_REPEAT})")
            return
        fmt = "{:x}" if kind == "SEQx" else "{}"
        current = start
        while (current <= end) if step > 0 else (current >= end):
            yield {name: fmt.format(current)}
            current += step

    def _include(self, word: str, pattern: str, loc: Location, depth: int) -> None:
        if not pattern:
            self.diags.error(loc, f"{word} needs a file name")
            return
        pattern = unquote(pattern.split()[0]) if pattern[0] in "\"'" else pattern.split()[0]
        if not os.path.isabs(pattern):
            pattern = os.path.join(self._pwd, pattern)
        matches: list[str] = []
        for p in expand_braces(pattern):
            if _GLOB_CHARS & set(p):
                matches.extend(sorted(glob.glob(p)))
            elif os.path.exists(p):
                matches.append(p)
            else:
                self.missing.append(p)
                if self.all_config:
                    self.diags.error(loc, f"include file {p} not found (-e: every "
                                     "configuration file must exist)")
                else:
                    self.diags.mistake(loc, f"include file {p} not found")
        if not matches and _GLOB_CHARS & set(pattern):
            self.missing.append(pattern)
            if self.all_config:
                self.diags.error(loc, f"include pattern {pattern} matches no file (-e: every "
                                 "configuration file must exist)")
            elif word in ("includem", "includea"):
                self.diags.error(loc, f"include pattern {pattern} matches no file")
            else:
                self.diags.warning(loc, f"include pattern {pattern} matches no file")
        for path in matches:
            self.read_file(path, loc)
