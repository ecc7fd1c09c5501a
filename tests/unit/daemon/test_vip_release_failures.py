"""A VIP the kernel refuses to remove is never forgotten: error log, retries, status.

VipManager runs against a netlink stand-in whose address removal fails a given number of
times (as a kernel under memory pressure or a racing tool might make it fail).
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pykeepalived.config import load_config
from pykeepalived.daemon import runtime
from pykeepalived.daemon.vips import VipManager
from pykeepalived.net.netlink import NetlinkOpError

CONF = """\
vrrp_instance VI_1 {
    interface pkfake0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24
    }
}
"""


class FlakyNetlink:
    """Adds succeed; removals of 192.0.2.100 fail ``failures`` times with EBUSY."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.present: set[str] = set()

    def ifindex(self, ifname: str) -> int:
        return 7

    def add_address(self, ifindex: int, address: Any, **_: Any) -> None:
        self.present.add(str(address))

    def add_addresses(self, vips: list[Any], lifetime: float | None) -> list[int]:
        for v in vips:
            self.add_address(v.ifindex, v.interface)
        return [0] * len(vips)

    def remove_address(self, ifindex: int, address: Any, **_: Any) -> bool:
        if str(address).startswith("192.0.2.100") and self.failures > 0:
            self.failures -= 1
            raise NetlinkOpError("Device or resource busy", errno.EBUSY)
        self.present.discard(str(address))
        return True


def the_instance(tmp_path: Path) -> runtime.InstanceRuntime:
    path = tmp_path / "k.conf"
    path.write_text(CONF)
    config = load_config(str(path)).config
    assert config is not None
    return runtime.instance_runtime(config, config.vrrp_instances[0], vip_if=None,
                                    src=IPv4Address("192.0.2.1"), fast_preempt=True)


def test_failed_removal_is_logged_as_error_retried_and_reported(tmp_path: Path) -> None:
    rt = the_instance(tmp_path)
    nl = FlakyNetlink(failures=2)
    events: list[str] = []
    errors: list[str] = []
    vips = VipManager(nl, events.append, lambda _m: None, lifetime=None,  # type: ignore[arg-type]
                      error=errors.append)
    vips.install(rt)
    assert nl.present == {"192.0.2.100/24", "192.0.2.101/24"}
    vips.release(rt)
    # the other VIP went; the stuck one is reported, not swallowed
    assert nl.present == {"192.0.2.100/24"}
    assert len(errors) == 1 and "cannot remove VIP 192.0.2.100/24" in errors[0]
    assert vips.unreleased("VI_1") == {"192.0.2.100/24"}
    vips.retry_releases()  # fails once more
    assert vips.unreleased("VI_1") == {"192.0.2.100/24"}
    assert "after 2 attempts" in errors[-1]
    vips.retry_releases()  # succeeds
    assert nl.present == set() and vips.unreleased("VI_1") == set()
    assert any("VIP 192.0.2.100/24 removed (attempt 3)" in e for e in events)


def test_becoming_master_again_takes_back_a_stuck_vip(tmp_path: Path) -> None:
    rt = the_instance(tmp_path)
    nl = FlakyNetlink(failures=100)
    vips = VipManager(nl, lambda _m: None, lambda _m: None, lifetime=None)  # type: ignore[arg-type]
    vips.install(rt)
    vips.release(rt)
    assert vips.unreleased("VI_1") == {"192.0.2.100/24"}
    vips.install(rt)  # MASTER again: the address is wanted, stop trying to remove it
    assert vips.unreleased("VI_1") == set()
    vips.retry_releases()
    assert "192.0.2.100/24" in nl.present
