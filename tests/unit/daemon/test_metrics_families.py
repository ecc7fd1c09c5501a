"""What a scrape shows: label names, the keepalived exporter's families, build and process info.

The collectors run against :class:`~tests.unit.daemon.fakes.CoreView` (a real core Node, no
kernel), widened here with excluded VIPs, a VIP on another interface and vrrp_scripts. The
page is parsed with prometheus_client's own parser, so label order and float formatting of
the client version do not matter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, ip_interface

from prometheus_client.parser import text_string_to_metric_families

from pykeepalived import __version__
from pykeepalived.core.actions import State
from pykeepalived.core.hmac_auth import HmacConfig, Mode
from pykeepalived.core.node import Node
from pykeepalived.core.packet import DropReason
from pykeepalived.daemon.metrics import KEEPALIVED_STATE, MetricsServer, keepalived_address
from pykeepalived.daemon.view import ScriptView, VipRef
from tests.unit.daemon.fakes import CoreView, owner_params

#: mehdy/keepalived-exporter (internal/collector/collector.go, fillMetrics): name -> labels.
#: keepalived_exporter_check_script_status (its -cs option) and keepalived_script_state
#: (whether the script is running) have no counterpart; docs/metrics.md says so.
EXPORTER_FAMILIES: dict[str, tuple[str, ...]] = {
    "keepalived_up": (),
    "keepalived_vrrp_state": ("iname", "intf", "vrid", "ip_address"),
    "keepalived_vrrp_excluded_state": ("iname", "intf", "vrid", "ip_address"),
    "keepalived_script_status": ("name",),
    **{f"keepalived_{name}_total": ("iname", "intf", "vrid") for name in (
        "gratuitous_arp_delay", "advertisements_received", "advertisements_sent",
        "become_master", "release_master", "packet_length_errors",
        "advertisements_interval_errors", "ip_ttl_errors", "invalid_type_received",
        "address_list_errors", "authentication_invalid", "authentication_mismatch",
        "authentication_failure", "priority_zero_received", "priority_zero_sent")},
}


@dataclass
class ScriptStats:
    runs: int = 0
    failures: int = 0
    timeouts: int = 0


@dataclass
class Script:
    good: bool | None
    stats: ScriptStats = field(default_factory=ScriptStats)


class RicherView(CoreView):
    """VI_1 has a VIP on eth0, one on eth1 and an excluded one; VI_2 has no VIP at all."""

    def vips(self, name: str) -> Sequence[VipRef]:
        if name == "VI_1":
            return [VipRef("192.0.2.100/24", IPv4Address("192.0.2.100"), "eth0", False),
                    VipRef("198.51.100.7/32", IPv4Address("198.51.100.7"), "eth1", False,
                           unreleased=True),
                    VipRef("203.0.113.9/32", IPv4Address("203.0.113.9"), "eth0", True)]
        return []

    def scripts(self) -> Mapping[str, ScriptView]:
        return {"chk_good": Script(True, ScriptStats(runs=5)),
                "chk_bad": Script(False, ScriptStats(runs=5, failures=5)),
                "chk_new": Script(None)}


Samples = dict[str, list[tuple[dict[str, str], float]]]


def render_page(view: CoreView) -> str:
    """Start the view's node and render one page (VI_2 in maintenance)."""
    async def render() -> str:
        view.apply(view.node.start(view.now()))
        server = MetricsServer(view, lambda name: name == "VI_2", None, "127.0.0.1:0")
        return server.render().decode()

    return asyncio.run(render())


def scrape(view: CoreView) -> Samples:
    """One page as {sample name: [(labels, value)]}."""
    out: Samples = {}
    for family in text_string_to_metric_families(render_page(view)):
        # A family with no samples still counts as served (under its exposed name).
        out.setdefault(family.name + ("_total" if family.type == "counter" else ""), [])
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def two_instances() -> Node:
    vi2 = replace(owner_params("VI_2", 52), interface="eth1", garp_master_delay=2.0)
    return Node([owner_params("VI_1", 51), vi2])


