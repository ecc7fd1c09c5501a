"""auth_hmac on the wire, two pykeepalived nodes and an attacker on the bridge.

A forged advert with priority 255 (valid VRRP, with no trailer or with a trailer made with the
wrong key) does not move the VIP from an enforcing cluster, while the same forgery takes it
from a cluster without auth_hmac; a captured advert replayed inside the window (an old
sequence) and after it (stale) is refused and counted by reason."""

from __future__ import annotations

import signal
import socket
import struct
import time
from ipaddress import IPv4Address

import pytest

from pykeepalived.core import hmac_auth, packet
from pykeepalived.core.hmac_auth import HmacAuth, HmacConfig
from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.vrrp_socket import VrrpSocket
from tests.netns.daemons import Cluster, Daemon, config, ops_args, status_json
from tests.netns.lab import Lab
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"
KEY = "hex:" + bytes(range(32)).hex()
AUTH = f"""    auth_hmac {{
        key 1 {KEY}
        active_key 1
    }}"""
GROUP = IPv4Address("224.0.0.18")
ATTACKER = IPv4Address("192.0.2.3")


def cluster_of(lab: Lab, extra: str) -> Cluster:
    cluster = Cluster(lab)
    for name, prio in (("n1", 150), ("n2", 100)):
        node = lab.add_node(name)
        cluster.add(node, config(prio, advert_int=0.1, extra=extra),
                    extra=ops_args(lab.tmpdir, name))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1", cluster.logs()
    return cluster


def forged(trailer_key: bytes | None) -> bytes:
    """A VRRPv3 advert for VRID 51 at priority 255 from the attacker: no trailer, or one made
    with ``trailer_key``."""
    adv = packet.Advertisement(3, 51, 255, 10, (IPv4Address(VIP),))
    message = packet.encode(adv, ATTACKER, GROUP)
    if trailer_key is None:
        return message
    auth = HmacAuth(HmacConfig(keys=((1, trailer_key),), active_key=1), wall=time.time)
    return message + auth.sign(message, 3, 51, ATTACKER)


