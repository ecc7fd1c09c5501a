"""rtnetlink against the real kernel: VIP lifetimes and attributes, routes, rules, VMAC, events."""

from __future__ import annotations

import asyncio
import socket
import time
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_network

import pytest

from pykeepalived.net.netlink import (
    Netlink,
    NetlinkOpError,
    RouteSpec,
    RuleSpec,
    eui64_link_local,
    read_sysctl,
)
from pykeepalived.net.rtnl_events import AddressEvent, LinkMonitor

from .lab import Lab

pytestmark = pytest.mark.netns

VIP = IPv4Interface("192.0.2.100/24")


def test_link_info(lab: Lab) -> None:
    node = lab.add_node("n1")
    with node.netlink() as nl:
        info = nl.link("eth0")
    assert info.mac == node.mac_bytes
    assert info.admin_up and info.oper_up
    assert info.mtu == 1500
    assert info.primary_ipv4 == IPv4Address("192.0.2.1")
    assert info.ipv6_link_local == node.link_local


def test_vip_with_lifetime_expires_unless_renewed(lab: Lab) -> None:
    node = lab.add_node("n1")
    watcher = node.watch_addresses()
    vip6 = IPv6Interface("2001:db8::100/64")
    with node.netlink() as nl:
        idx = nl.ifindex("eth0")
        start = time.monotonic()
        assert nl.add_address(idx, VIP, lifetime=2)
        assert nl.add_address(idx, vip6, lifetime=2, nodad=True)
        assert nl.add_address(idx, IPv4Interface("192.0.2.101/24"), lifetime=2)
        assert not nl.add_address(idx, VIP, lifetime=2)  # already there
        info = next(a for a in nl.addresses(idx) if a.interface == VIP)
        assert info.valid_lft is not None and info.valid_lft <= 2
        # Keep .101 alive past its first deadline; the other two expire on their own.
        time.sleep(1.2)  # the scenario: well into the lifetime, then renew
        nl.renew_address(idx, IPv4Interface("192.0.2.101/24"), 3)
        gone = watcher.wait_for("192.0.2.100", added=False, timeout=3)
        gone6 = watcher.wait_for("2001:db8::100", added=False, timeout=3)
        assert gone is not None and 1.5 <= gone - start <= 3.5
        assert gone6 is not None and gone6 - start <= 3.5
        # the scenario: past .101's first deadline (2 s), before its renewed one
        time.sleep(max(0.0, start + 2.6 - time.monotonic()))
        assert nl.has_address(idx, IPv4Interface("192.0.2.101/24"))
        assert not nl.has_address(idx, VIP)
        nl.renew_address(idx, IPv4Interface("192.0.2.101/24"), None)
        info = next(a for a in nl.addresses(idx) if a.interface.ip == IPv4Address("192.0.2.101"))
        assert info.valid_lft is None
        assert nl.remove_address(idx, IPv4Interface("192.0.2.101/24"))
        assert not nl.remove_address(idx, IPv4Interface("192.0.2.101/24"))


def test_label_scope_brd_and_peer_land(lab: Lab) -> None:
    node = lab.add_node("n1")
    with node.netlink() as nl:
        idx = nl.ifindex("eth0")
        nl.add_address(idx, VIP, brd=IPv4Address("192.0.2.255"), label="eth0:vip")
        # The kernel refuses (EINVAL) a secondary whose scope differs from its subnet's primary,
        # so the host-scoped VIP lives in a subnet of its own.
        with pytest.raises(NetlinkOpError):
            nl.add_address(idx, IPv4Interface("192.0.2.101/24"), scope="host")
        nl.add_address(idx, IPv4Interface("198.51.100.7/28"), scope="host", label="eth0:h")
        nl.add_address(idx, IPv4Interface("198.51.100.201/32"), peer=IPv4Address("198.51.100.202"))
        by_ip = {a.interface.ip: a for a in nl.addresses(idx)}
    vip = by_ip[VIP.ip]
    assert vip.label == "eth0:vip"
    assert vip.secondary
    assert vip.broadcast == IPv4Address("192.0.2.255")
    assert by_ip[IPv4Address("198.51.100.7")].scope == 254
    assert by_ip[IPv4Address("198.51.100.201")].peer == IPv4Address("198.51.100.202")
    shown = node.exec(["ip", "-4", "addr", "show", "dev", "eth0"]).stdout
    assert "192.0.2.100/24 brd 192.0.2.255 scope global secondary eth0:vip" in shown
    assert "198.51.100.7/28 scope host eth0:h" in shown
    assert "peer 198.51.100.202/32" in shown


