"""The same config puts the same bytes on the wire and the same lines in the log.

Wire: one node runs keepalived, then pykeepalived, on the same interface with the same config;
the adverts each sends as MASTER and its priority-0 advert on shutdown are captured on the
bridge. Same node means same source address, so the VRRP message must match byte for byte,
checksum included, and so must the link and IP fields keepalived sets (TOS / traffic class,
TTL / hop limit, DF, flow label, MAC addresses).

Logs: one event script (election, partition, heal, graceful stop) runs on a mixed pair twice,
with the implementations swapped; for each role the instance lines keepalived logged must be
the ones pykeepalived logged.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass

import pytest

from pykeepalived.net import nft
from tests.interop.mixed import (
    V2_IPV4,
    V2_PASS,
    V3_IPV4,
    V3_IPV6,
    V3_UNICAST,
    Mixed,
    Variant,
    interop_unavailable,
    shared_config,
)
from tests.interop.pcap import VrrpFrame, vrrp_frames
from tests.netns.lab import Lab, Node
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop]

DEAF_TABLE = "pkinterop_deaf"
WIRE_VARIANTS = [V2_IPV4, V2_PASS, V3_IPV4, V3_IPV6, V3_UNICAST]


def adverts_of(lab: Lab, variant: Variant, kind: str) -> tuple[Mixed, list[VrrpFrame], list[str]]:
    """Run ``kind`` alone on n1 as MASTER, then stop it; its adverts and tshark's view."""
    m = Mixed(lab, tag=f"-{kind}")
    # n2 stays idle: it answers ARP for the unicast peer address, nothing else
    m.build((kind, None), shared_config(variant, {"n1": 150, "n2": 100}, masters=("n1",)))
    cap = lab.capture("ip proto 112 or ip6 proto 112").start()
    t = time.monotonic()
    m.start("n1")
    m.wait_added("n1", variant.vip, after=t)
    time.sleep(2.5 * variant.advert_int)  # the scenario: a few adverts as MASTER to compare
    m.daemon("n1").signal(signal.SIGTERM)
    proc = m.daemon("n1").proc
    assert proc is not None and proc.wait(timeout=10) == 0, m.logs()
    cap.stop()
    n1 = lab.nodes["n1"]
    src = n1.ipv4.ip if variant.family == 4 and n1.ipv4 else n1.link_local
    frames = [f for f in vrrp_frames(cap.path) if f.src == src]
    checks = [r["vrrp.checksum.status"] for r in cap.fields(["vrrp.checksum.status"], "vrrp")]
    return m, frames, checks


@pytest.mark.parametrize("variant", WIRE_VARIANTS, ids=lambda v: v.id)
def test_adverts_match_keepalived_byte_for_byte(lab: Lab, variant: Variant,
                                                request: pytest.FixtureRequest) -> None:
    request.node.interop_clusters = []
    runs = {}
    for kind in ("ka", "py"):
        m, frames, checks = adverts_of(lab, variant, kind)
        request.node.interop_clusters.append(m)
        live = [f for f in frames if f.priority == 150]
        stop = [f for f in frames if f.priority == 0]
        assert len(live) >= 2 and len(stop) >= 1, f"{kind}: {frames}\n{m.logs()}"
        # Wireshark decodes every one as VRRP with a good checksum
        assert checks and set(checks) == {"1"}, f"{kind}: checksum status {checks}"
        runs[kind] = (live[0], stop[0])
    (ka_live, ka_stop), (py_live, py_stop) = runs["ka"], runs["py"]
    for ka, py in ((ka_live, py_live), (ka_stop, py_stop)):
        assert py.vrrp == ka.vrrp, f"VRRP message differs:\nka {ka.vrrp.hex()}\npy {py.vrrp.hex()}"
        assert (py.eth_dst, py.eth_src) == (ka.eth_dst, ka.eth_src)
        assert (py.src, py.dst) == (ka.src, ka.dst)
        assert (py.tos, py.ttl, py.df, py.flow_label) == (ka.tos, ka.ttl, ka.df, ka.flow_label)
    assert ka_live.ttl == 255  # RFC 5798 5.1.1.3 / 5.1.2.3: receivers drop anything else


# ---------------------------------------------------------------------------------- logs

#: The instance's event lines and the gratuitous ARP lines, timestamps stripped.
EVENT_RE = re.compile(r"^(?:\w{3} \w{3} [ \d]\d [\d:]{8} \d{4}: )?"
                      r"(\(VI_1\) .*|Sending gratuitous ARP on .*)$")
