"""Client side of the control socket: ``pykeepalived status`` and ``pykeepalived maintenance``.

Both talk to a running daemon over its Unix socket (see :mod:`pykeepalived.daemon.control` for
the protocol) and never read state files behind its back: when the daemon does not answer, they
say so and exit with status 3 (the LSB "not running" code), never with stale data.

Exit status: 0 done; 1 the daemon refused or failed the request (for example ``maintenance on
--wait`` when no other node took over); 2 usage error; 3 the daemon is not running.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from pykeepalived.daemon.control import DEFAULT_CONTROL_SOCKET, default_control_socket
from pykeepalived.lvs import checker_socket

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
#: Extra time the client allows beyond a request's own wait.
CLIENT_SLACK = 10.0


class NotRunning(Exception):
    """Nobody answers on the control socket."""


def request(path: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request and return the daemon's answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning(f"pykeepalived is not running (nothing listens on {path}: "
                             f"{exc.strerror})") from exc
        except PermissionError as exc:
            raise PermissionError(f"{path}: {exc.strerror} (the control socket is root's)") \
                from exc
        sock.sendall(json.dumps(payload).encode() + b"\n")
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError as exc:
                raise NotRunning(f"pykeepalived did not answer on {path} within "
                                 f"{timeout:g}s") from exc
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    data = b"".join(chunks)
    if not data:
        raise NotRunning(f"pykeepalived closed {path} without answering (shutting down?)")
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise ValueError("malformed answer from the daemon")
    return answer


def _socket_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--control-socket", dest="control_socket", metavar="PATH",
                   help=f"the daemon's control socket (default {DEFAULT_CONTROL_SOCKET}, or "
                   "the one derived from -p)")
    p.add_argument("-p", "--pid", dest="pid_file", metavar="FILE",
                   help="find the daemon started with this -p pid file (several daemons on "
                   "one host)")


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render_status(status: dict[str, Any], out: TextIO) -> None:
    """The readable table of ``pykeepalived status``."""
    d = status.get("daemon", {})
    print(f"pykeepalived pid {d.get('pid')}, up {_duration(time.time() - d.get('started_at', 0))}"
          f", config {d.get('config_file')}", file=out)
    sup = d.get("supervisor")
    if sup:
        line = f"supervised by pid {sup.get('supervisor_pid')}, respawned {sup.get('respawns')}x"
        last = sup.get("last_exit")
        if last:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.get("at", 0)))
            line += f"; last exit {when}: VRRP process({last.get('pid')}) {last.get('reason')}"
        print(line, file=out)
    for inst in status.get("instances", []):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(inst["since"]))
        print(file=out)
        print(f"{inst['name']}  {inst['state']} since {since} ({_duration(inst['for_seconds'])})"
              f"  vrid {inst['vrid']} on {inst['interface']}, VRRPv{inst['version']} "
              f"advert {inst['advert_int']:g}s", file=out)
        prio = inst["priority"]
        reasons = ", ".join(
            f"{r['source']} {r['delta']:+d}" if "override" not in r
            else f"{r['source']} (forced to {r['override']})" for r in prio["reasons"])
        line = f"effective {prio['effective']}, configured {prio['configured']}"
        if reasons:
            line += f" ({reasons})"
        if prio["fault_reasons"]:
            line += f"; FAULT by {', '.join(prio['fault_reasons'])}"
        _row(out, "priority", line)
        m = inst["master"]
        if inst["state"] == "MASTER":
            master = f"this node ({inst['source']}) priority {prio['effective']}"
        elif m["address"]:
            master = f"{m['address']} priority {m['priority']}"
        else:
            master = "none heard"
        _row(out, "master", master)
        if inst["maintenance"]:
            _row(out, "maintenance", "ON (priority forced to the lowest)")
        vips = "; ".join(
            f"{v['address']} on {v['interface']}: "
            + {True: "present", False: "absent", None: "unknown"}[v["present"]]
            + (" (REMOVAL FAILING: still on the interface, retrying)"
               if v.get("removal_failing") else "")
            for v in inst["vips"])
        _row(out, "VIPs", vips or "none")
        auth = inst.get("authentication")
        if auth and auth["kind"] == "auth_hmac":
            refused = ", ".join(f"{k.removeprefix('auth_ext_')} {v}"
                                for k, v in auth["outcomes"].items() if k != "accepted" and v)
            _row(out, "auth", f"auth_hmac {auth['mode']}, key {auth['active_key']} (keys "
                 f"{', '.join(map(str, auth['keys']))}), anti_replay {auth['anti_replay']} "
                 f"{auth['time_window']}s; refused: {refused or 'none'}")
        elif auth:
            _row(out, "auth", auth["kind"])
        trackers = "; ".join(
            f"{t['key']} {t['state']}" + (f" ({t['delta']:+d})" if t["delta"] else "")
            + (" FAULT" if t["fault"] else "") for t in inst["trackers"])
        _row(out, "trackers", trackers or "none")
        c = inst["counters"]
        _row(out, "adverts", f"sent {c['adverts_sent']}, received {c['adverts_received']}; "
             f"priority 0 sent {c['priority_zero_sent']}, received "
             f"{c['priority_zero_received']}")
        _row(out, "transitions", f"{c['transitions']} (became master {c['became_master']}, "
             f"released {c['released_master']})")
        drops = ", ".join(f"{k} {v}" for k, v in c["drops"].items())
        _row(out, "drops", drops or "none")
        conf = inst["conflicts"]
        active = "; ".join(a["text"] for a in conf["active"])
        _row(out, "conflicts", (f"ACTIVE: {active}" if active else "none active")
             + f" ({conf['total']} seen)")


def _row(out: TextIO, label: str, text: str) -> None:
    print(f"  {label:<12}{text}", file=out)


def cmd_status(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="pykeepalived status",
                                description="Show the running daemon's instances.")
    _socket_option(p)
    p.add_argument("--json", action="store_true", help="print the full status as JSON")
    args = p.parse_args(argv)
    args.control_socket = args.control_socket or default_control_socket(args.pid_file)
    answers: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    # The VRRP child and the health-checker child answer on their own sockets; either may
    # not run (-P, -C, or no such configuration).
    for part, path in (("vrrp", args.control_socket),
                       ("lvs", checker_socket(args.control_socket))):
        try:
            answers[part] = request(path, {"command": "status"})
        except NotRunning as exc:
            missing.append(str(exc))
        except (OSError, ValueError) as exc:
            print(f"pykeepalived: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if not answers:
        print(f"pykeepalived: {missing[0]}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    for reply in answers.values():
        if not reply.get("ok"):
            print(f"pykeepalived: {reply.get('error', 'request failed')}", file=sys.stderr)
            return EXIT_FAILED
    answer = answers.get("vrrp", {"ok": True})
    if "lvs" in answers:
        answer["lvs"] = {k: v for k, v in answers["lvs"].items() if k != "ok"}
    if args.json:
        json.dump(answer, sys.stdout, indent=2)
        print()
        return 0
    if "vrrp" in answers:
        render_status(answer, sys.stdout)
    if "lvs" in answer:
        render_lvs(answer["lvs"], sys.stdout)
    return 0


def render_lvs(lvs: dict[str, Any], out: TextIO) -> None:
    """The load balancer part of ``pykeepalived status``."""
    chk = lvs.get("checker", {})
    print(f"health checkers pid {chk.get('pid')}, up {_duration(chk.get('uptime', 0))}, "
          f"nftables table {chk.get('table')} (applied {chk.get('applies')}x, "
          f"{chk.get('apply_errors')} errors)", file=out)
    for vs in lvs.get("virtual_servers", []):
        q = vs["quorum"]
        print(file=out)
        print(f"{vs['name']}  {vs['lb_algo']} {vs['lb_kind']}"
              + (f", persistence {vs['persistence_timeout']}s"
                 if vs.get("persistence_timeout") else ""), file=out)
        _row(out, "quorum", f"{'up' if q['up'] else 'DOWN'} (live weight {q['live_weight']}, "
             f"quorum {q['quorum']}, hysteresis {q['hysteresis']})")
        sorry = vs.get("sorry_server")
        if sorry:
            _row(out, "sorry", f"{sorry['name']} {'ACTIVE' if sorry['active'] else 'standby'}")
        for rs in vs["real_servers"]:
            state = "alive" if rs["alive"] else "DOWN"
            table = "in table" if rs["in_table"] else "not in table"
            checks = "; ".join(
                f"{c['kind']} {'up' if c['up'] else 'down'}"
                + (f" ({c['last']['reason']})" if c.get("last") else "")
                + f" ok {c['checks'].get('success', 0)} / failed {c['checks'].get('failure', 0)}"
                for c in rs["checkers"])
            _row(out, rs["name"], f"{state}, weight {rs['weight']}, {table}, "
                 f"{rs['packets']} packets {rs['bytes']} bytes")
            if checks:
                _row(out, "", checks)


def cmd_maintenance(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pykeepalived maintenance",
        description="Hand this node's instances over to a backup (on) or take them back (off). "
        "'on' lowers the priority to 1 while the VIPs stay until another node takes over.")
    _socket_option(p)
    p.add_argument("action", choices=("on", "off"))
    p.add_argument("instances", nargs="*", metavar="INSTANCE",
                   help="instances to act on (default: all)")
    p.add_argument("--wait", type=float, metavar="SECONDS",
                   help="with 'on': wait until another node is MASTER; if none takes over in "
                   "time, restore the priority, keep the VIPs and fail")
    args = p.parse_args(argv)
    args.control_socket = args.control_socket or default_control_socket(args.pid_file)
    if args.wait is not None and args.wait < 0:
        p.error("--wait must not be negative")
    payload: dict[str, Any] = {"command": "maintenance", "action": args.action,
                               "instances": args.instances}
    if args.wait is not None and args.action == "on":
        payload["wait"] = args.wait
    try:
        answer = request(args.control_socket, payload,
                         timeout=(args.wait or 0) + CLIENT_SLACK)
    except NotRunning as exc:
        print(f"pykeepalived: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except (OSError, ValueError) as exc:
        print(f"pykeepalived: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not answer.get("ok"):
        print(f"pykeepalived: {answer.get('error', 'request failed')}", file=sys.stderr)
        return EXIT_FAILED
    names = ", ".join(answer.get("instances", []))
    if args.action == "off":
        print(f"maintenance off: {names}")
    elif "masters" in answer:
        masters = ", ".join(f"{n} -> {a}" for n, a in answer["masters"].items())
        print(f"maintenance on: {names}; now MASTER elsewhere: {masters}")
    else:
        print(f"maintenance on: {names} (priority lowered; not waiting for a takeover)")
    return 0
