"""Fixtures for real-kernel tests: a fresh bridged lab per test, skipped unless root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .lab import Lab, netns_unavailable, sweep_leftovers

_can_run = netns_unavailable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _can_run()
    for item in items:
        if "netns" in item.keywords and reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _sweep_dead_runs() -> None:
    if _can_run() is None:
        sweep_leftovers()


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = _can_run()
    if reason:
        pytest.skip(reason)
    with Lab() as the_lab:
        yield the_lab
