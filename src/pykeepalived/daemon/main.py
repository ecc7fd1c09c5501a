"""Daemon entry: turns keepalived-style command-line options into a running event loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import sys

from pykeepalived.daemon.driver import DEFAULT_VIP_LIFETIME, Daemon
from pykeepalived.daemon.log import facility_from_option, setup_logging
from pykeepalived.errors import DaemonError

DEFAULT_PID_FILE = "/run/keepalived.pid"
DEFAULT_VRRP_PID_FILE = "/run/keepalived_vrrp.pid"


def _write_pid_files(options: argparse.Namespace) -> list[str]:
    # One process does everything, so the main and VRRP pid files hold the same pid.
    paths = [options.pid_file or DEFAULT_PID_FILE, options.vrrp_pid_file or DEFAULT_VRRP_PID_FILE]
    written = []
    for path in dict.fromkeys(paths):
        with contextlib.suppress(OSError):
            with open(path, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            written.append(path)
    return written


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def run(options: argparse.Namespace) -> int:
    """Run the daemon with keepalived-style options until SIGTERM/SIGINT."""
    if options.namespace:
        from pyroute2 import netns

        netns.setns(options.namespace)
    if not options.dont_fork:
        _daemonize()
    facility = options.log_facility
    try:
        facility_from_option(facility)
    except ValueError as exc:
        print(exc, file=sys.stderr)  # keepalived's words; it goes on with the default
        facility = None
    if options.umask is not None:
        os.umask(options.umask)
    if options.core_dump:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    log = setup_logging(
        console=options.log_console,
        syslog=not options.no_syslog,
        facility=facility,
        log_file=options.log_file,
        detailed=options.log_detail,
    )
    log.event(f"Starting pykeepalived {__import__('pykeepalived').__version__}")
    pid_files = _write_pid_files(options)
    lifetime = getattr(options, "vip_lifetime", None) or DEFAULT_VIP_LIFETIME
    daemon = Daemon(options, log, vip_lifetime=lifetime)
    # Everything allocated at start-up lives for the whole run: keep the collector off it.
    gc.freeze()
    try:
        return asyncio.run(daemon.run())
    except DaemonError as exc:
        log.event(str(exc))
        print(f"pykeepalived: {exc}", file=sys.stderr)
        return 1
    finally:
        for path in pid_files:
            with contextlib.suppress(OSError):
                os.unlink(path)
        log.close()
