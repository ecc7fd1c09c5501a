"""Checker sockets: opened with a checker's connection options, connected without blocking, and
the failure named the way keepalived's layer4.c names it (the log texts depend on it).

keepalived sorts a connect attempt into: success; *fail* (the connect() call itself said the
network or host is unreachable, refused, reset...); *error* (anything else in setting the socket
up: fwmark, bind_if, bindto; the checker then just reschedules itself); *timeout*; and a failure
reported later through SO_ERROR (``FAILED``). Everything here is non-blocking on the running
loop: no threads, nothing that waits in the kernel.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import os
import socket
from dataclasses import dataclass

from pykeepalived.lvs.model import Connection

#: connect() errors keepalived counts as "could not connect" rather than a local problem.
_CONNECT_FAIL = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED,
                           errno.EHOSTDOWN, errno.ENETDOWN, errno.ECONNRESET,
                           errno.ECONNABORTED, errno.ETIMEDOUT})


class SetupError(Exception):
    """The socket could not be given the checker's options; ``line`` is keepalived's log."""

    def __init__(self, line: str, what: str, err: int) -> None:
        super().__init__(line)
        self.line = line
        #: "fwmark", "bind_if" or "bind"
        self.what = what
        self.errno = err


class Connect(enum.Enum):
    SUCCESS = "success"
    #: connect() itself failed (keepalived's connect_fail)
    FAIL_NOW = "fail"
    #: connect() failed for a local reason (keepalived's connect_error)
    ERROR = "error"
    #: the connection attempt failed later (SO_ERROR)
    FAILED = "failed"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class ConnectResult:
    status: Connect
    err: int = 0

    @property
    def reason(self) -> str:
        if self.status is Connect.TIMEOUT:
            return "timeout"
        if self.err:
            return os.strerror(self.err).lower()
        return str(self.status.value)


def family(conn: Connection) -> socket.AddressFamily:
    return socket.AF_INET6 if conn.ip.version == 6 else socket.AF_INET


def sockaddr(ip: object, port: int) -> tuple[str, int]:
    return (str(ip), port)


def open_socket(conn: Connection, kind: socket.SocketKind, proto: int = 0, *,
                bind: bool = True) -> socket.socket:
    """A non-blocking socket with ``fwmark`` (SO_MARK), ``bind_if`` (SO_BINDTODEVICE) and
    ``bindto`` / ``bind_port`` applied. OSError when it cannot be created at all, SetupError
    (with keepalived's log line) when an option fails; the socket is closed then."""
    sock = socket.socket(family(conn), kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, proto)
    try:
        if conn.fwmark:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, conn.fwmark)
            except OSError as exc:
                raise SetupError(f"Error setting fwmark {conn.fwmark} to socket: "
                                 f"{os.strerror(exc.errno or 0)}", "fwmark", exc.errno or 0) \
                    from None
        if conn.bind_if:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                conn.bind_if.encode() + b"\0")
            except OSError as exc:
                raise SetupError(f"Checker can't bind to device {conn.bind_if}: "
                                 f"{os.strerror(exc.errno or 0)}", "bind_if", exc.errno or 0) \
                    from None
        if bind and (conn.bindto is not None or conn.bind_port):
            host = str(conn.bindto) if conn.bindto is not None else ""
            try:
                sock.bind((host, conn.bind_port or 0))
            except OSError as exc:
                raise SetupError(f"Checker bind failed: {os.strerror(exc.errno or 0)}", "bind",
                                 exc.errno or 0) from None
    except BaseException:
        sock.close()
        raise
    return sock


async def wait_writable(sock: socket.socket, timeout: float) -> bool:
    """True once ``sock`` is writable, False after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    fd = sock.fileno()
    loop.add_writer(fd, ready)
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await fut
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_writer(fd)


async def connect(sock: socket.socket, address: tuple[str, int], timeout: float) -> ConnectResult:
    """Connect a non-blocking socket within ``timeout`` seconds, classified as keepalived does."""
    try:
        err = sock.connect_ex(address)
    except OSError as exc:
        err = exc.errno or errno.EINVAL
    if err == 0:
        return ConnectResult(Connect.SUCCESS)
    if err != errno.EINPROGRESS:
        return ConnectResult(Connect.FAIL_NOW if err in _CONNECT_FAIL else Connect.ERROR, err)
    if not await wait_writable(sock, timeout):
        return ConnectResult(Connect.TIMEOUT)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err == 0:
        return ConnectResult(Connect.SUCCESS)
    if err == errno.ETIMEDOUT:
        return ConnectResult(Connect.TIMEOUT, err)
    return ConnectResult(Connect.FAILED, err)


def pair(conn: Connection) -> str:
    """keepalived's inet_sockaddrtopair: ``[ip]:port``."""
    return f"[{conn.ip}]:{conn.port}"


def seconds(value: float) -> str:
    """A timeout for a reason text: ``2.0 s``."""
    return f"{value:g} s" if value != int(value) else f"{value:.1f} s"
