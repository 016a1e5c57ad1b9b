"""FIFO placement (pure): pending sessions, oldest first, onto the agents that can hold all of
their kernels. A session that does not fit waits without blocking the ones behind it. The
scheduler issue replaces this with the plugin pipeline; the lifecycle around it stays."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cygnet.common.images import with_tag
from cygnet.common.lifecycle import AgentStatus, ClusterMode
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e


@dataclass(slots=True)
class Plan:
    placed: list[tuple[uuid.UUID, dict[uuid.UUID, str]]] = field(default_factory=list)
    waiting: dict[uuid.UUID, str] = field(default_factory=dict)  # why, for status_data


def _has_image(agent: e.Agent, image: str) -> bool:
    return any(with_tag(str(i.get("name", ""))) == image for i in agent.images)


def _why(session: e.Session, agents: Sequence[e.Agent]) -> str:
    group = [a for a in agents if a.resource_group == session.resource_group]
    if not group:
        return f"no ALIVE agent in resource group {session.resource_group!r}"
    arch = [a for a in group if a.architecture == session.architecture]
    if not arch:
        return f"no ALIVE agent of architecture {session.architecture}"
    with_image = [a for a in arch if _has_image(a, session.image)]
    if not with_image:
        return f"no ALIVE agent has image {session.image}"
    return f"not enough free resources on {len(with_image)} agent(s) for {session.requested_slots}"


def place_fifo(
    sessions: Sequence[e.Session],
    agents: Sequence[e.Agent],
    booked: Mapping[str, ResourceSlot],
    now: datetime,
) -> Plan:
    """Place what fits, oldest first; each kernel on the candidate with the most free room
    (single-node clusters: all kernels on one agent)."""
    plan = Plan()
    alive = [a for a in agents if a.status == AgentStatus.ALIVE and a.schedulable]
    free: dict[str, ResourceSlot] = {
        a.id: ResourceSlot.from_json(a.available_slots) - booked.get(a.id, ResourceSlot())
        for a in alive
    }
    for session in sorted(sessions, key=lambda s: (s.created_at, str(s.id))):
        if session.starts_at_pending(now):
            plan.waiting[session.id] = "waiting for its start time"
            continue
        candidates = [
            a
            for a in alive
            if a.resource_group == session.resource_group
            and a.architecture == session.architecture
            and _has_image(a, session.image)
            and (not session.designated_agents or a.id in session.designated_agents)
        ]
        assignment = _assign(session, candidates, free)
        if assignment is None:
            plan.waiting[session.id] = _why(session, alive)
            continue
        for kernel in session.kernels:
            agent_id = assignment[kernel.id]
            free[agent_id] = free[agent_id] - ResourceSlot.from_json(kernel.requested_slots)
        plan.placed.append((session.id, assignment))
    return plan


def _assign(
    session: e.Session, candidates: Sequence[e.Agent], free: Mapping[str, ResourceSlot]
) -> dict[uuid.UUID, str] | None:
    needs = [(k.id, ResourceSlot.from_json(k.requested_slots)) for k in session.kernels]
    if session.cluster_mode == ClusterMode.SINGLE_NODE or len(needs) == 1:
        total = ResourceSlot()
        for _, slots in needs:
            total = total + slots
        fitting = [a for a in candidates if total.fits_in(free[a.id])]
        if not fitting:
            return None
        best = max(fitting, key=lambda a: _room(free[a.id]))
        return {kernel_id: best.id for kernel_id, _ in needs}
    room = {a.id: free[a.id] for a in candidates}
    assignment: dict[uuid.UUID, str] = {}
    for kernel_id, slots in needs:
        fitting = [a for a in candidates if slots.fits_in(room[a.id])]
        if not fitting:
            return None
        best = max(fitting, key=lambda a: _room(room[a.id]))
        room[best.id] = room[best.id] - slots
        assignment[kernel_id] = best.id
    return assignment


def _room(slots: ResourceSlot) -> tuple[float, float]:
    return (float(slots.get_or_zero("cpu")), float(slots.get_or_zero("mem")))
