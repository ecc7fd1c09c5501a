"""The JSON dump (``kill -s $(keepalived --signum=JSON)``) against keepalived 2.2.7's own.

The fixtures in tests/vectors/json/ were written by Debian's keepalived on lab namespaces
(``capture.py`` there) from ``pair.conf`` (nodes n1 and n2) and ``solo.conf`` (node n3). Here
the same configurations run through pykeepalived's config, runtime and core, driven into the
states keepalived was in, and :func:`dumps.json_data` must give, instance by instance, the same
keys in the same order with the same JSON types, and the same values wherever the value follows
from the configuration and the state.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import load_config
from pykeepalived.core.actions import State
from pykeepalived.core.node import Node
from pykeepalived.core.priority import TrackerKind
from pykeepalived.core.router import VirtualRouter
from pykeepalived.daemon import dumps, runtime
from pykeepalived.daemon.runtime import InstanceRuntime
from pykeepalived.daemon.scripts import split_command

VECTORS = Path(__file__).parents[2] / "vectors" / "json"
WALL = 1_795_791_500.0  # the wall clock at monotonic 0 in these tests

#: Values that depend on when and how long the daemons ran, not on configuration and state.
RUNTIME_KEYS = {"last_transition", "master_priority"}

#: Where pykeepalived's value differs from keepalived's for the same configuration, and why.
KNOWN_DIFFERENCES = {
    # keepalived's default garp_lower_prio_* comes from the global vrrp_garp_master_delay /
    # _repeat; pykeepalived's config takes the instance's garp_master_delay / _repeat.
    ("VI_PASS", "garp_lower_prio_delay"): "default from the instance, not global_defs",
    ("VI_PASS", "garp_lower_prio_rep"): "default from the instance, not global_defs",
    # keepalived zeroes garp_lower_prio_* under strict mode; pykeepalived's config keeps them.
    ("VI_STRICT", "garp_lower_prio_delay"): "not zeroed by strict_mode",
    ("VI_STRICT", "garp_lower_prio_rep"): "not zeroed by strict_mode",
    # keepalived shows a typed route without an interface as "add ..." (not from its words).
    ("VI_PASS", "vroutes"): "'add' vs 'prepend' on the blackhole route",
}

#: The VIP keepalived's kernel refused (EINVAL: brd with scope link), so never "set" there.
REFUSED = "192.0.2.103/24"


def load(name: str) -> list[dict[str, dict[str, Any]]]:
    data: list[dict[str, dict[str, Any]]] = json.loads((VECTORS / name).read_text())
    return data


class Scenario:
    """A configuration through pykeepalived's translation and core, without a kernel."""

    def __init__(self, conf: str, node_id: str, address: int) -> None:
        result = load_config(VECTORS / conf, config_id=node_id)
        assert result.config is not None and result.ok, [str(d) for d in result.diagnostics]
        self.config = config = result.config
        self.runtimes: dict[str, InstanceRuntime] = {}
        for cfg in config.vrrp_instances:
            src = runtime.explicit_source(cfg) or (
                IPv6Address(f"fe80::ff:fe00:{address}") if cfg.family == 6
                else IPv4Address(f"192.0.2.{address}"))
            vip_if = cfg.use_vmac if cfg.use_vmac else None
            self.runtimes[cfg.name] = runtime.instance_runtime(
                config, cfg, vip_if=vip_if, src=src, fast_preempt=True)
        self.node = Node([rt.params for rt in self.runtimes.values()],
                         runtime.sync_groups(config, self.runtimes))
        self.holding: set[str] = set()

    @property
    def routers(self) -> dict[str, VirtualRouter]:
        return dict(self.node.routers)

    def run(self, until: float, scripts_ok: bool) -> None:
        """Start with trk0 down and every script reporting ``scripts_ok`` (except
        /bin/false), then let the timers run to ``until``."""
        for router in self.node.routers.values():
            for spec in router.params.trackers:
                if spec.kind is TrackerKind.INTERFACE:
                    router.tracker_values[spec.key] = spec.name != "trk0"
                elif spec.kind is TrackerKind.SCRIPT:
                    script = self.config.vrrp_scripts[spec.name].script or ""
                    router.tracker_values[spec.key] = scripts_ok and "false" not in script
        self.node.start(0.0)
        while (deadline := self.node.deadline()) is not None and deadline <= until:
            self.node.handle_timer(deadline)

    def held(self, name: str) -> set[str]:
        if self.node.routers[name].state is not State.MASTER:
            return set()
        return {str(v.address) for v, _ in self.runtimes[name].vips()} - {REFUSED}

    def json(self) -> list[dict[str, dict[str, Any]]]:
        return dumps.json_data(self.config, self.routers, self.runtimes, self.held, WALL,
                               merged_usr)


