"""Command-line entry point: keepalived's flags, plus pykeepalived's own subcommands.

``pykeepalived [keepalived options]`` behaves like ``keepalived``: same short and long flags, same
default configuration file, ``-t`` / ``--config-test[=LOG_FILE]`` checks the configuration (exit 0
when valid, 5 on errors, as keepalived does), ``--signum=NAME`` prints a signal number, ``-v`` the
version. Anything else starts the daemon through `pykeepalived.daemon.main.run(options)`.

When the first argument names a subcommand (see `SUBCOMMANDS`), it runs instead:
``pykeepalived check [-i ID] [--dump] [FILE]`` validates a configuration and can print it resolved
as JSON. ``pykeepalived status [--json]`` and ``pykeepalived maintenance on|off [INSTANCE...]
[--wait SECONDS]`` talk to a running daemon (see `pykeepalived.ctl`).

The `argparse.Namespace` handed to the daemon has these attributes (keepalived flag in brackets):

- ``config_file`` [-f] str, default /etc/keepalived/keepalived.conf
- ``vrrp_only`` [-P], ``check_only`` [-C], ``no_bfd`` [-B], ``all_children`` [--all]: bool
- ``log_console`` [-l], ``log_detail`` [-D], ``no_syslog`` [-G]: bool
- ``log_facility`` [-S] str | None, ``log_file`` [-g] str | None (-g without a value: keepalived's
  default /tmp/keepalived.log)
- ``umask`` [-u] int | None
- ``release_vips`` [-X], ``dont_release_vrrp`` [-V], ``dont_release_ipvs`` [-I],
  ``dont_respawn`` [-R], ``dont_fork`` [-n], ``dump_conf`` [-d]: bool
- ``pid_file`` [-p], ``vrrp_pid_file`` [-r], ``checkers_pid_file`` [-c], ``bfd_pid_file`` [-b]:
  str | None
- ``address_monitoring`` [-a], ``snmp`` [-x], ``core_dump`` [-m], ``all_config`` [-e]: bool
- ``snmp_agent_socket`` [-A] str | None, ``core_dump_pattern`` [-M] str | None ("core" when -M has
  no value)
- ``namespace`` [-s] str | None, ``config_id`` [-i] str | None (None: the short host name)
- ``config_test`` [-t] bool, ``config_test_log`` str | None (the optional LOG_FILE of -t)
- pykeepalived's own daemon options (not keepalived.conf settings, so the file stays keepalived's):
  ``control_socket`` str | None, ``state_dir`` str | None, ``metrics_listen`` str | None
  (HOST:PORT), ``no_fast_preempt`` bool, ``control_group`` str | None, ``maintenance_file``
  str | None, ``conflict_script`` str | None, ``conflict_probe_interval`` float | None,
  ``no_conflict_detection`` bool, ``hang_limit`` float | None (see docs/operations.md and
  docs/supervision.md), ``lvs_masquerade`` bool (docs/load-balancing.md).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TextIO

from pykeepalived import __version__
from pykeepalived.config import LoadResult, load_config
from pykeepalived.config.dump import dump_config
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.flags import refusals

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
#: keepalived -t exits with this when the configuration has errors (KEEPALIVED_EXIT_CONFIG).
EXIT_CONFIG = 5
#: keepalived -t when scripts would run without enable_script_security.
EXIT_CONFIG_SECURITY = 6
#: keepalived -e -t when an included configuration file is missing (and 4 when the main one
#: is), as keepalived 2.2.7 exits.
EXIT_CONFIG_MISSING_FILE = 6
EXIT_CONFIG_MISSING_MAIN = 4
#: A keepalived flag pykeepalived refuses (see pykeepalived.flags).
EXIT_USAGE = 2
VERSION = f"pykeepalived {__version__} (keepalived 2.2.7 compatible)"


def _signals() -> dict[str, int]:
    """keepalived's --signum names and the numbers it prints on Linux."""
    return {
        "STOP": int(signal.SIGTERM),
        "RELOAD": int(signal.SIGHUP),
        "DATA": int(signal.SIGUSR1),
        "STATS": int(signal.SIGUSR2),
        "STATS_CLEAR": int(signal.SIGRTMAX) - 1,
        "JSON": int(signal.SIGRTMIN) + 2,
    }


