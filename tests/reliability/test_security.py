"""Security: who can steer the daemon. The control socket refuses other users (tested as
``nobody``), and notify scripts get instance names and arguments full of shell metacharacters
verbatim, never through a shell. (Script security and config hostility: tests/unit/daemon
/test_script_security_checks.py and tests/unit/test_fuzz_config.py.)"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from tests.netns.daemons import Cluster, config, ops_args, status_json
from tests.support import wait_until

pytestmark = pytest.mark.netns


def connect_as(uid: int, gid: int, path: str) -> int:
    """errno of connect() to ``path`` from a child running as uid/gid (0 when it connected)."""
    pid = os.fork()
    if pid == 0:  # child: drop to the other user, try, report through the exit status
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b'{"command": "maintenance", "action": "on", "instances": []}\n')
        except OSError as exc:
            code = exc.errno or 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_control_socket_refuses_other_users(cluster: Cluster) -> None:
    nobody = pwd.getpwnam("nobody")
    # A directory everyone may traverse, so only the socket's own mode can refuse.
    public = Path(tempfile.mkdtemp(prefix="pkctl-"))
    try:
        public.chmod(0o755)
        node = cluster.lab.add_node("n1")
        extra = ops_args(public, "n1")
        cluster.add(node, config(150, state="MASTER"), extra=extra)
        cluster.start_all()
        path = extra[1]
        assert status_json(cluster.daemons["n1"])["ok"] is True  # root may
        assert connect_as(nobody.pw_uid, nobody.pw_gid, path) == errno.EACCES
        assert os.stat(path).st_mode & 0o777 == 0o600
        time.sleep(0.3)  # the scenario: a moment later, still nothing changed
        st = status_json(cluster.daemons["n1"])
        assert st["instances"][0]["maintenance"] is False  # nobody's request never arrived
    finally:
        cluster.stop_all()
        shutil.rmtree(public, ignore_errors=True)


def test_shell_metacharacters_in_names_and_notify_arguments_stay_inert(
        cluster: Cluster) -> None:
    tmp = cluster.lab.tmpdir
    markers = [tmp / f"pwned{i}" for i in range(5)]
    name = f"VI;>{markers[0]}&`>{markers[1]}`|>{markers[2]}"
    record = tmp / "args.txt"
    script = tmp / "notify.sh"
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> {record}\n'
                      f'echo --- >> {record}\n')
    script.chmod(0o755)
    odd_arg = f"a;>{markers[3]}$(>{markers[4]})"
    tail = (f'    notify "{script}"\n'
            f'    notify_master "{script} {odd_arg} b"\n')
    node = cluster.lab.add_node("n1")
    cluster.add(node, config(150, state="MASTER", name=name, tail=tail))
    cluster.start_all()
    wait_until(lambda: record.exists() and record.read_text().count("---") >= 2, 10,
               what="notify and notify_master to run", context=cluster.logs)
    text = record.read_text()
    # The name and the odd argument arrive as single, verbatim arguments ...
    assert f"INSTANCE\n{name}\nMASTER\n" in text, text
    assert f"{odd_arg}\nb\n---" in text, text
    # ... and no shell ever interpreted them.
    assert not [m for m in markers if m.exists()], text
    assert cluster.daemons["n1"].alive()
