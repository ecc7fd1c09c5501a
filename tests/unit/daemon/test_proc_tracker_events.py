"""track_process driven by process events: synthetic events (``handle_events``, or a stand-in
event source) over a fake /proc tree; the real kernel's are in test_proc_events_kernel.py."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from pykeepalived.daemon import proc_tracker
from pykeepalived.daemon.proc_tracker import ProcessTracker, TrackProcessSpec
from pykeepalived.net.proc_events import Batch, ProcEvent
from tests.unit.daemon.test_track_file_and_process import fake_proc


def gone(root: Path, pid: int) -> None:
    for f in ("stat", "cmdline"):
        (root / str(pid) / f).unlink()
    (root / str(pid)).rmdir()


def fork(parent: int, child: int, tgid: int | None = None) -> ProcEvent:
    return ProcEvent("fork", child, child if tgid is None else tgid, parent=parent)


def exec_(pid: int) -> ProcEvent:
    return ProcEvent("exec", pid, pid)


def comm(pid: int, name: str = "") -> ProcEvent:
    return ProcEvent("comm", pid, pid, comm=name)


def exit_(pid: int, tgid: int | None = None) -> ProcEvent:
    return ProcEvent("exit", pid, pid if tgid is None else tgid)


WEB = TrackProcessSpec("web", "web")
APP = TrackProcessSpec("app", "/usr/bin/app", params=("-c", "x"))


def test_fork_exec_comm_and_exit(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    fake_proc(root, 10, "web", ["web"])
    fake_proc(root, 20, "app", ["/usr/bin/app", "-c", "x"])
    fake_proc(root, 30, "bash", ["bash"])
    changes: list[tuple[str, bool]] = []
    log: list[str] = []

    async def main() -> None:
        t = ProcessTracker([WEB, APP], lambda n, up: changes.append((n, up)), log.append,
                           proc_root=str(root))
        assert t.use_events is False  # a fake /proc: no kernel events to follow
        await t.scan_once()
        assert (t.count("web"), t.count("app")) == (1, 1)
        assert changes == [("web", True), ("app", True)]

        # A counted process's child counts as its parent does, without a look at /proc
        # (keepalived's check_process_fork); an uncounted one's child does not count.
        t.handle_events([fork(10, 11), fork(30, 31)])
        assert (t.count("web"), t.count("app")) == (2, 1)
        assert "Process web, number of current processes changed from 1 to 2" in log
        # A thread's fork and exit are ignored.
        t.handle_events([fork(10, 12, tgid=10), exit_(12, tgid=10)])
        assert t.count("web") == 2

        # exec: read again. The child became bash; bash became web.
        fake_proc(root, 11, "bash", ["bash"])
        fake_proc(root, 30, "web", ["web"])
        t.handle_events([exec_(11), exec_(30)])
        assert t.count("web") == 2
        t.handle_events([exit_(11)])  # not counted: nothing changes
        assert t.count("web") == 2

        # comm: the comm specs are decided again; the command-line specs are left alone.
        fake_proc(root, 10, "renamed", ["web"])
        fake_proc(root, 20, "renamed", ["/usr/bin/other"])
        t.handle_events([comm(10, "renamed"), comm(20, "renamed")])
        assert (t.count("web"), t.count("app")) == (1, 1)
        t.handle_events([exec_(20)])  # the exec of another program: now it is read again
        assert t.count("app") == 0
        assert changes[-1] == ("app", False)

        # An exec of a process that is already gone, or a zombie, counts nowhere.
        fake_proc(root, 40, "web", ["web"], state="Z")
        t.handle_events([exec_(40), exec_(41)])
        assert t.count("web") == 1

        t.handle_events([exit_(30)])
        assert t.count("web") == 0
        assert changes[-1] == ("web", False)
        assert t.events_handled == 11  # the thread's two events are not among them
        await t.stop()

    asyncio.run(main())


def test_delays_apply_to_event_counts(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    fake_proc(root, 10, "web", ["web"])
    spec = TrackProcessSpec("web", "web", terminate_delay=0.2, fork_delay=0.2)
    changes: list[tuple[str, bool]] = []

    async def main() -> None:
        t = ProcessTracker([spec], lambda n, up: changes.append((n, up)), proc_root=str(root))
        await t.scan_once()
        gone(root, 10)
        t.handle_events([exit_(10)])  # down, but terminate_delay runs
        await asyncio.sleep(0.05)
        fake_proc(root, 11, "web", ["web"])
        t.handle_events([exec_(11)])  # back within the delay: never reported
        await asyncio.sleep(0.3)
        assert changes == [("web", True)]
        t.handle_events([exit_(11)])
        await asyncio.sleep(0.1)
        assert changes == [("web", True)]
        await asyncio.sleep(0.2)
        assert changes == [("web", True), ("web", False)]
        await t.stop()

    asyncio.run(main())


def test_events_during_a_scan_win_over_what_it_read(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proc"
    fake_proc(root, 10, "web", ["web"])
    fake_proc(root, 99, "init", ["init"])
    scanned, go = threading.Event(), threading.Event()
    real_scan = proc_tracker.scan_processes

    def slow_scan(proc_root: str, want_cmdline: bool) -> list[proc_tracker.ProcessInfo]:
        found = real_scan(proc_root, want_cmdline)
        scanned.set()
        go.wait(5)  # events arrive after the scan read /proc, before it is applied
        return found

    monkeypatch.setattr(proc_tracker, "scan_processes", slow_scan)
    changes: list[tuple[str, bool]] = []
    log: list[str] = []

    async def main() -> None:
        t = ProcessTracker([TrackProcessSpec("web", "web", quorum=2)],
                           lambda n, up: changes.append((n, up)), log.append,
                           proc_root=str(root))
        scan = asyncio.create_task(t.scan_once())
        assert await asyncio.to_thread(scanned.wait, 5)
        gone(root, 10)
        fake_proc(root, 11, "web", ["web"])  # a child of an uncounted parent: looked at
        fake_proc(root, 12, "web", ["web"])
        t.handle_events([exit_(10), fork(99, 11), exec_(12)])
        assert changes == []  # the first scan reports, once it is done
        go.set()
        await scan
        assert t.count("web") == 2
        assert changes == [("web", True)]
        assert log == ["Process web, number of current processes changed from 0 to 2"]
        await t.stop()

    asyncio.run(main())


class FakeSource:
    """Stands in for ProcEventSocket: batches pushed by the test wake the loop's reader."""

    nonce = 5

    def __init__(self) -> None:
        self.a, self.b = socket.socketpair()
        self.a.setblocking(False)
        self.queue: list[Batch] = []
        self.grown = 0
        self.closed = False

    def fileno(self) -> int:
        return self.a.fileno()

    def push(self, batch: Batch) -> None:
        self.queue.append(batch)
        self.b.send(b"x")

    def answer(self, err: int = 0) -> None:
        self.push(Batch([ProcEvent("ack", 0, 0, err=err, answers=self.nonce + 1)]))

    def read(self, limit: int = 128) -> Batch:
        with suppress(BlockingIOError):
            self.a.recv(4096)
        out = Batch()
        for batch in self.queue:
            out.events += batch.events
            out.overrun |= batch.overrun
            out.missed += batch.missed
        self.queue.clear()
        return out

    def is_answer(self, event: ProcEvent) -> bool:
        return event.kind == "ack" and event.answers == self.nonce + 1

    def grow_rcvbuf(self) -> int:
        self.grown += 1
        return 1 << 24

    def close(self) -> None:
        self.closed = True
        self.a.close()
        self.b.close()


