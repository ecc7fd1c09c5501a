"""The project's exception hierarchy.

Two families, split by who is at fault:

* :class:`RemoteError`: a peer sent something malformed or hostile. Decoders raise it only so
  that the caller can count it (a ``DropReason``) and drop the packet; it never escapes the
  event loop and never stops the daemon.
* :class:`LocalError`: we, our configuration or our host are at fault. A bad configuration
  (:class:`pykeepalived.config.diagnostics.ConfigError`), a caller misusing an API
  (:class:`EncodeError`), or the kernel refusing an operation (:class:`HostError`: netlink,
  sockets, nftables, namespaces). These are raised to the caller, who logs them with context
  and decides whether the daemon can go on (:class:`DaemonError` says it cannot start).
"""

from __future__ import annotations


class PyKeepalivedError(Exception):
    """Root of every exception this package raises on purpose."""


class RemoteError(PyKeepalivedError):
    """Something received from the network was malformed; count it and drop it."""


class LocalError(PyKeepalivedError):
    """The local side (configuration, caller, host) is at fault."""


class HostError(LocalError):
    """The kernel or the host refused an operation (netlink, sockets, nftables, files)."""


class EncodeError(LocalError):
    """Asked to encode something the wire format cannot carry (a caller's mistake)."""


class DaemonError(LocalError):
    """The daemon cannot start or go on (bad configuration, missing privileges, clashes)."""
