"""Script security for the load balancer's scripts, as keepalived's checker process checks it.

keepalived (check_data.c check_check_script_security) checks, once at start and on reload,
every MISC_CHECK script and every notify_up / notify_down / quorum_up / quorum_down with the
same rules as the VRRP scripts (:mod:`pykeepalived.daemon.security`):

- a MISC_CHECK whose script is insecure or missing is removed from its real server ("Disabling
  misc script CMD due to insecure" / "since not found/accessible"): the real server is then
  judged by its other checkers, or is always alive without any;
- a refused notify or quorum script is not run;
- scripts that run while ``enable_script_security`` is off bring keepalived's warning, with the
  word "check" that tells it from the VRRP one.

A script that names no user runs as the configured ``script_user`` (or ``keepalived_script``,
or the daemon's own user): :func:`vet` writes that user into the scripts it keeps, so the
runners need no global.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from pykeepalived.config.model import GlobalDefs
from pykeepalived.daemon.security import (
    ScriptCheck,
    ScriptFlag,
    check_script,
    resolve_script_user,
    security_violation_message,
)
from pykeepalived.lvs.model import LvsConfig, MiscCheck, RealServer, Script, VirtualServer

LogFn = Callable[[str], object]


@dataclass
class Vetted:
    """The configuration the checker process runs, and what the checks said."""

    config: LvsConfig
    #: keepalived's lines for refused scripts, in order
    lines: list[str] = field(default_factory=list)
    #: the SECURITY VIOLATION summary, when due
    warning: str | None = None


def vet(cfg: LvsConfig, g: GlobalDefs, *, check_log: LogFn | None = None) -> Vetted:
    """Check every load balancer script; the configuration with refused ones taken out."""
    security = g.enable_script_security
    user = resolve_script_user(g.script_user, g.script_group,
                               enable_script_security=security, log=check_log)
    checks: list[ScriptCheck] = []
    out = Vetted(cfg)

    def verdict(script: Script) -> ScriptCheck:
        if script.user is not None:
            from pykeepalived.daemon.scripts import RunAs

            run_as = RunAs.from_names(script.user, script.group)
            uid = run_as.uid if run_as.uid is not None else user.uid
            gid = run_as.gid
        else:
            uid, gid = user.uid, user.gid
        v = check_script(script.command, uid, security, run_as_gid=gid, log=check_log)
        checks.append(v)
        return v

    def owned(script: Script) -> Script:
        if script.user is not None:
            return script
        return dataclasses.replace(script, user=user.name,
                                   group=None if g.script_user is None else g.script_group)

    def notify(script: Script | None) -> Script | None:
        if script is None:
            return None
        return owned(script) if verdict(script).ok else None

    def real(rs: RealServer) -> RealServer:
        kept = []
        for ck in rs.checkers:
            if isinstance(ck, MiscCheck):
                v = verdict(ck.path)
                if not v.ok:
                    why = ("due to insecure" if v.flags & ScriptFlag.INHIBIT
                           else "since not found/accessible")
                    out.lines.append(f"Disabling misc script {ck.path.command} {why}")
                    continue
                ck = dataclasses.replace(ck, path=owned(ck.path))
            kept.append(ck)
        return dataclasses.replace(rs, checkers=tuple(kept), notify_up=notify(rs.notify_up),
                                   notify_down=notify(rs.notify_down))

    def virtual(vs: VirtualServer) -> VirtualServer:
        return dataclasses.replace(
            vs, real_servers=tuple(real(rs) for rs in vs.real_servers),
            quorum_up=notify(vs.quorum_up), quorum_down=notify(vs.quorum_down))

    out.config = dataclasses.replace(cfg, virtual_servers=tuple(
        virtual(vs) for vs in cfg.virtual_servers))
    out.warning = security_violation_message(checks, security, what="check scripts")
    return out