def merged_usr(command: str) -> list[str]:
    """Scripts as keepalived showed them on the capture host (Debian 12: /bin -> usr/bin):
    what :func:`dumps.script_argv` gives there, without depending on this host's layout."""
    words = split_command(command)
    return [("/usr" + w if i == 0 and w.startswith("/bin/") else w) for i, w in enumerate(words)]


def json_type(value: object) -> str:
    return type(value).__name__ if not isinstance(value, list) else \
        "list[" + ",".join(sorted({type(v).__name__ for v in value})) + "]"


def compare(ours: list[dict[str, dict[str, Any]]], theirs: list[dict[str, dict[str, Any]]],
            *, values: bool = True) -> list[str]:
    """Every difference, as text: instance order, keys and their order, JSON types, and
    (unless runtime or known) values."""
    problems: list[str] = []
    names = [i["data"]["iname"] for i in ours]
    if names != [i["data"]["iname"] for i in theirs]:
        return [f"instances {names} vs {[i['data']['iname'] for i in theirs]}"]
    for mine, ref in zip(ours, theirs, strict=True):
        name = ref["data"]["iname"]
        if list(mine) != list(ref):
            problems.append(f"{name}: parts {list(mine)} vs {list(ref)}")
            continue
        for part in ref:
            if list(mine[part]) != list(ref[part]):
                problems.append(f"{name}.{part}: keys {list(mine[part])} vs {list(ref[part])}")
                continue
            for key, want in ref[part].items():
                got = mine[part][key]
                if json_type(got) != json_type(want):
                    problems.append(f"{name}.{key}: type {json_type(got)} vs {json_type(want)}")
                elif (values and part == "data" and key not in RUNTIME_KEYS
                      and (name, key) not in KNOWN_DIFFERENCES and got != want):
                    problems.append(f"{name}.{key}: {got!r} vs keepalived {want!r}")
    return problems


@pytest.mark.parametrize(("node_id", "address", "capture"), [
    ("n1", 1, "pair-n1.json"),  # MASTER from the start (and FAULT on VI_FAULT)
    ("n2", 2, "pair-n2-takeover.json"),  # MASTER after n1 stopped
])
def test_pair_master_node_matches_keepalived(node_id: str, address: int, capture: str) -> None:
    s = Scenario("pair.conf", node_id, address)
    s.run(until=20.0, scripts_ok=True)
    assert compare(s.json(), load(capture)) == []


def test_pair_backup_node_matches_keepalived() -> None:
    # n2 heard n1's adverts: BACKUP everywhere but the FAULT instance. Without adverts in this
    # test, the timers stay short of every master-down interval.
    s = Scenario("pair.conf", "n2", 2)
    s.run(until=1.0, scripts_ok=True)
    assert compare(s.json(), load("pair-n2.json")) == []


def test_solo_node_matches_keepalived() -> None:
    s = Scenario("solo.conf", "n3", 3)
    s.run(until=20.0, scripts_ok=True)
    assert compare(s.json(), load("solo-n3.json")) == []


def test_known_differences_are_still_real() -> None:
    """The allow-list above stays honest: each entry names a value that really differs (drop
    it once the config follows keepalived)."""
    for conf, node_id, address, capture in (("pair.conf", "n1", 1, "pair-n1.json"),
                                            ("solo.conf", "n3", 3, "solo-n3.json")):
        s = Scenario(conf, node_id, address)
        s.run(until=20.0, scripts_ok=True)
        ours = {i["data"]["iname"]: i["data"] for i in s.json()}
        for inst in load(capture):
            name = inst["data"]["iname"]
            for key, want in inst["data"].items():
                if (name, key) in KNOWN_DIFFERENCES:
                    assert ours[name][key] != want, (name, key)


