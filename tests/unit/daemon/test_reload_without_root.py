"""Reload, decided by pure functions and carried out by the driver against a fake host.

The driver runs for real (its event loop, core node, tracking and control socket); only the
kernel-effects object is the recording :class:`~tests.unit.daemon.fakes.FakeEffects`, and the
instances live on an interface that does not exist, so no packet or address reaches the host.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import textwrap
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import TypeVar

from pykeepalived.config import load_config
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.core.actions import State
from pykeepalived.core.priority import TrackerKind
from pykeepalived.core.router import VirtualRouter
from pykeepalived.daemon import runtime
from pykeepalived.daemon.driver import Daemon
from pykeepalived.daemon.log import EventLog
from tests.unit.daemon.fakes import FakeEffects

T = TypeVar("T")
IFACE = "pkfake0"  # no such interface: sockets fail (logged), nothing is sent


def instance(name: str, vrid: int, *, prio: int = 255, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        vrrp_instance {name} {{
            interface {IFACE}
            state MASTER
            virtual_router_id {vrid}
            priority {prio}
            advert_int 1
            dont_track_primary
            unicast_src_ip 192.0.2.1
            virtual_ipaddress {{
                192.0.2.{vrid}/24
            }}
        {textwrap.indent(extra, "    ")}}}
        """)


def parse(tmp_path: Path, text: str) -> KeepalivedConfig:
    path = tmp_path / "parsed.conf"
    path.write_text(text)
    result = load_config(str(path))
    assert result.config is not None and result.ok, [str(d) for d in result.diagnostics]
    return result.config


# ---------------------------------------------------------------------------- pure parts


def test_translation_resolves_interfaces_sources_and_trackers(tmp_path: Path) -> None:
    config = parse(tmp_path, "vrrp_script chk { script /bin/true\n weight -20 }\n"
                   + instance("VI_1", 51, prio=100, extra="track_script {\n  chk\n}\n"
                                                          "use_vmac\n"))
    cfg = config.vrrp_instances[0]
    rt = runtime.instance_runtime(config, cfg, vip_if="vrrp.51",
                                  src=IPv4Address("192.0.2.1"), fast_preempt=True)
    assert (rt.base_if, rt.vip_if, rt.vmac) == (IFACE, "vrrp.51", True)
    assert rt.params.addresses == (IPv4Address("192.0.2.51"),)
    scripts = [t for t in rt.params.trackers if t.kind is TrackerKind.SCRIPT]
    assert [(t.name, t.weight) for t in scripts] == [("chk", -20)]
    # VMAC creation failed: VIPs go on the base interface
    plain = runtime.instance_runtime(config, cfg, vip_if=None, src=IPv4Address("192.0.2.1"),
                                     fast_preempt=True)
    assert (plain.vip_if, plain.vmac) == (IFACE, False)
    assert runtime.unspecified_source(2) == IPv4Address("0.0.0.0")


def test_plan_keeps_same_identity_and_replaces_the_rest(tmp_path: Path) -> None:
    old = parse(tmp_path, instance("VI_1", 51) + instance("VI_2", 52) + instance("VI_3", 53))
    new = parse(tmp_path, instance("VI_1", 51, prio=200) + instance("VI_2", 62)
                + instance("VI_4", 54))

    def params(config: KeepalivedConfig) -> dict[str, runtime.RouterParams]:
        return {c.name: runtime.instance_runtime(config, c, vip_if=None,
                                                 src=IPv4Address("192.0.2.1"),
                                                 fast_preempt=True).params
                for c in config.vrrp_instances}

    running = {n: VirtualRouter(p) for n, p in params(old).items()}
    for router in running.values():
        router.start(0.0)
    plan = runtime.plan_reload(running, params(new))
    # VI_1 keeps its identity (only the priority changed); VI_2's VRID changed; VI_3 is gone
    assert plan.keep == ("VI_1",)
    assert set(plan.stop) == {"VI_2", "VI_3"}
    assert set(plan.start) == {"VI_2", "VI_4"}
    running["VI_1"].stop(1.0)  # a stopped router is never carried over
    assert runtime.plan_reload(running, params(new)).keep == ()


# ---------------------------------------------------------------------------- the driver


