"""Every command-line option of keepalived 2.2.7, and what pykeepalived does with it.

The drop-in rule: a flag keepalived accepts either does here what it does there, or stops the
daemon at start with one line naming the flag and why. Nothing is accepted and ignored.
``tests/unit/test_flags.py`` reads the installed keepalived's ``--help`` and fails on any
option this table does not classify, and docs/compatibility.md shows the same table.
"""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass


class Support(enum.Enum):
    SAME = "same"  #: does what keepalived does
    REFUSED = "refused"  #: the daemon refuses to start with it (one line: the flag and why)


@dataclass(frozen=True, slots=True)
class Flag:
    short: str | None  #: "-f", or None for long-only options
    long: str  #: "--use-file"
    dest: str  #: the argparse destination in pykeepalived's parser
    support: Support
    note: str  #: what pykeepalived does (SAME) or why it refuses (REFUSED)

    @property
    def spelling(self) -> str:
        return f"{self.short}/{self.long}" if self.short else self.long


S, R = Support.SAME, Support.REFUSED

FLAGS: tuple[Flag, ...] = (
    Flag("-f", "--use-file", "config_file", S, "configuration file, same default"),
    Flag("-P", "--vrrp", "vrrp_only", S, "VRRP only: no health-checker child"),
    Flag("-C", "--check", "check_only", S,
         "health checkers only (virtual_server / real_server on nftables), no VRRP child"),
    Flag("-B", "--no_bfd", "no_bfd", S, "no BFD subsystem runs (pykeepalived has none)"),
    Flag(None, "--all", "all_children", S,
         "the VRRP and checker children run even without their configuration (no BFD)"),
    Flag("-l", "--log-console", "log_console", S, "log lines on stderr, keepalived's format"),
    Flag("-D", "--log-detail", "log_detail", S, "keepalived's detailed lines"),
    Flag("-S", "--log-facility", "log_facility", S,
         "0-7, local0-7, user, daemon; anything else: 'Invalid log facility', default used"),
    Flag("-G", "--no-syslog", "no_syslog", S, "no syslog / journal"),
    Flag("-u", "--umask", "umask", S, "umask for the files the daemon creates"),
    Flag("-X", "--release-vips", "release_vips", R,
         "dropping VIPs on transitions from signals is not implemented"),
    Flag("-V", "--dont-release-vrrp", "dont_release_vrrp", S,
         "VIPs and routes stay on stop (and are permanent: no crash-safe lifetime)"),
    Flag("-I", "--dont-release-ipvs", "dont_release_ipvs", S,
         "the load balancer's nftables table stays on stop"),
    Flag("-R", "--dont-respawn", "dont_respawn", S,
         "the parent does not respawn a dead VRRP child: it hands over for it (priority 0, "
         "VIPs removed) and exits"),
    Flag("-n", "--dont-fork", "dont_fork", S, "stays in the foreground"),
    Flag("-d", "--dump-conf", "dump_conf", S, "logs the resolved configuration at start"),
    Flag("-p", "--pid", "pid_file", S, "pid file of the (supervising) parent process"),
    Flag("-r", "--vrrp_pid", "vrrp_pid_file", S, "pid file of the VRRP child process"),
    Flag("-T", "--genhash", "genhash", S, "genhash mode: the options after it are genhash's"),
    Flag("-c", "--checkers_pid", "checkers_pid_file", S,
         "pid file of the health-checker child process"),
    Flag("-a", "--address-monitoring", "address_monitoring", R,
         "reporting every netlink address change is not implemented"),
    Flag("-b", "--bfd_pid", "bfd_pid_file", S,
         "no BFD process runs, so no file is written (as keepalived -P)"),
    Flag("-x", "--snmp", "snmp", R, "no SNMP subsystem (use --metrics-listen for Prometheus)"),
    Flag("-A", "--snmp-agent-socket", "snmp_agent_socket", R, "no SNMP subsystem"),
    Flag("-s", "--namespace", "namespace", S, "runs in the named network namespace"),
    Flag("-m", "--core-dump", "core_dump", S,
         "core size limit raised to unlimited (a Python process rarely dumps core)"),
    Flag("-M", "--core-dump-pattern", "core_dump_pattern", R,
         "changing the system's /proc/sys/kernel/core_pattern is not implemented"),
    Flag("-e", "--all-config", "all_config", S, "a missing include file stops the daemon"),
    Flag("-i", "--config-id", "config_id", S, "@ID lines, default the short host name"),
    Flag(None, "--signum", "signum", S, "prints the same signal numbers"),
    Flag("-t", "--config-test", "config_test_log", S,
         "checks the configuration, exit 0 or keepalived's non-zero codes"),
    Flag("-v", "--version", "version", S, "prints the version"),
    Flag("-h", "--help", "help", S, "prints the options"),
)

#: Options pykeepalived has beyond keepalived 2.2.7's --help (never keepalived.conf keywords).
EXTRA_LONG = ("--log-file",)


def refusals(options: argparse.Namespace) -> list[str]:
    """One line per refused keepalived flag set in ``options``."""
    out = []
    for flag in FLAGS:
        if flag.support is Support.REFUSED and getattr(options, flag.dest, None) not in (
                None, False):
            out.append(f"pykeepalived: {flag.spelling} is not supported: {flag.note}")
    return out
