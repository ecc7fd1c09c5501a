"""keepalived's process tuning from global_defs: real-time scheduling, locked memory, affinity.

``vrrp_rt_priority N`` (SCHED_RR at N), ``vrrp_no_swap`` (mlockall), ``vrrp_cpu_affinity CPUS``
and ``vrrp_priority NICE`` matter for tight advert intervals: a page fault or a busy core must
not delay an advert past a backup's down timer. Failures are logged, never fatal, as keepalived.
"""

from __future__ import annotations

import argparse
import ctypes
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pykeepalived.config.model import KeepalivedConfig
    from pykeepalived.daemon.log import EventLog

MCL_CURRENT = 1
MCL_FUTURE = 2


def _cpus(words: Sequence[str]) -> set[int]:
    cpus: set[int] = set()
    for word in words:
        for part in word.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def apply_process_settings(
    raw: Sequence[tuple[str, tuple[str, ...]]], log: Callable[[str], object]
) -> list[str]:
    """Apply the vrrp_* process keywords found in global_defs; returns what was applied."""
    applied = []
    for keyword, args in raw:
        try:
            if keyword == "vrrp_rt_priority" and args:
                os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(int(args[0])))
                applied.append(f"SCHED_RR {int(args[0])}")
            elif keyword == "vrrp_no_swap":
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
                applied.append("mlockall")
            elif keyword == "vrrp_cpu_affinity" and args:
                os.sched_setaffinity(0, _cpus(args))
                applied.append(f"affinity {sorted(_cpus(args))}")
            elif keyword == "vrrp_priority" and args:
                os.setpriority(os.PRIO_PROCESS, 0, int(args[0]))
                applied.append(f"nice {int(args[0])}")
        except (OSError, ValueError) as exc:
            log(f"Unable to apply {keyword} {' '.join(args)}: {exc}")
    return applied


def prepare_process(config: KeepalivedConfig, options: argparse.Namespace, log: EventLog) -> None:
    """Before the first election: ``-d`` logs the resolved configuration, and global_defs'
    process tuning is applied."""
    if getattr(options, "dump_conf", False):
        from pykeepalived.config.dump import dump_config, render_config

        for line in render_config(dump_config(config)).splitlines():
            log.event(line)
    for applied in apply_process_settings(config.global_defs.raw, log.event):
        log.detail(f"process setting applied: {applied}")
