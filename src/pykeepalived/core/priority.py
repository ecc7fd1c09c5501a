"""Effective priority: what tracked objects (scripts, interfaces, files, processes) do to an
instance's configured priority, as keepalived's vrrp_track.c computes it.

* Effective priority = configured priority + tracker weights, clamped to 1..254; priority 255
  (the address owner) is never changed. A maintenance override replaces the result outright.
* A weight-0 tracker that fails puts the instance in FAULT; a weight-0 script that has not
  reported yet holds it in INIT.

Pure functions of the trackers and their last values: the
:class:`~pykeepalived.core.router.VirtualRouter` decides what a change of priority or of
FAULT means for its state.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PRIO_OWNER = 255


class TrackerKind(enum.Enum):
    SCRIPT = "script"
    INTERFACE = "interface"
    FILE = "file"
    PROCESS = "process"


@dataclass(frozen=True, slots=True)
class TrackerSpec:
    """A tracked object's effect on one instance: weight (0 = FAULT on failure) and reverse."""

    kind: TrackerKind
    name: str
    weight: int = 0
    reverse: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.name}"


#: A tracker's last reported value, by :attr:`TrackerSpec.key`: bool for scripts, interfaces
#: and processes (ok/up/quorum), an int for files; None means not yet known.
TrackerValues = Mapping[str, bool | int | None]


@dataclass(frozen=True, slots=True)
class EffectivePriority:
    """The priority an instance advertises, and whether its trackers hold it out of the
    election."""

    priority: int
    faults: tuple[str, ...]  #: keys of the trackers that put the instance in FAULT
    init_pending: bool  #: a weight-0 script has not reported yet


def effective_priority(
    base: int, override: int | None, trackers: Iterable[TrackerSpec], values: TrackerValues
) -> EffectivePriority:
    """The configured priority ``base`` moved by every tracker, or ``override`` if set."""
    faults: list[str] = []
    init_pending = False
    total = base
    for spec in trackers:
        delta = _contribution(spec, values.get(spec.key))
        if delta is _FAULT:
            faults.append(spec.key)
        elif delta is _INIT:
            init_pending = True
        else:
            assert isinstance(delta, int)
            total += delta
    if override is not None:
        priority = override
    elif base == PRIO_OWNER:
        priority = PRIO_OWNER
    else:
        priority = max(1, min(PRIO_OWNER - 1, total))
    return EffectivePriority(priority, tuple(faults), init_pending)


def contributions(
    trackers: Iterable[TrackerSpec], values: TrackerValues
) -> list[tuple[str, int]]:
    """(tracker key, priority delta) for every tracker currently moving the priority."""
    out = []
    for spec in trackers:
        delta = _contribution(spec, values.get(spec.key))
        if isinstance(delta, int) and delta:
            out.append((spec.key, delta))
    return out


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_FAULT = _Marker("FAULT")
_INIT = _Marker("INIT")


def _contribution(spec: TrackerSpec, value: bool | int | None) -> int | _Marker:
    """A tracker's effect on priority, as keepalived's vrrp_track.c computes it.

    Scripts, interfaces and processes: weight 0 means FAULT when failing (or, reversed, when
    succeeding); a positive weight is added while succeeding, a negative one while failing;
    ``reverse`` flips the sign. Files: the value times the weight, -254 or below is FAULT.
    """
    mult = -1 if spec.reverse else 1
    if spec.kind is TrackerKind.FILE:
        if value is None:
            return 0
        number = int(value)
        if spec.weight == 0:
            return _FAULT if (number != 0) == (mult == 1) else 0
        status = number * spec.weight * mult
        return _FAULT if status <= -254 else min(status, 253)
    if value is None:
        # A weight-0 script that has not reported yet keeps the instance from coming up.
        return _INIT if spec.weight == 0 and spec.kind is TrackerKind.SCRIPT else 0
    ok = bool(value)
    if spec.weight == 0:
        return _FAULT if ok != (mult == 1) else 0
    if ok:
        return spec.weight * mult if spec.weight > 0 else 0
    return spec.weight * mult if spec.weight < 0 else 0
