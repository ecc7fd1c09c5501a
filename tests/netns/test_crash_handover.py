"""The last word on the real kernel: when the VRRP process dies or hangs, its parent sends
priority 0 and removes its VIPs at once, then respawns it (docs/supervision.md).

Three nodes on a bridge (150, 100, 120), timed with netlink address events. The VRRP process
is the one in the ``-r`` pid file, as keepalived's VRRP child is; killing it alone is the crash
the parent survives. (Killing both processes at once is test_daemon_failover's crash: the
crash-safe lifetime covers it, as before.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pykeepalived.core.router import master_down_interval, skew_time
from pykeepalived.daemon.lastword import HANG_ADVERTS, PULSE_SHARE
from pykeepalived.daemon.supervisor import EXIT_GAVE_UP, RESPAWN_LIMIT
from tests.netns import daemons
from tests.netns.daemons import Cluster, Daemon, config
from tests.support import wait_until

pytestmark = pytest.mark.netns

VIP4 = "192.0.2.100"
VIP6 = "2001:db8::100"
MARGIN = 0.1
#: the dead node's VIP is gone within this of the death (the parent's handover)
VIP_GONE = 0.1


def three(cluster: Cluster, *, version: int = 3, advert_int: float = 0.1, family: int = 4,
          extra: list[str] | None = None) -> str:
    vip = f"{VIP4}/24 dev eth0" if family == 4 else f"{VIP6}/64 dev eth0"
    for i, prio in enumerate((150, 100, 120), start=1):
        node = cluster.lab.add_node(f"n{i}")
        cluster.add(node, config(prio, vip=vip, version=version, advert_int=advert_int),
                    extra=extra if i == 1 else None)
    cluster.start_all()
    return VIP4 if family == 4 else VIP6


def respawned(d: Daemon, old: int, timeout: float = 10.0) -> int:
    """The new VRRP process's pid, once the parent has started one in place of ``old``."""

    def new_pid() -> int:
        with contextlib.suppress(OSError, ValueError):
            pid = d.vrrp_pid()
            if pid != old and Path(f"/proc/{pid}").exists():
                return pid
        return 0

    return wait_until(new_pid, timeout, what="a respawned VRRP process", step=0.02,
                      context=d.log)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize(("family", "version", "advert_int"),
                         [(4, 2, 1.0), (4, 3, 0.1), (6, 3, 0.1)])
def test_kill_9_of_the_vrrp_process_hands_over_within_skew_time_and_it_rejoins(
    cluster: Cluster, family: int, version: int, advert_int: float
) -> None:
    vip = three(cluster, version=version, advert_int=advert_int, family=family)
    assert cluster.wait_single_holder(vip) == "n1", cluster.logs()
    d1 = cluster.daemons["n1"]
    child = d1.vrrp_pid()
    assert child not in (d1.proc.pid if d1.proc else None, int(d1.pid_file.read_text()))
    t = time.monotonic()
    os.kill(child, signal.SIGKILL)
    removed = cluster.watchers["n1"].wait_for(vip, added=False, after=t, timeout=5)
    added = cluster.watchers["n3"].wait_for(vip, after=t, timeout=10)
    assert removed is not None and added is not None, cluster.logs()
    # the best backup takes over after its skew time, not its Master_Down_Interval
    limit = skew_time(version, 120, advert_int) + MARGIN
    assert added - t <= limit, f"takeover {added - t:.3f}s > {limit:.3f}s\n{cluster.logs()}"
    assert added - t < master_down_interval(version, 120, advert_int)
    # and the dead process's VIP is gone before it: never two holders
    assert removed - t <= VIP_GONE, f"VIP gone after {removed - t:.3f}s\n{d1.log()}"
    assert removed <= added
    print(f"\nkill -9 (v{version}, {advert_int:g}s, IPv{family}): VIP removed "
          f"{1000 * (removed - t):.1f} ms, takeover {1000 * (added - t):.1f} ms")
    # respawned; the new process rejoins and preempts back
    respawned(d1, child)
    assert cluster.watchers["n1"].wait_for(vip, after=added, timeout=15) is not None, \
        cluster.logs()
    assert cluster.wait_single_holder(vip) == "n1", cluster.logs()
    log = d1.log()
    assert f"VRRP child process({child}) killed by signal 9 (SIGKILL): Respawning" in log
    assert "(VI_1) sent 0 priority on eth0" in log and f"removed VIP {vip}/" in log
    assert d1.alive()