async def until(predicate: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)


def test_follows_a_source_and_rescans_after_lost_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proc_tracker, "MIN_RESCAN_GAP", 0.0)
    root = tmp_path / "proc"
    fake_proc(root, 10, "web", ["web"])
    source = FakeSource()
    changes: list[tuple[str, bool]] = []
    log: list[str] = []

    async def main() -> None:
        t = ProcessTracker([TrackProcessSpec("web", "web", quorum=2)],
                           lambda n, up: changes.append((n, up)), log.append,
                           proc_root=str(root), events=True, event_source=lambda: source,
                           interval=0.01, reconcile_interval=3600)
        t.start()
        assert t.mode == "proc-events"
        source.push(Batch([fork(10, 11)]))  # before the first scan: /proc will show it
        await asyncio.sleep(0.05)
        assert t.scans == 0  # no scan before the kernel said yes
        source.answer()
        await until(lambda: changes)
        assert changes == [("web", False)] and t.scans == 1
        source.push(Batch([fork(10, 11)]))
        await until(lambda: len(changes) == 2)
        assert changes[-1] == ("web", True)

        # Lost events: the buffer grows and /proc is scanned again (it has no pid 11).
        source.push(Batch(overrun=True))
        await until(lambda: t.scans == 2)
        assert source.grown == 1 and t.overruns == 1
        assert t.count("web") == 1 and changes[-1] == ("web", False)
        assert any("dropped process events" in line for line in log)
        source.push(Batch(missed=[(1, 3)]))
        await until(lambda: t.scans == 3)
        assert "Missed 3 messages on CPU 1" in log
        await asyncio.sleep(0.1)
        assert t.scans == 3  # no polling
        await t.stop()
        assert source.closed and t.mode == "proc-events"

    asyncio.run(main())


@pytest.mark.parametrize("how", ["unavailable", "refused", "silent"])
def test_falls_back_to_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               how: str) -> None:
    monkeypatch.setattr(proc_tracker, "ACK_TIMEOUT", 0.05)
    root = tmp_path / "proc"
    fake_proc(root, 10, "web", ["web"])
    source = FakeSource()
    log: list[str] = []

    def open_source() -> FakeSource:
        if how == "unavailable":
            raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")
        if how == "refused":
            source.answer(errno.EPERM)
        return source

    async def main() -> str | None:
        t = ProcessTracker([WEB], lambda n, up: None, log.append, proc_root=str(root),
                           events=True, event_source=open_source, interval=0.02)
        t.start()
        await until(lambda: t.scans >= 3)  # polling
        assert t.mode == "polling" and t.count("web") == 1
        await t.stop()
        return t.fallback_reason

    reason = asyncio.run(main())
    expected = {
        "unavailable": "Protocol not supported: is CONFIG_PROC_EVENTS enabled in the kernel?",
        "refused": "Operation not permitted: needs CAP_NET_ADMIN in the initial user and PID"
                   " namespaces",
        "silent": "the kernel does not answer: is CONFIG_PROC_EVENTS enabled?",
    }[how]
    assert reason == expected
    assert log == [f"track_process: cannot follow the kernel's process events ({expected});"
                   " scanning /proc every 0.02s instead",
                   "Process web, number of current processes changed from 0 to 1"]
    assert source.closed is (how != "unavailable")