def c_integer(text: str) -> int:
    """An integer as C's strtol(text, NULL, 0) reads it (keepalived's -u): 0x.. hex, 0.. octal."""
    body = text.strip().lower()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    if body.startswith("0") and len(body) > 1:
        return sign * int(body[1:], 8)
    return sign * int(body, 10)


def host_interfaces() -> set[str]:
    """Interface names in the current network namespace (keepalived checks configs against them)."""
    try:
        return {name for _, name in socket.if_nameindex()}
    except OSError:
        return set()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pykeepalived",
        description="keepalived-compatible VRRP daemon. Subcommands: "
        + ", ".join(SUBCOMMANDS) + " (run 'pykeepalived SUBCOMMAND -h').",
    )
    a = p.add_argument
    a("-f", "--use-file", dest="config_file", metavar="FILE", default=DEFAULT_CONFIG,
      help=f"use the specified configuration file (default {DEFAULT_CONFIG})")
    a("-P", "--vrrp", dest="vrrp_only", action="store_true", help="only run the VRRP subsystem")
    a("-C", "--check", dest="check_only", action="store_true",
      help="only run the health-checker subsystem")
    a("-B", "--no_bfd", dest="no_bfd", action="store_true", help="don't run the BFD subsystem")
    a("--all", dest="all_children", action="store_true",
      help="force all child processes to run, even without configuration")
    a("-l", "--log-console", dest="log_console", action="store_true",
      help="log messages to the local console")
    a("-D", "--log-detail", dest="log_detail", action="store_true", help="detailed log messages")
    a("-S", "--log-facility", dest="log_facility", metavar="FACILITY",
      help="syslog facility: 0-7, local0-7, user or daemon (default)")
    a("-g", "--log-file", dest="log_file", metavar="FILE", nargs="?",
      const="/tmp/keepalived.log", help="also log to FILE (default /tmp/keepalived.log)")
    a("-G", "--no-syslog", dest="no_syslog", action="store_true", help="don't log via syslog")
    a("-u", "--umask", dest="umask", metavar="MASK", type=c_integer,
      help="umask for file creation (numeric)")
    a("-X", "--release-vips", dest="release_vips", action="store_true",
      help="drop VIPs on transition from signal")
    a("-V", "--dont-release-vrrp", dest="dont_release_vrrp", action="store_true",
      help="don't remove VRRP VIPs and routes on daemon stop")
    a("-I", "--dont-release-ipvs", dest="dont_release_ipvs", action="store_true",
      help="don't remove the IPVS topology on daemon stop")
    a("-R", "--dont-respawn", dest="dont_respawn", action="store_true",
      help="don't respawn child processes")
    a("-n", "--dont-fork", dest="dont_fork", action="store_true",
      help="don't fork the daemon process")
    a("-d", "--dump-conf", dest="dump_conf", action="store_true",
      help="dump the configuration data")
    a("-p", "--pid", dest="pid_file", metavar="FILE", help="pid file for the parent process")
    a("-r", "--vrrp_pid", dest="vrrp_pid_file", metavar="FILE",
      help="pid file for the VRRP child process")
    a("-T", "--genhash", dest="genhash", action="store_true",
      help="genhash utility mode (the first option; the rest are genhash's)")
    a("-c", "--checkers_pid", dest="checkers_pid_file", metavar="FILE",
      help="pid file for the checkers child process")
    a("-a", "--address-monitoring", dest="address_monitoring", action="store_true",
      help="report all address additions/deletions notified via netlink")
    a("-b", "--bfd_pid", dest="bfd_pid_file", metavar="FILE",
      help="pid file for the BFD child process")
    a("-x", "--snmp", dest="snmp", action="store_true", help="enable the SNMP subsystem")
    a("-A", "--snmp-agent-socket", dest="snmp_agent_socket", metavar="FILE",
      help="socket of the SNMP master agent")
    a("-s", "--namespace", dest="namespace", metavar="NAME",
      help="run in network namespace NAME (overrides config)")
    a("-m", "--core-dump", dest="core_dump", action="store_true",
      help="produce a core dump on abnormal termination")
    a("-M", "--core-dump-pattern", dest="core_dump_pattern", metavar="PATN", nargs="?",
      const="core", help="also set /proc/sys/kernel/core_pattern to PATN (default 'core')")
    a("-e", "--all-config", dest="all_config", action="store_true",
      help="error if any configuration file is missing")
    a("-i", "--config-id", dest="config_id", metavar="ID",
      help="config id for @ID lines (default: the host name up to the first dot)")
    a("--signum", dest="signum", metavar="SIGFUNC",
      help="print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON")
    a("-t", "--config-test", dest="config_test_log", metavar="LOG_FILE", nargs="?", const="-",
      default=None, help="check the configuration; report to stderr or to LOG_FILE")
    a("-v", "--version", dest="version", action="store_true", help="display the version")
    own = p.add_argument_group("pykeepalived options")
    own.add_argument("--control-socket", dest="control_socket", metavar="PATH",
                     help="control socket for 'pykeepalived status' and friends")
    own.add_argument("--state-dir", dest="state_dir", metavar="DIR",
                     help="directory for pykeepalived's runtime state")
    own.add_argument("--metrics-listen", dest="metrics_listen", metavar="HOST:PORT",
                     help="serve Prometheus metrics on HOST:PORT")
    own.add_argument("--no-fast-preempt", dest="no_fast_preempt", action="store_true",
                     help="behave exactly as keepalived on preemption")
    own.add_argument("--control-group", dest="control_group", metavar="GROUP",
                     help="make the control socket 0660 for GROUP (default: 0600, root only)")
    own.add_argument("--maintenance-file", dest="maintenance_file", metavar="FILE",
                     help="maintenance flag file (default STATE_DIR/maintenance)")
    own.add_argument("--conflict-script", dest="conflict_script", metavar="COMMAND",
                     help="run COMMAND CONFLICT|CLEARED INSTANCE ADDRESS HOLDER on split brain")
    own.add_argument("--conflict-probe-interval", dest="conflict_probe_interval",
                     metavar="SECONDS", type=float,
                     help="how often a MASTER probes for its VIPs (default 1)")
    own.add_argument("--no-conflict-detection", dest="no_conflict_detection",
                     action="store_true", help="don't probe for split brain")
    own.add_argument("--lvs-masquerade", dest="lvs_masquerade", action="store_true",
                     help="NAT virtual servers: also masquerade the balanced connections, for "
                     "real servers whose route back does not pass this director")
    own.add_argument("--hang-limit", dest="hang_limit", metavar="SECONDS", type=float,
                     help="a VRRP process whose event loop is silent this long is killed, "
                     "handed over and respawned (default: 2 advert intervals, at least 1 s)")
    return p


