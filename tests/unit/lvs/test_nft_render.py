"""The nftables plane's pure parts: slot tables, the rendered script, ids, reading live state.

The structure of each script is checked as text; the ``netns``-marked tests also have the
kernel check every variant (``nft -c``: evaluated, sent and aborted) in a throwaway network
namespace, and apply a replacement in place there, as the plane does.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import ip_address
from typing import Any

import pytest

from pykeepalived.lvs import nft_sched
from pykeepalived.lvs.nft_plane import NftPlane, read_live_state
from pykeepalived.lvs.nft_render import (
    CT_MARK_BASE,
    SUPPORTED_ALGOS,
    Carry,
    assign_ids,
    check_service,
    counter_comment,
    map_tag,
    parse_counter_comment,
    render,
)
from pykeepalived.lvs.table import Destination, Service
from pykeepalived.net.nft import nft, nft_check, nft_json

VIP, VIP6 = ip_address("192.0.2.100"), ip_address("2001:db8::100")
RS = [ip_address(f"198.51.100.1{i}") for i in (1, 2, 3)]
RS6 = [ip_address(f"2001:db8:1::1{i}") for i in (1, 2, 3)]
KEY = "[192.0.2.100]:tcp:80"


def svc(algo: str = "wrr", weights: tuple[int, ...] = (1, 1, 1), *, port: int = 8080,
        **kwargs: Any) -> Service:
    kind = kwargs.pop("kind", "NAT")
    return Service(key=KEY, family=4, protocol="TCP", endpoints=((VIP, 80),), lb_algo=algo,
                   destinations=tuple(Destination(a, port, w, kind)
                                      for a, w in zip(RS, weights, strict=False)),
                   **kwargs)


def svc6(algo: str = "wrr", **kwargs: Any) -> Service:
    return Service(key=f"[{VIP6}]:tcp:80", family=6, protocol="TCP", endpoints=((VIP6, 80),),
                   lb_algo=algo, destinations=tuple(Destination(a, 80, 1) for a in RS6),
                   **kwargs)


def fwmark_svc(**kwargs: Any) -> Service:
    return Service(key="FWM 7", family=4, protocol="UDP", endpoints=(), fwmarks=(7,),
                   destinations=(Destination(RS[0], 0, 1), Destination(RS[1], 53, 1)),
                   **kwargs)


def chain(script: str, name: str) -> str:
    """A chain's body, a rule a line, without indentation."""
    match = re.search(rf"\tchain {re.escape(name)} {{\n(.*?)\n\t}}", script, re.S)
    assert match, f"no chain {name} in\n{script}"
    return "\n".join(line.strip() for line in match.group(1).splitlines())


def vmap_targets(rule: str) -> Counter[str]:
    """How many slots each goto target holds in a rule's vmap (ranges expanded)."""
    slots: Counter[str] = Counter()
    for first, last, target in re.findall(r"(\d+)(?:-(\d+))? : goto (\w+)", rule):
        slots[target] += int(last or first) - int(first) + 1
    return slots


def dest_chain(script: str, address: str) -> str:
    """The name of the d_/dd_ chain that forwards to ``address``."""
    for name, body in re.findall(r"\tchain (d{1,2}_\d+) {\n(.*?)\n\t}", script, re.S):
        if re.search(rf"(dnat to|dup to) \[?{re.escape(address)}\b", body):
            return str(name)
    raise AssertionError(f"no chain for {address}")


# --- slot tables --------------------------------------------------------------------------


def test_weighted_slots_interleave_in_proportion() -> None:
    slots = nft_sched.weighted_slots([1, 2, 3])
    assert Counter(slots) == {0: 1, 1: 2, 2: 3}
    assert slots == [2, 1, 0, 2, 1, 2]  # smooth: never three of one in a row
    assert Counter(nft_sched.weighted_slots([100, 300])) == {0: 1, 1: 3}  # over the gcd


def test_large_weights_are_approximated_in_a_bounded_table() -> None:
    slots = nft_sched.weighted_slots([1000, 999, 7])
    assert len(slots) == nft_sched.MAX_WRR_SLOTS
    counts = Counter(slots)
    assert abs(counts[0] / len(slots) - 1000 / 2006) < 0.002 and counts[2] >= 1


