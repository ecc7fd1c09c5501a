"""vrrp_rt_priority / vrrp_no_swap / vrrp_cpu_affinity applied to a real child process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SNIPPET = """
import os, sys
from pykeepalived.daemon.process import apply_process_settings
msgs = []
done = apply_process_settings(
    [("vrrp_rt_priority", ("20",)), ("vrrp_no_swap", ()), ("vrrp_cpu_affinity", ("0",)),
     ("vrrp_priority", ("bogus",))], msgs.append)
print(os.sched_getscheduler(0) == os.SCHED_RR, os.sched_getparam(0).sched_priority,
      sorted(os.sched_getaffinity(0)), done, msgs)
status = open("/proc/self/status").read()
print([line for line in status.splitlines() if line.startswith("VmLck")])
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="real-time scheduling needs root")
def test_settings_take_effect_in_a_child() -> None:
    out = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith("True 20 [0]")
    assert "Unable to apply vrrp_priority bogus" in out[0]
    vmlck = out[1]
    assert "VmLck" in vmlck and not vmlck.endswith("\t       0 kB']")
