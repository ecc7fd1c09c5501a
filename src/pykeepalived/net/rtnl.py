"""A small synchronous rtnetlink client: one NETLINK_ROUTE socket, :mod:`struct`, no pyroute2.

:class:`RtnlSocket` sends one request at a time and reads the kernel's answer: the messages a
``get`` returns and the acknowledgement (NLMSG_ERROR with errno 0) every request asks for, or
the parts of a dump up to NLMSG_DONE. A failure comes back as :class:`NetlinkError` carrying the
kernel's errno (and its extended-ack text when it gave one). A round trip is a ``send`` and a
``recvmsg`` or two on a blocking socket: 40-100 microseconds for a request, 3 ms to dump 2,000
addresses (pyroute2's ``IPRoute``, which this replaces, took 0.5-0.9 ms and 330 ms, and cost
the VRRP child 9 MiB of RSS to import), so callers use it from the event loop.

The encoders below build the requests :class:`pykeepalived.net.netlink.Netlink` sends: the
message types, flags, headers and attributes pyroute2 0.9 sent for the same calls, defaults
included (a rule without a priority gets 32000, as pyroute2 gave it), so the kernel does what it
did; ``tests/unit/net/test_rtnl.py`` holds the bytes to pyroute2's codec. Two differences, same
kernel result: IFA_F_NODAD goes in the ``ifaddrmsg`` header rather than an ``IFA_FLAGS``
attribute (as the renewal always sent it), and dumps ask the kernel to filter (strict checking:
an address dump for one interface gets that interface's addresses only). The decoders read
links, routes and rules; :func:`pykeepalived.net.netlink.decode_address` reads addresses.

A socket belongs to the network namespace it was created in: ``RtnlSocket(netns)`` creates it
there (see :func:`pykeepalived.net.netns.run_in_netns`) and may then be used from any thread;
requests are serialised by a lock, so a worker thread (a status query) and the event loop can
share one.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Sequence

from pykeepalived.errors import HostError
from pykeepalived.net import nlwire as w
from pykeepalived.net.netns import run_in_netns


class NetlinkError(HostError):
    """A netlink request failed; ``errno`` is the kernel's answer (or the socket's)."""

    def __init__(self, message: str, err: int = 0) -> None:
        super().__init__(message)
        self.errno = err


def _error(code: int, detail: str | None = None) -> NetlinkError:
    text = f"[Errno {code}] {os.strerror(code)}"
    return NetlinkError(f"{text} ({detail})" if detail else text, code)


class RtnlSocket:
    """One NETLINK_ROUTE socket for requests, in ``netns`` (the current one when None)."""

    #: Bytes read per ``recvmsg``: the kernel fills dump datagrams up to 32 KiB.
    BUFSIZE = 1 << 16
    #: Seconds to wait for an answer before giving up (the kernel always answers).
    TIMEOUT = 10.0
    #: How often a dump that changed while it was read (NLM_F_DUMP_INTR) is read again.
    DUMP_RETRIES = 3

    def __init__(self, netns: str | None = None) -> None:
        self._sock = run_in_netns(netns, self._open)
        self.strict = self._option(w.NETLINK_GET_STRICT_CHK)
        self._option(w.NETLINK_EXT_ACK)
        self._option(w.NETLINK_CAP_ACK)
        self._sock.settimeout(self.TIMEOUT)
        self._buf = bytearray(self.BUFSIZE)
        self._seq = 0
        self._lock = threading.Lock()

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                             socket.NETLINK_ROUTE)
        try:
            sock.bind((0, 0))
        except BaseException:
            sock.close()
            raise
        return sock

    def _option(self, option: int) -> bool:
        """Turn a netlink socket option on; False when the kernel does not know it."""
        try:
            self._sock.setsockopt(w.SOL_NETLINK, option, 1)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()

    def request(self, msg_type: int, body: bytes, flags: int = 0) -> list[bytes]:
        """Send one request (``NLM_F_REQUEST | NLM_F_ACK | flags``) and wait for the
        acknowledgement; returns the messages the kernel answered with before it (a ``get``'s
        answer). Raises :class:`NetlinkError` with the kernel's errno."""
        with self._lock:
            return self._exchange(msg_type, w.NLM_F_REQUEST | w.NLM_F_ACK | flags, body)[0]

    #: Requests sent in one datagram by :meth:`batch`: each acknowledgement is a buffer of
    #: its own on the socket (about 1 KiB of its receive buffer's 208 KiB), so a batch's
    #: acknowledgements must fit before they are read (ENOBUFS otherwise: measured at 540).
    BATCH_COUNT = 64

    def batch(self, requests: Sequence[tuple[int, int, bytes]]) -> list[int]:
        """Many ``(msg_type, flags, body)`` requests, several to a datagram, each acknowledged
        (``NLM_F_REQUEST | NLM_F_ACK | flags``): the kernel carries them out in order. Each
        one's errno, 0 when done: a round trip per :data:`BATCH_COUNT` requests, not each."""
        results: list[int] = []
        with self._lock:
            chunk: list[bytes] = []
            for msg_type, flags, body in requests:
                self._seq = self._seq % 0xFFFFFFFF + 1
                msg = w.message(msg_type, w.NLM_F_REQUEST | w.NLM_F_ACK | flags, self._seq, body)
                if len(chunk) == self.BATCH_COUNT:
                    results.extend(self._send_batch(chunk))
                    chunk = []
                chunk.append(msg)
            if chunk:
                results.extend(self._send_batch(chunk))
        return results

    def _send_batch(self, messages: list[bytes]) -> list[int]:
        seqs = [w.NLMSGHDR.unpack_from(m)[3] for m in messages]
        waiting = dict.fromkeys(seqs, -1)
        try:
            self._sock.send(b"".join(messages))
        except OSError as exc:
            raise _error(exc.errno or errno.EIO, "send") from exc
        left = len(waiting)
        while left:
            for kind, answer_seq, msg in w.split_messages(self._receive()):
                if kind == w.NLMSG_ERROR and waiting.get(answer_seq) == -1:
                    waiting[answer_seq] = w.error_code(msg)
                    left -= 1
        return [waiting[s] for s in seqs]

    def dump(self, msg_type: int, body: bytes) -> list[bytes]:
        """Every message of a dump (``NLM_F_DUMP``), read again when the kernel says it
        changed while it was read."""
        with self._lock:
            for _ in range(self.DUMP_RETRIES):
                messages, interrupted = self._exchange(
                    msg_type, w.NLM_F_REQUEST | w.NLM_F_DUMP, body)
                if not interrupted:
                    break
            return messages

    def _exchange(self, msg_type: int, flags: int, body: bytes) -> tuple[list[bytes], bool]:
        self._seq = self._seq % 0xFFFFFFFF + 1
        seq = self._seq
        try:
            self._sock.send(w.message(msg_type, flags, seq, body))
        except OSError as exc:
            raise _error(exc.errno or errno.EIO, "send") from exc
        out: list[bytes] = []
        interrupted = False
        while True:
            for kind, answer_seq, msg in w.split_messages(self._receive()):
                if answer_seq != seq:
                    continue  # an answer to an earlier request that gave up waiting
                if kind in (w.NLMSG_ERROR, w.NLMSG_DONE):
                    code = w.error_code(msg)
                    if code > 0:
                        raise _error(code, w.error_text(msg) if kind == w.NLMSG_ERROR else None)
                    return out, interrupted
                if kind in (w.NLMSG_NOOP, w.NLMSG_OVERRUN):
                    continue
                if w.NLMSGHDR.unpack_from(msg)[2] & w.NLM_F_DUMP_INTR:
                    interrupted = True
                out.append(msg)

    def _receive(self) -> bytes:
        try:
            size, _, msg_flags, _ = self._sock.recvmsg_into([self._buf])
        except TimeoutError as exc:
            raise _error(errno.ETIMEDOUT, "no answer from the kernel") from exc
        except OSError as exc:
            raise _error(exc.errno or errno.EIO, "receive") from exc
        if msg_flags & socket.MSG_TRUNC:
            raise _error(errno.EMSGSIZE, "answer larger than the receive buffer")
        return bytes(self._buf[:size])