def test_apportion_gives_every_destination_a_slot_when_it_can() -> None:
    assert nft_sched.apportion([1000, 1, 1], 4) == [2, 1, 1]
    assert sum(nft_sched.apportion([3, 5, 7, 11], 256)) == 256


def test_maglev_follows_the_weights() -> None:
    table = nft_sched.maglev(["a", "b", "c"], [1, 2, 3])
    assert len(table) in nft_sched.MAGLEV_PRIMES
    counts = Counter(table)
    for i, share in enumerate((1 / 6, 2 / 6, 3 / 6)):
        assert abs(counts[i] / len(table) - share) < 0.02


def test_maglev_moves_little_when_a_destination_leaves() -> None:
    names = [f"198.51.100.{n} 80" for n in range(10, 20)]
    before = nft_sched.maglev(names, [1] * 10)
    rest = names[:3] + names[4:]
    after = nft_sched.maglev(rest, [1] * 9, size=len(before))
    kept = [i for i, b in enumerate(before) if b != 3]
    moved = sum(1 for i in kept if rest[after[i]] != names[before[i]])
    # The leaver's slots (a tenth) are shared out; of the others' very few change.
    assert moved / len(kept) < 0.05, moved
    assert nft_sched.maglev(names, [1] * 10) == before  # stable: no randomness


def test_runs_compress_equal_neighbours() -> None:
    assert nft_sched.runs([0, 0, 1, 2, 2, 2]) == [(0, 1, 0), (2, 2, 1), (3, 5, 2)]


# --- what may be installed ------------------------------------------------------------------


def test_supported_algorithms() -> None:
    assert {"rr", "wrr", "sh", "dh", "mh", "fo"} == SUPPORTED_ALGOS
    for algo in SUPPORTED_ALGOS:
        assert check_service(svc(algo)) is None


@pytest.mark.parametrize(("service", "reason"), [
    (svc("wlc"), "lb_algo wlc is not available"),
    (svc("lblcr"), "lb_algo lblcr is not available"),
    (svc(kind="TUN"), "lb_kind TUN is not supported"),
    (Service(key=KEY, family=4, protocol="TCP", endpoints=((VIP, 80),), destinations=(
        Destination(RS[0], 80, 1, "NAT"), Destination(RS[1], 80, 1, "DR"))), "mix NAT and DR"),
    (Service(key=KEY, family=4, protocol="TCP", endpoints=((VIP, 80),),
             destinations=(Destination(RS6[0], 80, 1),)), "is not IPv4"),
    (Service(key=KEY, family=6, protocol="TCP", endpoints=((VIP, 80),)), "is not IPv6"),
    (Service(key=KEY, family=4, protocol="TCP", endpoints=()), "neither an address nor"),
    (svc(persistence_timeout=60, persistence_granularity=33), "out of range for IPv4"),
])
def test_check_service_says_why(service: Service, reason: str) -> None:
    assert reason in (check_service(service) or "")
    with pytest.raises(ValueError, match=re.escape(reason)):
        render("t", [service])


def test_weight_zero_does_not_mix_kinds_or_appear() -> None:
    service = Service(key=KEY, family=4, protocol="TCP", endpoints=((VIP, 80),), destinations=(
        Destination(RS[0], 80, 1, "NAT"), Destination(RS[1], 80, 0, "DR")))
    assert check_service(service) is None
    assert str(RS[1]) not in render("t", [service])


def test_bad_table_names_and_overlaps_are_refused() -> None:
    with pytest.raises(ValueError, match="table name"):
        render("bad name; flush ruleset", [])
    with pytest.raises(ValueError, match="already"):
        render("t", [svc(), replace(svc("rr"), key="other")])


# --- the script -----------------------------------------------------------------------------


def test_script_replaces_the_tables_in_one_go() -> None:
    script = render("pklvs", [svc()])
    assert script.startswith("table ip pklvs\ndelete table ip pklvs\ntable ip pklvs {\n")
    assert script.endswith("}\n\ntable ip6 pklvs\ndelete table ip6 pklvs\n")
    assert "table ip6 pklvs {" not in script  # no IPv6 service: no table, no hook
    assert render("pklvs", []) == ("table ip pklvs\ndelete table ip pklvs\n"
                                   "table ip6 pklvs\ndelete table ip6 pklvs\n")


