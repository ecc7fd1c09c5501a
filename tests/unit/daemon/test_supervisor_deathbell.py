"""The death bell: a child's death rings in its parent before the kernel has torn down the
child's memory (what closes its sockets and sends SIGCHLD comes after that)."""

from __future__ import annotations

import os
import select
import signal
import socket
import time

import pytest

from pykeepalived.daemon.deathbell import DeathBell


def _child(bell: DeathBell | None, ready: socket.socket, megabytes: int) -> None:
    try:
        if bell is not None:
            bell.hold()
        ballast = bytearray(megabytes << 20)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1  # resident: a big process takes long to tear down
        ready.send(b"r")
        time.sleep(60)
    finally:
        os._exit(0)


def test_a_killed_holder_rings_before_its_end_of_a_socket_closes() -> None:
    bell = DeathBell.create()
    if bell is None:
        pytest.skip("no process-shared robust mutexes in this C library")
    ring_r, ring_w = socket.socketpair()
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _child(bell, theirs, 200)
    theirs.close()
    try:
        assert ours.recv(1) == b"r"
        bell.watch(ring_w.fileno())
        time.sleep(0.05)
        assert not bell.rang
        os.kill(pid, signal.SIGKILL)
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([ring_r, ours], [], [], 1)
            now = time.monotonic()
            if ring_r in ready:
                seen.setdefault("ring", now)
            if ours in ready and ours.recv(1) == b"":
                seen.setdefault("closed", now)
        assert bell.rang and set(seen) == {"ring", "closed"}, seen
        # the 200 MB child is torn down after the bell: its socket closes later (or, when
        # this process wakes up late, at the same wake-up)
        assert seen["ring"] <= seen["closed"]
    finally:
        os.waitpid(pid, 0)
        bell.close()
        for s in (ring_r, ring_w, ours):
            s.close()


def test_a_bell_nobody_held_rings_nothing() -> None:
    bell = DeathBell.create()
    if bell is None:
        pytest.skip("no process-shared robust mutexes in this C library")
    ring_r, ring_w = socket.socketpair()
    try:
        bell.watch(ring_w.fileno())  # the waiter takes the free lock: no death
        bell.close()
        assert not bell.rang
        assert select.select([ring_r], [], [], 0.05)[0] == []
    finally:
        ring_r.close()
        ring_w.close()
