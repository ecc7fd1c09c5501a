"""The control socket, maintenance file and metrics endpoint against a real core.

Operations sees the daemon only through its DaemonView door; here that door is a
:class:`~tests.unit.daemon.fakes.CoreView` over a real core Node with no kernel side, so the
two instances are address owners that are MASTER from the start.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pykeepalived import cli, ctl
from pykeepalived.core.actions import State
from pykeepalived.core.node import Node
from pykeepalived.daemon.control import (
    ALL,
    MAINTENANCE_PRIORITY,
    ControlError,
    ControlServer,
    Operations,
    read_flag,
    resolve,
    write_flag,
)
from pykeepalived.daemon.metrics import MetricsError, MetricsServer, parse_listen
from pykeepalived.errors import DaemonError
from tests.unit.daemon.fakes import CoreView, owner_params

T = TypeVar("T")
SRC = "192.0.2.1"


def options_for(tmp_path: Path, **extra: Any) -> argparse.Namespace:
    return argparse.Namespace(
        control_socket=str(tmp_path / "c.sock"), state_dir=str(tmp_path / "state"),
        metrics_listen=None, no_conflict_detection=True, config_file="test.conf", **extra,
    )


def run_with_daemon(tmp_path: Path, body: Callable[[Operations, CoreView], Awaitable[T]],
                    flag: set[str] | None = None) -> tuple[T, str]:
    """Start Operations over a two-instance core as the driver does, run ``body``, stop."""
    view = CoreView(Node([owner_params("VI_1", 51), owner_params("VI_2", 52)]))
    ops = view.ops = Operations(options_for(tmp_path), view)
    if flag is not None:
        write_flag(ops.maintenance.path, flag)

    async def main() -> T:
        ops.open()
        ops.prepare()
        view.apply(view.node.start(view.now()))
        await ops.start()
        try:
            return await body(ops, view)
        finally:
            await ops.stop()

    return asyncio.run(main()), view.console.getvalue()


def ask(ops: Operations, payload: dict[str, Any], timeout: float = 10.0) -> Any:
    return asyncio.to_thread(ctl.request, ops.socket_path, payload, timeout)


def test_flag_file_round_trip_and_resolution(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "maintenance")
    assert read_flag(path) is None
    write_flag(path, {"VI_2", "VI_1"})
    assert read_flag(path) == {"VI_1", "VI_2"}
    Path(path).write_text("")  # touched by a tool: everything
    assert read_flag(path) == {ALL}
    assert resolve({ALL}, ["VI_1", "VI_2"]) == {"VI_1", "VI_2"}
    assert resolve({"VI_2", "OTHER"}, ["VI_1", "VI_2"]) == {"VI_2"}
    write_flag(path, None)
    assert not os.path.exists(path)


def test_status_over_the_socket(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> dict[str, Any]:
        mode = stat.S_IMODE(os.stat(d.socket_path).st_mode)
        assert mode == 0o600
        return await ask(d, {"command": "status"})  # type: ignore[no-any-return]

    answer, _log = run_with_daemon(tmp_path, body)
    assert answer["ok"] is True and answer["daemon"]["pid"] == os.getpid()
    vi1 = answer["instances"][0]
    assert vi1["name"] == "VI_1" and vi1["state"] == "MASTER" and vi1["state_number"] == 2
    assert vi1["master"] == {"address": SRC, "priority": 255, "self": True}
    assert vi1["priority"]["configured"] == 255 and vi1["maintenance"] is False
    assert vi1["counters"]["became_master"] == 1 and vi1["counters"]["transitions"] == 1


def test_maintenance_on_off_follows_and_rewrites_the_file(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> list[Any]:
        vi1, vi2 = v.node.routers["VI_1"], v.node.routers["VI_2"]
        flag = d.maintenance.path
        out = [await ask(d, {"command": "maintenance", "action": "on", "instances": ["VI_2"]})]
        assert read_flag(flag) == {"VI_2"}
        assert (vi1.effective_priority, vi2.effective_priority) == (255, MAINTENANCE_PRIORITY)
        assert vi2.state is State.MASTER  # nobody else: it keeps the VIPs
        out.append(await ask(d, {"command": "maintenance", "action": "off",
                                 "instances": ["VI_2"]}))
        assert read_flag(flag) is None and vi2.effective_priority == 255
        # a tool writes the file: the daemon follows within its poll interval
        write_flag(flag, {ALL})
        for _ in range(100):
            if vi1.effective_priority == vi2.effective_priority == MAINTENANCE_PRIORITY:
                break
            await asyncio.sleep(0.05)
        assert vi1.effective_priority == vi2.effective_priority == MAINTENANCE_PRIORITY
        os.unlink(flag)
        for _ in range(100):
            if vi1.effective_priority == 255 and vi2.effective_priority == 255:
                break
            await asyncio.sleep(0.05)
        assert vi1.effective_priority == 255 and vi2.effective_priority == 255
        out.append(await ask(d, {"command": "maintenance", "action": "on",
                                 "instances": ["VI_9"]}))
        return out

    (on, off, unknown), log = run_with_daemon(tmp_path, body)
    assert on == {"ok": True, "instances": ["VI_2"], "maintenance": True}
    assert off["ok"] is True
    assert unknown["ok"] is False and "no such instance: VI_9" in unknown["error"]
    assert "(VI_2) maintenance on: priority 255 -> 1" in log


def test_maintenance_wait_with_no_takeover_restores_priority(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> dict[str, Any]:
        answer: dict[str, Any] = await ask(
            d, {"command": "maintenance", "action": "on", "instances": [], "wait": 0.3})
        for r in v.node.routers.values():
            assert r.state is State.MASTER and r.effective_priority == 255
        assert read_flag(d.maintenance.path) is None
        return answer

    answer, log = run_with_daemon(tmp_path, body)
    assert answer["ok"] is False and answer["pending"] == ["VI_1", "VI_2"]
    assert "no other node became MASTER within 0.3s" in answer["error"]
    assert "VI_1 is still MASTER" in answer["error"] and "VIPs kept" in answer["error"]
    assert "maintenance refused" in log


def test_persisted_maintenance_applies_before_the_first_election(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> tuple[int, int]:
        return v.node.routers["VI_1"].effective_priority, v.node.routers["VI_2"].effective_priority

    (p1, p2), log = run_with_daemon(tmp_path, body, flag={"VI_1"})
    assert (p1, p2) == (MAINTENANCE_PRIORITY, 255)
    assert "(VI_1) maintenance on" in log


def test_malformed_and_unknown_requests_get_an_error_answer(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> list[Any]:
        raw = []
        for line in (b"not json\n", b"[1]\n"):
            r, w = await asyncio.open_unix_connection(d.socket_path)
            w.write(line)
            raw.append(await r.readline())
            w.close()
        return [*raw, await ask(d, {"command": "reboot"}),
                await ask(d, {"command": "maintenance", "action": "maybe"})]

    (bad_json, not_object, unknown, bad_action), _ = run_with_daemon(tmp_path, body)
    assert b'"ok": false' in bad_json and b"malformed request" in bad_json
    assert b"JSON object" in not_object
    assert unknown["ok"] is False and "unknown command 'reboot'" in unknown["error"]
    assert bad_action["ok"] is False and "'on' or 'off'" in bad_action["error"]


def test_stale_socket_is_replaced_but_a_live_one_is_not_stolen(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a SIGKILLed daemon leaves

    async def body(d: Operations, v: CoreView) -> str:
        other = ControlServer(d, d.socket_path)
        with pytest.raises(ControlError, match="in use by another running daemon"):
            await other.start()
        # A second daemon given the same socket stops before touching the network.
        second = Operations(options_for(tmp_path), CoreView(Node([])))
        with pytest.raises(DaemonError, match="in use by another running daemon"):
            second.open()
        return str((await ask(d, {"command": "status"}))["ok"])

    ok, _ = run_with_daemon(tmp_path, body)
    assert ok == "True"
    assert not path.exists()  # removed on shutdown


def test_client_says_not_running_and_exits_3(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "none.sock")
    assert cli.main(["status", "--control-socket", path]) == 3
    err = capsys.readouterr()
    assert "pykeepalived is not running" in err.err and err.out == ""
    assert cli.main(["maintenance", "on", "--wait", "1", "--control-socket", path]) == 3


def test_status_table_renders(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> dict[str, Any]:
        await ask(d, {"command": "maintenance", "action": "on", "instances": ["VI_1"]})
        return await ask(d, {"command": "status"})  # type: ignore[no-any-return]

    answer, _ = run_with_daemon(tmp_path, body)
    out = io.StringIO()
    ctl.render_status(answer, out)
    text = out.getvalue()
    assert "VI_1  MASTER since" in text
    assert "effective 1, configured 255 (maintenance (forced to 1))" in text
    assert "maintenance ON" in text
    assert "this node (192.0.2.1) priority 1" in text


def test_metrics_endpoint_serves_live_figures(tmp_path: Path) -> None:
    async def body(d: Operations, v: CoreView) -> tuple[bytes, bytes]:
        server = MetricsServer(v, d.maintenance.is_on, None, "127.0.0.1:0")
        await server.start()
        try:
            async def get(path: str) -> bytes:
                r, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
                w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                data = await r.read()
                w.close()
                return data
            first = await get("/metrics")
            await ask(d, {"command": "maintenance", "action": "on", "instances": ["VI_1"]})
            return first, await get("/metrics")
        finally:
            await server.stop()

    (before, after), _ = run_with_daemon(tmp_path, body)
    assert before.startswith(b"HTTP/1.1 200 OK")
    assert b'pykeepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"} 2.0' in before
    assert b'pykeepalived_vrrp_priority{iname="VI_1",intf="eth0",vrid="51"} 255.0' in before
    assert b'pykeepalived_vrrp_maintenance{iname="VI_1",intf="eth0",vrid="51"} 0.0' in before
    assert b'pykeepalived_vrrp_transitions_total{iname="VI_1",intf="eth0",vrid="51"} 1.0' in before
    assert b'pykeepalived_vrrp_priority{iname="VI_1",intf="eth0",vrid="51"} 1.0' in after
    assert b'pykeepalived_vrrp_maintenance{iname="VI_1",intf="eth0",vrid="51"} 1.0' in after


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9650") == ("127.0.0.1", 9650)
    assert parse_listen("[::1]:9650") == ("::1", 9650)
    assert parse_listen(":9650") == ("", 9650)
    for bad in ("9650", "host:", "host:70000"):
        with pytest.raises(MetricsError):
            parse_listen(bad)


def test_bad_or_taken_metrics_address_stops_the_daemon_early(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        for listen, message in (("nonsense", "expected HOST:PORT"),
                                (f"127.0.0.1:{port}", "cannot listen for metrics")):
            options = argparse.Namespace(control_socket=str(tmp_path / "m.sock"),
                                         metrics_listen=listen)
            ops = Operations(options, CoreView(Node([])))
            with pytest.raises(DaemonError, match=message):
                ops.open()
            assert not (tmp_path / "m.sock").exists()
    finally:
        taken.close()
