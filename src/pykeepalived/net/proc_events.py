"""The kernel's process events: the proc connector (``NETLINK_CONNECTOR``, ``CN_IDX_PROC``).

A process that holds CAP_NET_ADMIN in the initial user and PID namespaces, and sits in the
initial network namespace (the connector's kernel socket lives only there), can bind a
connector socket to the ``CN_IDX_PROC`` group and ask with ``PROC_CN_MCAST_LISTEN`` to be sent
an event for every fork, exec, comm change and exit on the host (cn_proc.c). keepalived's
track_process (core/track_process.c) follows these; so does
:class:`pykeepalived.daemon.proc_tracker.ProcessTracker`.

Two pieces:

- :func:`decode_datagram`, a pure decoder (no I/O) of one datagram: ``nlmsghdr``, then
  ``struct cn_msg``, then ``struct proc_event`` (linux/cn_proc.h). The kernel sends one event
  per datagram, the event 4-octet aligned right after the 20-octet ``cn_msg``, so it is read
  with explicit little structs, never by casting. A datagram too short for what it claims is
  counted and dropped, never raised.
- :class:`ProcEventSocket`: the non-blocking socket, subscribed on open and unsubscribed
  (``PROC_CN_MCAST_IGNORE``) on close, with a large receive buffer; :meth:`ProcEventSocket.read`
  returns a bounded batch of events and says when the kernel dropped some (ENOBUFS, or a gap in
  a CPU's sequence numbers).

The first message after subscribing is the kernel's answer, an event of kind ``"ack"`` whose
``err`` is 0 or the errno of the refusal (EPERM outside the initial user or PID namespace). A
kernel built without CONFIG_PROC_EVENTS sends none: callers wait for it with a timeout.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Literal

from pykeepalived.net.netns import run_in_netns
from pykeepalived.net.nlwire import NLMSGHDR

# linux/netlink.h, linux/connector.h, linux/cn_proc.h
NETLINK_CONNECTOR = 11
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

PROC_EVENT_NONE = 0x00000000  #: the answer to PROC_CN_MCAST_LISTEN / IGNORE
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_EXIT = 0x80000000

#: ``struct cn_msg``: id.idx, id.val, seq, ack, len, flags.
CN_MSG = struct.Struct("=IIIIHH")
#: The head of ``struct proc_event``: what, cpu, timestamp_ns.
PROC_EVENT_HEAD = struct.Struct("=IIQ")
_ACK = struct.Struct("=I")  # err
_FORK = struct.Struct("=iiii")  # parent_pid, parent_tgid, child_pid, child_tgid
_PIDS = struct.Struct("=ii")  # process_pid, process_tgid: exec, and the head of exit
_COMM = struct.Struct("=ii16s")  # process_pid, process_tgid, comm[16]
_MCAST_OP = struct.Struct("=I")  # enum proc_cn_mcast_op

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
#: What the socket asks for (the kernel doubles it for its bookkeeping). An event costs the
#: queue well under 1 KiB, so this holds several thousand before the kernel drops any.
DEFAULT_RCVBUF = 4 << 20
MAX_RCVBUF = 64 << 20
_UINT32 = 1 << 32

#: "other": uid, gid, sid, ptrace, coredump and later kinds, decoded only so that their
#: sequence numbers are seen (they take them like the rest).
EventKind = Literal["ack", "fork", "exec", "comm", "exit", "other"]


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One process event. For a fork, ``pid``/``tgid`` are the child's."""

    kind: EventKind
    pid: int  #: the thread's id (the kernel's ``pid``)
    tgid: int  #: its process's id (the thread-group id)
    parent: int = 0  #: fork: the parent process's tgid
    comm: str = ""  #: comm: the new name
    err: int = 0  #: ack: 0, or the errno the kernel refused the subscription with
    answers: int = 0  #: ack: the ``ack`` number of the request this answers, plus one
    cpu: int = 0
    seq: int = 0  #: the connector's per-CPU sequence number

    @property
    def leader(self) -> bool:
        """A whole process (its thread-group leader), not one of its other threads."""
        return self.pid == self.tgid


