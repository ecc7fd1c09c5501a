"""track_file values (strtol rules, inotify re-reads) and track_process quorum counting."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pykeepalived.daemon.trackers import (
    FAULT_PRIORITY,
    FileTracker,
    ProcessInfo,
    ProcessTracker,
    TrackFileSpec,
    TrackProcessSpec,
    params_match,
    parse_strtol,
    process_matches,
    read_track_file,
    track_file_priority,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("  42\n", 42),
        ("-7 trailing", -7),
        ("+5", 5),
        ("0x1f", 31),
        ("010", 8),
        ("09", 0),
        ("0x", 0),
        ("garbage", 0),
        ("", 0),
        ("99999999999999999999", None),
    ],
)
def test_parse_strtol(text: str, value: int | None) -> None:
    assert parse_strtol(text) == value


def test_read_track_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    assert read_track_file(str(p)) == 0  # missing
    p.write_text("")
    assert read_track_file(str(p)) == 0
    p.write_text("12 is the value\n")
    assert read_track_file(str(p)) == 12
    p.write_text("4294967296")
    assert read_track_file(str(p)) is None  # beyond 32 bits: ignored
    p.write_text("2147483648")
    assert read_track_file(str(p)) == 2147483648  # INT32_MAX + 1 is still accepted


def test_track_file_priority() -> None:
    assert track_file_priority(0, 0) == 0
    assert track_file_priority(3, 0) == FAULT_PRIORITY
    assert track_file_priority(0, 0, reverse=True) == FAULT_PRIORITY
    assert track_file_priority(3, 0, reverse=True) == 0
    assert track_file_priority(5, 10) == 50
    assert track_file_priority(5, 10, reverse=True) == -50
    assert track_file_priority(100, 10) == 253
    assert track_file_priority(-100, 10) == FAULT_PRIORITY


def test_file_tracker_follows_writes_renames_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "prio"
    other = tmp_path / "unrelated"
    changes: list[tuple[str, int]] = []

    async def wait_for(count: int) -> None:
        deadline = time.monotonic() + 3
        while len(changes) < count:
            assert time.monotonic() < deadline, changes
            await asyncio.sleep(0.01)

    async def main() -> None:
        tracker = FileTracker(
            [TrackFileSpec("tf", str(path), init_file=5)],
            lambda name, value: changes.append((name, value)),
        )
        tracker.start()
        assert path.read_text() == "5\n"  # init_file written as the file was missing
        assert tracker.value("tf") == 5
        path.write_text("7\n")
        await wait_for(1)
        other.write_text("99")  # another file in the same directory: ignored
        tmp = tmp_path / "prio.new"
        tmp.write_text("0x10")
        os.rename(tmp, path)
        await wait_for(2)
        path.unlink()
        await wait_for(3)
        path.write_text("0")  # same value as "deleted": no change
        path.write_text("3")
        await wait_for(4)
        await tracker.stop()

    asyncio.run(main())
    assert changes == [("tf", 7), ("tf", 16), ("tf", 0), ("tf", 3)]


def test_init_file_does_not_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("9")

    async def main(overwrite: bool) -> int:
        t = FileTracker(
            [TrackFileSpec("f", str(path), init_file=1, init_overwrite=overwrite)], print
        )
        t.start()
        await t.stop()
        return t.value("f")

    assert asyncio.run(main(False)) == 9
    assert asyncio.run(main(True)) == 1


# --- process matching --------------------------------------------------------------------


def proc(comm: str, *argv: str) -> ProcessInfo:
    return ProcessInfo(1, comm, b"".join(a.encode() + b"\0" for a in argv))


def test_process_matching_rules() -> None:
    by_comm = TrackProcessSpec("p", "nginx")
    assert process_matches(by_comm, proc("nginx", "/usr/sbin/nginx", "-g", "x"))
    assert not process_matches(by_comm, proc("nginx-worker", "nginx"))
    long_name = TrackProcessSpec("p", "a_very_long_process_name")
    assert process_matches(long_name, proc("a_very_long_pro", "whatever"))  # comm is 15 chars

    full = TrackProcessSpec("p", "/usr/sbin/nginx", full_command=True)
    assert process_matches(full, proc("nginx", "/usr/sbin/nginx", "-g"))
    assert not process_matches(full, proc("nginx", "nginx", "-g"))

    exact = TrackProcessSpec("p", "/bin/app", params=("-c", "conf"))
    assert exact.effective_param_match == "exact"
    assert process_matches(exact, proc("app", "/bin/app", "-c", "conf"))
    assert not process_matches(exact, proc("app", "/bin/app", "-c", "conf", "-v"))
    assert not process_matches(exact, proc("app", "/bin/app", "-c", "con"))

    partial = TrackProcessSpec("p", "/bin/app", params=("-c", "conf"), param_match="partial")
    assert process_matches(partial, proc("app", "/bin/app", "-c", "conf", "-v"))
    assert not process_matches(partial, proc("app", "/bin/app", "-c", "config"))

    initial = TrackProcessSpec("p", "/bin/app", params=("-c", "conf"), param_match="initial")
    assert process_matches(initial, proc("app", "/bin/app", "-c", "config"))
    assert not process_matches(initial, proc("app", "/bin/app", "-x", "conf"))

    no_params_exact = TrackProcessSpec("p", "/bin/app", param_match="exact")
    assert params_match(no_params_exact, b"")
    assert not params_match(no_params_exact, b"-v\0")


def fake_proc(root: Path, pid: int, comm: str, argv: list[str], state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "stat").write_text(f"{pid} ({comm}) {state} 1 1 1 0 -1\n")
    (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))


def test_quorum_and_delays_on_a_fake_proc(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    root.mkdir()
    changes: list[tuple[str, bool]] = []
    spec = TrackProcessSpec("web", "web", quorum=2, quorum_max=3, fork_delay=0.2)

    async def main() -> None:
        reported = asyncio.Event()

        def on_change(name: str, up: bool) -> None:
            changes.append((name, up))
            reported.set()

        t = ProcessTracker([spec], on_change, proc_root=str(root))
        fake_proc(root, 10, "web", ["web"])
        await t.scan_once()
        assert changes == [("web", False)]  # the initial state is always reported
        fake_proc(root, 11, "web", ["web"])
        fake_proc(root, 12, "web", ["web"], state="Z")  # zombies never count
        reported.clear()
        await t.scan_once()
        assert t.count("web") == 2
        assert changes == [("web", False)]  # fork_delay still running
        await asyncio.wait_for(reported.wait(), 3)  # reported once fork_delay has run out
        assert changes == [("web", False), ("web", True)]
        for pid in (12, 13, 14):
            fake_proc(root, pid, "web", ["web"])
        await t.scan_once()  # 5 > quorum_max: down at once (no terminate_delay)
        assert changes[-1] == ("web", False)
        for pid in (12, 13, 14):
            for f in ("stat", "cmdline"):
                (root / str(pid) / f).unlink()
            (root / str(pid)).rmdir()
        await t.scan_once()
        await asyncio.sleep(0.05)  # the scenario: partway into fork_delay ...
        (root / "11" / "stat").unlink()
        await t.scan_once()  # back below quorum before fork_delay ran out: never reported
        await asyncio.sleep(0.3)  # ... and past where it would have ended: nothing reported
        assert changes == [("web", False), ("web", True), ("web", False)]
        await t.stop()

    asyncio.run(main())


@pytest.mark.parametrize("events", [True, False], ids=["events", "polling"])
def test_real_processes_are_counted(events: bool) -> None:
    """Followed from the kernel's process events (polling where they cannot be had), or by
    scanning /proc every 50 ms."""
    marker = f"{os.getpid()}.{time.monotonic_ns()}"
    spec = TrackProcessSpec("sleepers", "/bin/sleep", params=("1000", marker), quorum=2)
    changes: list[tuple[str, bool]] = []

    async def wait_for(n: int) -> None:
        deadline = time.monotonic() + 5
        while len(changes) < n:
            assert time.monotonic() < deadline, changes
            await asyncio.sleep(0.02)

    async def main() -> None:
        t = ProcessTracker([spec], lambda n, up: changes.append((n, up)), interval=0.05,
                           events=events)
        t.start()
        assert t.mode == "polling" or events
        await wait_for(1)
        # sleep accepts several durations and sums them; the marker makes ours unique.
        procs = [
            await asyncio.create_subprocess_exec("/bin/sleep", "1000", marker) for _ in range(2)
        ]
        try:
            await wait_for(2)
            procs[0].kill()
            await procs[0].wait()
            await wait_for(3)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    await p.wait()
            await t.stop()

    if not Path("/bin/sleep").exists():
        pytest.skip("no /bin/sleep")
    asyncio.run(main())
    assert changes == [("sleepers", False), ("sleepers", True), ("sleepers", False)]
