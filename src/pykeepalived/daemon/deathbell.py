"""The earliest word of a child's death: a robust mutex it holds for its whole life.

When a process is SIGKILLed, the kernel first tears down its memory and only then closes its
files (the end of a socketpair) and tells its parent (SIGCHLD). For a Python process of 40 MB
that teardown takes 5-20 ms, and several times that on a busy machine: too long for a handover
due within 50 ms of the death. But before the teardown, at the very start of the exit, the
kernel releases the robust futexes the dying thread holds (``exit_robust_list``) and wakes
their waiters with ``EOWNERDEAD``. So the child locks a process-shared robust pthread mutex in
memory it shares with its parent, and a thread of the parent waits to lock it: the parent
hears of the death within a millisecond, whatever the child's size.

This is an optimisation, never the only way: without robust mutexes (another C library, an
old one), or if the child did not take the lock, the parent still notices the death when the
child's end of the channel closes. A lock the waiter gets without an owner's death (the child
never held it) rings nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import threading

EOWNERDEAD = 130  # Linux: the owner of a robust mutex died holding it
PTHREAD_PROCESS_SHARED = 1
PTHREAD_MUTEX_ROBUST = 1
_MUTEX_SIZE = 64  # sizeof(pthread_mutex_t) is 40 on x86_64 glibc, 24 on musl
_ATTR_SIZE = 16


class DeathBell:
    """One child's bell: :meth:`hold` in the child, :meth:`watch` in the parent."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self._memory = mmap.mmap(-1, mmap.PAGESIZE)  # MAP_SHARED: the child sees the same
        self._view: ctypes.c_char | None = ctypes.c_char.from_buffer(self._memory)
        self._mutex = ctypes.c_void_p(ctypes.addressof(self._view))
        self._thread: threading.Thread | None = None
        self.rang = False
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        self.ready = not (libc.pthread_mutexattr_init(attr)
                          or libc.pthread_mutexattr_setpshared(attr, PTHREAD_PROCESS_SHARED)
                          or libc.pthread_mutexattr_setrobust(attr, PTHREAD_MUTEX_ROBUST)
                          or libc.pthread_mutex_init(self._mutex, attr))

    @classmethod
    def create(cls) -> DeathBell | None:
        """A fresh bell, or None when this C library has no process-shared robust mutexes."""
        try:
            bell = cls(ctypes.CDLL(None, use_errno=True))
        except (OSError, AttributeError, ValueError):
            return None
        if not bell.ready:
            bell.close()
            return None
        return bell

    def hold(self) -> bool:
        """In the child, at once after the fork: take the lock, for life (the kernel lets go
        of it, and wakes the parent, when this thread starts to exit)."""
        return bool(self._libc.pthread_mutex_trylock(self._mutex) == 0)

    def watch(self, ring_fd: int) -> None:
        """In the parent, once the child has said anything (so it holds the lock): a thread
        waits for the lock and writes a byte to ``ring_fd`` when its holder dies."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._wait, args=(ring_fd,),
                                        name="death-bell", daemon=True)
        self._thread.start()

    def _wait(self, ring_fd: int) -> None:
        code = self._libc.pthread_mutex_lock(self._mutex)  # ctypes lets go of the GIL
        if code == EOWNERDEAD:
            self.rang = True
            with contextlib.suppress(OSError):
                os.write(ring_fd, b"!")
        if code in (0, EOWNERDEAD):
            self._libc.pthread_mutex_unlock(self._mutex)

    def close(self, timeout: float = 1.0) -> None:
        """In the parent, after the child is collected (its lock is free by then)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # still blocked: leave the memory to it (a daemon thread)
        self._thread = None
        self._view = None
        with contextlib.suppress(BufferError, ValueError):
            self._memory.close()