#: What each role must have logged, so that two silent logs cannot match.
REQUIRED = {
    "n1": {
        "(VI_1) Entering BACKUP STATE (init)",
        "(VI_1) Entering MASTER STATE",
        "(VI_1) Received advert from 192.0.2.2 with lower priority 100, ours 150, "
        "forcing new election",
        "(VI_1) sent 0 priority",
        "Sending gratuitous ARP on eth0 for 192.0.2.100",
    },
    "n2": {
        "(VI_1) Entering BACKUP STATE (init)",
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Master received advert from 192.0.2.1 with higher priority 150, ours 100",
        "(VI_1) Entering BACKUP STATE",
        "(VI_1) Backup received priority 0 advertisement",
        "Sending gratuitous ARP on eth0 for 192.0.2.100",
    },
}


def event_lines(log: str) -> list[str]:
    out = []
    for line in log.splitlines():
        match = EVENT_RE.match(line)
        if match:
            out.append(match.group(1))
    return out


def state_sequence(lines: list[str]) -> list[str]:
    return [line for line in lines if " Entering " in line]


def deafen(node: Node) -> None:
    """Drop VRRP coming in to ``node`` only: it still advertises, and is heard."""
    nft.nft(f"""table inet {DEAF_TABLE}
delete table inet {DEAF_TABLE}
table inet {DEAF_TABLE} {{
    chain in {{ type filter hook input priority -10; policy accept; meta l4proto 112 drop; }}
}}
""", netns=node.ns)


def undeafen(node: Node) -> None:
    nft.unblock_vrrp(netns=node.ns, table=DEAF_TABLE)


@dataclass
class LogSnapshot:
    """The logs of a cluster whose lab is gone, for the failure report."""

    text: str

    def logs(self) -> str:
        return self.text


def run_event_script(m: Mixed, kinds: tuple[str, str]) -> None:
    """Election; n2 deaf (both MASTER, n1 hears a lower master); heal; n1 stops gracefully."""
    variant = V3_IPV4
    vip = variant.vip
    lab = m.lab
    m.build(kinds, shared_config(variant, {"n1": 150, "n2": 100}, masters=("n1",)))
    m.start("n1")
    m.start("n2")
    assert m.wait_single_holder(vip) == "n1", m.logs()
    n2 = lab.nodes["n2"]
    seen = len(m.daemon("n1").log())
    t = time.monotonic()
    deafen(n2)
    m.wait_added("n2", vip, after=t)
    wait_until(lambda: "with lower priority 100, ours 150" in m.daemon("n1").log()[seen:], 5,
               what="n1 to hear the deaf n2's lower adverts", context=m.logs)
    t = time.monotonic()
    undeafen(n2)
    m.wait_removed("n2", vip, after=t)
    assert m.wait_single_holder(vip) == "n1", m.logs()
    t = time.monotonic()
    m.daemon("n1").signal(signal.SIGTERM)
    m.wait_added("n2", vip, after=t)
    proc = m.daemon("n1").proc
    assert proc is not None and proc.wait(timeout=10) == 0
    m.stop_all()


@dataclass
class EventLogs:
    lines: dict[tuple[str, str], list[str]]
    snapshots: list[LogSnapshot]


@pytest.fixture(scope="module")
def event_logs(lab_host: None) -> EventLogs:
    """The event script run twice, implementations swapped; every node's event lines."""
    if (reason := interop_unavailable()) is not None:
        pytest.skip(reason)
    result = EventLogs({}, [])
    for kinds in (("py", "ka"), ("ka", "py")):
        with Lab() as lab:
            m = Mixed(lab)
            try:
                run_event_script(m, kinds)
            except BaseException as exc:
                raise AssertionError(f"event script {kinds} failed: {exc}\n{m.logs()}") from exc
            finally:
                # the lab's files go with it: keep the text for failure reports
                result.snapshots.append(LogSnapshot(m.logs()))
            for name, kind in zip(("n1", "n2"), kinds, strict=True):
                result.lines[(name, kind)] = event_lines(m.daemon(name).log())
    return result


def test_log_lines_for_the_same_events_match_keepalived(
    event_logs: EventLogs, request: pytest.FixtureRequest
) -> None:
    request.node.interop_clusters = event_logs.snapshots
    for name in ("n1", "n2"):
        ka_lines, py_lines = event_logs.lines[(name, "ka")], event_logs.lines[(name, "py")]
        ka, py = set(ka_lines), set(py_lines)
        assert REQUIRED[name] <= ka, f"keepalived on {name} lacks {REQUIRED[name] - ka}"
        assert ka - py == set() and py - ka == set(), (
            f"{name}: only keepalived logged {sorted(ka - py)}; "
            f"only pykeepalived logged {sorted(py - ka)}"
        )
        assert state_sequence(py_lines) == state_sequence(ka_lines), name
