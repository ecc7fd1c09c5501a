"""Config pieces and observations shared by the interop feature tests.

Like :func:`tests.interop.mixed.shared_config`, every node of a cluster reads the same
keepalived.conf text and the per-node settings are ``@nX`` lines; these builders only add the
blocks the feature tests need (several instances, sync groups, trackers, notify scripts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from pykeepalived.net import nft
from pykeepalived.net.netlink import InterfaceNotFound
from tests.interop.mixed import CHECK_INTERVAL, Mixed, Variant
from tests.netns.lab import Lab, Node
from tests.support import wait_until

MCAST_TABLE = "pkinterop_nomcast"


def global_defs(variant: Variant, *extra: str) -> str:
    lines = ["global_defs {", "    script_user root", f"    vrrp_version {variant.version}",
             *(f"    {line}" for line in extra), "}"]
    return "\n".join(lines) + "\n"


def check_script(name: str, check_dir: Path, nodes: list[str], weight: int) -> str:
    """A vrrp_script passing while ``<check_dir>/<node>.ok`` exists (per node, by @ID)."""
    lines = [f"vrrp_script {name} {{"]
    lines += [f'@{n}    script "/usr/bin/test -f {check_dir / (n + ".ok")}"' for n in nodes]
    lines += [f"    interval {CHECK_INTERVAL:g}", "    timeout 1", f"    weight {weight}",
              "    fall 1", "    rise 1", "}"]
    return "\n".join(lines) + "\n"


def instance(name: str, vrid: int, variant: Variant, prios: dict[str, int], *,
             masters: tuple[str, ...] = (), vip: str | None = None, vip_dev: str | None = "eth0",
             extra: tuple[str, ...] = ()) -> str:
    """One vrrp_instance; ``extra`` lines go inside it (already indented)."""
    names = sorted(prios)
    lines = [f"vrrp_instance {name} {{", "    interface eth0", f"    virtual_router_id {vrid}"]
    lines += [f"@{n} priority {p}" for n, p in prios.items()]
    lines += [f"@{n} state {'MASTER' if n in masters else 'BACKUP'}" for n in names]
    lines += [f"    advert_int {variant.advert_int:g}", *extra]
    if variant.unicast:
        # one peer a line: keepalived reads "unicast_peer { A B }" as peer A with option B
        for i, n in enumerate(names, start=1):
            lines += [f"@{n} unicast_src_ip 192.0.2.{i}", f"@{n} unicast_peer {{"]
            lines += [f"@{n}     192.0.2.{j}" for j in range(1, len(names) + 1) if j != i]
            lines.append(f"@{n} }}")
    address = vip or variant.vip
    plen = 24 if ":" not in address else 64
    dev = f" dev {vip_dev}" if vip_dev else ""
    lines += ["    virtual_ipaddress {", f"        {address}/{plen}{dev}", "    }", "}"]
    return "\n".join(lines) + "\n"


def block_multicast(node: Node) -> None:
    """Drop IPv4 multicast in and out of ``node``: only unicast adverts can pass."""
    nft.nft(f"""table inet {MCAST_TABLE}
delete table inet {MCAST_TABLE}
table inet {MCAST_TABLE} {{
    chain in {{ type filter hook input priority -10; policy accept; ip daddr 224.0.0.0/4 drop; }}
    chain out {{ type filter hook output priority -10; policy accept; ip daddr 224.0.0.0/4 drop; }}
}}
""", netns=node.ns)


def holders_on(m: Mixed, vip: str, ifname: str = "eth0", *, live: bool = False) -> list[str]:
    """The nodes holding ``vip`` on ``ifname`` (a node without that interface, such as a VMAC
    removed on stop, holds nothing); with ``live``, only nodes whose daemon runs (a SIGKILLed
    keepalived leaves its VIPs behind)."""
    out = []
    for name, d in m.cluster.daemons.items():
        if live and not d.alive():
            continue
        try:
            addrs = {str(a.ip) for a in d.node.addresses(ifname)}
        except InterfaceNotFound:
            continue
        if vip in addrs:
            out.append(name)
    return out


def wait_single_holder_on(m: Mixed, vip: str, ifname: str = "eth0", *, live: bool = False,
                          timeout: float = 12.0) -> str:
    """The one node holding ``vip`` on ``ifname`` (see :func:`holders_on`), stable for 0.3 s."""

    def single() -> str:
        holders = holders_on(m, vip, ifname, live=live)
        return holders[0] if len(holders) == 1 else ""

    return wait_until(single, timeout, what=f"exactly one holder of {vip} on {ifname}",
                      stable_for=0.3,
                      context=lambda: f"held by {holders_on(m, vip, ifname)}\n{m.logs()}")


def bursts(times: list[float], gap: float = 0.3) -> list[tuple[float, int]]:
    """Group sorted frame times into bursts (frames less than ``gap`` apart):
    (start, count) per burst."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][-1] < gap:
            out[-1].append(t)
        else:
            out.append([t])
    return [(b[0], len(b)) for b in out]


T = TypeVar("T")


def on_each_daemon(lab: Lab, request: pytest.FixtureRequest,
                   scenario: Callable[[Lab, str, list[Mixed]], T]) -> dict[str, T]:
    """Run ``scenario`` once with keepalived ("ka") and once with pykeepalived ("py") on the
    same lab; every cluster it builds has its daemon logs attached to a failure report."""
    clusters: list[Mixed] = []
    request.node.interop_clusters = clusters
    got = {kind: scenario(lab, kind, clusters) for kind in ("ka", "py")}
    print(got)
    return got
