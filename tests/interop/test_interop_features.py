"""The keepalived features users run, in mixed pairs, with pykeepalived in each role.

Two nodes on a bridge, keepalived on one and pykeepalived on the other, reading one shared
keepalived.conf (per-node ``@nX`` lines). n1 (192.0.2.1) has priority 150 and n2 (192.0.2.2)
priority 100; ``py-high`` puts pykeepalived on n1 (the MASTER), ``py-low`` on n2 (the BACKUP).
Each test drives one feature through its transitions and asserts who holds the VIPs and how
long a takeover took (netlink events), with the margins of test_mixed_failover.py:
Master_Down_Interval + 100 ms after a fault, Skew_Time + 100 ms after a priority-0 advert, and
one check interval more when a vrrp_script is the fault. The wire-level ones read a capture on
the bridge. The ones comparing what each implementation did (notify arguments, log lines,
gratuitous ARP bursts) run the same config with keepalived, then with pykeepalived, in the same
place, and compare.

Covered: vrrp_sync_group (a fault on a member of the master and of the backup), use_vmac
(IPv4 and IPv6), preempt_delay, nopreempt after a
fault, unicast peers (VRRPv2 and VRRPv3, multicast blocked), IPv6 link-local sources,
track_interface with a weight, notify script arguments, garp_master_delay / _repeat /
_refresh, and ``auth_type AH`` (IPsec AH). Each strict xfail names a
difference from keepalived 2.2.7 still to be fixed in pykeepalived.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from ipaddress import ip_address
from pathlib import Path

import pytest

from tests.interop.features import (
    block_multicast,
    bursts,
    check_script,
    global_defs,
    instance,
    on_each_daemon,
    wait_single_holder_on,
)
from tests.interop.mixed import (
    CHECK_INTERVAL,
    CHECK_SLACK,
    MARGIN,
    ROLES,
    V2_IPV4,
    V3_IPV4,
    V3_IPV6,
    V3_UNICAST,
    VIP4,
    Mixed,
    Variant,
)
from tests.interop.pcap import read_frames, vrrp_frames
from tests.netns.daemons import Daemon, crash
from tests.netns.lab import Lab, Node
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop]

HIGH, LOW = 150, 100
PRIOS = {"n1": HIGH, "n2": LOW}
NODES = sorted(PRIOS)
VIP2 = "198.51.100.100"
V2_UNICAST = Variant("v2-unicast-1s", 2, 4, 1.0, unicast=True)


def check_within(elapsed: float, limit: float, what: str, mixed: Mixed) -> None:
    print(f"{what}: {elapsed:.3f}s (limit {limit:.3f}s)")  # shown with -rP, and on failure
    assert elapsed <= limit, f"{what} took {elapsed:.3f}s > {limit:.3f}s\n{mixed.logs()}"


def start_in_order(mixed: Mixed, kinds: tuple[str | None, ...], text: str,
                   vip: str, ifname: str = "eth0") -> None:
    """n1 first, then the others (Python starts slower than keepalived); n1 must win."""
    mixed.build(kinds, text)
    mixed.start("n1")
    mixed.start(*[n for n in mixed.cluster.daemons if n != "n1"])
    assert mixed.cluster.wait_single_holder(vip, ifname=ifname) == "n1", mixed.logs()


def stopped(mixed: Mixed, name: str) -> None:
    """SIGTERM ``name`` and wait for a clean exit."""
    d = mixed.daemon(name)
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(timeout=10) == 0, mixed.logs()


def log_since(mixed: Mixed, name: str, offset: int) -> str:
    return mixed.daemon(name).log()[offset:]


def roles(*variants: Variant) -> list[object]:
    return [pytest.param(v, r, id=f"{v.id}-{r}") for v in variants for r in ROLES]


#: What a node logs about its instances, groups and scripts, timestamps stripped.
EVENT_RE = re.compile(r"^(?:\w{3} \w{3} [ \d]\d [\d:]{8} \d{4}: )?"
                      r"(\(VI_\d\) .*|VRRP_Group\(.*|VRRP_Script\(.*)$")


def event_lines(log: str) -> list[str]:
    return [m.group(1) for line in log.splitlines() if (m := EVENT_RE.match(line))]


def recorder(directory: Path) -> Path:
    """A notify script appending "$#|$*" (after its first argument, the file) to a file."""
    directory.mkdir(exist_ok=True)
    script = directory / "record.sh"
    script.write_text(
        f'#!/bin/sh\nf="$1"; shift\nprintf "%s|%s\\n" "$#" "$*" >> {directory}/"$f"\n')
    script.chmod(0o755)
    return script


def recorded(directory: Path) -> dict[str, list[str]]:
    return {p.name: p.read_text().splitlines() for p in sorted(directory.glob("*.rec"))}


def wait_recorded(directory: Path, m: Mixed) -> dict[str, list[str]]:
    # notify scripts run detached: wait until what they wrote stops changing
    return wait_until(lambda: recorded(directory), 10, what="the notify scripts to finish",
                      stable_for=0.5, context=m.logs)


# ------------------------------------------------------------------------------ sync groups


def sync_group_config(check_dir: Path) -> str:
    """VI_1 and VI_2 in one sync group; only VI_2 tracks the (weight 0: FAULT) check."""
    text = global_defs(V3_IPV4) + check_script("chk_vi2", check_dir, NODES, weight=0)
    text += "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
    text += instance("VI_1", 51, V3_IPV4, PRIOS, masters=("n1",), vip=VIP4)
    text += instance("VI_2", 52, V3_IPV4, PRIOS, masters=("n1",), vip=VIP2,
                     extra=("    track_script {", "        chk_vi2", "    }"))
    return text


@pytest.mark.parametrize("role", list(ROLES))
def test_sync_group_fault_on_one_member_moves_both_instances(mixed: Mixed, role: str) -> None:
    variant = V3_IPV4
    tmp = mixed.lab.tmpdir
    for n in NODES:
        (tmp / f"{n}.ok").write_text("")
    start_in_order(mixed, ROLES[role], sync_group_config(tmp), VIP4)
    assert mixed.wait_single_holder(VIP2) == "n1", mixed.logs()

    # 1. VI_2's check fails on the master: the group goes FAULT there, both VIPs move to n2
    t = time.monotonic()
    (tmp / "n1.ok").unlink()
    limit = CHECK_INTERVAL + CHECK_SLACK + variant.master_down(LOW) + MARGIN
    for vip in (VIP4, VIP2):
        check_within(mixed.wait_added("n2", vip, after=t) - t, limit,
                     f"{vip} to n2 after a fault on n1's VI_2", mixed)
    for vip in (VIP4, VIP2):
        assert mixed.wait_single_holder(vip) == "n2", mixed.logs()
    log1 = mixed.daemon("n1").log()
    assert "(VI_2) Entering FAULT STATE" in log1, log1
    assert "(VI_1) Entering FAULT STATE" in log1, log1  # pulled in by the group

    # 2. the check recovers: n1's group comes back and preempts with both instances
    t = time.monotonic()
    (tmp / "n1.ok").write_text("")
    limit = CHECK_INTERVAL + CHECK_SLACK + variant.master_down(HIGH) + MARGIN
    for vip in (VIP4, VIP2):
        check_within(mixed.wait_added("n1", vip, after=t) - t, limit,
                     f"{vip} back to the recovered n1", mixed)
    for vip in (VIP4, VIP2):
        assert mixed.wait_single_holder(vip) == "n1", mixed.logs()

    # 3. VI_2's check fails on the backup: its whole group is FAULT, so when the master
    #    leaves, n2 takes neither instance (VI_1 alone would otherwise take over)
    seen = len(mixed.daemon("n2").log())
    (tmp / "n2.ok").unlink()
    # (keepalived logs no "(VI_1) Entering FAULT STATE" for a BACKUP pulled into FAULT by
    # its group, only the group line)
    wait_until(lambda: "VRRP_Group(G1) Syncing instances to FAULT state"
               in log_since(mixed, "n2", seen), CHECK_INTERVAL + CHECK_SLACK + 2,
               what="n2's group to go FAULT", context=mixed.logs)
    stopped(mixed, "n1")
    mixed.hold_steady(VIP4, [], 3 * variant.master_down(LOW))
    assert mixed.holders(VIP2) == [], mixed.logs()

    # 4. n2's check recovers: the group leaves FAULT and, alone, takes both
    t = time.monotonic()
    (tmp / "n2.ok").write_text("")
    limit = CHECK_INTERVAL + CHECK_SLACK + variant.master_down(LOW) + MARGIN
    for vip in (VIP4, VIP2):
        check_within(mixed.wait_added("n2", vip, after=t) - t, limit,
                     f"{vip} to n2 after its recovery", mixed)


def group_tracking_lines(lab: Lab, kind: str, clusters: list[Mixed]) -> list[str]:
    """``kind`` alone on n1 (MASTER) with VI_1 and VI_2 in a group that tracks the check
    (neither instance does): the check fails and recovers. The lines logged meanwhile."""
    m = Mixed(lab, tag=f"-sgtrack-{kind}")
    clusters.append(m)
    tmp = lab.tmpdir / f"sgtrack-{kind}"
    tmp.mkdir(exist_ok=True)
    (tmp / "n1.ok").write_text("")
    text = sync_group_config(tmp).replace("        chk_vi2\n", "")
    text = text.replace("    track_script {\n    }\n", "")
    text = text.replace("        VI_2\n    }\n}\n",
                        "        VI_2\n    }\n    track_script {\n        chk_vi2\n    }\n}\n")
    assert "track_script {\n        chk_vi2" in text.split("vrrp_instance")[0], text
    m.build((kind,), text)
    try:
        t = time.monotonic()
        m.start("n1")
        for vip in (VIP4, VIP2):
            m.wait_added("n1", vip, after=t)
        time.sleep(0.3)  # what it logs for becoming MASTER (its ARP lines follow the VIPs)
        start = len(m.daemon("n1").log())
        (tmp / "n1.ok").unlink()
        wait_until(lambda: "(VI_2) Entering FAULT STATE" in log_since(m, "n1", start)
                   and "(VI_1) Entering FAULT STATE" in log_since(m, "n1", start),
                   CHECK_INTERVAL + CHECK_SLACK + 2, what="both instances to go FAULT",
                   context=m.logs)
        t = time.monotonic()
        (tmp / "n1.ok").write_text("")
        for vip in (VIP4, VIP2):
            m.wait_added("n1", vip, after=t)
        time.sleep(0.3)  # the scenario: anything else it would log
        return event_lines(log_since(m, "n1", start))
    finally:
        m.stop_all()


def test_a_sync_groups_track_script_moves_every_member_as_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, group_tracking_lines)
    assert "(VI_1) Entering FAULT STATE" in got["ka"], got

    def by_source(lines: list[str]) -> dict[str, list[str]]:
        # each instance's, the group's and the script's lines in order; how the two
        # instances' lines interleave depends on the moment each timer is served
        return {k: [ln for ln in lines if ln.startswith(k)]
                for k in ("(VI_1)", "(VI_2)", "VRRP_Group", "VRRP_Script")}

    assert by_source(got["py"]) == by_source(got["ka"]), \
        f"keepalived {got['ka']}\npykeepalived {got['py']}"


def backup_pulled_into_fault(lab: Lab, kind: str,
                             clusters: list[Mixed]) -> tuple[list[str], dict[str, list[str]]]:
    """keepalived MASTER on n1, ``kind`` BACKUP on n2; n2's VI_2 check fails. What n2 logged
    from then on, and what its instance and group notify scripts were given."""
    m = Mixed(lab, tag=f"-sync-{kind}")
    clusters.append(m)
    tmp = lab.tmpdir / f"sync-{kind}"
    script = recorder(tmp)
    for n in NODES:
        (tmp / f"{n}.ok").write_text("")
    text = sync_group_config(tmp).replace(
        "        VI_2\n    }\n", f'        VI_2\n    }}\n    notify "{script} G1.rec"\n', 1)
    for name in ("VI_1", "VI_2"):
        text = text.replace(f"vrrp_instance {name} {{\n",
                            f'vrrp_instance {name} {{\n    notify "{script} {name}.rec"\n')
    try:
        start_in_order(m, ("ka", kind), text, VIP4)
        wait_recorded(tmp, m)
        for p in tmp.glob("*.rec"):
            p.unlink()
        seen = len(m.daemon("n2").log())
        (tmp / "n2.ok").unlink()
        wait_until(lambda: "VRRP_Group(G1) Syncing instances to FAULT state"
                   in log_since(m, "n2", seen), CHECK_INTERVAL + CHECK_SLACK + 2,
                   what="n2's group to go FAULT", context=m.logs)
        notified = wait_recorded(tmp, m)
        return event_lines(log_since(m, "n2", seen)), notified
    finally:
        m.stop_all()


def test_sync_group_backup_pulled_into_fault_logs_and_notifies_as_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, backup_pulled_into_fault)
    (ka_lines, ka_notified), (py_lines, py_notified) = got["ka"], got["py"]
    assert "VRRP_Group(G1) Syncing instances to FAULT state" in ka_lines
    assert py_notified == ka_notified, f"keepalived {ka_notified}\npykeepalived {py_notified}"
    assert py_lines == ka_lines, f"keepalived {ka_lines}\npykeepalived {py_lines}"


# ---------------------------------------------------------------------------------- use_vmac

VMAC_IF = "vrrp.51"


def virtual_mac(variant: Variant, vrid: int = 51) -> bytes:
    # RFC 5798 7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6
    return bytes([0, 0, 0x5E, 0, 1 if variant.family == 4 else 2, vrid])


def vmac_params() -> list[object]:
    return [pytest.param(v, r, id=f"{v.id}-{r}") for v in (V3_IPV4, V3_IPV6) for r in ROLES]


@pytest.mark.parametrize(("variant", "role"), vmac_params())
def test_use_vmac_vip_on_the_vmac_interface_adverts_from_the_virtual_mac(
    mixed: Mixed, variant: Variant, role: str
) -> None:
    vip = variant.vip
    text = global_defs(variant) + instance("VI_1", 51, variant, PRIOS, masters=("n1",),
                                           vip_dev=None, extra=("    use_vmac",))
    cap = mixed.lab.capture("ip proto 112 or ip6 proto 112").start()
    mixed.build(ROLES[role], text)
    mixed.start("n1")
    mixed.start("n2")
    assert wait_single_holder_on(mixed, vip, VMAC_IF, timeout=5) == "n1"
    vmac = virtual_mac(variant)
    for n in NODES:  # both made the VMAC interface; the VIP is on it, not on eth0
        with mixed.lab.nodes[n].netlink() as nl:
            assert nl.link(VMAC_IF).mac == vmac, f"{n}: {nl.link(VMAC_IF)}"
    assert mixed.holders(vip) == [], "the VIP belongs on the VMAC interface, not on eth0"
    time.sleep(3 * variant.advert_int)  # the scenario: n1's adverts on the wire

    # n1 stops: n2 takes over on its own VMAC interface, and n1's VMAC is gone
    t = time.monotonic()
    stopped(mixed, "n1")
    added = mixed.wait_added("n2", vip, after=t)
    check_within(added - t, variant.skew(LOW) + MARGIN, "handover to n2's VMAC", mixed)
    assert wait_single_holder_on(mixed, vip, VMAC_IF) == "n2"
    gone = mixed.lab.nodes["n1"].exec(["ip", "link", "show", VMAC_IF])
    assert gone.returncode != 0, f"n1's VMAC left behind: {gone.stdout}"
    time.sleep(3 * variant.advert_int)  # the scenario: n2's adverts on the wire

    # n1 comes back and preempts: the VIP moves back to n1's VMAC
    t = time.monotonic()
    mixed.start("n1")
    mixed.wait_added("n1", vip, after=t)
    assert wait_single_holder_on(mixed, vip, VMAC_IF) == "n1"
    time.sleep(3 * variant.advert_int)  # the scenario: n1's adverts again
    cap.stop()

    frames = vrrp_frames(cap.path)
    prios = {f.priority for f in frames}
    assert prios >= {HIGH, LOW, 0}, [(f.priority, f.eth_src.hex()) for f in frames]
    # every advert (n1's, n2's, n1's priority 0) leaves from the virtual MAC, with the
    # node's own source address (for IPv6 its link-local one, which keepalived copies onto
    # the VMAC interface)
    assert {f.eth_src for f in frames} == {vmac}, {f.eth_src.hex() for f in frames}
    for prio, name in ((HIGH, "n1"), (0, "n1"), (LOW, "n2")):
        node = mixed.lab.nodes[name]
        own = node.ipv4.ip if variant.family == 4 and node.ipv4 else node.link_local
        srcs = {f.src for f in frames if f.priority == prio}
        assert srcs == {own}, (prio, srcs)


def vmac_start_up(lab: Lab, kind: str,
                  clusters: list[Mixed]) -> tuple[list[str], dict[str, list[str]]]:
    """``kind`` alone on n1 with use_vmac, up to MASTER and stopped: its state lines and
    what its notify script was given."""
    m = Mixed(lab, tag=f"-vmac-{kind}")
    clusters.append(m)
    tmp = lab.tmpdir / f"vmac-{kind}"
    script = recorder(tmp)
    m.build((kind,), global_defs(V3_IPV4) + instance(
        "VI_1", 51, V3_IPV4, {"n1": HIGH}, masters=("n1",), vip_dev=None,
        extra=("    use_vmac", f'    notify "{script} VI_1.rec"')))
    try:
        t = time.monotonic()
        m.start("n1")
        m.wait_added("n1", VIP4, after=t)
        # Notify scripts run detached: stopping before the MASTER one has written would let
        # the STOP one overtake it, on either daemon.
        wait_until(lambda: any(" MASTER " in line for line in
                               recorded(tmp).get("VI_1.rec", [])),
                   10, what="the MASTER notify script", context=m.logs)
        stopped(m, "n1")
        notified = wait_recorded(tmp, m)
        states = [line for line in event_lines(m.daemon("n1").log()) if " Entering " in line]
        return states, notified
    finally:
        m.stop_all()


def test_use_vmac_start_up_states_and_notify_as_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, vmac_start_up)
    (ka_states, ka_notified), (py_states, py_notified) = got["ka"], got["py"]
    assert ka_notified["VI_1.rec"][-1] == "4|INSTANCE VI_1 STOP 150", ka_notified
    assert py_notified == ka_notified, f"keepalived {ka_notified}\npykeepalived {py_notified}"
    assert py_states == ka_states, f"keepalived {ka_states}\npykeepalived {py_states}"


# ---------------------------------------------------------------------- preempt_delay, nopreempt

PREEMPT_DELAY = 2.0


@pytest.mark.parametrize("role", list(ROLES))
def test_preempt_delay_better_node_waits_its_delay_before_taking_over(
    mixed: Mixed, role: str
) -> None:
    variant = V3_IPV4
    vip = variant.vip
    # both state BACKUP: keepalived ignores preempt_delay with state MASTER
    text = global_defs(variant) + instance("VI_1", 51, variant, PRIOS,
                                           extra=(f"    preempt_delay {PREEMPT_DELAY:g}",))
    mixed.build(ROLES[role], text)
    mixed.start("n2")  # the worse node is master first
    assert mixed.wait_single_holder(vip) == "n2", mixed.logs()
    mixed.start("n1")
    t = time.monotonic()  # n1 has entered BACKUP: its delay starts with n2's next advert
    # for the delay n1 accepts n2's lower adverts and leaves the VIP alone
    mixed.hold_steady(vip, ["n2"], PREEMPT_DELAY - 0.3)
    added = mixed.wait_added("n1", vip, after=t)
    elapsed = added - t
    print(f"takeover {elapsed:.3f}s after n1 entered BACKUP (delay {PREEMPT_DELAY:g}s)")
    assert elapsed >= PREEMPT_DELAY - MARGIN, f"took over after {elapsed:.3f}s\n{mixed.logs()}"
    # the delay from n2's first advert, then the discarded lower adverts time out
    limit = variant.advert_int + PREEMPT_DELAY + variant.master_down(HIGH) + MARGIN
    check_within(elapsed, limit, "takeover after the preempt delay", mixed)
    assert mixed.wait_single_holder(vip) == "n1", mixed.logs()
    # keepalived's -D line, from either implementation
    assert "(VI_1) start preempt delay (2.000000)" in mixed.daemon("n1").log(), mixed.logs()


@pytest.mark.parametrize("role", list(ROLES))
def test_nopreempt_no_takeover_back_after_the_master_recovers_from_fault(
    mixed: Mixed, role: str
) -> None:
    variant = V3_IPV4
    vip = variant.vip
    tmp = mixed.lab.tmpdir
    for n in NODES:
        (tmp / f"{n}.ok").write_text("")
    # nopreempt needs state BACKUP everywhere; the check puts its node in FAULT (weight 0)
    text = global_defs(variant) + check_script("chk_service", tmp, NODES, weight=0)
    text += instance("VI_1", 51, variant, PRIOS,
                     extra=("    nopreempt", "    track_script {", "        chk_service", "    }"))
    start_in_order(mixed, ROLES[role], text, vip)  # n1 alone first: master after its timeout
    t = time.monotonic()
    (tmp / "n1.ok").unlink()
    added = mixed.wait_added("n2", vip, after=t)
    limit = CHECK_INTERVAL + CHECK_SLACK + variant.master_down(LOW) + MARGIN
    check_within(added - t, limit, "takeover from the faulted master", mixed)
    assert mixed.wait_single_holder(vip) == "n2", mixed.logs()
    assert "(VI_1) Entering FAULT STATE" in mixed.daemon("n1").log()
    # n1 is healthy again at 150, n2 runs at 100: with nopreempt n1 stays BACKUP
    seen = len(mixed.daemon("n1").log())
    (tmp / "n1.ok").write_text("")
    wait_until(lambda: "(VI_1) Entering BACKUP STATE" in log_since(mixed, "n1", seen),
               CHECK_INTERVAL + CHECK_SLACK + 2, what="n1 to leave FAULT", context=mixed.logs)
    mixed.hold_steady(vip, ["n2"], 3 * variant.master_down(HIGH) + CHECK_INTERVAL)
    assert "Entering MASTER STATE" not in log_since(mixed, "n1", seen), mixed.logs()


# ------------------------------------------------------------------------------ unicast peers


@pytest.mark.parametrize(("variant", "role"), roles(V2_UNICAST, V3_UNICAST))
def test_unicast_peers_elect_and_fail_over_with_multicast_blocked(
    mixed: Mixed, variant: Variant, role: str
) -> None:
    vip = variant.vip
    text = global_defs(variant) + instance("VI_1", 51, variant, PRIOS, masters=("n1",))
    mixed.build(ROLES[role], text)
    for n in NODES:
        block_multicast(mixed.lab.nodes[n])
    cap = mixed.lab.capture("ip proto 112").start()
    mixed.start("n1")
    mixed.start("n2")
    assert mixed.wait_single_holder(vip) == "n1", mixed.logs()
    assert "(VI_1) Entering MASTER STATE" not in mixed.daemon("n2").log(), mixed.logs()
    t = time.monotonic()
    crash(mixed.daemon("n1"))
    added = mixed.wait_added("n2", vip, after=t)
    check_within(added - t, variant.master_down(LOW) + MARGIN, "unicast crash takeover", mixed)
    assert wait_single_holder_on(mixed, vip, live=True) == "n2"
    time.sleep(2 * variant.advert_int)  # the scenario: n2's adverts as MASTER on the wire
    cap.stop()
    frames = vrrp_frames(cap.path)
    sent = {(str(f.src), str(f.dst), f.vrrp[0] >> 4) for f in frames if f.priority}
    # each master's adverts go to its peer only, in the configured version
    assert sent == {("192.0.2.1", "192.0.2.2", variant.version),
                    ("192.0.2.2", "192.0.2.1", variant.version)}, sent


# -------------------------------------------------------------------------- IPv6 multicast


@pytest.mark.parametrize("role", list(ROLES))
def test_ipv6_adverts_from_each_nodes_link_local_to_ff02_12(mixed: Mixed, role: str) -> None:
    variant = V3_IPV6
    vip = variant.vip
    cap = mixed.lab.capture("ip6 proto 112").start()
    start_in_order(mixed, ROLES[role], global_defs(variant)
                   + instance("VI_1", 51, variant, PRIOS, masters=("n1",)), vip)
    t = time.monotonic()
    stopped(mixed, "n1")
    added = mixed.wait_added("n2", vip, after=t)
    check_within(added - t, variant.skew(LOW) + MARGIN, "IPv6 handover", mixed)
    time.sleep(3 * variant.advert_int)  # the scenario: n2's adverts as MASTER on the wire
    cap.stop()
    frames = vrrp_frames(cap.path)
    lab = mixed.lab
    for prio, node in ((HIGH, "n1"), (0, "n1"), (LOW, "n2")):
        mine = [f for f in frames if f.priority == prio]
        assert mine, f"no priority-{prio} advert from {node}: {frames}"
        n = lab.nodes[node]
        for f in mine:
            assert f.src == n.link_local and f.eth_src == n.mac_bytes, (node, f)
            assert f.dst == ip_address("ff02::12")
            assert f.eth_dst == bytes.fromhex("333300000012")
            assert (f.ttl, f.tos, f.vrrp[0]) == (255, 0xC0, 0x31), (node, f)


# -------------------------------------------------------------------------- track_interface

TRACKED = "trk0"


@pytest.mark.parametrize("role", list(ROLES))
def test_track_interface_weight_lowers_priority_and_the_other_node_preempts(
    mixed: Mixed, role: str
) -> None:
    variant = V3_IPV4
    vip = variant.vip
    text = global_defs(variant) + instance(
        "VI_1", 51, variant, PRIOS, masters=("n1",),
        extra=("    track_interface {", f"        {TRACKED} weight -60", "    }"))
    mixed.build(ROLES[role], text)
    for n in NODES:
        add_tracked_link(mixed.lab.nodes[n])
    mixed.start("n1")
    mixed.start("n2")
    assert mixed.wait_single_holder(vip) == "n1", mixed.logs()
    n1 = mixed.lab.nodes["n1"]
    # the tracked link loses its carrier: 150 - 60 = 90 < 100, n2 preempts
    t = time.monotonic()
    n1.exec(["ip", "link", "set", "trk1", "down"], check=True)
    added = mixed.wait_added("n2", vip, after=t)
    limit = variant.advert_int + variant.master_down(LOW) + MARGIN
    check_within(added - t, limit, "preemption of the degraded master", mixed)
    assert mixed.wait_single_holder(vip) == "n2", mixed.logs()
    assert "(VI_1) Changing effective priority from 150 to 90" in mixed.daemon("n1").log()
    # the carrier is back: 150 again, n1 preempts the 100 master
    t = time.monotonic()
    n1.exec(["ip", "link", "set", "trk1", "up"], check=True)
    added = mixed.wait_added("n1", vip, after=t)
    limit = variant.advert_int + variant.master_down(HIGH) + MARGIN
    check_within(added - t, limit, "preemption by the restored node", mixed)
    assert mixed.wait_single_holder(vip) == "n1", mixed.logs()
    assert "(VI_1) Changing effective priority from 90 to 150" in mixed.daemon("n1").log()


def add_tracked_link(node: Node) -> None:
    """A second link: a veth pair inside the node, TRACKED and its peer trk1, both up."""
    node.exec(["sh", "-ec", f"ip link add {TRACKED} type veth peer name trk1;"
               f" ip link set trk1 up; ip link set {TRACKED} up"], check=True)


def lone_node(lab: Lab, *, tracked_link: bool = False) -> Node:
    """n1, for a scenario run once per daemon on the same lab (made by the first run), with
    the TRACKED link if asked for."""
    node = lab.nodes.get("n1") or lab.add_node("n1")
    if tracked_link and node.exec(["ip", "link", "show", TRACKED]).returncode != 0:
        add_tracked_link(node)
    return node


def track_interface_lines(lab: Lab, kind: str, clusters: list[Mixed]) -> list[str]:
    """``kind`` alone on n1 tracking TRACKED; the peer end goes down and up (so TRACKED loses
    and regains its carrier). The link and priority lines it logged meanwhile."""
    m = Mixed(lab, tag=f"-trk-{kind}")
    clusters.append(m)
    node = lone_node(lab, tracked_link=True)
    m.build((kind,), global_defs(V3_IPV4) + instance(
        "VI_1", 51, V3_IPV4, {"n1": HIGH}, masters=("n1",),
        extra=("    track_interface {", f"        {TRACKED} weight -60", "    }")))
    try:
        t = time.monotonic()
        m.start("n1")
        m.wait_added("n1", VIP4, after=t)
        seen = len(m.daemon("n1").log())
        for state, prio in (("down", 90), ("up", HIGH)):
            node.exec(["ip", "link", "set", "trk1", state], check=True)
            wait_until(lambda p=prio: f"effective priority from {HIGH + 90 - p} to {p}"
                       in log_since(m, "n1", seen), 5,
                       what=f"n1 to see {TRACKED} {state}", context=m.logs)
        time.sleep(0.3)  # the scenario: anything else it would log about the links
        text = log_since(m, "n1", seen)
        return [line.split(": ", 1)[1] for line in text.splitlines()
                if "Netlink reports" in line or "effective priority" in line]
    finally:
        m.stop_all()


def test_track_interface_log_lines_as_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, track_interface_lines)
    assert "Netlink reports trk0 down" in got["ka"], got
    assert got["py"] == got["ka"], f"keepalived {got['ka']}\npykeepalived {got['py']}"


def vip_dev_lines(lab: Lab, kind: str, clusters: list[Mixed]) -> list[str]:
    """``kind`` alone on n1, MASTER, with a VIP on TRACKED, a route via TRACKED (``no_track``)
    and a second VIP on eth0: TRACKED loses its carrier and gets it back. The link and state
    lines logged meanwhile (keepalived tracks a VIP's and a route's interface unless the line
    says ``no_track``)."""
    m = Mixed(lab, tag=f"-vipdev-{kind}")
    clusters.append(m)
    node = lone_node(lab, tracked_link=True)
    text = global_defs(V3_IPV4) + instance("VI_1", 51, V3_IPV4, {"n1": HIGH}, masters=("n1",))
    text = text.replace("    virtual_ipaddress {\n", "    virtual_ipaddress {\n"
                        f"        198.51.100.50/24 dev {TRACKED}\n")
    text = text.replace("    }\n}\n", "    }\n    virtual_routes {\n"
                        f"        203.0.113.0/24 via 198.51.100.1 dev {TRACKED} no_track\n"
                        "    }\n}\n")
    m.build((kind,), text)
    try:
        t = time.monotonic()
        m.start("n1")
        m.wait_added("n1", VIP4, after=t)
        time.sleep(0.3)  # what it logs for becoming MASTER (written just after the VIPs)
        start = seen = len(m.daemon("n1").log())
        for state, line in (("down", "Entering FAULT STATE"), ("up", "Entering MASTER STATE")):
            node.exec(["ip", "link", "set", "trk1", state], check=True)
            wait_until(lambda want=line, at=seen: want in log_since(m, "n1", at), 10,
                       what=f"n1 to log {line!r}", context=m.logs)
            seen = len(m.daemon("n1").log())
        time.sleep(0.3)  # the scenario: anything else it would log
        return [line.split(": ", 1)[1] for line in log_since(m, "n1", start).splitlines()
                if "Entering" in line or "Netlink reports" in line]
    finally:
        m.stop_all()


def test_a_vips_interface_is_tracked_as_keepalived_tracks_it(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, vip_dev_lines)
    assert "(VI_1) Entering FAULT STATE" in got["ka"], got
    assert got["py"] == got["ka"], f"keepalived {got['ka']}\npykeepalived {got['py']}"


def vip_deleted_lines(lab: Lab, kind: str, clusters: list[Mixed]) -> list[str]:
    """``kind`` alone on n1, MASTER; the VIP is deleted by hand (``ip addr del``). What it
    logged from then on, once the VIP is back."""
    m = Mixed(lab, tag=f"-vipdel-{kind}")
    clusters.append(m)
    lone_node(lab)
    m.build((kind,), global_defs(V2_IPV4) + instance("VI_1", 51, V2_IPV4, {"n1": HIGH},
                                                     masters=("n1",)))
    try:
        t = time.monotonic()
        m.start("n1")
        m.wait_added("n1", VIP4, after=t)
        time.sleep(1.5)  # the scenario: settled as MASTER
        start = len(m.daemon("n1").log())
        t = time.monotonic()
        m.daemon("n1").node.exec(["ip", "addr", "del", f"{VIP4}/24", "dev", "eth0"], check=True)
        back = m.wait_added("n1", VIP4, after=t)
        time.sleep(1.0)  # the scenario: anything else it would log
        print(f"{kind}: VIP back {back - t:.3f}s after its deletion")
        return [line for line in event_lines(log_since(m, "n1", start))
                if "gratuitous" not in line]
    finally:
        m.stop_all()


def test_a_vip_deleted_by_hand_steps_the_master_back_and_in_again_as_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    got = on_each_daemon(lab, request, vip_deleted_lines)
    assert "(VI_1) Entering BACKUP STATE" in got["ka"], got
    assert got["py"] == got["ka"], f"keepalived {got['ka']}\npykeepalived {got['py']}"


# ------------------------------------------------------------------------ notify arguments

NOTIFY_KINDS = ("notify", "master", "backup", "fault", "stop")


def notify_config(check_dir: Path, record_dir: Path) -> str:
    """Every notify hook records its arguments ("$#|$*") to <record_dir>/<node>.<hook>.rec."""
    text = global_defs(V3_IPV4) + check_script("chk_service", check_dir, NODES, weight=0)
    hooks = []
    for n in NODES:
        for kind in NOTIFY_KINDS:
            keyword = "notify" if kind == "notify" else f"notify_{kind}"
            hooks.append(f'@{n}    {keyword} "{record_dir}/record.sh {n}.{kind}.rec"')
    text += instance("VI_1", 51, V3_IPV4, PRIOS, masters=("n1",), extra=(
        *hooks, "    track_script {", "        chk_service", "    }"))
    return text


def run_notify_script(lab: Lab, kinds: tuple[str, str], tag: str,
                      clusters: list[Mixed]) -> dict[str, list[str]]:
    """Start, fault on n1, recovery (n1 preempts), stop n2 then n1: what every hook got,
    by "<node>.<hook>.rec"."""
    m = Mixed(lab, tag=tag)
    clusters.append(m)
    tmp = lab.tmpdir / f"notify{tag}"
    recorder(tmp)
    for n in NODES:
        (tmp / f"{n}.ok").write_text("")
    vip = V3_IPV4.vip
    try:
        start_in_order(m, kinds, notify_config(tmp, tmp), vip)
        t = time.monotonic()
        (tmp / "n1.ok").unlink()
        m.wait_added("n2", vip, after=t)
        assert m.wait_single_holder(vip) == "n2", m.logs()
        t = time.monotonic()
        (tmp / "n1.ok").write_text("")
        m.wait_added("n1", vip, after=t)
        assert m.wait_single_holder(vip) == "n1", m.logs()
        stopped(m, "n2")
        stopped(m, "n1")
        return wait_recorded(tmp, m)
    finally:
        m.stop_all()


def test_notify_scripts_get_the_same_arguments_as_from_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    """The same transitions with pykeepalived on n1 and keepalived on n2, then swapped; per
    node, every hook must have been run with the same arguments in the same order by either
    implementation (so pykeepalived is seen as MASTER, BACKUP, FAULT and STOP)."""
    clusters: list[Mixed] = []
    request.node.interop_clusters = clusters
    runs = {kinds: run_notify_script(lab, kinds, tag, clusters)
            for tag, kinds in (("-a", ("py", "ka")), ("-b", ("ka", "py")))}
    for i, n in enumerate(NODES):
        got = {}
        for kinds, files in runs.items():
            got[kinds[i]] = {k.split(".")[1]: v for k, v in files.items()
                             if k.startswith(f"{n}.")}
        ka, py = got["ka"], got["py"]
        print(f"{n}: keepalived {ka}\n{n}: pykeepalived {py}")
        assert any("MASTER" in line for line in ka.get("notify", [])), ka  # they really ran
        assert py == ka, f"{n}: keepalived ran {ka}\npykeepalived ran {py}"


# ------------------------------------------------------------------------ gratuitous ARP / NA

GARP_SETTINGS = ("    garp_master_delay 1", "    garp_master_repeat 3",
                 "    garp_master_refresh 2")
#: Seconds as MASTER: the first burst, the delayed one, and two refreshes (at 2 s and 4 s);
#: frames in the last 0.3 s are left out, so a refresh at the edge cannot count for one only.
GARP_WINDOW = 4.6


Bursts = list[tuple[float, int]]


def announcements(lab: Lab, kind: str,
                  clusters: list[Mixed]) -> dict[int, tuple[Bursts, list[str]]]:
    """Run ``kind`` alone on n1 as MASTER of an IPv4 and an IPv6 instance for GARP_WINDOW:
    per family, its gratuitous ARP / unsolicited NA bursts as (seconds after the instance's
    first MASTER advert, frames), and the distinct frame shapes."""
    m = Mixed(lab, tag=f"-{kind}")
    clusters.append(m)
    prios = {"n1": HIGH}
    m.build((kind,), global_defs(V3_IPV4)
            + instance("VI_1", 51, V3_IPV4, prios, masters=("n1",), extra=GARP_SETTINGS)
            + instance("VI_2", 52, V3_IPV6, prios, masters=("n1",), extra=GARP_SETTINGS))
    cap = lab.capture("arp or icmp6 or ip proto 112 or ip6 proto 112").start()
    t = time.monotonic()
    m.start("n1")
    m.wait_added("n1", VIP4, after=t)
    time.sleep(GARP_WINDOW)  # the scenario: GARP_WINDOW seconds as MASTER
    cap.stop()
    m.stop_all()
    vip6 = V3_IPV6.vip
    rows = cap.fields(
        ["frame.time_epoch", "vrrp.prio", "ipv6.dst", "eth.src", "eth.dst", "arp.opcode",
         "icmpv6.nd.na.flag.o"],
        f"vrrp.prio == {HIGH} || (arp.src.proto_ipv4 == {VIP4} && arp.dst.proto_ipv4 == {VIP4})"
        f" || (icmpv6.type == 136 && icmpv6.nd.na.target_address == {vip6})")
    out = {}
    for family in (4, 6):
        mine = [r for r in rows if bool(r["ipv6.dst"]) == (family == 6)]
        adverts = [float(r["frame.time_epoch"]) for r in mine if r["vrrp.prio"]]
        assert adverts, f"{kind}: no IPv{family} adverts captured\n{m.logs()}"
        frames = [r for r in mine if not r["vrrp.prio"]]
        if family == 4:
            shapes = {f"{r['eth.src']}>{r['eth.dst']} op {r['arp.opcode']}" for r in frames}
        else:
            shapes = {f"{r['eth.src']}>{r['ipv6.dst']} O={r['icmpv6.nd.na.flag.o']}"
                      for r in frames}
        times = [float(r["frame.time_epoch"]) - adverts[0] for r in frames]
        out[family] = (bursts([x for x in times if x < GARP_WINDOW - 0.3]), sorted(shapes))
    return out


def test_garp_master_delay_repeat_refresh_on_the_wire_match_keepalived(
    lab: Lab, request: pytest.FixtureRequest
) -> None:
    """keepalived, then pykeepalived, alone on n1 with the same config: the same gratuitous
    ARP and unsolicited NA frames, in the same bursts at the same moments (within 0.25 s)."""
    seen = on_each_daemon(lab, request, announcements)
    for family in (4, 6):
        (ka, ka_shapes), (py, py_shapes) = seen["ka"][family], seen["py"][family]
        # keepalived itself: 3 at once, 3 more after the 1 s delay, 1 every 2 s refresh
        assert [c for _, c in ka] == [3, 3, 1, 1], ka
        assert py_shapes == ka_shapes, family
        assert [c for _, c in py] == [c for _, c in ka], f"keepalived {ka}\npykeepalived {py}"
        for (ka_at, _), (py_at, _) in zip(ka, py, strict=True):
            assert abs(py_at - ka_at) <= 0.25, f"keepalived {ka}\npykeepalived {py}"


# ------------------------------------------------------------------------------ auth_type AH


AH_LINES = ("    authentication {", "        auth_type AH", "        auth_pass s3cret", "    }")
#: what keepalived logs when it refuses an AH advert (bad ICV or SPI, or a replayed number)
AH_REFUSALS = ("IPSEC-AH : invalid", "IPSEC AH : invalid", "already processed")


def ipv4_packets(frames: list[bytes]) -> list[bytes]:
    return [f[14:] for f in frames if f[12:14] == b"\x08\x00"]


def ah_numbers(frames: list[bytes], src: str) -> list[int]:
    """The AH sequence numbers ``src`` sent, in order (frames from the bridge capture)."""
    out = []
    for ip in ipv4_packets(frames):
        if len(ip) >= 44 and ip[9] == 51 and str(ip_address(ip[12:16])) == src:
            out.append(int.from_bytes(ip[28:32], "big"))
    return out


@pytest.mark.parametrize("role", list(ROLES))
def test_auth_type_ah_adverts_are_accepted_both_ways_through_every_handover(
    mixed: Mixed, role: str
) -> None:
    """IPsec AH (keepalived's HMAC-MD5-96 and sequence numbers) with keepalived: the BACKUP
    of either implementation accepts the MASTER's adverts (it stays BACKUP), a stop's
    priority 0 is accepted (the takeover comes after the skew time, not the master-down
    interval), the restarted node learns the numbers and takes back over, and a killed
    pykeepalived's last word (said by its supervisor, numbered ahead) is accepted too."""
    variant = V2_IPV4
    vip = variant.vip
    text = global_defs(variant) + instance("VI_1", 51, variant, PRIOS, extra=AH_LINES)
    cap = mixed.lab.capture("ip proto 51 or ip proto 112").start()
    start_in_order(mixed, ROLES[role], text, vip)
    # n2 hears n1's AH adverts and accepts them: it never becomes MASTER
    mixed.hold_steady(vip, ["n1"], variant.master_down(LOW) + 1.0)
    assert "Entering MASTER STATE" not in mixed.daemon("n2").log(), mixed.logs()
    # n1 stops: its priority 0, under AH, is accepted
    t = time.monotonic()
    stopped(mixed, "n1")
    added = mixed.wait_added("n2", vip, after=t)
    check_within(added - t, variant.skew(LOW) + MARGIN, "takeover after an AH priority 0", mixed)
    # n1 comes back (its counter at 0): it learns n2's numbers and takes back over
    t = time.monotonic()
    mixed.start("n1")
    mixed.wait_added("n1", vip, after=t)
    assert mixed.wait_single_holder(vip) == "n1", mixed.logs()
    mixed.hold_steady(vip, ["n1"], 2 * variant.advert_int)
    if ROLES[role][0] == "py":
        # a crash of pykeepalived's VRRP process: the supervisor's AH priority 0
        t = time.monotonic()
        crash_vrrp_child(mixed.daemon("n1"))
        added = mixed.wait_added("n2", vip, after=t)
        check_within(added - t, variant.skew(LOW) + MARGIN, "takeover after the last word",
                     mixed)
    cap.stop()
    for name in NODES:
        d = mixed.daemon(name)
        if d.kind == "ka":
            refused = [line for line in d.log().splitlines()
                       if any(r in line for r in AH_REFUSALS)]
            assert not refused, f"keepalived refused adverts:\n{refused}\n{mixed.logs()}"
    frames = read_frames(cap.path)
    # only AH on the wire, from both nodes, and each node's numbers rise
    assert not [ip for ip in ipv4_packets(frames) if ip[9] == 112]
    for src in ("192.0.2.1", "192.0.2.2"):
        numbers = ah_numbers(frames, src)
        assert numbers, f"no AH adverts from {src}"
        assert numbers == sorted(numbers), (src, numbers)


def crash_vrrp_child(d: Daemon) -> None:
    """SIGKILL the VRRP process only: the supervising parent hands over for it."""
    os.kill(d.vrrp_pid(), signal.SIGKILL)


@pytest.mark.parametrize("change", [
    ("", ""), ("auth_type AH", "auth_type ah"), ("auth_type AH", "auth_type pass"),
    ("        auth_pass s3cret\n", ""), ("@n1 state BACKUP", "@n1 state MASTER")])
def test_auth_type_config_test_exits_as_keepalived(lab: Lab, change: tuple[str, str]) -> None:
    """-t on the cases keepalived 2.2.7 clears (unknown type, AH without a password, AH with
    state MASTER): both exit 5, and both exit 0 on a plain AH config."""
    node = lab.add_node("n1")
    conf = lab.tmpdir / "ah.conf"
    text = global_defs(V2_IPV4) + instance("VI_1", 51, V2_IPV4, {"n1": HIGH}, extra=AH_LINES)
    assert change[0] in text
    conf.write_text(text.replace(*change))
    ka = node.exec(["keepalived", "-t", "-i", "n1", "-f", str(conf)])
    py = node.exec([sys.executable, "-m", "pykeepalived", "-t", "-i", "n1", "-f", str(conf)])
    assert py.returncode == ka.returncode, (ka.returncode, ka.stderr, py.returncode, py.stderr)
    assert ka.returncode == (0 if change == ("", "") else 5), ka.stderr