def value(samples: Samples, name: str, **labels: str) -> float:
    found = [v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_no_series_carries_a_target_label() -> None:
    samples = scrape(RicherView(two_instances()))
    for name, series in samples.items():
        for labels, _ in series:
            assert not {"instance", "job"} & labels.keys(), (name, labels)


def test_instance_series_are_labelled_like_keepalived_exporters() -> None:
    samples = scrape(RicherView(two_instances()))
    for name, series in samples.items():
        if name.startswith("pykeepalived_vrrp_") and name not in (
                "pykeepalived_vrrp_drops_total", "pykeepalived_vrrp_auth_hmac_info"):
            expected = {"iname", "intf", "vrid"}
            if name == "pykeepalived_vrrp_vip_removal_failing":
                expected.add("ip_address")
            assert series and all(set(lab) == expected for lab, _ in series), name
    assert value(samples, "pykeepalived_vrrp_state", iname="VI_1", intf="eth0", vrid="51") == 2
    assert value(samples, "pykeepalived_vrrp_state", iname="VI_2", intf="eth1", vrid="52") == 2
    assert value(samples, "pykeepalived_vrrp_maintenance", iname="VI_2") == 1
    assert value(samples, "pykeepalived_vrrp_vip_removal_failing", iname="VI_1",
                 intf="eth1", ip_address="198.51.100.7") == 1
    assert value(samples, "pykeepalived_vrrp_vip_removal_failing", iname="VI_1",
                 intf="eth0", ip_address="192.0.2.100/24") == 0


def test_auth_hmac_info_only_for_instances_with_it() -> None:
    view = RicherView(two_instances())
    router = view.node.routers["VI_2"]
    router.params = dataclasses.replace(router.params, hmac=HmacConfig(
        keys=((1, bytes(32)), (2, bytes(32))), active_key=2, mode=Mode.PERMISSIVE))
    series = scrape(view)["pykeepalived_vrrp_auth_hmac_info"]
    assert series == [({"iname": "VI_2", "intf": "eth1", "vrid": "52", "mode": "permissive",
                        "active_key": "2"}, 1.0)]


def test_drops_keep_their_reason_and_unattributed_ones_have_empty_labels() -> None:
    view = RicherView(two_instances())
    view.node.routers["VI_1"].stats.drops[DropReason.AUTH_FAILURE] += 3
    view.node.drops[DropReason.UNKNOWN_VRID] += 7
    samples = scrape(view)
    assert value(samples, "pykeepalived_vrrp_drops_total", iname="VI_1", intf="eth0",
                 vrid="51", reason="auth_failure") == 3
    assert value(samples, "pykeepalived_vrrp_drops_total", iname="", intf="", vrid="",
                 reason="unknown_vrid") == 7


def test_keepalived_exporter_families_have_its_names_and_labels() -> None:
    samples = scrape(RicherView(two_instances()))
    served = {name: series for name, series in samples.items() if name.startswith("keepalived_")}
    assert set(served) == set(EXPORTER_FAMILIES)
    for name, series in served.items():
        for labels, _ in series:
            assert set(labels) == set(EXPORTER_FAMILIES[name]), (name, labels)
    assert samples["keepalived_up"] == [({}, 1.0)]


def test_keepalived_vrrp_state_is_one_series_per_vip_as_the_exporter_shows_it() -> None:
    view = RicherView(two_instances())
    samples = scrape(view)
    # VIPs as keepalived prints them (no /32), each on its own interface; the excluded one
    # in its own family; an instance without VIPs gets one series with ip_address "".
    assert sorted((lab["iname"], lab["intf"], lab["vrid"], lab["ip_address"], v)
                  for lab, v in samples["keepalived_vrrp_state"]) == [
        ("VI_1", "eth0", "51", "192.0.2.100/24", 2.0),
        ("VI_1", "eth1", "51", "198.51.100.7", 2.0),
        ("VI_2", "eth1", "52", "", 2.0),
    ]
    assert samples["keepalived_vrrp_excluded_state"] == [
        ({"iname": "VI_1", "intf": "eth0", "vrid": "51", "ip_address": "203.0.113.9"}, 2.0)]


def test_keepalived_counters_group_drop_reasons_like_keepalived_stats() -> None:
    view = RicherView(two_instances())
    drops = view.node.routers["VI_1"].stats.drops
    for reason, n in ((DropReason.TOO_SHORT, 1), (DropReason.BAD_LENGTH, 2),
                      (DropReason.BAD_TTL, 3), (DropReason.BAD_TYPE, 4),
                      (DropReason.INTERVAL_MISMATCH, 5), (DropReason.ADDRESS_MISMATCH, 6),
                      (DropReason.AUTH_TYPE_MISMATCH, 7), (DropReason.AUTH_FAILURE, 8),
                      (DropReason.BAD_CHECKSUM, 100)):
        drops[reason] += n
    samples = scrape(view)

    def ka(name: str, iname: str = "VI_1") -> float:
        return value(samples, f"keepalived_{name}_total", iname=iname)

    assert ka("packet_length_errors") == 3
    assert ka("ip_ttl_errors") == 3
    assert ka("invalid_type_received") == 4
    assert ka("advertisements_interval_errors") == 5
    assert ka("address_list_errors") == 6
    assert ka("authentication_mismatch") == 7
    assert ka("authentication_failure") == 8
    assert ka("authentication_invalid") == 0
    assert ka("become_master") == 1 and ka("release_master") == 0
    assert ka("advertisements_sent") == value(samples, "pykeepalived_vrrp_adverts_sent_total",
                                              iname="VI_1")
    assert ka("gratuitous_arp_delay") == 5 and ka("gratuitous_arp_delay", "VI_2") == 2
    assert value(samples, "keepalived_become_master_total", iname="VI_2", intf="eth1",
                 vrid="52") == 1


def test_script_status_is_good_1_bad_0_and_absent_while_unknown() -> None:
    samples = scrape(RicherView(two_instances()))
    assert sorted((lab["name"], v) for lab, v in samples["keepalived_script_status"]) == [
        ("chk_bad", 0.0), ("chk_good", 1.0)]
    assert value(samples, "pykeepalived_script_result", script="chk_new") == -1


def test_states_use_keepalived_numbers() -> None:
    assert {s: s.number for s in State if s is not State.STOP} == \
        {s: n for s, n in KEEPALIVED_STATE.items() if s is not State.STOP}
    assert KEEPALIVED_STATE[State.STOP] == 98  # keepalived's VRRP_STATE_STOP


def test_build_info_and_process_metrics() -> None:
    samples = scrape(CoreView(two_instances()))
    assert samples["pykeepalived_build_info"] == [({"version": __version__}, 1.0)]
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds"):
        assert samples[name][0][1] > 0, name


def test_keepalived_address_drops_host_prefixes_only() -> None:
    assert keepalived_address("192.0.2.1/32") == "192.0.2.1"
    assert keepalived_address("192.0.2.1/24") == "192.0.2.1/24"
    assert keepalived_address("2001:db8::1/128") == "2001:db8::1"
    assert keepalived_address("2001:db8::1/64") == "2001:db8::1/64"
    assert keepalived_address(str(ip_interface("fe80::1"))) == "fe80::1"


def test_prometheus_client_is_imported_only_when_metrics_are_enabled() -> None:
    code = ("import sys\n"
            "import pykeepalived.cli, pykeepalived.daemon.driver, pykeepalived.daemon.control\n"
            "assert 'prometheus_client' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
