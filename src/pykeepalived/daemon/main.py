"""Daemon entry: keepalived's process model, from keepalived-style command-line options.

:func:`run` enters the network namespace (``-s``: before anything forks, so the parent and its
child both live there), daemonizes unless ``-n``, and becomes the supervising parent
(:mod:`pykeepalived.daemon.supervisor`, its pid in the ``-p`` file). The parent forks the VRRP
child (its pid in the ``-r`` file), which runs :func:`vrrp_child`: only there are the event loop
and the daemon proper imported, so the parent never carries them. docs/supervision.md says why.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import os
import resource
import signal
import socket
import sys
from collections.abc import Awaitable, Mapping

from pykeepalived.daemon.checker_child import CheckerKeeper
from pykeepalived.daemon.lastword import EXIT_CANNOT_RUN, EXIT_UNHANDLED, LastWord
from pykeepalived.daemon.log import EventLog, facility_from_option, setup_logging
from pykeepalived.daemon.pulse import Pulse
from pykeepalived.daemon.supervisor import HANDLED, Supervisor
from pykeepalived.errors import LocalError
from pykeepalived.net.netns import NetnsError, enter_netns, keep_origin_netns

DEFAULT_PID_FILE = "/run/keepalived.pid"
DEFAULT_VRRP_PID_FILE = "/run/keepalived_vrrp.pid"
DEFAULT_CHECKERS_PID_FILE = "/run/keepalived_checkers.pid"
PR_SET_PDEATHSIG = 1


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def _logging(options: argparse.Namespace, facility: str | None, ident: str) -> EventLog:
    return setup_logging(console=options.log_console, syslog=not options.no_syslog,
                         facility=facility, log_file=options.log_file,
                         detailed=options.log_detail, ident=ident)


def run(options: argparse.Namespace) -> int:
    """Run the daemon with keepalived-style options until SIGTERM/SIGINT."""
    if options.namespace:
        try:
            # The proc connector (track_process) answers only in the initial namespace.
            with contextlib.suppress(OSError):
                keep_origin_netns()
            enter_netns(options.namespace)
        except (NetnsError, OSError) as exc:
            print(f"pykeepalived: cannot enter network namespace {options.namespace}: {exc}",
                  file=sys.stderr)
            return 1
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
    log = _logging(options, facility, "Keepalived")
    log.event(f"Starting pykeepalived {__import__('pykeepalived').__version__}")
    vrrp, checkers = subsystems(options)
    options.vrrp_running = vrrp
    keeper = None
    if checkers:
        keeper = CheckerKeeper(
            functools.partial(checker_child, options, facility, log, os.getpid()), log,
            pid_file=options.checkers_pid_file or DEFAULT_CHECKERS_PID_FILE,
            respawn=not options.dont_respawn, handled=HANDLED)
    supervisor = Supervisor(
        functools.partial(vrrp_child, options, facility, log), log,
        pid_file=options.pid_file or DEFAULT_PID_FILE,
        vrrp_pid_file=options.vrrp_pid_file or DEFAULT_VRRP_PID_FILE,
        respawn=not options.dont_respawn, checker=keeper, vrrp=vrrp)
    try:
        return supervisor.run()
    finally:
        log.close()


HAS_VRRP, HAS_LVS = 1, 2
_SCAN_BASE = 64


def subsystems(options: argparse.Namespace) -> tuple[bool, bool]:
    """Which children run: (VRRP, checkers), as keepalived decides.

    ``-P`` only VRRP, ``-C`` only the checkers, both or neither: each that has configuration
    (``vrrp_instance`` / ``virtual_server``), and with ``--all`` each whatever the file holds.
    The file is read in a short-lived child so that the parent never carries the parser.
    A file that cannot be read leaves it to the VRRP child to say why (as before).
    """
    want_vrrp = not options.check_only or options.vrrp_only
    want_lvs = not options.vrrp_only or options.check_only
    if options.all_children:
        return want_vrrp, want_lvs
    found = _scan_config(options)
    if found is None:
        return want_vrrp, False
    has_vrrp, has_lvs = bool(found & HAS_VRRP), bool(found & HAS_LVS)
    vrrp = want_vrrp and (has_vrrp or not (has_lvs and want_lvs))
    return vrrp, want_lvs and has_lvs


def _scan_config(options: argparse.Namespace) -> int | None:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from pykeepalived.config import load_config

            result = load_config(options.config_file, config_id=options.config_id,
                                 check_files=False)
            cfg = result.config
            if cfg is not None:
                code = _SCAN_BASE
                if cfg.vrrp_instances or cfg.static_addresses or cfg.static_routes \
                        or cfg.static_rules:
                    code |= HAS_VRRP
                if cfg.virtual_servers:
                    code |= HAS_LVS
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code & 3 if code >= _SCAN_BASE else None


def checker_child(options: argparse.Namespace, facility: str | None, parent_log: EventLog,
                  parent: int) -> int:
    """The health-checker process, in the child just forked."""
    parent_log.close()
    _die_with_parent(parent)
    log = _logging(options, facility, "Keepalived_healthcheckers")
    import asyncio

    from pykeepalived.lvs.daemon import CheckerDaemon

    daemon = CheckerDaemon(options, log)
    try:
        return asyncio.run(daemon.run())
    except LocalError as exc:
        log.event(str(exc))
        print(f"pykeepalived: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        log.close()


def _die_with_parent(parent: object) -> None:
    """keepalived's children stop (gracefully) when their parent dies: SIGTERM then."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # it died before that took effect
        os.kill(os.getpid(), signal.SIGTERM)


