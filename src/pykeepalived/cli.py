"""Command-line entry point (keepalived-compatible flags plus pykeepalived subcommands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print("pykeepalived: not yet implemented", args, file=sys.stderr)
    return 1