# --- links ---------------------------------------------------------------------------------


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """``struct ifinfomsg`` for a request (family AF_UNSPEC)."""
    return w.IFINFOMSG.pack(0, 0, index, flags, change)


def encode_getlink_by_name(ifname: str) -> bytes:
    return ifinfo() + w.rtattr_str(w.IFLA_IFNAME, ifname)


def encode_set_up(index: int, up: bool) -> bytes:
    """RTM_NEWLINK body changing only IFF_UP, as ``ip link set up/down``."""
    return ifinfo(index, w.IFF_UP if up else 0, w.IFF_UP)


def encode_macvlan(ifname: str, parent_index: int, mac: bytes,
                   mode: int = w.MACVLAN_MODE_PRIVATE) -> bytes:
    """RTM_NEWLINK body creating a macvlan on ``parent_index`` (``IFLA_LINKINFO`` holds the
    kind and, nested again in ``IFLA_INFO_DATA``, the macvlan mode)."""
    info = (w.rtattr_str(w.IFLA_INFO_KIND, "macvlan")
            + w.rtattr(w.IFLA_INFO_DATA, w.rtattr_u32(w.IFLA_MACVLAN_MODE, mode)))
    return (ifinfo() + w.rtattr_str(w.IFLA_IFNAME, ifname)
            + w.rtattr_u32(w.IFLA_LINK, parent_index) + w.rtattr(w.IFLA_ADDRESS, mac)
            + w.rtattr(w.IFLA_LINKINFO, info))