def test_a_hung_vrrp_process_is_killed_handed_over_and_restarted(cluster: Cluster) -> None:
    advert_int = 1.0  # the hang limit (2 adverts) is then shorter than the backups' timeout
    vip = three(cluster, advert_int=advert_int)
    assert cluster.wait_single_holder(vip) == "n1", cluster.logs()
    d1 = cluster.daemons["n1"]
    child = d1.vrrp_pid()
    hang_limit = HANG_ADVERTS * advert_int
    t = time.monotonic()
    os.kill(child, signal.SIGSTOP)
    removed = cluster.watchers["n1"].wait_for(vip, added=False, after=t, timeout=10)
    added = cluster.watchers["n3"].wait_for(vip, after=t, timeout=10)
    assert removed is not None and added is not None, cluster.logs()
    # killed and handed over at the hang limit (counted from its last pulse: its loop's last
    # wake-up, at most PULSE_SHARE of the limit before the SIGSTOP): the backup follows after
    # its skew time, sooner than its own Master_Down_Interval would have let it
    beat = hang_limit * PULSE_SHARE
    assert hang_limit - beat - 0.05 <= removed - t <= hang_limit + 0.35, \
        f"VIP removed after {removed - t:.3f}s\n{d1.log()}"
    assert added - t <= hang_limit + skew_time(3, 120, advert_int) + 0.35, cluster.logs()
    assert added - t < master_down_interval(3, 120, advert_int)
    print(f"\nSIGSTOP (v3, 1s, hang limit {hang_limit:g}s): VIP removed "
          f"{removed - t:.3f}s, takeover {added - t:.3f}s")
    assert gone(child)
    respawned(d1, child)
    log = d1.log()
    assert f"VRRP child process({child}) hung (no heartbeat for" in log
    # the new process preempts back (1 s adverts: about one advert after it starts)
    assert cluster.watchers["n1"].wait_for(vip, after=added, timeout=15) is not None, \
        cluster.logs()
    assert cluster.wait_single_holder(vip, timeout=15) == "n1", cluster.logs()


@pytest.mark.parametrize("cluster", [{"extra": ["-R"]}], indirect=True)
def test_with_dont_respawn_the_parent_hands_over_and_exits(cluster: Cluster) -> None:
    vip = three(cluster)
    assert cluster.wait_single_holder(vip) == "n1", cluster.logs()
    d1 = cluster.daemons["n1"]
    child = d1.vrrp_pid()
    t = time.monotonic()
    os.kill(child, signal.SIGKILL)
    removed = cluster.watchers["n1"].wait_for(vip, added=False, after=t, timeout=5)
    assert removed is not None and removed - t <= VIP_GONE, d1.log()
    assert d1.proc is not None and d1.proc.wait(timeout=5) == 1
    assert "Exiting (-R: no respawn)" in d1.log()
    assert not d1.pid_file.exists()
    assert cluster.wait_single_holder(vip) == "n3"


def test_a_crash_loop_stops_after_the_respawn_limit(cluster: Cluster) -> None:
    vip = three(cluster)
    assert cluster.wait_single_holder(vip) == "n1", cluster.logs()
    d1 = cluster.daemons["n1"]
    child = d1.vrrp_pid()
    for _ in range(RESPAWN_LIMIT - 1):
        os.kill(child, signal.SIGKILL)
        child = respawned(d1, child)
    os.kill(child, signal.SIGKILL)
    assert d1.proc is not None and d1.proc.wait(timeout=10) == EXIT_GAVE_UP, d1.log()
    assert f"died {RESPAWN_LIMIT} times within 60s, not respawning" in d1.log()
    assert cluster.wait_single_holder(vip) == "n3", cluster.logs()


