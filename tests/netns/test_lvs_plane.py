"""The nftables forwarding plane on a real kernel: a client, a director, three real servers.

One lab serves the whole module (building it is most of the cost): the client 192.0.2.1 (and
192.0.2.50-57 for hashing by source), the director 192.0.2.2 / 198.51.100.2 holding the VIP
192.0.2.100 (2001:db8::100), and real servers rs1-rs3 at 198.51.100.11-13 (2001:db8:1::11-13)
whose default route is the director, each answering a TCP connection on ports 80 and 8080
with its name and closing it. Every test starts from that baseline (:meth:`Topo.baseline`).
Clients are one Python process in the client's namespace making many short connections.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from ipaddress import ip_address
from typing import Any, Literal

import pytest

from pykeepalived.lvs.model import LbKind
from pykeepalived.lvs.nft_plane import NftPlane
from pykeepalived.lvs.table import Destination, Service
from pykeepalived.net.nft import nft
from tests.netns.lab import Lab, Node

pytestmark = pytest.mark.netns

VIP, VIP6 = "192.0.2.100", "2001:db8::100"
SOURCES = [f"192.0.2.{n}" for n in range(50, 58)]
RS = {f"rs{i}": (f"198.51.100.1{i}", f"2001:db8:1::1{i}") for i in (1, 2, 3)}
TABLE = "pklvs_test"

SERVER = r"""
import selectors, socket, sys
name, ports = sys.argv[1].encode(), [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for port in ports:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(1024)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept()
        except OSError:
            continue
        try:
            conn.sendall(name)
        except OSError:
            pass
        conn.close()
"""

CLIENT = r"""
import errno, json, socket, sys, time
spec = json.loads(sys.argv[1])
target, port, timeout = spec["target"], spec["port"], spec["timeout"]
family = socket.AF_INET6 if ":" in target else socket.AF_INET

def one(source):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((target, port))
        data = b""
        while chunk := s.recv(64):
            data += chunk
        return data.decode() or "error:empty"
    except OSError as exc:
        return "error:" + (errno.errorcode.get(exc.errno, "") if exc.errno else type(exc).__name__)
    finally:
        s.close()

results = []
sources = spec["sources"] or [None]
if spec.get("duration"):
    print("started", flush=True)
    end = time.monotonic() + spec["duration"]
    tally = {}
    while time.monotonic() < end:
        answer = one(None)
        tally[answer] = tally.get(answer, 0) + 1
    # A summary: the parent reads only once this process has ended (a pipe holds 64 KiB).
    print(json.dumps(tally), flush=True)
    sys.exit(0)
else:
    for source in sources:
        for _ in range(spec["count"]):
            results.append([source, one(source)])
print(json.dumps(results), flush=True)
"""


class Topo:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.client = lab.add_node("client", ipv4="192.0.2.1/24", ipv6="2001:db8::1/64")
        self.director = lab.add_node("dir", ipv4="192.0.2.2/24", ipv6="2001:db8::2/64")
        self.servers = {name: lab.add_node(name, ipv4=f"{v4}/24", ipv6=f"{v6}/64")
                        for name, (v4, v6) in RS.items()}
        self.server_py = lab.tmpdir / "server.py"
        self.client_py = lab.tmpdir / "client.py"
        self.server_py.write_text(SERVER)
        self.client_py.write_text(CLIENT)
        ip(self.client, *(f"addr add {a}/24 dev eth0" for a in SOURCES))
        ip(self.director, "addr add 198.51.100.2/24 dev eth0",
           "addr add 2001:db8:1::2/64 dev eth0 nodad")
        sysctl(self.director, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
               "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")
        for name, node in self.servers.items():
            proc = node.popen([sys.executable, str(self.server_py), name, "80", "8080"],
                              stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self.plane = NftPlane(TABLE, netns=self.director.ns)

    def baseline(self) -> None:
        """The VIPs on the director, the servers routed through it, no plane tables."""
        self.plane.remove()
        ip(self.director, f"addr replace {VIP}/32 dev eth0",
           f"addr replace {VIP6}/128 dev eth0 nodad")
        for node in self.servers.values():
            ip(node, "route replace default via 198.51.100.2",
               "route replace ::/0 via 2001:db8:1::2")

    def connect(self, count: int, *, target: str = VIP, port: int = 80,
                sources: Sequence[str] = (), timeout: float = 1.0) -> list[tuple[str, str]]:
        """``count`` connections (from each of ``sources``): (source, answer or error:...)."""
        spec = {"target": target, "port": port, "timeout": timeout, "count": count,
                "sources": list(sources)}
        proc = self.client.exec([sys.executable, str(self.client_py), json.dumps(spec)],
                                check=True, timeout=60)
        return [(s, r) for s, r in json.loads(proc.stdout)]

    def tally(self, count: int, **kwargs: Any) -> Counter[str]:
        return Counter(r for _, r in self.connect(count, **kwargs))


def ip(node: Node, *commands: str) -> None:
    proc = subprocess.run(["ip", "-n", node.ns, "-batch", "-"],
                          input="\n".join(commands) + "\n", text=True, capture_output=True)
    if proc.returncode:
        raise RuntimeError(f"ip -n {node.ns}: {commands}: {proc.stderr.strip()}")


def sysctl(node: Node, *settings: str) -> None:
    node.exec(["sysctl", "-q", "-w", *settings], check=True)


def service(algo: str = "wrr", weights: Sequence[int] = (1, 1, 1), *, port: int = 8080,
            family: Literal[4, 6] = 4, kind: LbKind = "NAT", **kwargs: Any) -> Service:
    """The VIP's port 80 on the real servers of non-zero weight."""
    vip = VIP if family == 4 else VIP6
    dests = tuple(Destination(ip_address(RS[name][0 if family == 4 else 1]), port, w, kind)
                  for name, w in zip(RS, weights, strict=False) if w)
    return Service(key=f"[{vip}]:tcp:80", family=family, protocol="TCP",
                   endpoints=((ip_address(vip), 80),), lb_algo=algo, destinations=dests,
                   **kwargs)


@pytest.fixture(scope="module")
def topo_lab(lab_host: None) -> Iterator[Topo]:
    with Lab() as lab:
        yield Topo(lab)


@pytest.fixture
def topo(topo_lab: Topo) -> Iterator[Topo]:
    topo_lab.baseline()
    yield topo_lab
    topo_lab.plane.remove()


def test_wrr_follows_the_weights_and_counters_count(topo: Topo) -> None:
    topo.plane.apply([service("wrr", (1, 2, 3))])
    got = topo.tally(3000)
    assert set(got) == {"rs1", "rs2", "rs3"}, got
    for name, share in (("rs1", 1 / 6), ("rs2", 2 / 6), ("rs3", 3 / 6)):
        assert abs(got[name] / 3000 - share) < 0.05, got
    counters = topo.plane.counters()
    key = f"[{VIP}]:tcp:80"
    packets = {addr: counters[(key, ip_address(addr), 8080)].packets
               for addr, _ in RS.values()}
    # a connection is at least SYN, ACK, FIN from the client
    assert all(packets[RS[name][0]] >= 3 * got[name] for name in RS), (packets, got)
    assert all(c.bytes > 0 for c in counters.values())
    # A re-apply keeps the counts (the counters are kept, not rewritten).
    topo.plane.apply([service("wrr", (1, 2, 3))])
    again = topo.plane.counters()
    assert all(again[k].packets >= counters[k].packets for k in counters), (counters, again)


def test_rr_ignores_the_weights(topo: Topo) -> None:
    topo.plane.apply([service("rr", (1, 5, 9))])
    got = topo.tally(1500)
    assert got == {"rs1": 500, "rs2": 500, "rs3": 500}


@pytest.mark.parametrize("algo", ["sh", "mh"])
def test_source_hashing_keeps_each_client_on_one_server(topo: Topo, algo: str) -> None:
    topo.plane.apply([service(algo, (1, 1, 1))])
    by_source: dict[str, set[str]] = {}
    for source, answer in topo.connect(8, sources=SOURCES):
        by_source.setdefault(source, set()).add(answer)
    assert all(len(answers) == 1 for answers in by_source.values()), by_source
    chosen = {next(iter(a)) for a in by_source.values()}
    assert chosen <= set(RS) and len(chosen) >= 2, by_source


def test_dh_and_fo_send_everything_to_one_server(topo: Topo) -> None:
    topo.plane.apply([service("dh", (1, 1, 1))])
    assert len(topo.tally(4, sources=SOURCES)) == 1
    topo.plane.apply([service("fo", (2, 7, 3))])
    assert topo.tally(30, sources=SOURCES[:2]) == {"rs2": 60}


def test_persistence_keeps_the_client_then_expires(topo: Topo) -> None:
    persistent = service("rr", (1, 1, 1), persistence_timeout=2)
    topo.plane.apply([persistent])
    first = topo.tally(6, sources=[SOURCES[0]])
    assert len(first) == 1, first
    (server,) = first
    # Another client's new connections go round the others meanwhile.
    assert topo.tally(2, sources=[SOURCES[1]])
    # Re-applying the same services keeps the client's entry (carried over).
    topo.plane.apply([persistent])
    assert topo.tally(3, sources=[SOURCES[0]]) == {server: 3}
    # Removing its server drops the entry: the client is scheduled afresh, on another.
    others = tuple(0 if name == server else 1 for name in RS)
    topo.plane.apply([service("rr", others, persistence_timeout=2)])
    moved = topo.tally(3, sources=[SOURCES[0]])
    assert len(moved) == 1 and server not in moved, moved
    (new_server,) = moved
    time.sleep(2.5)  # the scenario: the client stays away longer than the timeout
    later = topo.tally(1, sources=[SOURCES[0]])
    assert later and new_server not in later, later


def test_persistence_granularity_groups_clients(topo: Topo) -> None:
    topo.plane.apply([service("rr", (1, 1, 1), persistence_timeout=30,
                              persistence_granularity=24)])
    got = topo.tally(3, sources=SOURCES)
    assert len(got) == 1, got


@pytest.mark.parametrize("kind", ["NAT", "DR"])
def test_replacing_the_table_never_fails_a_connection(topo: Topo, kind: LbKind) -> None:
    port = 8080 if kind == "NAT" else 0
    full = service("wrr", (1, 1, 1), port=port, kind=kind)
    fewer = service("wrr", (1, 0, 1), port=port, kind=kind)
    with direct_routing(topo) if kind == "DR" else contextlib.nullcontext():
        topo.plane.apply([full])
        spec = {"target": VIP, "port": 80, "timeout": 2.0, "count": 0, "sources": [],
                "duration": 2.0}
        proc = topo.client.popen([sys.executable, str(topo.client_py), json.dumps(spec)],
                                 stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        applies = 0
        while proc.poll() is None:
            topo.plane.apply([fewer if applies % 2 else full])
            applies += 1
        results = Counter(json.loads(proc.stdout.read()))
    assert applies >= 10 and sum(results.values()) >= 200, (applies, results)
    assert set(results) == {"rs1", "rs2", "rs3"}, results


def test_no_destination_refuses_connections(topo: Topo) -> None:
    topo.plane.apply([service("wrr", (0, 0, 0))])
    assert topo.tally(3) == {"error:ECONNREFUSED": 3}


def test_only_a_local_vip_is_balanced(topo: Topo) -> None:
    topo.plane.apply([service("rr", (1, 1, 1))])
    # The client sends to the director whether it holds the VIP or not.
    ip(topo.client, f"route replace {VIP}/32 via 192.0.2.2")
    try:
        assert set(topo.tally(3)) == {"rs1", "rs2", "rs3"}
        ip(topo.director, f"addr del {VIP}/32 dev eth0")
        got = topo.tally(2, timeout=0.5)
        assert not any(set(RS) & set(got)), got
        ip(topo.director, f"addr add {VIP}/32 dev eth0")
        assert set(topo.tally(3)) == {"rs1", "rs2", "rs3"}
    finally:
        ip(topo.client, f"route del {VIP}/32")


def test_clients_on_the_director_are_balanced(topo: Topo) -> None:
    topo.plane.apply([service("rr", (1, 1, 1))])
    proc = topo.director.exec([sys.executable, str(topo.client_py), json.dumps(
        {"target": VIP, "port": 80, "timeout": 1.0, "count": 3, "sources": []})], check=True)
    assert {r for _, r in json.loads(proc.stdout)} == {"rs1", "rs2", "rs3"}


def test_masquerade_when_servers_do_not_route_through_the_director(topo: Topo) -> None:
    for node in topo.servers.values():
        ip(node, "route del default")
    topo.plane.apply([service("rr", (1, 1, 1))])
    assert not any(r in RS for r in topo.tally(2, timeout=0.5))  # answers cannot come back
    masq = NftPlane(TABLE, masquerade=True, netns=topo.director.ns)
    masq.apply([service("rr", (1, 1, 1))])
    assert topo.tally(300) == {"rs1": 100, "rs2": 100, "rs3": 100}
    assert "masquerade" in nft(f"list table ip {TABLE}", netns=topo.director.ns)


def test_ipv6_service(topo: Topo) -> None:
    topo.plane.apply([service("wrr", (1, 0, 3), family=6)])
    got = topo.tally(400, target=VIP6)
    assert got == {"rs1": 100, "rs3": 300}, got
    counters = topo.plane.counters()
    assert counters[(f"[{VIP6}]:tcp:80", ip_address(RS["rs3"][1]), 8080)].packets >= 900


@contextlib.contextmanager
def direct_routing(topo: Topo) -> Iterator[None]:
    """Each real server holds the VIP on its loopback, keeps quiet about it on the wire, and
    answers the client directly."""
    for node in topo.servers.values():
        ip(node, f"addr add {VIP}/32 dev lo", "route replace 192.0.2.0/24 dev eth0")
        sysctl(node, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
    try:
        yield
    finally:
        for node in topo.servers.values():
            ip(node, f"addr del {VIP}/32 dev lo", "route del 192.0.2.0/24 dev eth0")
            sysctl(node, "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.all.arp_announce=0")


def test_direct_routing(topo: Topo) -> None:
    # Counts the answers (from the VIP) that reach the director: with DR, none should.
    observer = ("table ip pkobserve {\n chain pre { type filter hook prerouting priority -400;"
                f" ip saddr {VIP} counter; }}\n}}")
    nft(observer, netns=topo.director.ns)
    with direct_routing(topo):
        topo.plane.apply([service("wrr", (1, 2, 1), port=0, kind="DR")])
        got = topo.tally(400)
        assert got == {"rs1": 100, "rs2": 200, "rs3": 100}, got
        seen = nft("list table ip pkobserve", netns=topo.director.ns)
        nft("delete table ip pkobserve", netns=topo.director.ns)
        assert "counter packets 0 bytes 0" in seen, seen
        counters = topo.plane.counters()
        assert counters[(f"[{VIP}]:tcp:80", ip_address(RS["rs2"][0]), 0)].packets >= 600
        topo.plane.apply([service("sh", (1, 1, 1), port=0, kind="DR")])
        by_source: dict[str, set[str]] = {}
        for source, answer in topo.connect(5, sources=SOURCES):
            by_source.setdefault(source, set()).add(answer)
        assert all(len(a) == 1 and a <= set(RS) for a in by_source.values()), by_source
        assert "dup to 198.51.100.11" in nft(f"list table ip {TABLE}", netns=topo.director.ns)


def test_remove_is_idempotent(topo: Topo) -> None:
    topo.plane.apply([service("rr"), service("rr", family=6)])
    assert TABLE in nft("list tables", netns=topo.director.ns)
    topo.plane.remove()
    topo.plane.remove()
    assert TABLE not in nft("list tables", netns=topo.director.ns)
    assert topo.plane.counters() == {}
