"""Daemon entry: turns parsed command-line options into a running event loop."""

from __future__ import annotations

import argparse
import sys


def run(options: argparse.Namespace) -> int:
    """Run the daemon with keepalived-style options (filled in by the daemon work)."""
    print("pykeepalived: the daemon is not implemented yet", file=sys.stderr)
    return 1
