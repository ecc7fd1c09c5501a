"""The namespace lab lives in the package (the live demo uses it too); re-exported for tests."""

from pykeepalived.testing.lab import *  # noqa: F403
from pykeepalived.testing.lab import (  # noqa: F401
    AddressWatcher,
    Capture,
    Lab,
    Node,
    lab_with,
    netns_unavailable,
    sweep_leftovers,
)
