"""The project's exception hierarchy.

Local errors (a bad configuration, a misuse of the API) are raised to the caller. Remote errors
(a peer sent garbage) are raised by decoders only so that the driver can count and drop them; they
never escape the event loop.
"""

from __future__ import annotations


class PyKeepalivedError(Exception):
    """Root of every exception this package raises on purpose."""


class RemoteError(PyKeepalivedError):
    """Something received from the network was malformed; count it and drop it."""


class LocalError(PyKeepalivedError):
    """The local side (configuration, caller) is at fault."""