def vrrp_child(options: argparse.Namespace, facility: str | None, parent_log: EventLog,
               channel: socket.socket, supervision: Mapping[str, object]) -> int:
    """The VRRP process, in the child just forked: the daemon proper, telling its parent its
    last word as it goes (:class:`~pykeepalived.daemon.lastword.LastWord`)."""
    parent_log.close()  # the child's copies of the parent's sockets and files
    _die_with_parent(supervision.get("supervisor_pid"))
    if "WATCHDOG_USEC" in os.environ:
        # systemd's watchdog names the main process (the parent); the pings come from this
        # process's event loop and reach systemd through the parent.
        os.environ["WATCHDOG_PID"] = str(os.getpid())
    log = _logging(options, facility, "Keepalived_vrrp")
    # asyncio without its TLS support (never used here): 4 MiB of libssl and its module less.
    # Only while asyncio is imported: anything that wants ssl later (metrics) still gets it.
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    import asyncio

    if sys.modules.get("ssl", True) is None:
        del sys.modules["ssl"]

    from pykeepalived.daemon.driver import DEFAULT_VIP_LIFETIME, Daemon
    from pykeepalived.daemon.lastword import RelayNotifier

    lifetime = getattr(options, "vip_lifetime", None) or DEFAULT_VIP_LIFETIME
    daemon = Daemon(options, log, vip_lifetime=lifetime)
    told = dict(supervision)
    pulse = told.pop("pulse", None)
    last_word = LastWord(daemon, channel, log=log.event, detail=log.detail,
                         hang_limit=getattr(options, "hang_limit", None), supervision=told,
                         pulse=pulse if isinstance(pulse, Pulse) else None)
    daemon.last_word = last_word
    relay = RelayNotifier(last_word, enabled=daemon.sd.enabled)
    daemon.sd.close()
    daemon.sd = relay
    # Everything allocated at start-up lives for the whole run: keep the collector off it.
    gc.freeze()
    try:
        return asyncio.run(_guarded(daemon.run(), last_word))
    except LocalError as exc:
        log.event(str(exc))
        print(f"pykeepalived: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        log.close()


async def _guarded(running: Awaitable[int], last_word: LastWord) -> int:
    """The daemon's run, with the crash path for what escapes it: priority 0 and the VIPs
    removed from inside, before the event loop unwinds (a LocalError ends the daemon too,
    and is not respawned: its configuration or its host is at fault)."""
    try:
        return await running
    except LocalError as exc:
        if last_word.words:
            last_word.die(f"cannot go on: {exc}")
        raise
    except Exception as exc:
        last_word.die(f"unhandled {type(exc).__name__}: {exc}", exc)
        os._exit(EXIT_UNHANDLED)