def test_an_unhandled_error_hands_over_from_inside_before_the_exit(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = cluster.lab.tmpdir / "raise-now"
    # The daemon as usual, but its protocol timer raises once when the trigger file appears:
    # a bug in the event loop, as the driver would meet it.
    code = (
        "import os, sys\n"
        "from pykeepalived.daemon import driver\n"
        "timer = driver.Daemon._on_timer\n"
        "def on_timer(self):\n"
        f"    if os.path.exists({str(trigger)!r}):\n"
        f"        os.unlink({str(trigger)!r})\n"
        "        raise RuntimeError('injected by the test')\n"
        "    timer(self)\n"
        "driver.Daemon._on_timer = on_timer\n"
        "from pykeepalived.cli import main\n"
        "sys.exit(main())\n")
    for i, prio in enumerate((150, 100, 120), start=1):
        cluster.add(cluster.lab.add_node(f"n{i}"), config(prio))
    with monkeypatch.context() as patched:
        patched.setattr(daemons, "PYKEEPALIVED", [sys.executable, "-c", code])
        cluster.daemons["n1"].start()
    for name in ("n2", "n3"):
        cluster.daemons[name].start()
    for d in cluster.daemons.values():
        d.wait_ready()
    assert cluster.wait_single_holder(VIP4) == "n1", cluster.logs()
    d1 = cluster.daemons["n1"]
    child = d1.vrrp_pid()
    t = time.monotonic()
    trigger.touch()
    added = cluster.watchers["n3"].wait_for(VIP4, after=t, timeout=5)
    removed = cluster.watchers["n1"].wait_for(VIP4, added=False, after=t, timeout=5)
    assert added is not None and removed is not None, cluster.logs()
    # the next advert timer (0.1 s) raises; the backup then waits its skew time only
    assert added - t <= 0.1 + skew_time(3, 120, 0.1) + MARGIN, cluster.logs()
    log = d1.log()
    assert "RuntimeError: injected by the test" in log
    assert "unhandled RuntimeError in the event loop: injected by the test: handing over" in log
    said = log.index("(VI_1) sent 0 priority on eth0")
    assert said < log.index(f"VRRP child process({child}) exited with status 70")
    respawned(d1, child)
    assert cluster.watchers["n1"].wait_for(VIP4, after=added, timeout=15) is not None, \
        cluster.logs()
    assert cluster.wait_single_holder(VIP4, timeout=15) == "n1", cluster.logs()


def test_namespace_option_and_daemonized_parent_hand_over_too(cluster: Cluster) -> None:
    """-s NAME from the root namespace and no -n: the parent enters the namespace before it
    forks, so it sends and removes in the right one; daemonized, it survives its caller."""
    for i, prio in enumerate((150, 100, 120), start=1):
        node = cluster.lab.add_node(f"n{i}")
        cluster.add(node, config(prio))
    for name in ("n2", "n3"):
        cluster.daemons[name].start()
    d1 = cluster.daemons["n1"]
    log = cluster.lab.tmpdir / "n1-daemon.log"
    argv = [*daemons.PYKEEPALIVED, "-s", d1.node.ns, "-G", "-D", "-g", str(log),
            "-f", str(d1.config), "-p", str(d1.pid_file), "-r", str(d1.vrrp_pid_file),
            "--control-socket", str(d1.pid_file.with_suffix(".sock")),
            "--state-dir", str(cluster.lab.tmpdir / "n1-state")]
    starter = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert starter.returncode == 0, starter.stderr
    d1.log_path = log
    try:
        wait_until(lambda: d1.pids() and "Entering MASTER STATE" in d1.log(), 15,
                   what="the daemonized n1 to be MASTER", context=d1.log)
        assert cluster.wait_single_holder(VIP4) == "n1", cluster.logs()
        parent, child = int(d1.pid_file.read_text()), d1.vrrp_pid()
        assert os.readlink(f"/proc/{child}/ns/net") == os.readlink(f"/proc/{parent}/ns/net")
        assert os.readlink(f"/proc/{parent}/ns/net") != os.readlink("/proc/self/ns/net")
        t = time.monotonic()
        os.kill(child, signal.SIGKILL)
        removed = cluster.watchers["n1"].wait_for(VIP4, added=False, after=t, timeout=5)
        added = cluster.watchers["n3"].wait_for(VIP4, after=t, timeout=5)
        assert removed is not None and removed - t <= VIP_GONE, d1.log()
        assert added is not None and added - t <= skew_time(3, 120, 0.1) + MARGIN
        respawned(d1, child)
        assert cluster.watchers["n1"].wait_for(VIP4, after=added, timeout=15) is not None, \
            cluster.logs()
        assert cluster.wait_single_holder(VIP4, timeout=15) == "n1", cluster.logs()
        os.kill(parent, signal.SIGTERM)
        wait_until(lambda: gone(parent) and not d1.pid_file.exists(), 10,
                   what="the daemonized parent to stop", context=d1.log)
        assert cluster.wait_single_holder(VIP4) == "n3"
    finally:
        for pid in d1.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
