"""The scheduler's snapshot, built from what the store holds (pure: no I/O here)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cygnet.common.images import with_tag
from cygnet.common.lifecycle import SessionResult, SessionStatus
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.scheduler import DependencyOutcome, Snapshot, SnapshotBuilder
from cygnet.manager.store.repositories.scheduling import DependencyState, SchedulingInputs

_FAILED_ENDS = (SessionStatus.CANCELLED, SessionStatus.ERROR)


def dependency_outcome(state: DependencyState) -> DependencyOutcome:
    """A dependency succeeded when its session ended (TERMINATED) without a FAILURE result;
    it failed when its job failed or the session never ran; otherwise dependants wait."""
    if state.status in _FAILED_ENDS or state.result == SessionResult.FAILURE:
        return DependencyOutcome.FAILURE
    if state.status == SessionStatus.TERMINATED:
        return DependencyOutcome.SUCCESS
    return DependencyOutcome.RUNNING


def build_snapshot(
    now: datetime,
    pending: Sequence[e.Session],
    agents: Sequence[e.Agent],
    booked: Mapping[str, ResourceSlot],
    inputs: SchedulingInputs,
    plugin_state: Mapping[str, Any],
) -> Snapshot:
    slot_types: dict[str, str] = {}
    for agent in agents:
        slot_types.update(agent.slot_types)
    builder = SnapshotBuilder(now, slot_types=slot_types, plugin_state=plugin_state)
    for agent in agents:
        builder.agent(
            agent.id,
            capacity=agent.available_slots,
            occupied=booked.get(agent.id, ResourceSlot()).to_json(),
            resource_group=agent.resource_group,
            architecture=agent.architecture,
            schedulable=agent.schedulable,
            images=[with_tag(str(i.get("name", ""))) for i in agent.images],
            metrics=_metrics(agent.live_stat),
        )
    for session in pending:
        builder.session(
            session.id,
            name=session.name,
            access_key=session.access_key,
            user=session.user_uuid,
            project=session.project_id,
            domain=session.domain_name,
            resource_group=session.resource_group,
            image=session.image,
            architecture=session.architecture,
            created_at=session.created_at,
            priority=session.priority,
            cluster_mode=session.cluster_mode,
            kernels=[
                (k.id, k.cluster_role, k.cluster_idx, k.cluster_hostname, k.requested_slots)
                for k in session.kernels
            ],
            designated_agents=session.designated_agents,
            starts_at=session.starts_at,
            dependencies=inputs.dependencies.get(session.id, ()),
        )
    _usage_and_limits(builder, pending, inputs)
    for dep_id, state in inputs.dependency_states.items():
        builder.dependency(dep_id, dependency_outcome(state), state.name)
    return builder.build()


def _usage_and_limits(
    builder: SnapshotBuilder, pending: Sequence[e.Session], inputs: SchedulingInputs
) -> None:
    sessions: dict[str, int] = {}
    by_key: dict[str, ResourceSlot] = {}
    by_user: dict[uuid.UUID, ResourceSlot] = {}
    by_project: dict[uuid.UUID, ResourceSlot] = {}
    by_domain: dict[str, ResourceSlot] = {}
    for live in inputs.live:
        sessions[live.access_key] = sessions.get(live.access_key, 0) + 1
        by_key[live.access_key] = by_key.get(live.access_key, ResourceSlot()) + live.slots
        by_user[live.user] = by_user.get(live.user, ResourceSlot()) + live.slots
        by_project[live.project] = by_project.get(live.project, ResourceSlot()) + live.slots
        by_domain[live.domain] = by_domain.get(live.domain, ResourceSlot()) + live.slots
    keys = {s.access_key for s in pending} | set(sessions)
    for key in keys:
        policy = inputs.keypair_policies.get(key)
        builder.keypair(
            key,
            sessions=sessions.get(key, 0),
            occupied=by_key.get(key, ResourceSlot()).to_json(),
            max_concurrent_sessions=policy.max_concurrent_sessions if policy else None,
            max_containers_per_session=policy.max_containers_per_session if policy else None,
            total_resource_slots=policy.total_resource_slots if policy else None,
            default_for_unspecified=policy.default_for_unspecified if policy else "UNLIMITED",
            resource_groups=inputs.keypair_groups.get(key, ()),
        )
    for user, slots in by_user.items():
        builder.user(user, occupied=slots.to_json())
    for project in {s.project_id for s in pending} | set(by_project):
        builder.project(
            project,
            occupied=by_project.get(project, ResourceSlot()).to_json(),
            total_resource_slots=inputs.project_slots.get(project),
            resource_groups=inputs.project_groups.get(project, ()),
        )
    for domain in {s.domain_name for s in pending} | set(by_domain):
        builder.domain(
            domain,
            occupied=by_domain.get(domain, ResourceSlot()).to_json(),
            total_resource_slots=inputs.domain_slots.get(domain),
            resource_groups=inputs.domain_groups.get(domain, ()),
        )


def _metrics(live_stat: Mapping[str, Any]) -> dict[str, float]:
    """Plain numbers an agent reports in its live stats (for metric-based agent selection)."""
    node = live_stat.get("node", live_stat)
    out: dict[str, float] = {}
    if isinstance(node, Mapping):
        for name, value in node.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[str(name)] = float(value)
            elif isinstance(value, Mapping) and isinstance(value.get("current"), int | float):
                out[str(name)] = float(value["current"])
    return out
