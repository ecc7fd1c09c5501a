"""Run VRRP daemons (pykeepalived or real keepalived) on lab nodes and observe them.

Each daemon runs in its node's namespace with its own config, pid files and log file in the
lab's temporary directory; it is stopped by PID (SIGTERM, or SIGKILL for crash tests). Logs are
printed when a test fails so both daemons' view of a failure is visible.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.netns.lab import AddressWatcher, Lab, Node
from tests.support import wait_until

PYKEEPALIVED = [sys.executable, "-m", "pykeepalived"]


@dataclass
class Daemon:
    node: Node
    kind: str  # "py" or "ka"
    config: Path
    log_path: Path
    pid_file: Path
    vrrp_pid_file: Path
    proc: subprocess.Popen[Any] | None = None
    extra: list[str] = field(default_factory=list)
    #: the keepalived binary for kind "ka" (another build than the distribution's, say), and
    #: whether to pass -P (a build without the checker has no such option)
    binary: str = "keepalived"
    vrrp_only_flag: bool = True
    #: environment variables added to the daemon's (``PYTHONPROFILEIMPORTTIME``, say)
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> Daemon:
        log = open(self.log_path, "a")  # noqa: SIM115 - closed when the process is reaped
        common = ["-n", "-l", "-D", "-G", "-f", str(self.config), "-p", str(self.pid_file),
                  "-r", str(self.vrrp_pid_file)]
        if self.kind == "py":
            own = ["-c", str(self.checkers_pid_file)]
            # Several daemons on one host: each gets its own control socket and state dir.
            if "--control-socket" not in self.extra:
                own += ["--control-socket", str(self.pid_file.with_suffix(".sock"))]
            if "--state-dir" not in self.extra:
                own += ["--state-dir", str(self.pid_file.parent / f"{self.node.name}-state")]
            argv = [*PYKEEPALIVED, *common, *own, *self.extra]
        else:
            argv = [self.binary, *(["-P"] if self.vrrp_only_flag else []), *common,
                    *self.extra]
        self.proc = self.node.popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, **self.env} if self.env else None)
        log.close()
        return self

    @property
    def checkers_pid_file(self) -> Path:
        return self.pid_file.with_name(f"{self.pid_file.stem}-checkers.pid")

    def pids(self) -> list[int]:
        """The daemon's own pids (keepalived has a parent, a VRRP child, a checker child)."""
        out = []
        for path in (self.pid_file, self.vrrp_pid_file, self.checkers_pid_file):
            with contextlib.suppress(OSError, ValueError):
                out.append(int(path.read_text().strip()))
        return sorted(set(out))

    def vrrp_pid(self) -> int:
        """The process that speaks VRRP (the -r file): keepalived's VRRP child, and
        pykeepalived's (its parent only supervises). CPU, memory and fds are measured here."""
        return int(self.vrrp_pid_file.read_text().strip())

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the daemon wrote its pid files and entered a first state."""

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} on {self.node.name} exited:\n{self.log()}")
            return bool(self.pids()) and "Entering" in self.log()

        wait_until(ready, timeout, what=f"{self.kind} on {self.node.name} to be ready",
                   step=0.02, context=self.log)

    def kill9(self) -> None:
        # Freeze every process first, then kill: keepalived's VRRP child must not see its
        # parent die between two kills and shut down gracefully (a crash, not a handover).
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=5)

    def signal(self, sig: int) -> None:
        """Signal the main process (the -p pid file), as an operator or systemd would."""
        os.kill(int(self.pid_file.read_text().strip()), sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Cluster:
    """Daemons on a lab's nodes, each with its own files in the lab's directory, and an address
    watcher per node (the ``cluster`` fixture of tests/lab_fixtures.py gives each test one).

    ``tag`` keeps the files of several clusters in one lab apart (``n1-ka.log``); ``extra`` is
    added to the command line of every pykeepalived daemon of the cluster.
    """

    lab: Lab
    tag: str = ""
    extra: list[str] = field(default_factory=list)
    daemons: dict[str, Daemon] = field(default_factory=dict)
    watchers: dict[str, AddressWatcher] = field(default_factory=dict)

    def add(self, node: Node, config_text: str | Path, kind: str = "py",
            extra: list[str] | None = None) -> Daemon:
        """A daemon on ``node`` (not started). ``config_text`` is written to the node's own
        config file; a Path is a config file several nodes share (``-i`` picks their lines)."""
        tmp = self.lab.tmpdir
        base = f"{node.name}{self.tag}"
        if isinstance(config_text, Path):
            cfg = config_text
        else:
            cfg = tmp / f"{base}.conf"
            cfg.write_text(config_text)
        args = [*(self.extra if kind == "py" else []), *(extra or [])]
        d = Daemon(node, kind, cfg, tmp / f"{base}.log", tmp / f"{base}.pid",
                   tmp / f"{base}-vrrp.pid", extra=args)
        self.daemons[node.name] = d
        if node.name not in self.watchers:
            self.watchers[node.name] = node.watch_addresses()
        return d

    def start_all(self) -> None:
        for d in self.daemons.values():
            d.start()
        for d in self.daemons.values():
            d.wait_ready()

    def holders(self, vip: str, ifname: str = "eth0") -> list[str]:
        out = []
        for name, d in self.daemons.items():
            addrs = {str(a.ip) for a in d.node.addresses(ifname)}
            if vip.split("/")[0] in addrs:
                out.append(name)
        return out

    def wait_single_holder(self, vip: str, timeout: float = 10.0, ifname: str = "eth0") -> str:
        """The one node holding ``vip``, once exactly one has held it for 0.3 s (no flap in
        progress)."""

        def single() -> str:
            holders = self.holders(vip, ifname)
            return holders[0] if len(holders) == 1 else ""

        return wait_until(single, timeout, what=f"exactly one holder of VIP {vip}",
                          stable_for=0.3,
                          context=lambda: f"held by {self.holders(vip, ifname)}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"===== {d.kind} on {n}:\n{d.log()[-6000:]}"
                         for n, d in self.daemons.items())

    def stop_all(self) -> None:
        for d in self.daemons.values():
            with contextlib.suppress(Exception):
                d.stop()


VRRP_INSTANCE = """
vrrp_instance {name} {{
    state {state}
    interface eth0
    virtual_router_id {vrid}
    priority {prio}
    advert_int {advert_int}
{extra}
    virtual_ipaddress {{
        {vip}
    }}
{tail}
}}
"""


def config(prio: int, *, vip: str = "192.0.2.100/24 dev eth0", version: int = 3,
           advert_int: float = 0.1, state: str = "BACKUP", vrid: int = 51, name: str = "VI_1",
           extra: str = "", tail: str = "", head: str = "") -> str:
    glob = f"global_defs {{\n    script_user root\n    vrrp_version {version}\n}}\n"
    inst = VRRP_INSTANCE.format(name=name, state=state, vrid=vrid, prio=prio,
                                advert_int=advert_int, extra=extra, vip=vip, tail=tail)
    return glob + head + inst


def crash(daemon: Daemon) -> None:
    """SIGKILL all of a daemon's processes as one crash.

    Every process is SIGSTOPped first: otherwise keepalived's VRRP child can see its parent
    die (parent-death signal) between the two kills and shut down gracefully, sending a
    priority-0 advert and removing its VIPs, which turns a crash test into a handover test.
    """
    pids = []
    for path in (daemon.vrrp_pid_file, daemon.checkers_pid_file,
                 daemon.pid_file):  # the children first
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(path.read_text().strip()))
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    daemon.kill9()  # reaps the process handle (and catches anything not in a pid file)


# ------------------------------------------------------------- operations and /proc readings
# (added for tests/reliability; nothing above depends on them)


def ops_args(daemon_dir: Path, name: str, metrics: str | None = None) -> list[str]:
    """Extra arguments giving a daemon its own control socket and state dir (and metrics)."""
    args = ["--control-socket", str(daemon_dir / f"{name}.ctl"),
            "--state-dir", str(daemon_dir / f"{name}-state")]
    return [*args, "--metrics-listen", metrics] if metrics else args


def status_json(daemon: Daemon) -> dict[str, Any]:
    """``pykeepalived status --json`` of a daemon started with :func:`ops_args`."""
    import json

    path = daemon.extra[daemon.extra.index("--control-socket") + 1]
    proc = subprocess.run([*PYKEEPALIVED, "status", "--json", "--control-socket", path],
                          capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError(f"status failed ({proc.returncode}): {proc.stderr}")
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def metrics_text(daemon: Daemon) -> str:
    """The Prometheus page of a daemon started with ``--metrics-listen HOST:PORT``."""
    listen = daemon.extra[daemon.extra.index("--metrics-listen") + 1]
    code = ("import sys, urllib.request\n"
            f"sys.stdout.write(urllib.request.urlopen('http://{listen}/metrics', timeout=10)"
            ".read().decode())\n")
    proc = daemon.node.exec([sys.executable, "-c", code], check=True)
    return proc.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Resources:
    fds: int
    threads: int
    children: int
    zombies: int
    rss_kib: int


def resources(pid: int) -> Resources:
    """Open fds, threads, direct children (and how many are zombies) and RSS of ``pid``."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    children = zombies = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                children += 1
                with contextlib.suppress(OSError):
                    state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    zombies += state == "Z"
    return Resources(fds=fds, threads=int(status["Threads"]), children=children,
                     zombies=zombies, rss_kib=int(status["VmRSS"].split()[0]))


# /proc/PID/net tables and the column that holds a socket's inode in each.
_SOCKET_TABLES = {"netlink": 9, "packet": 8, "unix": 6, "raw": 9, "raw6": 9, "udp": 9,
                  "udp6": 9, "tcp": 9, "tcp6": 9}


def _socket_kinds(pid: int) -> dict[str, str]:
    """inode -> socket family (with the netlink protocol or packet protocol) for ``pid``'s
    network namespace, so that a leak report says what leaked."""
    kinds: dict[str, str] = {}
    for table, column in _SOCKET_TABLES.items():
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cells = line.split()
                if len(cells) <= column:
                    continue
                detail = f"/{cells[1]}" if table == "netlink" else (
                    f"/{cells[3]}" if table == "packet" else "")
                kinds[cells[column]] = table + detail
    return kinds


def fd_targets(pid: int) -> list[str]:
    """What each open fd of ``pid`` points at, sorted; sockets as socket:[inode] with their
    family when /proc/PID/net knows it (socket:[123] netlink/0)."""
    out = []
    kinds = _socket_kinds(pid)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and match.group(1) in kinds:
                target += " " + kinds[match.group(1)]
            out.append(target)
    return sorted(out)
