"""Fixtures for the reliability tests: the netns lab fixture and root check, as in tests/netns."""

from __future__ import annotations

from tests.netns.conftest import (  # noqa: F401 - fixtures and hooks are found by name
    _sweep_dead_runs,
    lab,
    pytest_collection_modifyitems,
)