def test_nat_layout() -> None:
    script = render("t", [svc()])
    for name, hook in (("nat_pre", "type nat hook prerouting priority -100"),
                       ("nat_out", "type nat hook output priority -100"),
                       ("count", "type filter hook postrouting priority 0"),
                       ("guard", "type filter hook input priority 0")):
        assert hook in chain(script, name)
    assert "fib daddr . mark type local jump nat_select" in chain(script, "nat_pre")
    assert "ip daddr . meta l4proto . th dport vmap @nat_ep" in chain(script, "nat_select")
    assert "192.0.2.100 . tcp . 80 : goto s_0" in script
    assert "ct direction original counter name ct mark map @counters" in script
    d = chain(script, dest_chain(script, "198.51.100.11"))
    assert "ct mark set 0x4b41" in d and "meta l4proto tcp dnat to 198.51.100.11:8080" in d
    assert "nat_post" not in script and "masquerade" not in script
    assert "ct status dnat accept" in chain(script, "guard")
    assert "@nat_ep_keys counter drop" in chain(script, "guard")


def test_wrr_slots_follow_the_weights() -> None:
    script = render("t", [svc("wrr", (1, 2, 3))])
    rule = chain(script, "s_0")
    assert rule.startswith("numgen inc mod 6 vmap")
    slots = vmap_targets(rule)
    assert [slots[dest_chain(script, str(a))] for a in RS] == [1, 2, 3]


def test_rr_ignores_weights() -> None:
    script = render("t", [svc("rr", (1, 5, 9))])
    rule = chain(script, "s_0")
    assert rule.startswith("numgen inc mod 3 vmap")
    assert set(vmap_targets(rule).values()) == {1}


@pytest.mark.parametrize(("algo", "hash_port", "hashed"), [
    ("sh", False, "jhash ip saddr mod 256"),
    ("sh", True, "jhash ip saddr . th sport mod 256"),
    ("dh", False, "jhash ip daddr mod 256"),
    # weights 1:1:2 are four turns a round: 64 slots a turn want 256 slots, the next prime
    ("mh", False, "jhash ip saddr mod 509"),
    ("mh", True, "jhash ip saddr . th sport mod 509"),
])
def test_hash_schedulers(algo: str, hash_port: bool, hashed: str) -> None:
    script = render("t", [svc(algo, (1, 1, 2), hash_port=hash_port)])
    rule = chain(script, "s_0")
    assert rule.startswith(hashed + " seed 0x"), rule
    slots = vmap_targets(rule)
    total = sum(slots.values())
    share = slots[dest_chain(script, str(RS[2]))] / total
    assert abs(share - 0.5) < 0.02
    assert render("t", [svc(algo, (1, 1, 2), hash_port=hash_port)]) == script  # stable seed


def test_fo_sends_all_to_the_first_highest_weight() -> None:
    script = render("t", [svc("fo", (2, 7, 7))])
    assert chain(script, "s_0") == f"goto {dest_chain(script, str(RS[1]))}"


def test_port_zero_keeps_the_port_and_fwmark_matches_any_protocol() -> None:
    script = render("t", [fwmark_svc()])
    assert "meta l4proto { tcp, udp, sctp } meta mark vmap @nat_fwm" in script
    assert "0x7 : goto s_0" in script
    assert "dnat to 198.51.100.11\n" in chain(script, dest_chain(script, "198.51.100.11")) + "\n"
    assert "meta l4proto { tcp, udp, sctp } dnat to 198.51.100.12:53" in script


def test_port_zero_service_matches_any_port() -> None:
    service = Service(key="[192.0.2.100]:tcp:0", family=4, protocol="TCP",
                      endpoints=((VIP, 0),), persistence_timeout=300,
                      destinations=(Destination(RS[0], 0, 1),))
    script = render("t", [service])
    assert "ip daddr . meta l4proto vmap @nat_ep_any" in script
    assert "192.0.2.100 . tcp : goto s_0" in script


