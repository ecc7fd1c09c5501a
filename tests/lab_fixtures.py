"""The real-kernel fixtures of tests/netns, tests/interop and tests/reliability, defined once.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``). Items marked
``netns`` are skipped unless this machine can build labs (root, iproute2), items marked
``interop`` also unless keepalived is installed (see :mod:`tests.interop.mixed`); the first test
that needs a lab sweeps away namespaces left by dead runs. Fixtures:

- ``lab_host``: that check and sweep, once per session (skips when labs cannot run);
- ``lab``: a fresh bridged :class:`~tests.netns.lab.Lab` per test;
- ``cluster``: an empty :class:`~tests.netns.daemons.Cluster` on that lab whose daemons are all
  stopped after the test. Variations are Cluster arguments given by indirect parametrization,
  e.g. ``@pytest.mark.parametrize("cluster", [{"extra": ["--no-conflict-detection"]}],
  indirect=True)`` or ``{"tag": "-b"}``.

The lab modules are imported only when a lab is wanted, so unit and simulation runs never load
them. (Interop adds the ``mixed`` fixture and the logs attached to a failure report in
``tests/interop/conftest.py``.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.netns.daemons import Cluster
    from tests.netns.lab import Lab


@functools.cache
def lab_unavailable() -> str | None:
    """Why real-kernel lab tests cannot run here, or None when they can."""
    from tests.netns.lab import netns_unavailable

    return netns_unavailable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, unavailable in (("netns", lab_unavailable), ("interop", _interop_unavailable)):
        marked = [item for item in items if marker in item.keywords]
        reason = unavailable() if marked else None
        if reason:
            for item in marked:
                item.add_marker(pytest.mark.skip(reason=reason))


def _interop_unavailable() -> str | None:
    from tests.interop.mixed import interop_unavailable

    return interop_unavailable()


@pytest.fixture(scope="session")
def lab_host() -> None:
    """This machine can build labs (the test is skipped otherwise); leftovers of dead runs are
    swept once per session."""
    from tests.netns.lab import sweep_leftovers

    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    sweep_leftovers()


@pytest.fixture
def lab(lab_host: None) -> Iterator[Lab]:
    from tests.netns.lab import Lab

    with Lab() as the_lab:
        yield the_lab


@pytest.fixture
def cluster(request: pytest.FixtureRequest, lab: Lab) -> Iterator[Cluster]:
    from tests.netns.daemons import Cluster

    c = Cluster(lab, **getattr(request, "param", {}))
    try:
        yield c
    finally:
        c.stop_all()
