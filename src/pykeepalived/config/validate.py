"""Checks that need the whole configuration: references, clashes, timing rules, strict mode.

keepalived fixes many of these up at start-up and says so; the daemon does the same (warnings),
while the config test (`strict`) treats what is almost surely a mistake as an error. The fix-ups
themselves (nopreempt cleared under ``state MASTER``, strict-mode settings) are applied here, so the
model the daemon gets is the one keepalived would run.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pykeepalived.config import model as m
from pykeepalived.config.diagnostics import Diagnostics, Location


def _script_path(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return words[0] if words else None


def check_script(command: str | None, loc: Location, what: str, diags: Diagnostics) -> None:
    """A script must exist and be executable (keepalived refuses it otherwise)."""
    if not command:
        return
    path = _script_path(command)
    if path is None or path[0] in "<>|&;(":
        # A shell construct, not a file: nothing to check before it runs.
        return
    if os.path.isabs(path):
        if not os.path.exists(path):
            diags.mistake(loc, f"{what}: script {path} does not exist")
        elif not os.access(path, os.X_OK) or os.path.isdir(path):
            diags.mistake(loc, f"{what}: script {path} is not executable")
    elif not _on_path(path):
        diags.mistake(loc, f"{what}: script {path} not found in PATH")


def validate(cfg: m.KeepalivedConfig, diags: Diagnostics, check_files: bool = True
             ) -> m.KeepalivedConfig:
    """Cross-check `cfg`, report problems, and return it with keepalived's fix-ups applied."""
    g = cfg.global_defs
    instances = tuple(_tracking_weights(_instance(i, cfg, diags, check_files), cfg, diags)
                      for i in cfg.vrrp_instances)
    _duplicates(instances, diags)
    names = {i.name for i in instances}
    seen_in_group: dict[str, str] = {}
    for sg in cfg.sync_groups:
        if not sg.group:
            diags.mistake(sg.loc, f"vrrp_sync_group {sg.name} has no group of instances")
        for member in sg.group:
            if member not in names:
                diags.mistake(sg.loc, f"vrrp_sync_group {sg.name}: vrrp_instance {member} "
                              "is not defined")
            elif member in seen_in_group:
                diags.mistake(sg.loc, f"vrrp_instance {member} is in both sync groups "
                              f"{seen_in_group[member]} and {sg.name}")
            seen_in_group[member] = sg.name
        _track_refs(sg.name, sg.track_scripts, sg.track_files, sg.track_processes, cfg, diags)
    if check_files:
        for sc in cfg.vrrp_scripts.values():
            check_script(sc.script, sc.loc, f"vrrp_script {sc.name}", diags)
        for inst in instances:
            for hook in ("notify", "notify_master", "notify_backup", "notify_fault",
                         "notify_stop", "notify_deleted", "notify_master_rx_lower_pri"):
                check_script(getattr(inst, hook), inst.loc, f"({inst.name}) {hook}", diags)
        for sg in cfg.sync_groups:
            for hook in ("notify", "notify_master", "notify_backup", "notify_fault",
                         "notify_stop"):
                check_script(getattr(sg, hook), sg.loc, f"vrrp_sync_group {sg.name} {hook}",
                             diags)
    if g.vrrp_strict and g.vrrp_garp_master_refresh and g.vrrp_garp_master_refresh > 0:
        diags.mistake(g.loc, "vrrp_strict does not allow vrrp_garp_master_refresh")
    return replace(cfg, vrrp_instances=instances)


def _track_refs(owner: str, scripts: tuple[m.TrackScript, ...], files: tuple[m.TrackFile, ...],
                procs: tuple[m.TrackProcess, ...], cfg: m.KeepalivedConfig,
                diags: Diagnostics) -> None:
    for ts in scripts:
        if ts.name not in cfg.vrrp_scripts:
            diags.mistake(ts.loc, f"({owner}) track script {ts.name} not found, ignoring..."
                          f"{_near(ts.name, cfg.vrrp_scripts)}")
    for tf in files:
        if tf.name not in cfg.track_files:
            diags.mistake(tf.loc, f"({owner}) track file {tf.name} not found"
                          f"{_near(tf.name, cfg.track_files)}")
    for tp in procs:
        if tp.name not in cfg.track_processes:
            diags.mistake(tp.loc, f"({owner}) track process {tp.name} not found"
                          f"{_near(tp.name, cfg.track_processes)}")