def report(result: LoadResult, out: TextIO) -> int:
    """Print every diagnostic; the config-test exit status (0 valid, 5 errors)."""
    for d in result.diagnostics:
        print(d, file=out)
    errors = len(result.errors)
    if errors:
        print(f"{errors} error(s), {len(result.warnings)} warning(s)", file=out)
        return EXIT_CONFIG
    return 0


def config_test(config_file: str, config_id: str | None, out: TextIO,
                all_config: bool = False) -> int:
    """keepalived -t: 0 when the daemon would start with everything configured, 5 on errors
    or a track script keepalived would disable, 6 when scripts would run without
    enable_script_security (keepalived's KEEPALIVED_EXIT_CONFIG_TEST_SECURITY). With -e
    (`all_config`), a missing included file exits 6 and a missing main file 4, as keepalived."""
    result = load_config(config_file, config_id=config_id, strict=True,
                         interfaces=host_interfaces(), all_config=all_config)
    status = report(result, out)
    if all_config and result.config is None:
        return EXIT_CONFIG_MISSING_MAIN
    if all_config and result.missing_files:
        return EXIT_CONFIG_MISSING_FILE
    if status or result.config is None:
        return status
    return script_security_test(result.config, out)


def script_security_test(config: KeepalivedConfig, out: TextIO) -> int:
    """The script checks the daemon makes at start, reported as keepalived -t reports them."""
    from pykeepalived.daemon.tracking import Tracking

    def say(line: str) -> None:
        print(line, file=out)

    tracking = Tracking(config, say, lambda _key, _value: None, check_log=lambda _m: None)
    tracking.vet()
    for line in tracking.refused.values():
        say(line)
    warned = False
    if tracking.security_warning:
        say(tracking.security_warning)
        warned = True
    if config.lvs.virtual_servers:
        # The checker process's own checks (MISC_CHECK, notify and quorum scripts).
        from pykeepalived.lvs.security import vet

        lvs = vet(config.lvs, config.global_defs, check_log=lambda _m: None)
        for line in lvs.lines:
            say(line)
        if lvs.warning:
            say(lvs.warning)
            warned = True
    if warned:
        return EXIT_CONFIG_SECURITY
    return EXIT_CONFIG if tracking.refused else 0


