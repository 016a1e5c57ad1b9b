"""The scheduler framework: extension points, ``Status``, plugin protocols and ``CycleState``.

A cycle runs the plugins of a ``Profile`` at fixed extension points (kube-scheduler's
framework): queue-sort -> pre-filter -> filter -> score -> reserve/unreserve -> permit -> bind.

* **queue-sort** orders the pending queue (one plugin). It is an iterator, so a policy such as
  DRF can look at what the cycle has placed so far before choosing the next session.
* **pre-filter** checks a session once, before any agent is looked at (quotas, dependencies,
  start time …) and returns a ``Status``; a plugin that also has ``candidates()`` may narrow
  the agents to look at (designated agents).
* **filter** decides, per agent, whether a ``Request`` (one kernel, or all kernels of a
  single-node session) fits. A filter ``compile()``s a fast predicate per request shape (or
  ``None`` when it can reject nothing) and ``explain()``s a rejection as a ``Rejection``;
  filters never raise and must be monotone within a cycle (an agent rejected once stays
  rejected for that request shape until the cycle ends, since free room only shrinks).
* **score** rates a feasible agent 0-100; the profile weighs each scorer. The *selector* (the
  agent-selection strategy) is a scorer that also decides in which order agents are searched.
* **reserve/unreserve** book (and give back) what a placement takes; **permit** may veto a
  session once all its kernels are reserved (gang scheduling: all or nothing); **bind**
  produces the ``Placement`` that the lifecycle carries out.

Every plugin verdict is a ``Status`` carrying its plugin's name, so "why is my session pending"
can be answered from what the cycle saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from cygnet.manager.scheduler.snapshot import (
    AgentInfo,
    PendingSession,
    SlotSchema,
    Snapshot,
    Vec,
    vadd,
)


class StatusCode(StrEnum):
    SUCCESS = "success"
    UNSCHEDULABLE = "unschedulable"  # not now: may fit once resources or quota free up
    UNRESOLVABLE = "unresolvable"  # not as configured: no agent or policy could ever allow it
    WAIT = "wait"  # not yet: a dependency is running, or the start time is in the future
    CANCEL = "cancel"  # never: the session should be cancelled (timeout, failed dependency)


SEVERITY: Mapping[StatusCode, int] = {
    StatusCode.SUCCESS: 0,
    StatusCode.WAIT: 1,
    StatusCode.UNSCHEDULABLE: 2,
    StatusCode.UNRESOLVABLE: 3,
    StatusCode.CANCEL: 4,
}


@dataclass(frozen=True, slots=True)
class Status:
    code: StatusCode = StatusCode.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is StatusCode.SUCCESS

    def to_json(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "code": self.code.value, "reasons": list(self.reasons)}


SUCCESS = Status()


def unschedulable(plugin: str, *reasons: str) -> Status:
    return Status(StatusCode.UNSCHEDULABLE, reasons, plugin)


def unresolvable(plugin: str, *reasons: str) -> Status:
    return Status(StatusCode.UNRESOLVABLE, reasons, plugin)


def wait(plugin: str, *reasons: str) -> Status:
    return Status(StatusCode.WAIT, reasons, plugin)


def cancel(plugin: str, *reasons: str) -> Status:
    return Status(StatusCode.CANCEL, reasons, plugin)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one agent cannot take a request. Rejections with the same plugin, reason, slot and
    need are grouped ("3 agents: …") and their ``free`` is summarised as the largest."""

    plugin: str
    reason: str
    slot: int | None = None  # slot position when the reason is a quantity
    need: int = 0
    free: int = 0
    permanent: bool = False  # no amount of waiting helps (wrong architecture, too small …)