def test_cleared_capture_has_every_counter_at_zero_but_what_came_after() -> None:
    """What keepalived's STATS_CLEAR clears: every counter of every instance (only adverts
    sent or received between the clear and the next dump show up again)."""
    before, after = load("pair-n1.json"), load("pair-n1-cleared.json")
    assert compare(after, before, values=False) == []
    for inst in after:
        stats = inst["stats"]
        assert set(stats) == set(before[0]["stats"])
        assert stats["become_master"] == stats["release_master"] == 0
        assert all(v == 0 for k, v in stats.items() if k not in ("advert_sent", "advert_rcvd"))


def test_json_text_is_keepalived_formatted_and_reads_back_as_json_data() -> None:
    s = Scenario("pair.conf", "n1", 1)
    s.run(until=20.0, scripts_ok=True)
    text = dumps.json_text(s.config, s.routers, s.runtimes, s.held, WALL, merged_usr)
    assert text.endswith("]\n") and text.count("\n") == 1 and ": " not in text
    assert json.loads(text) == s.json()
    ref = (VECTORS / "pair-n1.json").read_text()
    # the same writer quirks: "/" escaped, "%g" intervals, "%f" wall-clock transition times
    assert '"script_backup":"\'\\/usr\\/bin\\/true\'"' in ref
    assert '"script_backup":"\'\\/usr\\/bin\\/true\'"' in text
    assert '"adver_int":0.5,' in text and '"adver_int":0.5,' in ref
    assert '"last_transition":1795791' in text


def test_state_numbers_and_types_keepalived_uses() -> None:
    s = Scenario("solo.conf", "n3", 3)
    s.run(until=20.0, scripts_ok=True)
    data = {i["data"]["iname"]: i["data"] for i in s.json()}
    assert (data["VI_OWNER"]["state"], data["VI_SCRIPTFAULT"]["state"]) == (2, 3)
    assert data["VI_OWNER"]["adver_int"] == 0.1
    assert "auth_data" not in data["VI_OWNER"]
    assert dumps.JSON_STATE[State.STOP] == 98


@pytest.mark.parametrize(("argv", "text"), [
    (["/usr/bin/true"], "'/usr/bin/true'"),
    (["/usr/bin/echo", "notify called"], "'/usr/bin/echo' 'notify called'"),
    (["</etc/hosts"], "</etc/hosts"),
])
def test_cmd_str_quotes_every_word_like_keepalived(argv: list[str], text: str) -> None:
    assert dumps.cmd_str(argv) == text


def test_script_argv_resolves_symlinked_directories_as_keepalived_shows_them() -> None:
    resolved = dumps.script_argv("/bin/true", 0)
    assert resolved[0] in ("/usr/bin/true", "/bin/true")
    assert resolved[0] == str(Path("/bin/true").resolve().parent / "true")
    assert dumps.script_argv("/no/such/script 'a b'", 0) == ["/no/such/script", "a b"]


def test_rules_and_routes_the_captures_do_not_cover() -> None:
    from pykeepalived.config.model import VirtualRoute, VirtualRule

    rule = VirtualRule(words=(), from_="all", to="2001:db8::/32", fwmark="16/0xff",
                       table="main", iif="eth0")
    assert dumps.rule_text(rule) == ("from all to 2001:db8::/32 priority 16384 tos 0x0 "
                                     "fwmark 0x10/0xff iif eth0 protocol 18 lookup 254")
    route = VirtualRoute(destination="default", words=("default", "via", "2001:db8::1"),
                         via="2001:db8::1", dev="eth0", table="200", scope="host")
    assert dumps.route_text(route) == ("prepend default via inet6 2001:db8::1 dev eth0 "
                                       "table 200 proto 18 scope 254")