def test_persistence() -> None:
    service = svc("rr", persistence_timeout=300, persistence_granularity=24)
    script = render("t", [service])
    name = f"p_{map_tag(service)}"
    assert (f"map {name} {{ type ipv4_addr : mark; flags dynamic,timeout; timeout 300s; }}"
            in script)
    s0 = chain(script, "s_0").splitlines()
    assert s0[0].startswith(
        f"ct mark set ip saddr & 255.255.255.0 map @{name} ct mark vmap {{ 0x4b41")
    assert s0[1] == f"delete @{name} {{ ip saddr & 255.255.255.0 : 0x0 }}"
    assert s0[2].startswith("numgen inc mod 3")
    d = chain(script, dest_chain(script, "198.51.100.12"))
    assert f"update @{name} {{ ip saddr & 255.255.255.0 : 0x4b41" in d
    assert "ip saddr map @" in render("t", [svc("rr", persistence_timeout=300)])  # /32


def test_masquerade_only_the_balanced_connections() -> None:
    script = render("t", [svc()], masquerade=True)
    post = chain(script, "nat_post")
    assert "type nat hook postrouting priority 100" in post
    assert f"ct mark & 0xffff0000 == {CT_MARK_BASE:#010x} ct status dnat masquerade" in post


def test_no_destinations_rejects() -> None:
    script = render("t", [svc(weights=(0, 0, 0))])
    assert chain(script, "s_0") == "meta l4proto tcp reject with tcp reset\nreject"
    assert "map counters" not in script and "chain count" not in script


def test_ipv6() -> None:
    service = svc6("rr", persistence_timeout=60, persistence_granularity=64)
    script = render("t", [service, svc()])
    assert "table ip t {" in script and "table ip6 t {" in script
    six = script[script.index("table ip6 t {"):]
    assert "ip6 daddr . meta l4proto . th dport vmap @nat_ep" in six
    assert "2001:db8::100 . tcp . 80 : goto s_0" in six
    assert "meta l4proto tcp dnat to [2001:db8:1::11]:80" in six
    assert "ip6 saddr & ffff:ffff:ffff:ffff:: map @p_" in six


def test_direct_routing() -> None:
    service = svc("wrr", (1, 2, 1), port=0, kind="DR", persistence_timeout=30)
    script = render("t", [service])
    assert "type filter hook prerouting priority -300" in chain(script, "dr_pre")
    assert "nat_pre" not in script
    flows = f"f_{map_tag(service)}"
    ds = chain(script, "ds_0").splitlines()
    assert ds[0] == "notrack"
    assert ds[1].startswith(f"meta mark set ip saddr . th sport map @{flows} meta "
                                    "mark vmap")
    assert f"map {flows} {{ type ipv4_addr . inet_service : mark; flags dynamic,timeout; " \
           "timeout 900s; }" in script
    dd = chain(script, dest_chain(script, "198.51.100.12")).splitlines()
    assert dd[0].startswith(f"update @{flows} {{ ip saddr . th sport : 0x4b41")
    assert dd[-2].startswith("counter name c_") and "dup to 198.51.100.12" in dd[-2]
    assert dd[-1] == "drop"
    assert "@dr_ep_keys counter drop" in chain(script, "guard")


def test_counters_are_named_for_their_destination() -> None:
    script = render("t", [svc(), fwmark_svc()])
    comments = re.findall(r'counter (c_\d+) \{ comment "([^"]*)"; \}', script)
    assert len(comments) == 5
    keys = {parse_counter_comment(c) for _, c in comments}
    assert (KEY, RS[0], 8080) in keys and ("FWM 7", RS[0], 0) in keys


def test_counter_comments_round_trip() -> None:
    for key in ((KEY, RS[0], 8080), ("FWM 7", RS6[1], 0), ("[grp name]:80", RS[2], 443)):
        assert parse_counter_comment(counter_comment(key)) == key
    assert '"' not in counter_comment(('[a"b]:80', RS[0], 1))
    assert parse_counter_comment("nonsense") is None


# --- ids and in-place replacement -----------------------------------------------------------


def test_ids_are_kept_and_freed_ones_not_reused_at_once() -> None:
    ids, after = assign_ids([svc()])
    assert sorted(ids.values()) == [1, 2, 3] and after == 4
    fewer = svc(weights=(1, 0, 1))
    more = replace(fewer, destinations=(*fewer.destinations, Destination(RS[1], 80, 1)))
    again, _ = assign_ids([more], ids, after)
    assert again[(KEY, RS[0], 8080)] == 1 and again[(KEY, RS[2], 8080)] == 3
    assert again[(KEY, RS[1], 80)] == 4  # not 2, which connections may still carry


