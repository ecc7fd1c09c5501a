"""Waiting for what a test is waiting for: one helper for every suite.

A test that needs the daemon (or the kernel, or a script) to get somewhere waits for that
condition with :func:`wait_until`, never for a guessed number of seconds. A ``time.sleep`` left
in a test is the scenario itself ("let a second pass and check nothing changed", an attacker
pacing its packets) and says so in a comment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[..., T], timeout: float = 10.0, *, what: str,
               stable_for: float = 0.0, step: float = 0.05,
               context: Callable[[], str] | None = None) -> T:
    """Call ``condition()`` until it returns something truthy, and return that value.

    With ``stable_for``, the same (``==``) truthy value must come back on every poll for that
    many seconds, all within ``timeout``: a flap in progress is not a result. On timeout it
    raises AssertionError naming ``what``, the timeout and the last value, followed by
    ``context()`` when given (the daemons' logs, say), so a failure explains itself.
    Exceptions from ``condition`` propagate at once.
    """
    deadline = time.monotonic() + timeout
    since: float | None = None
    last: object = None
    while True:
        value = condition()
        now = time.monotonic()
        if not value:
            since = None
        elif since is None or value != last:
            since = now
        last = value
        if since is not None and now - since >= stable_for:
            return value
        if now >= deadline:
            break
        time.sleep(min(step, deadline - now))
    held = f" (the same for {stable_for:g}s)" if stable_for else ""
    message = f"timed out after {timeout:g}s waiting for {what}{held}; last value {last!r}"
    if context is not None:
        message += "\n" + context()
    raise AssertionError(message)
