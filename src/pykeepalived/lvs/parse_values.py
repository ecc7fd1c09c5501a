"""Reading the words of the load balancer's keywords the way keepalived 2.2.7 reads them.

keepalived's checker parser has its own number readers (``read_unsigned``, ``read_timer``:
decimal seconds with up to six places, stored in microseconds), its own true/false words, hex
strings with ``x`` wildcards (``UDP_CHECK``), and an address reader that takes ``IP[-range]`` or
``IP/mask`` and keeps only the address. Each reader here returns the value and, when the word is
wrong, keepalived's description of what is wrong; the caller reports it with the keyword's own
message, so one diagnostic says both.

keepalived is lenient outside its config test: ``weight 5x`` warns and uses 5. The readers do the
same when asked to (`lenient`), which the builder sets when it is not running ``-t``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pykeepalived.lvs.model import IPAddress

UINT_MAX = 2**32 - 1
INT32_MAX = 2**31 - 1
#: keepalived's TIMER_MAXIMUM (ULONG_MAX - 1), in microseconds
TIMER_MAX_US = 2**64 - 2
TIMER_HZ = 1_000_000


@dataclass(frozen=True, slots=True)
class Read:
    """A word read as a number: the value to use (None: keep the default), and what was wrong
    with the word (None: nothing)."""

    value: int | None
    problem: str | None = None


def _strtoul_prefix(text: str, base: int = 10) -> tuple[int | None, str]:
    """C's strtoul on `text`: the number its leading digits make (None if none) and the rest."""
    s = text.lstrip(" \t\n\r\f\v")
    sign = ""
    if s[:1] in "+-" and s[:1]:
        sign, s = s[0], s[1:]
    digits = "0123456789abcdef"[:base]
    i = 0
    while i < len(s) and s[i].lower() in digits:
        i += 1
    if i == 0:
        return None, text
    value = int(s[:i], base)
    return (-value if sign == "-" else value), s[i:]


def read_unsigned(word: str, lo: int, hi: int, *, ignore_error: bool = True,
                  lenient: bool = False) -> Read:
    """keepalived's read_unsigned_func (base 10)."""
    value, rest = _strtoul_prefix(word)
    if word.lstrip(" \t\n\r\f\v").startswith("-"):
        return Read(None, f"negative number '{word}'")
    if value is None or rest:
        usable = (lenient and ignore_error and value is not None and lo <= value <= hi)
        return Read(value if usable else None, f"invalid number '{word}'")
    if value > UINT_MAX:
        return Read(None, f"number '{word}' outside unsigned integer range")
    if not lo <= value <= hi:
        return Read(None, f"number '{word}' outside range [{lo}, {hi}]")
    return Read(value)


def read_int(word: str, lo: int, hi: int, *, lenient: bool = False) -> Read:
    """keepalived's read_int_func (base 10)."""
    value, rest = _strtoul_prefix(word)
    if value is None or rest:
        usable = lenient and value is not None and lo <= value <= hi
        return Read(value if usable else None, f"invalid number '{word}'")
    if not -(2**31) <= value <= INT32_MAX:
        return Read(None, f"number '{word}' outside integer range")
    if not lo <= value <= hi:
        return Read(None, f"number '{word}' outside range [{lo}, {hi}]")
    return Read(value)


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer word read as seconds (None: keep the default) and what was wrong with it."""

    seconds: float | None
    problem: str | None = None


def read_timer(word: str, lo_us: int, hi_us: int = 0) -> Timer:
    """keepalived's read_timer: decimal seconds with at most six places (more are rounded,
    and reported), within `lo_us`..`hi_us` microseconds (0: no upper bound)."""
    hi = hi_us or TIMER_MAX_US
    if word.startswith("-"):
        return Timer(None, f"negative number '{word}'")
    whole, dot, frac = word.partition(".")
    problem = None
    round_up = False
    if dot and len(frac) > 6:
        problem = f"number '{word}' has too many decimal places"
        round_up = frac[6] >= "5"
        frac = frac[:6]
    text = whole + frac.ljust(6, "0") if dot else whole + "000000"
    if not text or not text.isascii() or not text.isdigit():
        return Timer(None, f"invalid number '{word}'")
    us = int(text) + (1 if round_up else 0)
    if us > 2**64 - 1:
        return Timer(None, f"number '{word}' outside unsigned decimal range")
    if not lo_us <= us <= hi:
        return Timer(None, f"number '{word}' outside range [{_us(lo_us)}, {_us(hi)}]")
    return Timer(us / TIMER_HZ, problem)


def _us(us: int) -> str:
    return f"{us // TIMER_HZ}.{us % TIMER_HZ:06d}"


def true_false(word: str) -> bool | None:
    """keepalived's check_true_false: exact lower-case words only."""
    if word in ("true", "on", "yes"):
        return True
    if word in ("false", "off", "no"):
        return False
    return None


def _hex_val(c: str, wildcard: bool) -> int:
    if c.isascii() and c.isdigit():
        return ord(c) - 48
    if "a" <= c.lower() <= "f":
        return ord(c.lower()) - 87
    if wildcard and c in "xX":
        return 0xFE
    return 0xFF


def read_hex(text: str, wildcard: bool = False) -> tuple[bytes, bytes | None] | None:
    """keepalived's read_hex_str: hex digits in pairs, a lone digit before a space (or the end)
    being one octet, spaces and tabs between. With `wildcard`, ``x`` / ``X`` is a nibble to
    ignore: the second value is then the mask of ignored bits (None when there is none).
    None when the text is not such a string (or is empty)."""
    out = bytearray()
    mask = bytearray()
    using_mask = False
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        val = _hex_val(text[i], wildcard)
        i += 1
        if val == 0xFF:
            return None
        mval = 0
        if val == 0xFE:
            val, mval, using_mask = 0, 0x0F, True
        if i < n and text[i] != " ":
            high, mval = val << 4, mval << 4
            val = _hex_val(text[i], wildcard)
            i += 1
            if val == 0xFF:
                return None
            if val == 0xFE:
                val, mval, using_mask = 0, mval | 0x0F, True
            val |= high
        out.append(val)
        mask.append(mval)
    if not out:
        return None
    return bytes(out), (bytes(mask) if using_mask else None)


@dataclass(frozen=True, slots=True)
class SockAddr:
    """An address and port as keepalived's inet_stosockaddr reads them."""

    address: IPAddress
    port: int
    #: what followed the address and was dropped (``-range`` or ``/mask``), or ""
    dropped: str = ""


def read_sockaddr(ip: str, port: str | None) -> SockAddr | str:
    """``IP [PORT]``: a port of only zeros is no port (0), as keepalived 2.0.7+ reads it; the
    address keeps what comes before a ``-`` or ``/``. A string is keepalived's complaint."""
    number = 0
    if port is not None and port.strip("0"):
        read = read_unsigned(port, 1, 65535)
        if read.value is None:
            return read.problem or f"invalid port '{port}'"
        number = read.value
    cut = min((i for i in (ip.find("-"), ip.find("/")) if i >= 0), default=-1)
    text, dropped = (ip[:cut], ip[cut:]) if cut >= 0 else (ip, "")
    try:
        # inet_pton takes no IPv6 zone ("%eth0"), which Python's parser would
        address = ipaddress.ip_address(text if "%" not in text else "")
    except ValueError:
        return f"invalid address '{ip}'"
    # inet_pton: an IPv4 address without a ':' only, an IPv6 one with (no zone, no brackets).
    if (address.version == 6) != (":" in ip):
        return f"invalid address '{ip}'"
    return SockAddr(address, number, dropped)