def test_routes_and_rules_add_and_remove(lab: Lab) -> None:
    node = lab.add_node("n1")
    via = RouteSpec(dst=ip_network("198.51.100.64/26"), gateway=IPv4Address("192.0.2.254"),
                    metric=50, table=100, proto="static")
    hole = RouteSpec(dst=ip_network("198.51.100.0/26"), type="blackhole")
    unreach6 = RouteSpec(dst=ip_network("2001:db8:1::/48"), type="unreachable")
    rule = RuleSpec(src=ip_network("192.0.2.100/32"), table=100, priority=1000)
    rule_mark = RuleSpec(fwmark=7, table=100, priority=1001, iif="eth0")
    with node.netlink() as nl:
        idx = nl.ifindex("eth0")
        dev_route = RouteSpec(dst=ip_network("198.51.100.128/25"), ifindex=idx, scope="link",
                              src=IPv4Address("192.0.2.1"))
        for spec in (via, hole, unreach6, dev_route):
            assert nl.add_route(spec)
        assert not nl.add_route(hole)
        assert nl.add_rule(rule) and nl.add_rule(rule_mark)
        table100 = node.exec(["ip", "route", "show", "table", "100"]).stdout
        main = node.exec(["ip", "route", "show"]).stdout
        main6 = node.exec(["ip", "-6", "route", "show"]).stdout
        rules = node.exec(["ip", "rule", "show"]).stdout
        assert "198.51.100.64/26 via 192.0.2.254 dev eth0 proto static metric 50" in table100
        assert "blackhole 198.51.100.0/26" in main
        assert "198.51.100.128/25 dev eth0 scope link src 192.0.2.1" in main
        assert "unreachable 2001:db8:1::/48" in main6
        assert "1000:\tfrom 192.0.2.100 lookup 100" in rules
        assert "1001:\tfrom all fwmark 0x7 iif eth0 lookup 100" in rules
        for spec in (via, hole, unreach6, dev_route):
            assert nl.remove_route(spec)
        assert not nl.remove_route(hole)
        assert nl.remove_rule(rule) and nl.remove_rule(rule_mark)
        assert not nl.remove_rule(rule)
    assert "blackhole" not in node.exec(["ip", "route", "show"]).stdout
    assert "lookup 100" not in node.exec(["ip", "rule", "show"]).stdout


def test_vmac_macvlan_with_keepalived_mac_mode_and_sysctls(lab: Lab) -> None:
    node = lab.add_node("n1")
    with node.netlink() as nl:
        vmac = nl.add_vmac("eth0", 51)
        assert vmac.name == "vrrp.51"
        assert vmac.mac == bytes.fromhex("00005e000133")
        assert vmac.kind == "macvlan" and vmac.admin_up
        assert vmac.parent_index == nl.ifindex("eth0")
        assert nl.add_vmac("eth0", 51).index == vmac.index  # reused, not recreated
        vmac6 = nl.add_vmac("eth0", 52, family=socket.AF_INET6)
        assert vmac6.mac == bytes.fromhex("00005e000234")
        details = node.exec(["ip", "-d", "link", "show", "vrrp.51"]).stdout
        assert "macvlan mode private" in details
        for key, want in (("arp_ignore", "1"), ("accept_local", "1"), ("rp_filter", "0")):
            assert read_sysctl(f"net/ipv4/conf/vrrp.51/{key}", netns=node.ns) == want
        assert read_sysctl("net/ipv4/conf/eth0/arp_ignore", netns=node.ns) == "1"
        assert read_sysctl("net/ipv4/conf/eth0/arp_filter", netns=node.ns) == "1"
        assert read_sysctl("net/ipv6/conf/vrrp6.52/addr_gen_mode", netns=node.ns) == "1"
        # as keepalived: the node's own link-local address (the advert source) on the VMAC
        # too, and no EUI-64 one from the virtual MAC
        own = nl.link("eth0").ipv6_link_local
        assert own is not None and nl.link("vrrp6.52").ipv6_link_local == own
        assert [a.interface.ip for a in nl.addresses(nl.ifindex("vrrp6.52"))] == [own]
        configured = nl.add_vmac("eth0", 53, family=socket.AF_INET6,
                                 source=IPv6Address("fe80::53"))
        assert configured.ipv6_link_local == IPv6Address("fe80::53")
        assert nl.remove_vmac("vrrp6.53")
        assert eui64_link_local(bytes.fromhex("020000000001")) == \
            IPv6Address("fe80::ff:fe00:1")
        assert nl.remove_vmac("vrrp.51") and nl.remove_vmac("vrrp6.52")
        assert not nl.remove_vmac("vrrp.51")
        assert read_sysctl("net/ipv4/conf/eth0/arp_ignore", netns=node.ns) == "0"
        with pytest.raises(Exception, match="non-macvlan"):
            nl.remove_vmac("eth0")


def test_link_monitor_reports_down_up_and_addresses(lab: Lab) -> None:
    node = lab.add_node("n1")

    async def scenario() -> tuple[list[tuple[str, bool]], list[AddressEvent], float]:
        links: list[tuple[str, bool]] = []
        addrs: list[AddressEvent] = []
        changed = asyncio.Event()

        def on_link(ifname: str, ifindex: int, up: bool) -> None:
            links.append((ifname, up))
            changed.set()

        def on_address(ev: AddressEvent) -> None:
            addrs.append(ev)
            changed.set()

        monitor = LinkMonitor(on_link, on_address, netns=node.ns)
        monitor.start()
        ticks = 0

        async def ticker() -> None:  # proves the loop keeps running while we wait
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        try:
            loop = asyncio.get_running_loop()
            for action in ("down", "up"):
                changed.clear()
                await loop.run_in_executor(None, lab.link_down if action == "down"
                                           else lab.link_up, node)
                await asyncio.wait_for(changed.wait(), 3)
            with Netlink(node.ns) as nl:
                nl.add_address(nl.ifindex("eth0"), VIP)
            for _ in range(100):
                if addrs:
                    break
                await asyncio.sleep(0.01)
        finally:
            tick_task.cancel()
            monitor.stop()
        return links, addrs, ticks

    links, addrs, ticks = asyncio.run(scenario())
    assert links == [("eth0", False), ("eth0", True)]
    assert any(ev.added and ev.interface == VIP for ev in addrs)
    assert ticks > 0