def test_in_place_replacement_keeps_base_chains_counters_and_dynamic_maps() -> None:
    old = svc("rr", persistence_timeout=60)
    ids, _ = assign_ids([old])
    live = (("base", "nat_pre", "nat prerouting -100"),
            ("base", "dr_pre", "filter prerouting -300"), ("chain", "s_0", ""),
            ("map", "nat_ep", ""),
            ("map", f"p_{map_tag(old)}", "ipv4_addr : mark timeout 60"),
            ("counter", "c_1", ""), ("counter", "c_2", ""), ("counter", "c_9", ""))
    script = render("t", [svc("rr", (1, 0, 1), persistence_timeout=60)],
                    carry=Carry(ids=ids, next_id=4, live={"ip": live}))
    head = script[:script.index("table ip t {")]
    assert "delete table ip t" not in head
    assert script.endswith("table ip6 t\ndelete table ip6 t\n")  # not live: the idiom
    assert "flush chain ip t nat_pre" in head and "delete chain ip t nat_pre" not in head
    assert "delete chain ip t dr_pre" in head  # no longer wanted
    assert "delete chain ip t s_0" in head and "delete map ip t nat_ep" in head
    assert f"delete map ip t p_{map_tag(old)}" not in head
    assert "delete counter ip t c_1" not in head and "delete counter ip t c_9" in head
    assert "delete counter ip t c_2" in head  # its destination left
    # Another timeout: the map is made anew.
    script = render("t", [svc("rr", persistence_timeout=90)],
                    carry=Carry(ids=ids, next_id=4, live={"ip": live}))
    assert f"delete map ip t p_{map_tag(old)}" in script


def test_a_removed_dr_destination_keeps_its_flows_until_they_end() -> None:
    full = svc("wrr", port=0, kind="DR", persistence_timeout=30)
    ids, _ = assign_ids([full])
    gone = (KEY, RS[1], 0)
    fewer = svc("wrr", (1, 0, 1), port=0, kind="DR", persistence_timeout=30)
    script = render("t", [fewer], carry=Carry(ids=ids, next_id=4, draining=[gone]))
    chain_name = f"dd_{ids[gone]}"
    flow_rule, _, persist_rule, _, schedule = chain(script, "ds_0").splitlines()[1:]
    assert f"goto {chain_name}" in flow_rule
    assert f"goto {chain_name}" not in persist_rule and f"goto {chain_name}" not in schedule
    drain = chain(script, chain_name)
    assert "dup to 198.51.100.12" in drain and "update @p_" not in drain
    assert f'counter c_{ids[gone]} {{ comment "{counter_comment(gone)}"; }}' in script
    # Its id is not given to a newcomer meanwhile.
    newcomer = replace(fewer, destinations=(*fewer.destinations,
                                            Destination(ip_address("198.51.100.14"), 0, 1, "DR")))
    assert ids[gone] not in assign_ids([newcomer], ids, 2, reserved=[ids[gone]])[0].values()


def test_read_live_state() -> None:
    documents = [
        {"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "t"}},
                      {"table": {"family": "inet", "name": "t"}},
                      {"table": {"family": "ip", "name": "other"}}]},
        {"nftables": [{"counter": {"family": "ip", "name": "c_4", "table": "t",
                                   "comment": "FWM 7 198.51.100.11 0", "packets": 5,
                                   "bytes": 300}},
                      {"counter": {"family": "ip", "name": "c_5", "table": "other",
                                   "comment": "FWM 7 198.51.100.12 0", "packets": 1}}]},
        {"nftables": [{"chain": {"family": "ip", "table": "t", "name": "nat_pre",
                                 "type": "nat", "hook": "prerouting", "prio": -100}},
                      {"chain": {"family": "ip", "table": "t", "name": "s_0"}}]},
        {"nftables": [{"map": {"family": "ip", "name": "f_x", "table": "t",
                               "type": ["ipv4_addr", "inet_service"], "map": "mark",
                               "timeout": 900, "elem": [[{"elem": {"val": {"concat": [
                                   "192.0.2.1", 4000]}, "expires": 12}}, CT_MARK_BASE | 4]]}}]},
        "garbage", {"nftables": [{"counter": "garbage"}]},
    ]
    state = read_live_state("t", documents)
    assert state.ids == {("FWM 7", RS[0], 0): 4}
    assert state.flow_ids == {4}
    assert state.counters[("FWM 7", RS[0], 0)].bytes == 300
    assert set(state.objects) == {"ip"}
    assert sorted(state.objects["ip"]) == [
        ("base", "nat_pre", "nat prerouting -100"), ("chain", "s_0", ""),
        ("counter", "c_4", ""), ("map", "f_x", "ipv4_addr.inet_service : mark timeout 900")]


