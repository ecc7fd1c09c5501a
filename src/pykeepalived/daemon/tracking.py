"""Everything one configuration runs besides VRRP itself: vrrp_script checks, track_file and
track_process watchers, and the notify scripts of instances and sync groups, all vetted by
keepalived's script-security rules.

A :class:`Tracking` belongs to one configuration: a reload builds a new one from the new file
and stops the old one, so every watcher and every notify script follows the file. Trackers
report through one callback, ``on_value(key, value)``, with the core's tracker keys
(``TrackerSpec.key``).
"""

from __future__ import annotations

from collections.abc import Callable

from pykeepalived.config.model import KeepalivedConfig, SyncGroup, VrrpInstance
from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.daemon.notify import FifoSpec, Notifier, NotifyScript, NotifySpec
from pykeepalived.daemon.scripts import RunAs, ScriptSpec, ScriptTracker
from pykeepalived.daemon.security import (
    ScriptCheck,
    ScriptFlag,
    check_script,
    resolve_script_user,
    security_violation_message,
)
from pykeepalived.daemon.trackers import (
    FileTracker,
    ProcessTracker,
    TrackFileSpec,
    TrackProcessSpec,
)
from pykeepalived.errors import PyKeepalivedError

TrackerCallback = Callable[[str, bool | int | None], None]


Hooks = tuple[str | None, str | None, str | None, str | None, str | None, str | None,
              str | None]


def instance_hooks(i: VrrpInstance) -> Hooks:
    """An instance's notify commands: notify, master, backup, fault, stop, deleted,
    master_rx_lower_pri (the order of :meth:`Tracking._notify_spec`)."""
    return (i.notify, i.notify_master, i.notify_backup, i.notify_fault, i.notify_stop,
            i.notify_deleted, i.notify_master_rx_lower_pri)


def group_hooks(sg: SyncGroup) -> Hooks:
    """A sync group's notify commands, in the same order (groups have no deleted or
    master_rx_lower_pri script)."""
    return (sg.notify, sg.notify_master, sg.notify_backup, sg.notify_fault, sg.notify_stop,
            None, None)


def has_scripts(config: KeepalivedConfig) -> bool:
    """Whether the configuration runs any script (checks, notify scripts, FIFO readers)."""
    g = config.global_defs
    return (any(s.script for s in config.vrrp_scripts.values())
            or any(any(instance_hooks(i)) for i in config.vrrp_instances)
            or any(any(group_hooks(sg)) for sg in config.sync_groups)
            or bool(g.notify_fifo_script or g.vrrp_notify_fifo_script))