def decode_datagram(data: bytes) -> tuple[list[ProcEvent], int]:
    """The process events in one datagram, and how many malformed messages were dropped.

    Never raises. Messages of other connector ids and netlink NOOP / ERROR messages are
    skipped without counting; process events of kinds not followed here come as "other".
    """
    events: list[ProcEvent] = []
    malformed = 0
    offset = 0
    while offset < len(data):
        if len(data) - offset < NLMSGHDR.size:
            return events, malformed + 1
        length, msg_type, _flags, _seq, _port = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or length > len(data) - offset:
            return events, malformed + 1  # no telling where a next message would start
        body = data[offset + NLMSGHDR.size : offset + length]
        offset += (length + 3) & ~3
        if msg_type in (NLMSG_NOOP, NLMSG_ERROR):
            continue
        try:
            event = _decode_cn_msg(body)
        except (struct.error, ValueError):
            event = None
        if event is None:
            malformed += 1
        elif event is not _SKIP:
            events.append(event)
    return events, malformed


#: What _decode_cn_msg returns for a well-formed message that is not wanted.
_SKIP = ProcEvent("ack", -1, -1)


def _decode_cn_msg(body: bytes) -> ProcEvent | None:
    """The event in one message's payload; None if malformed, _SKIP if not wanted."""
    if len(body) < CN_MSG.size:
        return None
    idx, val, seq, ack, cn_len, _flags = CN_MSG.unpack_from(body)
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
        return _SKIP
    payload = body[CN_MSG.size : CN_MSG.size + cn_len]
    if len(payload) < cn_len or cn_len < PROC_EVENT_HEAD.size:
        return None
    what, cpu, _timestamp = PROC_EVENT_HEAD.unpack_from(payload)
    rest = payload[PROC_EVENT_HEAD.size :]
    if what == PROC_EVENT_NONE:
        if len(rest) < _ACK.size:
            return None
        return ProcEvent("ack", 0, 0, err=_ACK.unpack_from(rest)[0], answers=ack, cpu=cpu,
                         seq=seq)
    if what == PROC_EVENT_FORK:
        if len(rest) < _FORK.size:
            return None
        _ppid, ptgid, pid, tgid = _FORK.unpack_from(rest)
        return ProcEvent("fork", pid, tgid, parent=ptgid, cpu=cpu, seq=seq)
    if what == PROC_EVENT_COMM:
        if len(rest) < _COMM.size:
            return None
        pid, tgid, raw = _COMM.unpack_from(rest)
        name = raw.split(b"\0", 1)[0].decode(errors="replace")
        return ProcEvent("comm", pid, tgid, comm=name, cpu=cpu, seq=seq)
    if what in (PROC_EVENT_EXEC, PROC_EVENT_EXIT):
        if len(rest) < _PIDS.size:
            return None
        pid, tgid = _PIDS.unpack_from(rest)
        kind: EventKind = "exec" if what == PROC_EVENT_EXEC else "exit"
        return ProcEvent(kind, pid, tgid, cpu=cpu, seq=seq)
    # The others start with the process's pid and tgid too (linux/cn_proc.h).
    pid, tgid = _PIDS.unpack_from(rest) if len(rest) >= _PIDS.size else (0, 0)
    return ProcEvent("other", pid, tgid, cpu=cpu, seq=seq)


def mcast_message(listen: bool, port: int = 0, ack: int = 0) -> bytes:
    """The PROC_CN_MCAST_LISTEN (or _IGNORE) request: nlmsghdr, cn_msg, the operation. The
    kernel's answer carries ``ack`` + 1 (every listener gets every answer: this tells ours)."""
    op = _MCAST_OP.pack(PROC_CN_MCAST_LISTEN if listen else PROC_CN_MCAST_IGNORE)
    cn = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, ack, len(op), 0) + op
    return NLMSGHDR.pack(NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, port) + cn


