"""Fixtures for interop tests: a fresh lab per test, real keepalived, logs on failure.

Skipped unless root with iproute2 and Debian's keepalived installed (``scripts/setup`` installs
it). When a test fails, every daemon's log is attached to the report, so both keepalived's and
pykeepalived's view of the failure is visible.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator

import pytest

from tests.interop.mixed import Mixed
from tests.netns.lab import Lab, netns_unavailable, sweep_leftovers


def keepalived_binary() -> str | None:
    return shutil.which("keepalived") or (
        "/usr/sbin/keepalived" if os.access("/usr/sbin/keepalived", os.X_OK) else None
    )


def _can_run() -> str | None:
    reason = netns_unavailable()
    if reason is not None:
        return reason
    if keepalived_binary() is None:
        return "keepalived not installed (scripts/setup installs it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _can_run()
    for item in items:
        if "interop" in item.keywords and reason:
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


@pytest.fixture
def mixed(request: pytest.FixtureRequest, lab: Lab) -> Iterator[Mixed]:
    m = Mixed(lab)
    request.node.interop_clusters = [m]
    try:
        yield m
    finally:
        m.stop_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for i, m in enumerate(getattr(item, "interop_clusters", [])):
            report.sections.append((f"daemon logs ({report.when}, cluster {i})", m.logs()))
