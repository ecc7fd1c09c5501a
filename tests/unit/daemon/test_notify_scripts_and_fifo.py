"""Notify scripts get keepalived's arguments intact; FIFOs never block; hung scripts die."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from pathlib import Path

from pykeepalived.daemon.notify import (
    FifoSpec,
    Notifier,
    NotifyFifo,
    NotifyScript,
    NotifySpec,
    fifo_line,
)
from pykeepalived.daemon.scripts import RunKind


def argv_recorder(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A script that appends its argv (as JSON) to a file; returns (script, output file)."""
    out = tmp_path / f"{name}.jsonl"
    script = tmp_path / name
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(out)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)
    return script, out


def read_argvs(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_state_script_without_args_and_generic_with_four(tmp_path: Path) -> None:
    master, master_out = argv_recorder(tmp_path, "master")
    generic, generic_out = argv_recorder(tmp_path, "generic")
    spec = NotifySpec(
        master=NotifyScript(f"{master} --flag 'x y'"),
        notify=NotifyScript(str(generic)),
    )
    nasty = "VI_1; rm -rf / $(id) `x` \"q\" 'a b' | > &"

    async def main() -> None:
        n = Notifier()
        await n.open()
        n.notify("INSTANCE", nasty, "MASTER", 150, spec)
        n.notify("INSTANCE", nasty, "BACKUP", 100, spec)  # no notify_backup configured
        n.notify("GROUP", "G1", "FAULT", 0, spec)
        await n.wait_idle()
        await n.close()
        assert all(o.success for _argv, o in n.outcomes)

    asyncio.run(main())
    assert read_argvs(master_out) == [["--flag", "x y"]]
    assert sorted(read_argvs(generic_out)) == sorted(
        [
            ["INSTANCE", nasty, "MASTER", "150"],
            ["INSTANCE", nasty, "BACKUP", "100"],
            ["GROUP", "G1", "FAULT", "0"],
        ]
    )


def test_notify_returns_at_once_and_hung_script_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    hang = tmp_path / "hang.sh"
    hang.write_text(f'#!/bin/sh\necho $$ > "{pidfile}"\nexec sleep 30\n')
    hang.chmod(0o755)
    lines: list[str] = []

    async def main() -> None:
        n = Notifier(timeout=0.3, log=lines.append)
        started = time.monotonic()
        n.notify("INSTANCE", "VI_1", "FAULT", 100, NotifySpec(fault=NotifyScript(str(hang))))
        assert time.monotonic() - started < 0.1  # the loop was not held up
        assert n.running == 1
        await n.wait_idle()
        assert time.monotonic() - started < 3
        assert n.outcomes[-1][1].kind is RunKind.TIMED_OUT
        await n.close()

    asyncio.run(main())
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists(), "killed and reaped"
    assert any("timed out" in line for line in lines)


def test_close_kills_stop_scripts_after_grace(tmp_path: Path) -> None:
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)

    async def main() -> None:
        n = Notifier(timeout=60, stop_grace=0.2)
        n.notify("INSTANCE", "VI_1", "STOP", 100, NotifySpec(stop=NotifyScript(str(slow))))
        started = time.monotonic()
        await n.close()
        assert time.monotonic() - started < 2
        assert n.running == 0

    asyncio.run(main())


def test_fifo_lines_and_creation(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"

    async def main() -> list[str]:
        n = Notifier(fifos=[FifoSpec(str(path))])
        await n.open()
        assert stat.S_ISFIFO(path.stat().st_mode)
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            n.notify("INSTANCE", "VI_1", "MASTER", 100)
            n.notify("GROUP", "G1", "BACKUP", 0)
            n.write_fifos("INSTANCE", "VI_1", "MASTER_PRIORITY", 90)
            data = os.read(reader, 4096).decode()
        finally:
            os.close(reader)
        await n.close()
        return data.splitlines(keepends=True)

    lines = asyncio.run(main())
    assert lines == [
        'INSTANCE "VI_1" MASTER 100\n',
        'GROUP "G1" BACKUP 0\n',
        'INSTANCE "VI_1" MASTER_PRIORITY 90\n',
    ]
    assert not path.exists(), "a FIFO we created is removed at close"


def test_fifo_without_reader_never_blocks(tmp_path: Path) -> None:
    fifo = NotifyFifo(FifoSpec(str(tmp_path / "f")))
    assert fifo.open()
    started = time.monotonic()
    line = fifo_line("INSTANCE", "VI_1", "MASTER", 100)
    results = [fifo.write(line) for _ in range(20000)]  # far beyond the pipe buffer
    assert time.monotonic() - started < 2
    assert results[0] is True
    assert fifo.dropped > 0
    fifo.close()


def test_existing_fifo_is_kept_and_regular_file_refused(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    os.mkfifo(existing)
    fifo = NotifyFifo(FifoSpec(str(existing)))
    assert fifo.open()
    fifo.close()
    assert existing.exists(), "a FIFO we did not create is left in place"

    planted = tmp_path / "planted"
    planted.write_text("")
    lines: list[str] = []
    refused = NotifyFifo(FifoSpec(str(planted)), log=lines.append)
    assert not refused.open()
    assert lines == [f"notify fifo {planted} is not a fifo we own - not using"]


def test_fifo_script_gets_the_fifo_path_and_reads_lines(tmp_path: Path) -> None:
    path = tmp_path / "ka.fifo"
    got = tmp_path / "got"
    reader = tmp_path / "reader.sh"
    reader.write_text(f'#!/bin/sh\nread line < "$1"\necho "$1 $line" > "{got}"\n')
    reader.chmod(0o755)

    async def main() -> None:
        n = Notifier(fifos=[FifoSpec(str(path), NotifyScript(str(reader)))])
        await n.open()
        n.notify("INSTANCE", "VI_1", "BACKUP", 100)
        deadline = time.monotonic() + 5
        while not (got.exists() and got.read_text()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await n.close()

    asyncio.run(main())
    assert got.read_text() == f'{path} INSTANCE "VI_1" BACKUP 100\n'