class LinkMessage:
    """The parts of one RTM_NEWLINK the daemon reads."""

    __slots__ = ("flags", "ifname", "index", "kind", "link", "mac", "mtu")

    def __init__(self, msg: bytes) -> None:
        _family, _type, self.index, self.flags, _change = w.IFINFOMSG.unpack_from(
            msg, w.NLMSGHDR.size)
        attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.IFINFOMSG.size)
        self.ifname = w.attr_str(attrs.get(w.IFLA_IFNAME))
        self.mac = attrs.get(w.IFLA_ADDRESS, b"")
        self.mtu = w.attr_u32(attrs.get(w.IFLA_MTU))
        self.link = w.attr_u32(attrs.get(w.IFLA_LINK))
        linkinfo = attrs.get(w.IFLA_LINKINFO)
        self.kind = (w.attr_str(w.parse_attrs(linkinfo).get(w.IFLA_INFO_KIND))
                     if linkinfo is not None else None)


def link_messages(messages: Sequence[bytes]) -> list[LinkMessage]:
    return [LinkMessage(m) for m in messages
            if w.NLMSGHDR.unpack_from(m)[1] == w.RTM_NEWLINK]


# --- routes --------------------------------------------------------------------------------


def encode_route(
    family: int,
    *,
    dst: bytes | None,
    dst_len: int,
    gateway: bytes | None = None,
    oif: int | None = None,
    prefsrc: bytes | None = None,
    priority: int | None = None,
    table: int | None = None,
    proto: int = 0,
    scope: int = 0,
    rtype: int = 1,
) -> bytes:
    """An ``rtmsg`` and its attributes for RTM_NEWROUTE / RTM_DELROUTE. A table above 254
    goes in ``RTA_TABLE`` only (the header says main); IPv6 metric 0 means 1024, as the kernel
    would make it."""
    header_table = table if table is not None and 0 < table < 255 else w.RT_TABLE_MAIN
    body = w.RTMSG.pack(family, dst_len, 0, 0, header_table, proto, scope, rtype, 0)
    if dst is not None:
        body += w.rtattr(w.RTA_DST, dst)
    if gateway is not None:
        body += w.rtattr(w.RTA_GATEWAY, gateway)
    if oif is not None:
        body += w.rtattr_u32(w.RTA_OIF, oif)
    if prefsrc is not None:
        body += w.rtattr(w.RTA_PREFSRC, prefsrc)
    if priority is not None:
        if family == socket.AF_INET6 and priority == 0:
            priority = 1024  # IP6_RT_PRIO_USER
        body += w.rtattr_u32(w.RTA_PRIORITY, priority)
    if table is not None:
        body += w.rtattr_u32(w.RTA_TABLE, table)
    return body