def _inherit_reverse(inst: m.VrrpInstance, cfg: m.KeepalivedConfig) -> dict[str, Any]:
    """A reference without ``reverse`` / ``noreverse`` takes the definition's ``reverse``, with or
    without a weight of its own (keepalived's vrrp_track.c / track_file.c)."""
    out: dict[str, Any] = {}
    defs: tuple[tuple[str, Mapping[str, Any]], ...] = (
        ("track_scripts", cfg.vrrp_scripts), ("track_files", cfg.track_files),
        ("track_processes", cfg.track_processes))
    for key, known in defs:
        refs = getattr(inst, key)
        resolved = tuple(
            replace(r, reverse=known[r.name].reverse)
            if not r.reverse_given and r.name in known and known[r.name].reverse != r.reverse
            else r
            for r in refs)
        if resolved != refs:
            out[key] = resolved
    return out


def _on_path(name: str) -> bool:
    """``shutil.which(name) is not None``, without loading shutil and its compression modules
    into the daemon: a name with a directory part is taken as it is (relative to the working
    directory), any other is looked for in PATH (unset: the system's default path; empty:
    nowhere)."""

    def runnable(candidate: str) -> bool:
        return os.access(candidate, os.X_OK) and not os.path.isdir(candidate)

    if os.path.dirname(name):
        return runnable(name)
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH") or os.defpath
        except (AttributeError, ValueError):
            path = os.defpath
    return any(runnable(os.path.join(folder or os.curdir, name))
               for folder in path.split(os.pathsep)) if path else False


