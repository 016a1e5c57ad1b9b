"""Lifecycle enums and transition tables, shared by the manager, the agents and the clients.

Sessions and kernels move through the statuses of the Backend.AI wire protocol; every allowed
move is listed in one explicit table per entity, and anything else raises
``InvalidTransition``. Each change is recorded as a ``Transition`` (entity, from, to, reason,
at), so "what happened to my session" is a query. The tables are pure data: the reconcile
loops that drive sessions consult them, and so do the tests.

Agents have a small lifecycle of their own: ALIVE while heartbeats arrive, LOST when they stop
for longer than the configured timeout (back to ALIVE when they resume), TERMINATED when the
agent says goodbye.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal


class AgentStatus(StrEnum):
    ALIVE = "ALIVE"
    LOST = "LOST"
    RESTARTING = "RESTARTING"
    TERMINATED = "TERMINATED"


class KernelRunState(StrEnum):
    """What an agent knows about one of its kernels (the manager's kernel status is richer)."""

    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    EXITED = "EXITED"


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    DEPRIORITIZING = "DEPRIORITIZING"
    RESERVED = "RESERVED"
    SCHEDULED = "SCHEDULED"
    PREPARING = "PREPARING"
    PULLING = "PULLING"
    PREPARED = "PREPARED"
    CREATING = "CREATING"
    RUNNING = "RUNNING"
    RESTARTING = "RESTARTING"
    RUNNING_DEGRADED = "RUNNING_DEGRADED"
    PREEMPTED = "PREEMPTED"
    RESCHEDULING = "RESCHEDULING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


class KernelStatus(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    SCHEDULED = "SCHEDULED"
    PREPARING = "PREPARING"
    BUILDING = "BUILDING"
    PULLING = "PULLING"
    PREPARED = "PREPARED"
    CREATING = "CREATING"
    RUNNING = "RUNNING"
    RESTARTING = "RESTARTING"
    RESIZING = "RESIZING"
    SUSPENDED = "SUSPENDED"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


class SessionType(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"
    INFERENCE = "inference"


class ClusterMode(StrEnum):
    SINGLE_NODE = "single-node"
    MULTI_NODE = "multi-node"


class SessionResult(StrEnum):
    UNDEFINED = "UNDEFINED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


S = SessionStatus
K = KernelStatus

# Statuses before the containers exist: ending here is a cancellation, not a termination.
_S_BEFORE_START = (S.PENDING, S.DEPRIORITIZING, S.RESERVED, S.SCHEDULED)
_S_STARTING = (S.PREPARING, S.PULLING, S.PREPARED, S.CREATING)

SESSION_TRANSITIONS: Mapping[SessionStatus, frozenset[SessionStatus]] = {
    S.PENDING: frozenset({S.DEPRIORITIZING, S.RESERVED, S.SCHEDULED, S.CANCELLED, S.ERROR}),
    S.DEPRIORITIZING: frozenset({S.PENDING, S.CANCELLED, S.ERROR}),
    S.RESERVED: frozenset({S.PENDING, S.SCHEDULED, S.CANCELLED, S.ERROR}),
    S.SCHEDULED: frozenset({S.PREPARING, S.PENDING, S.CANCELLED, S.ERROR}),
    S.PREPARING: frozenset(
        {S.PULLING, S.PREPARED, S.CREATING, S.TERMINATING, S.CANCELLED, S.ERROR}
    ),
    S.PULLING: frozenset({S.PREPARED, S.CREATING, S.TERMINATING, S.CANCELLED, S.ERROR}),
    S.PREPARED: frozenset({S.CREATING, S.TERMINATING, S.CANCELLED, S.ERROR}),
    S.CREATING: frozenset({S.RUNNING, S.TERMINATING, S.CANCELLED, S.ERROR}),
    S.RUNNING: frozenset(
        {S.RESTARTING, S.RUNNING_DEGRADED, S.PREEMPTED, S.TERMINATING, S.TERMINATED, S.ERROR}
    ),
    S.RESTARTING: frozenset({S.RUNNING, S.TERMINATING, S.ERROR}),
    S.RUNNING_DEGRADED: frozenset({S.RUNNING, S.TERMINATING, S.TERMINATED, S.ERROR}),
    S.PREEMPTED: frozenset({S.RESCHEDULING, S.TERMINATING, S.ERROR}),
    S.RESCHEDULING: frozenset({S.PENDING, S.TERMINATING, S.CANCELLED, S.ERROR}),
    S.TERMINATING: frozenset({S.TERMINATED, S.ERROR}),
    S.ERROR: frozenset({S.TERMINATING, S.TERMINATED, S.CANCELLED}),
    S.TERMINATED: frozenset(),
    S.CANCELLED: frozenset(),
}

KERNEL_TRANSITIONS: Mapping[KernelStatus, frozenset[KernelStatus]] = {
    K.PENDING: frozenset({K.RESERVED, K.SCHEDULED, K.CANCELLED, K.ERROR}),
    K.RESERVED: frozenset({K.PENDING, K.SCHEDULED, K.CANCELLED, K.ERROR}),
    K.SCHEDULED: frozenset({K.PREPARING, K.PENDING, K.CANCELLED, K.ERROR}),
    K.PREPARING: frozenset(
        {K.BUILDING, K.PULLING, K.PREPARED, K.CREATING, K.TERMINATING, K.CANCELLED, K.ERROR}
    ),
    K.BUILDING: frozenset({K.PULLING, K.PREPARED, K.TERMINATING, K.CANCELLED, K.ERROR}),
    K.PULLING: frozenset({K.PREPARED, K.CREATING, K.TERMINATING, K.CANCELLED, K.ERROR}),
    K.PREPARED: frozenset({K.CREATING, K.TERMINATING, K.CANCELLED, K.ERROR}),
    K.CREATING: frozenset({K.RUNNING, K.TERMINATING, K.CANCELLED, K.ERROR}),
    K.RUNNING: frozenset(
        {K.RESTARTING, K.RESIZING, K.SUSPENDED, K.TERMINATING, K.TERMINATED, K.ERROR}
    ),
    K.RESTARTING: frozenset({K.RUNNING, K.TERMINATING, K.ERROR}),
    K.RESIZING: frozenset({K.RUNNING, K.TERMINATING, K.ERROR}),
    K.SUSPENDED: frozenset({K.RUNNING, K.TERMINATING, K.ERROR}),
    K.TERMINATING: frozenset({K.TERMINATED, K.ERROR}),
    K.ERROR: frozenset({K.TERMINATING, K.TERMINATED, K.CANCELLED}),
    K.TERMINATED: frozenset(),
    K.CANCELLED: frozenset(),
}

DEAD_SESSION_STATUSES = frozenset({S.TERMINATED, S.CANCELLED})
DEAD_KERNEL_STATUSES = frozenset({K.TERMINATED, K.CANCELLED})
# A session name is unique per owner among sessions not in these statuses.
NAME_RELEASING_STATUSES = frozenset({S.TERMINATED, S.CANCELLED, S.ERROR})


class InvalidTransition(Exception):
    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(f"{entity} cannot go from {current} to {target}")
        self.entity = entity
        self.current = current
        self.target = target


def check_session_transition(current: SessionStatus, target: SessionStatus) -> None:
    """Raise ``InvalidTransition`` unless the session table allows ``current -> target``."""
    if target not in SESSION_TRANSITIONS[current]:
        raise InvalidTransition("session", current, target)


def check_kernel_transition(current: KernelStatus, target: KernelStatus) -> None:
    """Raise ``InvalidTransition`` unless the kernel table allows ``current -> target``."""
    if target not in KERNEL_TRANSITIONS[current]:
        raise InvalidTransition("kernel", current, target)


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded status change."""

    entity: Literal["session", "kernel"]
    entity_id: str
    previous: str | None  # None for the first status
    status: str
    reason: str | None
    at: datetime


def aggregate_session_status(kernels: Iterable[KernelStatus]) -> SessionStatus:
    """The session status its kernels add up to (for a multi-kernel session): the earliest
    stage any kernel is still in while starting, RUNNING when all run, RUNNING_DEGRADED when
    some ended or failed while others run, and the end state once all have ended."""
    statuses = list(kernels)
    if not statuses:
        raise ValueError("a session has at least one kernel")
    kinds = set(statuses)
    if kinds <= DEAD_KERNEL_STATUSES:
        return S.CANCELLED if kinds == {K.CANCELLED} else S.TERMINATED
    if K.TERMINATING in kinds:
        return S.TERMINATING
    if kinds == {K.RUNNING}:
        return S.RUNNING
    if K.RUNNING in kinds and kinds & (DEAD_KERNEL_STATUSES | {K.ERROR}):
        return S.RUNNING_DEGRADED
    if K.ERROR in kinds:
        return S.ERROR
    for kernel_status, session_status in _STARTING_ORDER:
        if kernel_status in kinds:
            return session_status
    if kinds & {K.RESTARTING, K.RESIZING, K.SUSPENDED}:
        return S.RESTARTING
    return S.RUNNING


_STARTING_ORDER: tuple[tuple[KernelStatus, SessionStatus], ...] = (
    (K.PENDING, S.PENDING),
    (K.RESERVED, S.RESERVED),
    (K.SCHEDULED, S.SCHEDULED),
    (K.PREPARING, S.PREPARING),
    (K.BUILDING, S.PREPARING),
    (K.PULLING, S.PULLING),
    (K.PREPARED, S.PREPARED),
    (K.CREATING, S.CREATING),
)

_SESSION_EVENT_NAMES: Mapping[SessionStatus, str] = {
    S.PENDING: "session_enqueued",
    S.RUNNING: "session_started",
}


def session_event_name(status: SessionStatus) -> str:
    """The SSE event name the wire protocol uses for a session entering ``status``
    (``session_<lower(status)>``, with PENDING as ``session_enqueued`` and RUNNING as
    ``session_started``)."""
    return _SESSION_EVENT_NAMES.get(status, f"session_{status.lower()}")


def kernel_event_name(status: KernelStatus) -> str:
    return "kernel_started" if status == K.RUNNING else f"kernel_{status.lower()}"


def ended_before_start(status: SessionStatus) -> bool:
    """Whether a session ending now is cancelled (its containers never ran)."""
    return status in _S_BEFORE_START or status in _S_STARTING