@dataclass(slots=True)
class SequenceCheck:
    """Notices events the kernel could not send (a gap in a CPU's sequence numbers).

    Every message the connector multicasts, answers to subscriptions included (anyone's: all
    listeners get them), takes the next number of the CPU it is sent on; older kernels sent
    answers outside the sequence with CPU -1, and those are left out.
    """

    last: dict[int, int] = field(default_factory=dict)

    def missed(self, event: ProcEvent) -> int:
        """How many events of this CPU went missing just before ``event``."""
        if event.cpu == _UINT32 - 1:
            return 0
        previous = self.last.get(event.cpu)
        self.last[event.cpu] = event.seq
        if previous is None:
            return 0
        return (event.seq - previous - 1) % _UINT32


@dataclass(slots=True)
class Batch:
    """What one :meth:`ProcEventSocket.read` found."""

    events: list[ProcEvent] = field(default_factory=list)
    overrun: bool = False  #: the kernel dropped events: its queue for us was full (ENOBUFS)
    missed: list[tuple[int, int]] = field(default_factory=list)  #: (cpu, events missed)
    more: bool = False  #: stopped at the limit with datagrams still queued


class ProcEventSocket:
    """A non-blocking connector socket subscribed to the kernel's process events.

    Raises OSError when it cannot be opened, bound or subscribed: EPROTONOSUPPORT (no
    connector in the kernel), ECONNREFUSED (not in the initial network namespace), EPERM.
    ``netns``: create it in that network namespace (see :func:`run_in_netns`).
    """

    def __init__(self, rcvbuf: int = DEFAULT_RCVBUF, *, netns: str | None = None) -> None:
        sock = run_in_netns(netns, functools.partial(
            socket.socket,
            socket.AF_NETLINK,
            socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        ))
        try:
            self._asked = rcvbuf
            self.rcvbuf = set_rcvbuf(sock, rcvbuf)  #: as the kernel reports it (doubled)
            sock.bind((0, CN_IDX_PROC))
            self.port: int = sock.getsockname()[0]
            self.nonce = int.from_bytes(os.urandom(4), "little") >> 1
            sock.send(mcast_message(True, self.port, self.nonce))
        except BaseException:
            sock.close()
            raise
        self._sock: socket.socket | None = sock
        self._seq = SequenceCheck()
        self.datagrams = 0
        self.malformed = 0  #: messages dropped as too short for what they claim
        self.foreign = 0  #: datagrams not sent by the kernel, dropped

    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def is_answer(self, event: ProcEvent) -> bool:
        """Whether ``event`` is the kernel's answer to this socket's subscription."""
        return event.kind == "ack" and event.answers == self.nonce + 1

    def read(self, limit: int = 128) -> Batch:
        """Up to ``limit`` queued datagrams, decoded; never blocks."""
        batch = Batch()
        sock = self._sock
        if sock is None:
            return batch
        for _ in range(limit):
            try:
                data, (sender, _groups) = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return batch
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                batch.overrun = True
                continue
            self.datagrams += 1
            if sender != 0:
                self.foreign += 1
                continue
            events, malformed = decode_datagram(data)
            self.malformed += malformed
            for event in events:
                missed = self._seq.missed(event)
                if missed:
                    batch.missed.append((event.cpu, missed))
            batch.events.extend(events)
        batch.more = True
        return batch

    def grow_rcvbuf(self) -> int:
        """Double the receive buffer (up to MAX_RCVBUF) after an overrun; the new size."""
        if self._sock is not None and self._asked < MAX_RCVBUF:
            self._asked = min(MAX_RCVBUF, self._asked * 2)
            self.rcvbuf = set_rcvbuf(self._sock, self._asked)
        return self.rcvbuf

    def close(self) -> None:
        """Unsubscribe (best effort) and close."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.send(mcast_message(False, self.port))
        sock.close()


def set_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for a ``size``-octet receive buffer, past rmem_max if allowed; the size granted
    (as the kernel reports it, i.e. doubled)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return granted


def describe_error(exc: OSError) -> str:
    """Why the connector could not be used, in a log line's words."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno == errno.EPROTONOSUPPORT:
        return f"{reason}: is CONFIG_PROC_EVENTS enabled in the kernel?"
    if exc.errno == errno.ECONNREFUSED:
        return f"{reason}: the proc connector answers only in the initial network namespace"
    if exc.errno in (errno.EPERM, errno.EACCES):
        return f"{reason}: needs CAP_NET_ADMIN in the initial user and PID namespaces"
    return reason
