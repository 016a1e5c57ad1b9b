"""The session and kernel transition tables and the session status aggregate."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cygnet.common.lifecycle import (
    DEAD_KERNEL_STATUSES,
    DEAD_SESSION_STATUSES,
    KERNEL_TRANSITIONS,
    SESSION_TRANSITIONS,
    InvalidTransition,
    KernelStatus,
    SessionStatus,
    aggregate_session_status,
    check_kernel_transition,
    check_session_transition,
    ended_before_start,
    kernel_event_name,
    session_event_name,
)


def _reachable(table: Mapping[str, frozenset[str]], start: str) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in table[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


@pytest.mark.parametrize(
    ("table", "enum", "dead", "start"),
    [
        (SESSION_TRANSITIONS, SessionStatus, DEAD_SESSION_STATUSES, SessionStatus.PENDING),
        (KERNEL_TRANSITIONS, KernelStatus, DEAD_KERNEL_STATUSES, KernelStatus.PENDING),
    ],
)
def test_tables_are_complete_and_every_path_can_end(
    table: Mapping[str, frozenset[str]], enum: type, dead: frozenset[str], start: str
) -> None:
    assert set(table) == set(enum)
    for status in dead:
        assert table[status] == frozenset(), f"{status} is terminal"
    # Every status is reachable from PENDING ...
    assert _reachable(table, start) == set(enum)
    # ... and from every status a terminal one can be reached: nothing is a dead end.
    for status in enum:
        assert _reachable(table, status) & dead, f"{status} cannot end"
    for status, targets in table.items():
        assert status not in targets, f"{status} -> itself"


def test_check_transition_accepts_the_table_and_refuses_the_rest() -> None:
    check_session_transition(SessionStatus.PENDING, SessionStatus.SCHEDULED)
    check_session_transition(SessionStatus.RUNNING, SessionStatus.TERMINATING)
    check_kernel_transition(KernelStatus.CREATING, KernelStatus.RUNNING)
    with pytest.raises(InvalidTransition, match="session cannot go from PENDING to RUNNING"):
        check_session_transition(SessionStatus.PENDING, SessionStatus.RUNNING)
    with pytest.raises(InvalidTransition):
        check_session_transition(SessionStatus.TERMINATED, SessionStatus.RUNNING)
    with pytest.raises(InvalidTransition):
        check_session_transition(SessionStatus.CANCELLED, SessionStatus.PENDING)
    with pytest.raises(InvalidTransition) as info:
        check_kernel_transition(KernelStatus.TERMINATED, KernelStatus.TERMINATING)
    assert (info.value.entity, info.value.current, info.value.target) == (
        "kernel",
        "TERMINATED",
        "TERMINATING",
    )


@pytest.mark.parametrize(
    ("kernels", "expected"),
    [
        ([KernelStatus.RUNNING], SessionStatus.RUNNING),
        ([KernelStatus.RUNNING, KernelStatus.RUNNING], SessionStatus.RUNNING),
        ([KernelStatus.RUNNING, KernelStatus.CREATING], SessionStatus.CREATING),
        ([KernelStatus.PULLING, KernelStatus.PREPARED], SessionStatus.PULLING),
        ([KernelStatus.SCHEDULED, KernelStatus.PENDING], SessionStatus.PENDING),
        ([KernelStatus.RUNNING, KernelStatus.TERMINATED], SessionStatus.RUNNING_DEGRADED),
        ([KernelStatus.RUNNING, KernelStatus.TERMINATING], SessionStatus.TERMINATING),
        ([KernelStatus.TERMINATED, KernelStatus.TERMINATED], SessionStatus.TERMINATED),
        ([KernelStatus.CANCELLED], SessionStatus.CANCELLED),
        ([KernelStatus.CANCELLED, KernelStatus.TERMINATED], SessionStatus.TERMINATED),
        ([KernelStatus.ERROR, KernelStatus.CREATING], SessionStatus.ERROR),
        ([KernelStatus.RUNNING, KernelStatus.RESTARTING], SessionStatus.RESTARTING),
    ],
)
def test_aggregate_session_status(kernels: list[KernelStatus], expected: SessionStatus) -> None:
    assert aggregate_session_status(kernels) == expected


def test_aggregate_needs_a_kernel() -> None:
    with pytest.raises(ValueError, match="at least one kernel"):
        aggregate_session_status([])


@given(st.lists(st.sampled_from(list(KernelStatus)), min_size=1, max_size=8))
def test_aggregate_is_dead_exactly_when_every_kernel_is(kernels: list[KernelStatus]) -> None:
    status = aggregate_session_status(kernels)
    assert status in SessionStatus
    all_dead = all(k in DEAD_KERNEL_STATUSES for k in kernels)
    assert (status in DEAD_SESSION_STATUSES) == all_dead
    # The order of the kernels never matters.
    assert aggregate_session_status(list(reversed(kernels))) == status


def test_event_names_follow_the_wire_protocol() -> None:
    assert session_event_name(SessionStatus.PENDING) == "session_enqueued"
    assert session_event_name(SessionStatus.RUNNING) == "session_started"
    assert session_event_name(SessionStatus.PREPARING) == "session_preparing"
    assert session_event_name(SessionStatus.TERMINATED) == "session_terminated"
    assert session_event_name(SessionStatus.CANCELLED) == "session_cancelled"
    assert kernel_event_name(KernelStatus.RUNNING) == "kernel_started"
    assert kernel_event_name(KernelStatus.PULLING) == "kernel_pulling"


def test_ending_before_the_containers_ran_is_a_cancellation() -> None:
    assert ended_before_start(SessionStatus.PENDING)
    assert ended_before_start(SessionStatus.CREATING)
    assert not ended_before_start(SessionStatus.RUNNING)
    assert not ended_before_start(SessionStatus.TERMINATING)