def _near(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _instance(inst: m.VrrpInstance, cfg: m.KeepalivedConfig, diags: Diagnostics,
              look: bool = False) -> m.VrrpInstance:
    n = f"({inst.name})"
    changes: dict[str, Any] = {}

    def at(keyword: str) -> Location:
        return inst.keyword_locs.get(keyword, inst.loc)

    _track_refs(inst.name, inst.track_scripts, inst.track_files, inst.track_processes, cfg, diags)
    changes.update(_inherit_reverse(inst, cfg))
    if inst.interface is None and not inst.unicast_peers:
        diags.mistake(inst.loc, f"{n} has no interface (keepalived falls back to the "
                      "default interface)")
    # RFC 3768 5.3.7: v2 advertises whole seconds; RFC 5798 5.2.7: v3 uses centiseconds.
    if inst.version == 2 and inst.advert_int != int(inst.advert_int):
        diags.mistake(at("advert_int"), f"{n} advert_int {inst.advert_int:g} is not a whole "
                      "number of "
                      "seconds, which VRRPv2 requires; rounding")
        changes["advert_int"] = float(max(1, round(inst.advert_int)))
    if inst.version == 3:
        cs = inst.advert_int * 100
        if abs(cs - round(cs)) > 1e-6:
            diags.mistake(at("advert_int"), f"{n} advert_int {inst.advert_int:g} is not a "
                          "multiple of "
                          "10 ms, which VRRPv3 requires; rounding")
            changes["advert_int"] = round(cs) / 100
        if inst.advert_int > 40.95:
            diags.mistake(at("advert_int"), f"{n} advert_int {inst.advert_int:g} exceeds VRRPv3's "
                          "maximum of 40.95 s")
            changes["advert_int"] = 40.95
    if inst.state == "MASTER" and inst.nopreempt:
        diags.mistake(at("nopreempt"), f"{n} nopreempt is incompatible with state MASTER; "
                      "clearing "
                      "nopreempt (use state BACKUP on every node)")
        changes["nopreempt"] = False
    if inst.state == "MASTER" and inst.preempt_delay:
        diags.warning(at("preempt_delay"), f"{n} preempt_delay is ignored with state MASTER")
        changes["preempt_delay"] = 0.0
    for p in inst.unicast_peers:
        if p.address.version != inst.family:
            diags.mistake(p.loc, f"{n} unicast peer {p.address} is IPv{p.address.version} but "
                          f"the instance is IPv{inst.family}")
    if inst.unicast_src_ip is not None and inst.unicast_src_ip.version != inst.family:
        diags.mistake(at("unicast_src_ip"), f"{n} unicast_src_ip {inst.unicast_src_ip} is not IPv"
                      f"{inst.family} like the instance")
    if inst.auth_type is not None and inst.version == 3:
        diags.warning(inst.loc, f"{n} authentication is not supported in VRRPv3; ignoring it")
    elif inst.auth_type is not None and not inst.auth_pass:
        diags.mistake(at("authentication"), f"{n} auth_type {inst.auth_type} needs an "
                      "auth_pass; no authentication")
        changes["auth_type"] = None
    elif inst.auth_type == "AH" and inst.family == 6:
        diags.mistake(at("authentication"), f"{n} IPsec AH authentication is IPv4 only; "
                      "no authentication")
        changes["auth_type"] = None
    elif (inst.auth_type == "AH" and inst.state == "MASTER" and inst.priority != 255
          and not inst.strict_mode):
        # keepalived: the AH sequence number must first be learnt from the current MASTER.
        diags.mistake(at("state"), f"{n} state MASTER is incompatible with AH "
                      "authentication (the sequence number must be heard first); using BACKUP")
        changes["state"] = "BACKUP"
    hmac = inst.auth_hmac
    if hmac is not None:
        # keepalived 2.4: the extension supersedes the legacy mechanisms, never coexists
        if inst.auth_type is not None:
            diags.mistake(at("authentication"), f"{n} auth_hmac cannot be combined with "
                          "authentication, dropping legacy auth")
            changes["auth_type"] = None
            changes["auth_pass"] = None
        if hmac.active_key is None or all(i != hmac.active_key for i, _ in hmac.keys):
            diags.mistake(hmac.loc, f"{n} auth_hmac active_key {hmac.active_key or 0} is not "
                          "defined, disabling extension")
            changes["auth_hmac"] = None
        elif inst.strict_mode and hmac.mode != "enforce":
            diags.mistake(hmac.loc, f"{n} strict mode requires auth_hmac mode enforce")
            changes["auth_hmac"] = replace(hmac, mode="enforce")
    room = _advert_room(inst, _mtu(inst.interface) if look else DEFAULT_MTU)
    if len(inst.virtual_ipaddresses) > room:
        # keepalived: the rest is installed but not advertised (an eVIP)
        diags.mistake(at("virtual_ipaddress"), f"{n} Number of VIPs "
                      f"({len(inst.virtual_ipaddresses)}) exceeds maximum/space available in "
                      f"packet (max {room} addresses) - excess moved to eVIPs")
        changes["virtual_ipaddresses"] = inst.virtual_ipaddresses[:room]
        changes["virtual_ipaddresses_excluded"] = (*inst.virtual_ipaddresses_excluded,
                                                   *inst.virtual_ipaddresses[room:])
    if inst.priority == 255 and inst.state == "BACKUP":
        diags.warning(inst.loc, f"{n} priority 255 (address owner) with state BACKUP")
    if inst.strict_mode:
        changes.update(_strict(inst, diags))
    return replace(inst, **changes) if changes else inst


DEFAULT_MTU = 1500


def _mtu(ifname: str | None) -> int:
    """The interface's MTU on this host (keepalived asks the kernel), else Ethernet's."""
    try:
        with open(f"/sys/class/net/{ifname}/mtu") as fh:
            return int(fh.read())
    except (OSError, ValueError, TypeError):
        return DEFAULT_MTU


def _advert_room(inst: m.VrrpInstance, mtu: int = DEFAULT_MTU) -> int:
    """How many VIPs one advert carries, as keepalived counts them: an Ethernet frame of the
    interface's MTU, and at most 255 (the address count field is 8 bits)."""
    if inst.family == 6:
        return min(255, (mtu - 14 - 40 - 8) // 16)
    header = 14 + 20 + 8
    if inst.version == 2:
        header += 8 + (24 if inst.auth_type == "AH" else 0)
    return min(255, (mtu - header) // 4)


def _tracking_weights(inst: m.VrrpInstance, cfg: m.KeepalivedConfig, diags: Diagnostics
                      ) -> m.VrrpInstance:
    """keepalived's rule for weights that cannot apply (vrrp.c, vrrp_complete_instance): a member
    of a sync group without ``sync_group_tracking_weight`` keeps its trackers only as FAULT
    trackers (tracked interfaces lose their weight, weighted scripts are dropped, a track_file
    with the default weight 1 gets weight 0, any other weighted one is dropped); the address
    owner (priority 255) drops weighted interfaces and scripts and treats track files the same
    way. keepalived -t reports each one, so these are mistakes."""
    group = next((sg for sg in cfg.sync_groups if inst.name in sg.group), None)
    in_sync = group is not None and not (group.sync_group_tracking_weight
                                         or group.global_tracking)
    owner = inst.priority == 255
    if not in_sync and not owner:
        return inst
    n = f"({inst.name})"
    why = "SYNC group" if in_sync else "address_owner"
    ifs: list[m.TrackInterface] = []
    for ti in inst.track_interfaces:
        if not ti.weight:
            ifs.append(ti)
        elif in_sync:
            diags.mistake(ti.loc, f"{n} ignoring {ti.name} tracked interface weight due to "
                          "SYNC group")
            ifs.append(replace(ti, weight=0))
        else:
            diags.mistake(ti.loc, f"{n} ignoring {ti.name} tracked interface due to address "
                          "owner")
    scripts: list[m.TrackScript] = []
    for ts in inst.track_scripts:
        script = cfg.vrrp_scripts.get(ts.name)
        weight = ts.weight if ts.weight is not None else (script.weight if script else 0)
        if weight:
            diags.mistake(ts.loc, f"{n} ignoring tracked script {ts.name} with weights due to "
                          f"{why}")
        else:
            scripts.append(ts)
    files: list[m.TrackFile] = []
    for tf in inst.track_files:
        fdef = cfg.track_files.get(tf.name)
        weight = tf.weight if tf.weight is not None else (fdef.weight if fdef else 0)
        if weight == 1:
            diags.mistake(tf.loc, f"{n} ignoring weight from tracked file {tf.name} due to "
                          f"{why}. specify weight 0")
            files.append(replace(tf, weight=0))
        elif weight:
            diags.mistake(tf.loc, f"{n} ignoring tracked file {tf.name} with weight {weight} "
                          f"due to {why}")
        else:
            files.append(tf)
    return replace(inst, track_interfaces=tuple(ifs), track_scripts=tuple(scripts),
                   track_files=tuple(files))


def _strict(inst: m.VrrpInstance, diags: Diagnostics) -> dict[str, Any]:
    """keepalived's ``vrrp_strict`` / ``strict_mode`` rules (keepalived.conf(5), vrrp_strict)."""
    n = f"({inst.name})"
    c: dict[str, Any] = {}
    if not inst.virtual_ipaddresses:
        diags.mistake(inst.loc, f"{n} strict mode requires at least one virtual_ipaddress")
    if inst.unicast_peers:
        diags.mistake(inst.loc, f"{n} strict mode does not allow unicast peers")
    if inst.version == 2 and any(v.family == 6 for v in inst.virtual_ipaddresses):
        diags.mistake(inst.loc, f"{n} strict mode does not allow IPv6 addresses in VRRPv2")
    if (inst.family == 6 and inst.virtual_ipaddresses
            and not inst.virtual_ipaddresses[0].address.ip.is_link_local):
        diags.mistake(inst.virtual_ipaddresses[0].loc,
                      f"{n} strict mode requires the first IPv6 VIP to be link local")
    if inst.state == "MASTER" and inst.priority != 255:
        diags.mistake(inst.loc, f"{n} strict mode allows state MASTER only with priority 255; "
                      "using BACKUP")
        c["state"] = "BACKUP"
    if inst.auth_type is not None:
        diags.mistake(inst.loc, f"{n} strict mode does not support authentication; ignoring it")
        c["auth_type"] = None
        c["auth_pass"] = None
    if inst.preempt_delay:
        diags.mistake(inst.loc, f"{n} strict mode does not support preempt_delay; ignoring it")
        c["preempt_delay"] = 0.0
    if inst.version == 2 and inst.accept and inst.priority != 255:
        diags.mistake(inst.loc, f"{n} strict mode does not allow accept mode with VRRPv2")
        c["accept"] = False
    if inst.garp_master_refresh:
        diags.mistake(inst.loc, f"{n} strict mode does not allow garp_master_refresh")
        c["garp_master_refresh"] = 0.0
    if inst.higher_prio_send_advert:
        diags.mistake(inst.loc, f"{n} strict mode does not allow higher_prio_send_advert")
        c["higher_prio_send_advert"] = False
    if inst.vmac_xmit_base:
        diags.mistake(inst.loc, f"{n} strict mode does not allow vmac_xmit_base")
        c["vmac_xmit_base"] = False
    c["lower_prio_no_advert"] = True
    return c


def _duplicates(instances: tuple[m.VrrpInstance, ...], diags: Diagnostics) -> None:
    seen: dict[tuple[str | None, int, int, bool], m.VrrpInstance] = {}
    names: dict[str, m.VrrpInstance] = {}
    for inst in instances:
        if inst.name in names:
            diags.error(inst.loc, f"vrrp_instance {inst.name} is defined twice (first at "
                        f"{names[inst.name].loc})")
        names[inst.name] = inst
        if not inst.virtual_router_id:
            continue
        # Unicast instances with distinct peers do not share a wire, as keepalived allows.
        key = (inst.interface, inst.family, inst.virtual_router_id, bool(inst.unicast_peers))
        other = seen.get(key)
        if other is not None and (not inst.unicast_peers or
                                  {p.address for p in inst.unicast_peers}
                                  & {p.address for p in other.unicast_peers}):
            diags.error(inst.loc, f"({inst.name}) virtual_router_id {inst.virtual_router_id} is "
                        f"already used on {inst.interface} for IPv{inst.family} by "
                        f"{other.name} ({other.loc})")
        else:
            seen[key] = inst