# --- the kernel's opinion -------------------------------------------------------------------

VARIANTS = {
    "wrr": [svc("wrr", (1, 2, 3))],
    "rr": [svc("rr")],
    "sh-port": [svc("sh", hash_port=True)],
    "dh": [svc("dh")],
    "mh": [svc("mh", (1, 2, 3))],
    "fo": [svc("fo")],
    "persistent": [svc("rr", persistence_timeout=60, persistence_granularity=24)],
    "empty": [svc(weights=(0, 0, 0))],
    "fwmark": [fwmark_svc(persistence_timeout=30)],
    "ipv6": [svc6("mh", hash_port=True, persistence_timeout=60, persistence_granularity=48)],
    "dr": [svc("wrr", port=0, kind="DR", persistence_timeout=30)],
    "dr-mh": [svc("mh", port=0, kind="DR")],
    "sctp": [Service(key="[192.0.2.101]:sctp:9", family=4, protocol="SCTP",
                     endpoints=((ip_address("192.0.2.101"), 9),),
                     destinations=(Destination(RS[0], 9, 1),))],
    "all": [svc(), svc6(), fwmark_svc(), Service(
        key="[192.0.2.102]:udp:0", family=4, protocol="UDP",
        endpoints=((ip_address("192.0.2.102"), 0),), lb_algo="sh",
        destinations=(Destination(RS[0], 0, 1, "DR"),))],
}


@pytest.fixture(scope="module")
def scratch_netns(lab_host: None) -> Iterator[str]:
    """An empty network namespace, named as the lab names its own (swept if left behind)."""
    import os

    name = f"pk{os.getpid()}x{secrets.token_hex(2)}-nftc"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.netns
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("masquerade", [False, True])
def test_the_kernel_accepts_every_variant(scratch_netns: str, variant: str,
                                          masquerade: bool) -> None:
    nft_check(render("pkcheck", VARIANTS[variant], masquerade=masquerade), netns=scratch_netns)


@pytest.mark.netns
def test_the_kernel_accepts_a_draining_destination(scratch_netns: str) -> None:
    full = svc("mh", port=0, kind="DR", persistence_timeout=30)
    ids, _ = assign_ids([full])
    fewer = svc("mh", (1, 0, 1), port=0, kind="DR", persistence_timeout=30)
    carry = Carry(ids=ids, next_id=4, draining=[(KEY, RS[1], 0)])
    nft_check(render("pkcheck", [fewer], carry=carry), netns=scratch_netns)


def _handles(netns: str) -> dict[str, int]:
    document = nft_json("list chains ip", netns=netns)
    return {c["chain"]["name"]: c["chain"]["handle"] for c in document["nftables"]
            if "chain" in c and c["chain"].get("table") == "pkinplace"}


@pytest.mark.netns
def test_replacing_in_place_in_the_kernel(scratch_netns: str) -> None:
    plane = NftPlane("pkinplace", netns=scratch_netns)
    try:
        plane.apply(VARIANTS["all"])
        hooked = _handles(scratch_netns)
        for variant in ("persistent", "dr", "wrr", "ipv6", "empty", "all", "mh", "fwmark"):
            plane.apply(VARIANTS[variant])
            assert {k[0] for k in plane.counters()} <= {s.key for s in VARIANTS[variant]}
        # The NAT base chains were never re-registered (same handles: changed in place).
        now = _handles(scratch_netns)
        assert {n: now.get(n) for n in ("nat_pre", "nat_out")} == {
            n: hooked[n] for n in ("nat_pre", "nat_out")}
    finally:
        plane.remove()
        plane.remove()
    assert "pkinplace" not in nft("list tables", netns=scratch_netns)