def decode_route(msg: bytes) -> dict[str, object]:
    """One RTM_NEWROUTE as a plain dict (addresses as text, as pyroute2 gave them)."""
    _family, dst_len, _src_len, _tos, table, proto, scope, rtype, _flags = w.RTMSG.unpack_from(
        msg, w.NLMSGHDR.size)
    attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.RTMSG.size)
    return {
        "dst": w.attr_ip(attrs.get(w.RTA_DST)),
        "dst_len": dst_len,
        "gateway": w.attr_ip(attrs.get(w.RTA_GATEWAY)),
        "oif": w.attr_u32(attrs.get(w.RTA_OIF)),
        "prefsrc": w.attr_ip(attrs.get(w.RTA_PREFSRC)),
        "priority": w.attr_u32(attrs.get(w.RTA_PRIORITY)),
        "table": w.attr_u32(attrs.get(w.RTA_TABLE)) or table,
        "type": rtype,
        "scope": scope,
        "proto": proto,
    }


# --- rules ---------------------------------------------------------------------------------

RULE_ACTIONS = {
    "to_tbl": w.FR_ACT_TO_TBL, "goto": w.FR_ACT_GOTO, "nop": w.FR_ACT_NOP,
    "blackhole": w.FR_ACT_BLACKHOLE, "unreachable": w.FR_ACT_UNREACHABLE,
    "prohibit": w.FR_ACT_PROHIBIT,
}
#: The priority pyroute2 gave a rule that names none (the kernel would pick one itself).
DEFAULT_RULE_PRIORITY = 32000


def encode_rule(
    family: int,
    action: int,
    *,
    src: bytes | None = None,
    src_len: int = 0,
    dst: bytes | None = None,
    dst_len: int = 0,
    table: int | None = None,
    priority: int | None = None,
    iifname: str | None = None,
    oifname: str | None = None,
    fwmark: int | None = None,
    fwmask: int | None = None,
) -> bytes:
    """A ``fib_rule_hdr`` and its attributes for RTM_NEWRULE / RTM_DELRULE. A table above 255
    goes in ``FRA_TABLE`` only (the header says RT_TABLE_COMPAT)."""
    header_table = 0 if table is None else table if table <= 255 else w.RT_TABLE_COMPAT
    body = w.FIB_RULE_HDR.pack(family, dst_len, src_len, 0, header_table, 0, 0, action, 0)
    if dst is not None:
        body += w.rtattr(w.FRA_DST, dst)
    if src is not None:
        body += w.rtattr(w.FRA_SRC, src)
    if table is not None:
        body += w.rtattr_u32(w.FRA_TABLE, table)
    body += w.rtattr_u32(w.FRA_PRIORITY,
                         DEFAULT_RULE_PRIORITY if priority is None else priority)
    if iifname is not None:
        body += w.rtattr_str(w.FRA_IIFNAME, iifname)
    if oifname is not None:
        body += w.rtattr_str(w.FRA_OIFNAME, oifname)
    if fwmark is not None:
        body += w.rtattr_u32(w.FRA_FWMARK, fwmark)
    if fwmask is not None:
        body += w.rtattr_u32(w.FRA_FWMASK, fwmask)
    return body


def decode_rule(msg: bytes) -> dict[str, object]:
    """One RTM_NEWRULE as a plain dict (addresses as text)."""
    _family, dst_len, src_len, _tos, table, _r1, _r2, _action, _flags = (
        w.FIB_RULE_HDR.unpack_from(msg, w.NLMSGHDR.size))
    attrs = w.parse_attrs(msg, w.NLMSGHDR.size + w.FIB_RULE_HDR.size)
    return {
        "priority": w.attr_u32(attrs.get(w.FRA_PRIORITY)),
        "table": w.attr_u32(attrs.get(w.FRA_TABLE)) or table,
        "src": w.attr_ip(attrs.get(w.FRA_SRC)),
        "src_len": src_len,
        "dst": w.attr_ip(attrs.get(w.FRA_DST)),
        "dst_len": dst_len,
        "iif": w.attr_str(attrs.get(w.FRA_IIFNAME)),
        "oif": w.attr_str(attrs.get(w.FRA_OIFNAME)),
        "fwmark": w.attr_u32(attrs.get(w.FRA_FWMARK)),
    }
