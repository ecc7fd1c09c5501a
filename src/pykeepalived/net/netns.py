"""Run a piece of code inside another network namespace, for sockets that must live there.

A socket belongs to the network namespace of the thread that created it and stays there for
its whole life. Python 3.11 has no ``os.setns``, so :func:`run_in_netns` calls ``setns(2)``
through ctypes in a short-lived helper thread, runs the callable there (create sockets, write
``/proc/sys/net`` entries, resolve interface names) and hands back the result. The calling
thread, and so the rest of the process, never changes namespace. (The one exception is
:func:`enter_netns`: ``-s NAME`` moves the whole daemon, before it forks its VRRP child.)

The daemon itself normally runs inside its namespace (``ip netns exec``) and passes ``None``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from pykeepalived.errors import HostError

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


class NetnsError(HostError):
    """Entering a network namespace failed."""


_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str) -> str:
    """A namespace name as ``ip netns`` knows it, or a path such as /proc/PID/ns/net."""
    return netns if netns.startswith("/") else os.path.join(NETNS_RUN_DIR, netns)


def _enter(netns: str) -> None:
    fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


_origin_fd: int | None = None


def keep_origin_netns() -> None:
    """Keep a handle on the network namespace the process is in now, for the sockets that
    work only there (the proc connector answers only in the initial one): called before
    ``-s`` moves the whole process, as keepalived opens its process-event socket before
    setns(). Children forked later inherit it."""
    global _origin_fd
    if _origin_fd is None:
        _origin_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def origin_netns() -> str | None:
    """The namespace :func:`keep_origin_netns` kept, as :func:`run_in_netns` takes it (None:
    none was kept, the process never moved)."""
    return None if _origin_fd is None else f"/proc/self/fd/{_origin_fd}"


def enter_netns(netns: str) -> None:
    """Move the calling thread into ``netns`` for good: the whole process, when it has no
    other thread yet (the daemon's ``-s``, before it forks its VRRP child)."""
    _enter(netns)


def run_in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """Call ``fn`` in network namespace ``netns`` (current namespace when None)."""
    if netns is None:
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            _enter(netns)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns:{netns}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