def cmd_check(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pykeepalived check",
        description="Check a keepalived.conf (strictly) and optionally print it resolved as JSON.",
    )
    p.add_argument("file", nargs="?", default=DEFAULT_CONFIG, help="configuration file")
    p.add_argument("-i", "--config-id", dest="config_id", metavar="ID")
    p.add_argument("--dump", action="store_true",
                   help="print the resolved configuration as JSON on stdout")
    args = p.parse_args(argv)
    result = load_config(args.file, config_id=args.config_id, strict=True,
                         interfaces=host_interfaces())
    status = report(result, sys.stderr)
    if args.dump and result.config is not None:
        import json  # only for this dump: the daemon's parent does not load it

        json.dump(dump_config(result.config), sys.stdout, indent=2)
        print()
    return status


#: pykeepalived's own subcommands, recognised when they are the first argument.
SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "check": cmd_check,
    "status": lambda argv: _ctl().cmd_status(argv),
    "maintenance": lambda argv: _ctl().cmd_maintenance(argv),
}


def _ctl() -> ModuleType:
    # Imported on use: the daemon and 'check' need none of the client code.
    import pykeepalived.ctl

    return pykeepalived.ctl


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return SUBCOMMANDS[args[0]](args[1:])
    genhash = next((i for i, a in enumerate(args) if a in ("-T", "--genhash")), None)
    if genhash is not None:
        # keepalived: -T turns it into genhash, whose own options follow.
        if genhash > 0:
            shown = "-T" if args[genhash] == "-T" else "genhash"
            print(f"Warning -- `{shown}` not used as first option, "
                  "previous options ignored", file=sys.stderr)
        from pykeepalived.lvs.genhash import main as genhash_main

        return genhash_main(args[genhash + 1:])
    options = build_parser().parse_args(args)
    options.config_test = options.config_test_log is not None
    if options.config_test_log == "-":
        options.config_test_log = None
    if options.version:
        print(VERSION)
        return 0
    if options.signum is not None:
        number = _signals().get(options.signum)
        if number is None:
            print(f"Unknown sigfunc {options.signum}", file=sys.stderr)
            return 1
        print(number)
        return 0
    if options.config_test:
        if options.config_test_log:
            with open(options.config_test_log, "a", encoding="utf-8") as log:
                return config_test(options.config_file, options.config_id, log,
                                   all_config=options.all_config)
        return config_test(options.config_file, options.config_id, sys.stderr,
                           all_config=options.all_config)
    refused = refusals(options)
    if refused:
        for line in refused:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    from pykeepalived.daemon.main import run

    return run(options)


if __name__ == "__main__":
    sys.exit(main())
