"""Shared test helpers: the wire vectors captured from real keepalived 2.2.7.

The real-kernel fixtures (``lab``, ``cluster``) and the skip of ``netns`` tests on machines that
cannot run them live in :mod:`tests.lab_fixtures`, registered here for every suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

pytest_plugins = ["tests.lab_fixtures"]

VECTORS = Path(__file__).parent / "vectors"


@dataclass(frozen=True)
class Vector:
    name: str
    frame: bytes
    fields: dict[str, list[str]]
    notes: str

    def field(self, key: str) -> str:
        return self.fields[key][0]


def load_vector(name: str) -> Vector:
    frame = bytes.fromhex((VECTORS / f"{name}.hex").read_text().strip())
    fields: dict[str, list[str]] = {}
    notes = []
    for line in (VECTORS / f"{name}.txt").read_text().splitlines():
        if line.startswith("#"):
            notes.append(line)
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and "." in parts[0] and not parts[0].endswith(":"):
            fields.setdefault(parts[0], []).append(parts[1].strip())
    return Vector(name, frame, fields, "\n".join(notes))


def vector_names(prefix: str = "") -> list[str]:
    return sorted(p.stem for p in VECTORS.glob(f"{prefix}*.hex"))