def run_daemon(tmp_path: Path, first: str,
               body: Callable[[Daemon, FakeEffects, Path], Awaitable[T]]) -> tuple[T, str]:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(first)
    options = argparse.Namespace(
        config_file=str(conf), config_id=None, control_socket=str(tmp_path / "c.sock"),
        state_dir=str(tmp_path / "state"), metrics_listen=None, no_conflict_detection=True)
    console = io.StringIO()
    effects = FakeEffects()
    daemon = Daemon(options, EventLog(console=console, syslog=False, journal_socket=None),
                    effects=effects)

    async def main() -> T:
        config = daemon.load()
        daemon.operations.open()
        await daemon.start(config)
        try:
            return await body(daemon, effects, conf)
        finally:
            await daemon.shutdown()

    return asyncio.run(main()), console.getvalue()


def test_reload_keeps_unchanged_instances_and_cleans_up_removed_ones(tmp_path: Path) -> None:
    async def body(d: Daemon, fx: FakeEffects, conf: Path) -> None:
        vi1 = d.node.routers["VI_1"]
        assert vi1.state is State.MASTER and d.node.routers["VI_2"].state is State.MASTER
        assert fx.named("create_vmac") == ["vrrp.52"]
        assert set(fx.named("install")) == {"VI_1", "VI_2"}
        calls_before = len(fx.calls)
        conf.write_text(instance("VI_1", 51, prio=255) + instance("VI_3", 53))
        assert await d.reload() is True
        after = fx.calls[calls_before:]
        # VI_2 (MASTER, with a VMAC) is gone: its VIPs released and its VMAC removed
        assert ("release", "VI_2") in after and ("remove_vmac", "vrrp.52") in after
        # VI_1 is the same running router, still MASTER, its VIPs not touched
        assert d.node.routers["VI_1"] is vi1 and vi1.state is State.MASTER
        assert ("install", "VI_1") not in after and ("release", "VI_1") not in after
        # VI_3 starts from INIT and, as the address owner, becomes MASTER at once
        assert d.node.routers["VI_3"].state is State.MASTER and ("install", "VI_3") in after
        assert set(fx.holding) == {"VI_1", "VI_3"}

    _, log = run_daemon(tmp_path, instance("VI_1", 51) + instance("VI_2", 52,
                                                                  extra="use_vmac\n"), body)
    assert "Reloading" in log


def test_broken_reload_keeps_the_running_configuration(tmp_path: Path) -> None:
    async def body(d: Daemon, fx: FakeEffects, conf: Path) -> list[str]:
        before = dict(d.node.routers)
        conf.write_text("vrrp_instance VI_1 {\n  virtual_router_id 999\n}\n")
        assert await d.reload() is False
        assert d.node.routers == before
        return sorted(fx.holding)

    held, log = run_daemon(tmp_path, instance("VI_1", 51), body)
    assert held == ["VI_1"]
    assert "Reload failed, keeping the running configuration" in log


def test_sighup_during_a_reload_runs_one_more_after_it(tmp_path: Path) -> None:
    async def body(d: Daemon, fx: FakeEffects, conf: Path) -> list[str]:
        events: list[str] = []
        real = d.reload

        async def slow_reload() -> bool:
            events.append("begin")
            await asyncio.sleep(0.05)  # a reload that takes a while (scripts stopping)
            ok = await real()
            events.append("end")
            return ok

        d.reload = slow_reload  # type: ignore[method-assign]
        d.request_reload()
        await asyncio.sleep(0.01)
        d.request_reload()  # during the first: queued
        d.request_reload()  # still during the first: the same queued reload
        assert d._reloading is not None
        while not d._reloading.done():
            await asyncio.sleep(0.01)
        return events

    events, _ = run_daemon(tmp_path, instance("VI_1", 51), body)
    assert events == ["begin", "end", "begin", "end"]


def test_vips_say_which_are_excluded_and_where_they_go(tmp_path: Path) -> None:
    extra = "virtual_ipaddress_excluded {\n    198.51.100.7/24 dev eth9\n}\n"

    async def body(d: Daemon, fx: FakeEffects, conf: Path) -> None:
        refs = d.vips("VI_1")
        assert [(r.address, r.interface, r.excluded) for r in refs] == [
            ("192.0.2.51/24", IFACE, False),
            ("198.51.100.7/24", "eth9", True),
        ]
        assert not any(r.unreleased for r in refs)

    run_daemon(tmp_path, instance("VI_1", 51, extra=extra), body)
