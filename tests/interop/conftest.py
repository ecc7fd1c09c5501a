"""Interop-only fixtures: the ``mixed`` cluster, and every daemon's log attached to the report
of a failed test, so keepalived's and pykeepalived's view of the failure are both visible.

The lab, the cluster and the skip of these tests where they cannot run (no root, or no
keepalived: :func:`tests.interop.mixed.interop_unavailable`) come from :mod:`tests.lab_fixtures`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.interop.mixed import Mixed
from tests.netns.daemons import Cluster


@pytest.fixture
def mixed(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[Mixed]:
    """A mixed cluster on the shared ``cluster`` fixture (which stops its daemons)."""
    m = Mixed(cluster.lab, cluster=cluster)
    request.node.interop_clusters = [m]
    yield m


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for i, m in enumerate(getattr(item, "interop_clusters", [])):
            report.sections.append((f"daemon logs ({report.when}, cluster {i})", m.logs()))
