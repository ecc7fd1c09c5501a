"""The protocol timer: one deadline at a time, on a timerfd, to the microsecond.

asyncio's own timers wake the loop through ``epoll_wait``'s timeout, which counts whole
milliseconds rounded up: a takeover due at the end of a Master_Down_Interval ran 0-1 ms late
(1.4 ms measured with the processing). A timerfd armed with the absolute deadline on
CLOCK_MONOTONIC (the clock of ``loop.time()``) becomes readable at that moment, and the loop
wakes for it like for any socket. Where the kernel has no timerfd (or ctypes cannot reach it)
the timer falls back to ``loop.call_at``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from collections.abc import Callable

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


class ProtocolTimer:
    """Calls ``callback`` once at the deadline last :meth:`set` (None: disarmed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
        self._loop = loop
        self._callback = callback
        self.when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._spec = _Itimerspec()
        self._fd = -1
        self._libc = _libc()
        if self._libc is not None and time.get_clock_info("monotonic").implementation \
                == "clock_gettime(CLOCK_MONOTONIC)":
            fd = self._libc.timerfd_create(CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        return self._fd >= 0

    def set(self, when: float | None) -> None:
        """Arm for ``when`` (seconds of ``loop.time()``), or disarm with None."""
        if when == self.when:
            return
        self.when = when
        if self._fd < 0:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = None if when is None else self._loop.call_at(when, self._fired)
            return
        value = self._spec.it_value
        if when is None:
            value.tv_sec = value.tv_nsec = 0  # disarms
        else:
            ns = max(1, int(when * 1e9))  # zero would disarm
            value.tv_sec, value.tv_nsec = divmod(ns, 1_000_000_000)
        assert self._libc is not None
        if self._libc.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec),
                                      None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def _fired(self) -> None:
        if self._fd >= 0:
            try:
                os.read(self._fd, 8)
            except BlockingIOError:
                return  # re-armed or disarmed since it became readable
        self._handle = None
        self.when = None
        self._callback()

    def close(self) -> None:
        self.set(None)
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
