"""The state table is the whole state machine: next_state follows it, the router uses all of it
and nothing outside it.

* every ``(state, event)`` pair either has an entry, which :func:`next_state` returns, or raises
  :class:`TransitionError` (a ``LocalError``);
* the table's shape: no entry leads back to its own state, STOP is final, every state is
  reachable from INIT and every live one can shut down;
* driven through start-up, failover, faults, sync groups and shutdown on the simulated segment,
  the router asks for every entry of the table, and every state change it reports (its
  ``Transition`` actions) is one the table allows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

import pykeepalived.core.router as router_module
from pykeepalived.core.actions import Action, State, Transition
from pykeepalived.core.node import Node
from pykeepalived.core.priority import TrackerKind, TrackerSpec
from pykeepalived.core.states import TRANSITIONS, Event, TransitionError, next_state
from pykeepalived.errors import LocalError
from pykeepalived.testing.simnet import SimNetwork, SimNode
from tests.sim.simlib import CHK, CHK_KEY, params

ETH1 = TrackerSpec(TrackerKind.INTERFACE, "eth1")
CHK0 = TrackerSpec(TrackerKind.SCRIPT, "chk0", weight=0)  # FAULT until it has said OK
ALLOWED_CHANGES = {(old, new) for (old, _), new in TRANSITIONS.items()}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_next_state_is_the_table_and_anything_else_raises(state: State, event: Event) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(TransitionError) as info:
            next_state(state, event)
        assert isinstance(info.value, LocalError)
        assert (info.value.state, info.value.event) == (state, event)
        assert state.value in str(info.value) and event.name in str(info.value)


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(State.STOP, Event.START_BACKUP)] = State.BACKUP  # type: ignore[index]


def test_table_shape() -> None:
    assert all(new is not old for (old, _), new in TRANSITIONS.items()), "a self-loop"
    assert not [key for key in TRANSITIONS if key[0] is State.STOP], "STOP must be final"
    assert State.INIT not in TRANSITIONS.values(), "nothing leads back to INIT"
    for state in State:
        if state is not State.STOP:
            assert TRANSITIONS[(state, Event.SHUTDOWN)] is State.STOP
    # every state is reachable from INIT, and every event is used somewhere
    reached, frontier = {State.INIT}, [State.INIT]
    while frontier:
        state = frontier.pop()
        for (old, _), new in TRANSITIONS.items():
            if old is state and new not in reached:
                reached.add(new)
                frontier.append(new)
    assert reached == set(State)
    assert {event for _, event in TRANSITIONS} == set(Event)


# ------------------------------------------------------------------ the router uses the table


class Recorder:
    """Wraps next_state to record what the router asks, and watches its Transition actions."""

    def __init__(self) -> None:
        self.asked: set[tuple[State, Event]] = set()
        self.changes: set[tuple[State, State]] = set()

    def next_state(self, state: State, event: Event) -> State:
        self.asked.add((state, event))
        return next_state(state, event)

    def action(self, _sim: SimNode, action: Action) -> None:
        if isinstance(action, Transition):
            self.changes.add((action.old, action.new))

    def net(self, **kw: float) -> SimNetwork:
        net = SimNetwork(**kw)  # type: ignore[arg-type]
        net.on_action = self.action
        return net


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    rec = Recorder()
    monkeypatch.setattr(router_module, "next_state", rec.next_state)
    yield rec
    # Whatever a scenario did, the router reported only changes the table allows.
    assert rec.changes <= ALLOWED_CHANGES, rec.changes - ALLOWED_CHANGES


def scenario_failover(rec: Recorder) -> None:
    """Start-up, election, crash, a better node joining, health checks and a graceful stop."""
    net = rec.net()
    for i, prio in enumerate((150, 100, 120), start=1):
        net.add_node(f"n{i}", [params(i, prio, advert_int=0.1, trackers=(CHK,))])
        net.set_tracker(f"n{i}", CHK_KEY, True)
    net.run_for(2)  # INIT -> BACKUP -> MASTER
    net.crash("n1")
    net.run_for(2)
    net.restart("n1")  # preempts n3 back: MASTER -> BACKUP on n3
    net.set_tracker("n1", CHK_KEY, True)
    net.run_for(2)
    assert net.masters("VI_1") == ["n1"]
    net.set_tracker("n1", CHK_KEY, False)  # weight -60: priority 90, n3 preempts
    net.run_for(2)
    assert net.masters("VI_1") == ["n3"]
    net.delete_vip("n3", "VI_1")  # MASTER -> BACKUP (VIP_DELETED), back after its skew time
    assert net.nodes["n3"].state("VI_1") is State.BACKUP
    net.run_for(2)
    assert net.masters("VI_1") == ["n3"]
    net.stop("n3")  # MASTER -> STOP
    net.stop("n2")  # BACKUP -> STOP
    net.run_for(2)


def scenario_fault(rec: Recorder) -> None:
    """A weight-0 tracker: FAULT at start, from BACKUP and from MASTER, cleared, stopped."""
    net = rec.net()
    for i, prio in ((1, 150), (2, 100)):
        net.add_node(f"n{i}", [params(i, prio, advert_int=0.1, trackers=(CHK0,))])
    assert net.nodes["n1"].state("VI_1") is State.FAULT  # INIT -> FAULT (not reported yet)
    net.set_tracker("n1", CHK0.key, True)  # FAULT -> BACKUP
    net.set_tracker("n2", CHK0.key, True)
    net.run_for(2)
    net.set_tracker("n2", CHK0.key, False)  # BACKUP -> FAULT
    net.set_tracker("n1", CHK0.key, False)  # MASTER -> FAULT
    assert net.nodes["n1"].state("VI_1") is State.FAULT
    net.stop("n1")  # FAULT -> STOP


def scenario_owner(rec: Recorder) -> None:
    """The address owner: MASTER at start, and straight back to MASTER when a fault clears."""
    net = rec.net()
    net.add_node("n1", [params(1, 255, want_master=True, advert_int=0.1, trackers=(CHK0,))])
    net.set_tracker("n1", CHK0.key, True)  # INIT -> FAULT, then FAULT -> MASTER (owner)
    assert net.nodes["n1"].state("VI_1") is State.MASTER
    net.add_node("n2", [params(2, 255, want_master=True, advert_int=0.1)])  # INIT -> MASTER
    net.run_for(1)


def scenario_sync_group(rec: Recorder) -> None:
    """Sync group members follow each other to MASTER, to BACKUP and to FAULT."""
    net = rec.net()
    members = [
        params(1, 100, name="VI_1", vrid=51, advert_int=0.1, trackers=(ETH1,)),
        params(1, 100, name="VI_2", vrid=52, advert_int=0.1,
               vips=(ip_address("198.51.100.100"),)),
    ]
    net.add_node("n1", members, groups=[("G1", ["VI_1", "VI_2"])])
    net.set_tracker("n1", ETH1.key, True)
    net.run_for(2)  # one member's down timer fires, the other follows: SYNC_GROUP_MASTER
    assert net.masters("VI_2") == ["n1"]
    net.add_node("n2", [params(2, 200, name="VI_1", vrid=51, advert_int=0.1)])
    net.run_for(2)  # VI_1 is preempted, VI_2 follows: SYNC_GROUP_BACKUP
    assert net.nodes["n1"].state("VI_2") is State.BACKUP
    net.set_tracker("n1", ETH1.key, False)  # VI_1 FAULT, VI_2 follows
    assert net.nodes["n1"].state("VI_2") is State.FAULT
    net.set_tracker("n1", ETH1.key, True)  # both FAULT -> BACKUP
    net.run_for(1)


def scenario_stop_before_start(rec: Recorder) -> None:
    """A daemon told to stop before its instances started (INIT -> STOP)."""
    node = Node([params(1, 100)])
    out = node.stop(1000.0)
    for action in out:
        rec.action(None, action)  # type: ignore[arg-type]
    assert node.routers["VI_1"].state is State.STOP


SCENARIOS = [scenario_failover, scenario_fault, scenario_owner, scenario_sync_group,
             scenario_stop_before_start]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_router_changes_state_only_as_the_table_allows(
    recorder: Recorder, scenario: object
) -> None:
    assert callable(scenario)
    scenario(recorder)
    assert recorder.asked <= set(TRANSITIONS)
    assert recorder.changes


def test_the_router_uses_every_entry_of_the_table(recorder: Recorder) -> None:
    for scenario in SCENARIOS:
        scenario(recorder)
    assert recorder.asked == set(TRANSITIONS), set(TRANSITIONS) - recorder.asked
    assert recorder.changes == ALLOWED_CHANGES
