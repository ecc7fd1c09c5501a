"""auth_hmac beside a real keepalived 2.4 (the wire-format vectors run in every CI run:
tests/unit/core/test_hmac_auth.py). Debian 12 ships keepalived 2.2.7, which has no auth_hmac:
this test needs a keepalived 2.4 built from source, named by PYKEEPALIVED_KEEPALIVED24, and
says so in its skip reason when there is none."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from tests.interop.features import global_defs, instance
from tests.interop.mixed import V2_IPV4, V3_IPV4, V3_IPV6, Mixed, Variant
from tests.netns.lab import Lab

pytestmark = [pytest.mark.netns, pytest.mark.interop]

KEY = "hex:" + bytes(range(32)).hex()
AUTH = ("    auth_hmac {", f"        key 1 {KEY}", "        active_key 1", "    }")


def keepalived24() -> str | None:
    """The keepalived >= 2.4 binary named by PYKEEPALIVED_KEEPALIVED24, if it is one."""
    path = os.environ.get("PYKEEPALIVED_KEEPALIVED24")
    if not path or not os.access(path, os.X_OK):
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    m = re.search(r"Keepalived v(\d+)\.(\d+)", out.stdout + out.stderr)
    return path if m and (int(m.group(1)), int(m.group(2))) >= (2, 4) else None


@pytest.mark.skipif(keepalived24() is None, reason=(
    "no keepalived >= 2.4 here (Debian 12 ships 2.2.7, which has no auth_hmac): build one "
    "from source and set PYKEEPALIVED_KEEPALIVED24 to run this; the 2.4.3 wire vectors are "
    "checked in every run"))
@pytest.mark.parametrize("variant", [V3_IPV4, V3_IPV6, V2_IPV4], ids=lambda v: v.id)
@pytest.mark.parametrize("py_on", ["n1", "n2"])
def test_auth_hmac_mixed_cluster_with_keepalived_2_4(lab: Lab, py_on: str,
                                                     variant: Variant) -> None:
    binary = keepalived24()
    assert binary is not None
    prios = {"n1": 150, "n2": 100}
    text = global_defs(variant) + instance("VI_1", 51, variant, prios, extra=AUTH)
    mixed = Mixed(lab)
    kinds = tuple("py" if n == py_on else "ka" for n in ("n1", "n2"))
    mixed.build(kinds, text)
    for d in mixed.cluster.daemons.values():
        d.binary = binary
        d.vrrp_only_flag = "--vrrp" in subprocess.run(
            [binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    mixed.start("n1")
    mixed.start("n2")
    try:
        assert mixed.wait_single_holder(variant.vip) == "n1", mixed.logs()
        # n2 accepts n1's trailers: it never takes over
        mixed.hold_steady(variant.vip, ["n1"], variant.master_down(100) + 1.0)
        t = time.monotonic()
        mixed.daemon("n1").stop()  # its priority 0, with a trailer: n2 takes over at once
        added = mixed.wait_added("n2", variant.vip, after=t)
        assert added - t < variant.master_down(100), mixed.logs()
        t = time.monotonic()
        mixed.start("n1")  # back, with a new sequence from its clock: n2 accepts it
        mixed.wait_added("n1", variant.vip, after=t)
        assert mixed.wait_single_holder(variant.vip) == "n1", mixed.logs()
        logs = mixed.logs()
        for refusal in ("invalid authentication HMAC", "missing authentication trailer",
                        "replayed authentication", "stale authentication",
                        "unknown authentication key", "malformed authentication"):
            assert refusal not in logs, logs
    finally:
        mixed.stop_all()