class Tracking:
    """The checks and notify scripts of one configuration (see the module docstring)."""

    def __init__(self, config: KeepalivedConfig, log: Callable[[str], None],
                 on_value: TrackerCallback, *, check_log: Callable[[str], None] | None = None
                 ) -> None:
        self.config = config
        self.log = log
        #: where the per-script findings go ("Unsafe permissions found for script ...")
        self._check_log = check_log or log
        self.verdicts: dict[str, ScriptCheck] = {}
        #: used track scripts that will not run, with keepalived's log line for each
        self.refused: dict[str, str] = {}
        self.security_warning: str | None = None
        self._vetted = False
        self.on_value = on_value
        self.scripts: dict[str, ScriptTracker] = {}
        self.file_tracker: FileTracker | None = None
        self.process_tracker: ProcessTracker | None = None
        self.disabled = False  #: the script user cannot be resolved: no script runs
        self.script_uid = 0
        self.script_gid = 0
        g = config.global_defs
        try:
            # keepalived only looks the script user up when there is a script to run.
            user = resolve_script_user(g.script_user, g.script_group,
                                       enable_script_security=g.enable_script_security,
                                       log=log if has_scripts(config) else lambda _m: None)
        except PyKeepalivedError as exc:
            log(str(exc))
            self.disabled = True
        else:
            self.script_uid, self.script_gid = user.uid, user.gid
        self._checks: list[ScriptCheck] = []
        self.instance_notify = {i.name: self._notify_spec(*instance_hooks(i))
                                for i in config.vrrp_instances}
        self.group_notify = {sg.name: self._notify_spec(*group_hooks(sg))
                             for sg in config.sync_groups}

    def _notify_spec(self, notify: str | None, master: str | None, backup: str | None,
                     fault: str | None, stop: str | None, deleted: str | None,
                     rx_lower: str | None) -> NotifySpec:
        def vetted(cmd: str | None) -> NotifyScript | None:
            if not cmd or self.disabled:
                return None
            # keepalived checks notify scripts like tracked ones and refuses unsafe ones.
            verdict = check_script(cmd, self.script_uid,
                                   self.config.global_defs.enable_script_security,
                                   log=self._check_log)
            self._checks.append(verdict)
            return NotifyScript(cmd) if verdict.ok else None
        return NotifySpec(master=vetted(master), backup=vetted(backup), fault=vetted(fault),
                          stop=vetted(stop), deleted=vetted(deleted), notify=vetted(notify),
                          master_rx_lower_pri=vetted(rx_lower))

    def lower_prio_script(self, instance: str) -> NotifyScript | None:
        """The instance's notify_master_rx_lower_pri, if it has one (and it was not refused)."""
        spec = self.instance_notify.get(instance)
        return spec.master_rx_lower_pri if spec is not None else None

    def notifier(self) -> Notifier:
        """The notify-script runner and FIFO writer for this configuration's script user."""
        g = self.config.global_defs
        run_as = RunAs(uid=self.script_uid, gid=self.script_gid) if self.script_uid else None
        fifos = [FifoSpec(path, NotifyScript(reader) if reader else None)
                 for path, reader in ((g.notify_fifo, g.notify_fifo_script),
                                      (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script))
                 if path]
        return Notifier(log=self.log, default_run_as=run_as, fifos=fifos)

    # ------------------------------------------------------------------ lifecycle

    def vet(self) -> None:
        """Check every used vrrp_script as keepalived does at start (and ``-t``): refused
        scripts are named in :attr:`refused` with keepalived's words, and
        :attr:`security_warning` is keepalived's summary, if due. Idempotent."""
        if self._vetted:
            return
        self._vetted = True
        config, g = self.config, self.config.global_defs
        used = {ts.name for i in config.vrrp_instances for ts in i.track_scripts}
        used |= {ts.name for sg in config.sync_groups for ts in sg.track_scripts}
        for name in sorted(used):
            script = config.vrrp_scripts.get(name)
            if script is None or not script.script or self.disabled:
                continue
            verdict = check_script(script.script, self.script_uid, g.enable_script_security,
                                   log=self._check_log)
            self._checks.append(verdict)
            self.verdicts[name] = verdict
            if not verdict.ok:
                why = "due to insecure" if verdict.flags & ScriptFlag.INHIBIT \
                    else "since not found/accessible"
                self.refused[name] = f"Disabling track script {name} {why}"
        self.security_warning = security_violation_message(self._checks,
                                                           g.enable_script_security)
        self._checks = []

    def start(self) -> None:
        """Start every used vrrp_script that passed :meth:`vet`, and the file and process
        watchers."""
        self.vet()
        g = self.config.global_defs
        for line in self.refused.values():
            self.log(line)
        if self.security_warning:
            self.log(self.security_warning)
        for name, verdict in self.verdicts.items():
            if not verdict.ok:
                continue
            script = self.config.vrrp_scripts[name]
            spec = ScriptSpec(
                name=name, command=script.script or "", interval=script.interval,
                timeout=script.timeout, rise=script.rise, fall=script.fall,
                weight=script.weight, reverse=script.reverse,
                user=script.user or g.script_user, group=script.group,
                init_fail=script.init_fail,
            )
            tracker = ScriptTracker(spec, self._on_script, self.log,
                                    argv=list(verdict.argv) or None)
            self.scripts[name] = tracker
            tracker.start()
        self._start_watchers()

    def _start_watchers(self) -> None:
        files = [TrackFileSpec(t.name, t.file, t.weight, t.reverse, t.init_file,
                               t.init_file_overwrite)
                 for t in self.config.track_files.values() if t.file]
        if files:
            self.file_tracker = FileTracker(files, self._on_file, self.log)
            self.file_tracker.start()
        procs = []
        for t in self.config.track_processes.values():
            if not t.process:
                continue
            words = t.process.split()
            procs.append(TrackProcessSpec(
                name=t.name, process=words[0], params=tuple(words[1:]) or None,
                param_match=t.param_match or "none",  # type: ignore[arg-type]
                full_command=t.full_command, quorum=t.quorum, quorum_max=t.quorum_max,
                weight=t.weight, reverse=t.reverse, fork_delay=t.fork_delay or 0.0,
                terminate_delay=t.terminate_delay or 0.0))
        if procs:
            self.process_tracker = ProcessTracker(procs, self._on_process, self.log)
            self.process_tracker.start()

    async def stop(self) -> None:
        for tracker in self.scripts.values():
            await tracker.stop()
        self.scripts = {}
        if self.process_tracker is not None:
            await self.process_tracker.stop()
            self.process_tracker = None
        if self.file_tracker is not None:
            await self.file_tracker.stop()
            self.file_tracker = None

    # ------------------------------------------------------------------ values

    def initial_value(self, spec: TrackerSpec) -> tuple[bool, bool | int | None]:
        """(known, value) for a tracker the watchers can answer at once: a track_file's
        current value, and a refused or missing script (keepalived treats it as not
        tracked). Interfaces are the driver's business (netlink)."""
        if spec.kind is TrackerKind.FILE and self.file_tracker is not None:
            return True, self.file_tracker.value(spec.name)
        if spec.kind is TrackerKind.SCRIPT and spec.name not in self.scripts:
            return True, spec.weight >= 0 or None
        return False, None

    def _on_script(self, name: str, good: bool) -> None:
        self.on_value(f"{TrackerKind.SCRIPT.value}:{name}", good)

    def _on_file(self, name: str, value: int) -> None:
        self.on_value(f"{TrackerKind.FILE.value}:{name}", value)

    def _on_process(self, name: str, up: bool) -> None:
        self.on_value(f"{TrackerKind.PROCESS.value}:{name}", up)
