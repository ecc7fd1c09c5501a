"""The protocol core imports nothing that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pykeepalived.core

FORBIDDEN = {"socket", "asyncio", "subprocess", "os", "time", "select", "threading", "pyroute2"}


def test_core_modules_import_no_io() -> None:
    root = Path(pykeepalived.core.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
