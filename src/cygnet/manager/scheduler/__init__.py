"""The scheduler: a pure plugin pipeline over an immutable snapshot (see docs/scheduler.md).

The lifecycle builds a ``Snapshot`` (``SnapshotBuilder``), gets a ``Profile`` for the
resource group (``build_profile(scheduler, scheduler_opts)``), calls ``run_cycle`` and
carries out the ``CycleResult``: placements, pending explanations and cancellations.
"""

from cygnet.manager.scheduler.explain import AgentGroup, Explanation
from cygnet.manager.scheduler.framework import (
    CycleState,
    KernelPlacement,
    Placement,
    Profile,
    Rejection,
    Request,
    Reservation,
    Status,
    StatusCode,
)
from cygnet.manager.scheduler.registry import available, build_profile
from cygnet.manager.scheduler.runner import CycleResult, CycleStats, apply_result, run_cycle
from cygnet.manager.scheduler.snapshot import (
    AgentInfo,
    AgentMemo,
    DependencyOutcome,
    PendingSession,
    SlotSchema,
    Snapshot,
    SnapshotBuilder,
)

__all__ = [
    "AgentGroup",
    "AgentInfo",
    "AgentMemo",
    "CycleResult",
    "CycleState",
    "CycleStats",
    "DependencyOutcome",
    "Explanation",
    "KernelPlacement",
    "PendingSession",
    "Placement",
    "Profile",
    "Rejection",
    "Request",
    "Reservation",
    "SlotSchema",
    "Snapshot",
    "SnapshotBuilder",
    "Status",
    "StatusCode",
    "apply_result",
    "available",
    "build_profile",
    "run_cycle",
]