@dataclass(frozen=True, slots=True)
class Request:
    """What must fit on one agent: one kernel, or all kernels of a single-node session.

    Requests of the same shape (group, architecture, image, per-kernel slots) are shared
    within a cycle, and so are their compiled predicates, scores and failure explanations.
    """

    key: tuple[Any, ...]
    resource_group: str
    architecture: str
    image: str
    need: Vec  # the sum over the kernels
    pairs: tuple[tuple[int, int], ...]  # (slot position, amount) of the non-zero slots
    kernel_needs: tuple[Vec, ...]  # one vector per kernel, in kernel order
    device_slots: tuple[int, ...]  # slot positions that are modelled per device on some agent


AgentPredicate = Callable[[int], bool]
AgentScore = Callable[[int], float]


@dataclass(frozen=True, slots=True)
class KernelPlacement:
    kernel_id: uuid.UUID
    agent_id: str
    # slot name -> ((device id, amount), …) where the agent models that slot per device
    devices: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # the same in fixed-point units: (slot position, device position, amount)
    device_units: tuple[tuple[int, int, int], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Placement:
    session_id: uuid.UUID
    kernels: tuple[KernelPlacement, ...]

    @property
    def assignment(self) -> dict[uuid.UUID, str]:
        """kernel id -> agent id."""
        return {k.kernel_id: k.agent_id for k in self.kernels}

    @property
    def agent_ids(self) -> frozenset[str]:
        return frozenset(k.agent_id for k in self.kernels)


@dataclass(slots=True)
class Reservation:
    """What a session has reserved so far in this cycle, with what it replaced (for undo)."""

    session: PendingSession
    kernels: list[KernelPlacement] = field(default_factory=list)
    agents: list[int] = field(default_factory=list)  # agent position per reserved kernel
    undo: list[tuple[int, Vec, Mapping[int, tuple[int, ...]] | None]] = field(default_factory=list)


class CycleState:
    """Mutable state of one cycle: free room per agent, usage counted so far (placements of
    this cycle included), plugin scratch space and the state handed to the next cycle."""

    __slots__ = (
        "_capacity",
        "agent_index",
        "agents",
        "carry",
        "data",
        "devices",
        "domain_slots",
        "free",
        "kp_sessions",
        "kp_slots",
        "next_state",
        "now",
        "project_slots",
        "schema",
        "snapshot",
        "units",
        "user_slots",
    )

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.schema: SlotSchema = snapshot.slots
        self.now = snapshot.now
        self.agents: tuple[AgentInfo, ...] = snapshot.agents
        self.agent_index: dict[str, int] = {a.id: i for i, a in enumerate(snapshot.agents)}
        self.free: list[Vec] = [a.free for a in snapshot.agents]
        # copy-on-write: a reservation replaces an agent's map, never changes it in place
        self.devices: list[Mapping[int, tuple[int, ...]] | None] = [
            a.device_free for a in snapshot.agents
        ]
        self.units: list[Mapping[int, int] | None] = [a.device_units for a in snapshot.agents]
        usage = snapshot.usage
        self.kp_sessions: dict[str, int] = dict(usage.keypair_sessions)
        self.kp_slots: dict[str, Vec] = dict(usage.keypair_slots)
        self.user_slots: dict[uuid.UUID, Vec] = dict(usage.user_slots)
        self.project_slots: dict[uuid.UUID, Vec] = dict(usage.project_slots)
        self.domain_slots: dict[str, Vec] = dict(usage.domain_slots)
        self.data: dict[str, Any] = {}
        self.carry: Mapping[str, Any] = snapshot.plugin_state
        self.next_state: dict[str, Any] = dict(snapshot.plugin_state)
        self._capacity: dict[str, Vec] = {}

    def group_capacity(self, resource_group: str) -> Vec:
        """The summed capacity of the schedulable agents of a resource group."""
        found = self._capacity.get(resource_group)
        if found is None:
            found = self.schema.zero
            for a in self.agents:
                if a.resource_group == resource_group and a.schedulable:
                    found = vadd(found, a.capacity)
            self._capacity[resource_group] = found
        return found

    def account(self, session: PendingSession) -> None:
        """Count a placed session towards keypair/user/project/domain usage."""
        need, zero = session.requested, self.schema.zero
        ak = session.access_key
        self.kp_sessions[ak] = self.kp_sessions.get(ak, 0) + 1
        self.kp_slots[ak] = vadd(self.kp_slots.get(ak, zero), need)
        self.user_slots[session.user] = vadd(self.user_slots.get(session.user, zero), need)
        self.project_slots[session.project] = vadd(
            self.project_slots.get(session.project, zero), need
        )
        self.domain_slots[session.domain] = vadd(self.domain_slots.get(session.domain, zero), need)


# --- plugin protocols: a plugin class implements one or more of these ---------------------


@runtime_checkable
class QueueSortPlugin(Protocol):
    name: str

    def order(
        self, sessions: Sequence[PendingSession], state: CycleState
    ) -> Iterator[PendingSession]:
        """The sessions in the order to try them; may look at ``state`` between yields."""
        ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status: ...


@runtime_checkable
class CandidatesPlugin(Protocol):
    """A pre-filter that can narrow the agents to search (``None``: no narrowing)."""

    name: str

    def candidates(self, session: PendingSession, state: CycleState) -> Sequence[int] | None: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def compile(self, request: Request, state: CycleState) -> AgentPredicate | None:
        """A fast ``agent position -> fits`` predicate, or ``None`` if it rejects nothing."""
        ...

    def explain(self, request: Request, agent: int, state: CycleState) -> Rejection | None:
        """Why the agent is rejected, or ``None`` when it passes."""
        ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        """``agent position -> score`` in 0-100, or ``None`` if every agent scores alike."""
        ...


@runtime_checkable
class SelectorPlugin(ScorePlugin, Protocol):
    """The agent-selection strategy: a scorer that also decides the search order.

    The runner keeps, per (resource group, architecture) pool, the agents in the order
    ``arrange`` gives them (once per cycle), searches from ``start`` and stops after
    ``sample_size`` feasible agents (0: all), which it then scores.
    """

    sample_size: int

    def arrange(self, pool: list[int], state: CycleState) -> None: ...

    def start(self, pool_key: tuple[str, str], items: Sequence[int], state: CycleState) -> int:
        """Where to start searching ``items`` (the pool's remaining candidates, in order)."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, reservation: Reservation, state: CycleState) -> Status: ...

    def unreserve(self, reservation: Reservation, state: CycleState) -> None: ...


@runtime_checkable
class PermitPlugin(Protocol):
    name: str

    def permit(self, reservation: Reservation, state: CycleState) -> Status: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    def bind(self, reservation: Reservation, state: CycleState) -> Placement: ...


class DefaultBinder:
    """Bind: turn a permitted reservation into the ``Placement`` the lifecycle carries out."""

    name = "default-binder"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def bind(self, reservation: Reservation, state: CycleState) -> Placement:
        return Placement(reservation.session.id, tuple(reservation.kernels))


@dataclass(frozen=True, slots=True)
class Profile:
    """The plugins one resource group schedules with (built by ``registry.build_profile``)."""

    name: str
    queue_sort: QueueSortPlugin
    pre_filters: tuple[PreFilterPlugin, ...]
    narrowers: tuple[CandidatesPlugin, ...]
    filters: tuple[FilterPlugin, ...]
    selector: SelectorPlugin
    scorers: tuple[tuple[ScorePlugin, int], ...]  # (plugin, weight), the selector included
    reservers: tuple[ReservePlugin, ...] = ()
    permits: tuple[PermitPlugin, ...] = ()
    binder: BindPlugin = field(default_factory=DefaultBinder)
    strict: bool = False  # stop at the first session that cannot be placed (strict FIFO)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def plugin_names(self) -> list[str]:
        seen: dict[str, None] = {self.queue_sort.name: None}
        for group in (self.pre_filters, self.filters, self.reservers, self.permits):
            for p in group:
                seen[p.name] = None
        for s, _ in self.scorers:
            seen[s.name] = None
        return list(seen)