def replay(netns: str, payload: bytes, src: str = "192.0.2.1") -> None:
    """Put ``payload`` on the wire as n1 sent it: IPv4 from n1's address (spoofed, so the
    header is ours: IP_HDRINCL), TTL 255, to the VRRP group."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, 255, 112, 0,
                         IPv4Address(src).packed, GROUP.packed)

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
            raw.sendto(header + payload, (str(GROUP), 0))

    run_in_netns(netns, send)


def drops(cluster: Cluster, name: str) -> dict[str, int]:
    counters: dict[str, int] = status_json(cluster.daemons[name])["instances"][0]["counters"]
    return dict(counters["drops"])  # type: ignore[arg-type]


@pytest.mark.parametrize("with_auth", [True, False], ids=["enforce", "no-auth_hmac"])
def test_a_forged_priority_255_advert_moves_the_vip_only_without_auth_hmac(
    lab: Lab, with_auth: bool
) -> None:
    cluster = cluster_of(lab, AUTH if with_auth else "")
    attacker = lab.add_node("n3")
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=attacker.ns, src=ATTACKER) as tx:
        for _ in range(20):  # two seconds of forgeries: far beyond the down interval
            tx.send(forged(None))
            tx.send(forged(bytes(32)))
            time.sleep(0.1)
    holders = cluster.holders(VIP)
    if not with_auth:
        assert "n1" not in holders, cluster.logs()  # the master stepped down for the forger
        return
    assert holders == ["n1"], cluster.logs()
    for name in ("n1", "n2"):
        got = drops(cluster, name)
        assert got.get("auth_ext_missing", 0) >= 15 and got.get("auth_ext_invalid_hmac", 0) >= 15
    log = cluster.daemons["n2"].log()
    assert log.count("(VI_1) invalid authentication HMAC from 192.0.2.3") == 1  # rate-limited
    assert "(VI_1) missing authentication trailer from 192.0.2.3" in log


def test_a_captured_advert_replayed_is_refused_as_replay_then_as_stale(lab: Lab) -> None:
    cluster = cluster_of(lab, AUTH)
    attacker = lab.add_node("n3")
    with VrrpSocket.open(socket.AF_INET, "eth0", netns=attacker.ns, src=ATTACKER) as sock:
        captured = wait_until(lambda: [r for r in sock.recv_batch()
                                       if r.src == IPv4Address("192.0.2.1")], 5,
                              what="an advert of n1's")[0]
        assert len(captured.payload) == 12 + hmac_auth.TRAILER_LEN
    # sent again from n1's own address, as captured: n2 has heard later numbers from it since
    time.sleep(0.3)
    replay(attacker.ns, captured.payload)
    wait_until(lambda: drops(cluster, "n2").get("auth_ext_replay", 0) >= 1, 5,
               what="the replay to be counted", context=cluster.logs)
    time.sleep(6.0)  # the scenario: the default 5 s window passes
    replay(attacker.ns, captured.payload)
    wait_until(lambda: drops(cluster, "n2").get("auth_ext_stale", 0) >= 1, 5,
               what="the stale replay to be counted", context=cluster.logs)
    assert cluster.holders(VIP) == ["n1"], cluster.logs()


KEY2 = "hex:" + bytes(range(100, 132)).hex()


def auth_block(keys: dict[int, str], active: int, mode: str) -> str:
    lines = [f"        key {i} {k}" for i, k in keys.items()]
    return "\n".join(["    auth_hmac {", *lines, f"        active_key {active}",
                      f"        mode {mode}", "    }"])


def test_roll_out_and_key_rotation_on_a_live_cluster_as_docs_say(lab: Lab) -> None:
    """docs/operations.md's procedures, node by node with a reload each: receive-only ->
    permissive -> enforce on a running three-node cluster, then key rotation (add key 2,
    make it active, drop key 1). The VIP never moves and no advert is refused."""
    cluster = Cluster(lab)
    prios = {"n1": 150, "n2": 120, "n3": 100}
    for name, prio in prios.items():
        cluster.add(lab.add_node(name), config(prio, advert_int=0.1),
                    extra=ops_args(lab.tmpdir, name))
    cluster.start_all()
    assert cluster.wait_single_holder(VIP) == "n1", cluster.logs()
    # (a node started before n1 may have been MASTER for a moment: count from here)
    became = {name: status_json(d)["instances"][0]["counters"]["became_master"]
              for name, d in cluster.daemons.items()}
    steps = [({1: KEY}, 1, "receive-only"), ({1: KEY}, 1, "permissive"),
             ({1: KEY}, 1, "enforce"), ({1: KEY, 2: KEY2}, 1, "enforce"),
             ({1: KEY, 2: KEY2}, 2, "enforce"), ({2: KEY2}, 2, "enforce")]
    for keys, active, mode in steps:
        for name, prio in prios.items():
            d = cluster.daemons[name]
            d.config.write_text(config(prio, advert_int=0.1,
                                       extra=auth_block(keys, active, mode)))
            d.signal(signal.SIGHUP)

            def applied(d: Daemon = d, keys: dict[int, str] = keys, active: int = active,
                        mode: str = mode) -> bool:
                auth = status_json(d)["instances"][0]["authentication"]
                return bool(auth) and (auth["mode"], auth["active_key"], auth["keys"]) == (
                    mode, active, sorted(keys))

            wait_until(applied, 10, what=f"{name} to reload ({mode}, key {active})",
                       context=cluster.logs)
            time.sleep(0.5)  # the scenario: half a second of adverts in the new setting
            assert cluster.holders(VIP) == ["n1"], cluster.logs()
    time.sleep(1.0)
    for name in prios:
        st = status_json(cluster.daemons[name])["instances"][0]
        refused = {k: v for k, v in st["counters"]["drops"].items() if k.startswith("auth")}
        assert not refused, (name, refused)
        assert st["counters"]["became_master"] == became[name], name
        outcomes = st["authentication"]["outcomes"]
        if name != "n1":
            assert outcomes["accepted"] > 0
    # n1 goes: the backups still take over on the new key
    t = time.monotonic()
    cluster.daemons["n1"].stop()
    assert cluster.wait_single_holder(VIP) == "n2", cluster.logs()
    assert time.monotonic() - t < 5
