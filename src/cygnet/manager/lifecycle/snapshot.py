"""The scheduler's snapshot, built from what the store holds (pure: no I/O here)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cygnet.common.images import with_tag
from cygnet.common.lifecycle import SessionResult, SessionStatus
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.scheduler import AgentMemo, DependencyOutcome, Snapshot, SnapshotBuilder
from cygnet.manager.store.repositories.scheduling import DependencyState, Holding, SchedulingInputs

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
    holdings: Mapping[str, Sequence[Holding]] | None = None,
    memo: AgentMemo | None = None,
) -> Snapshot:
    """``holdings``: the live kernels on each agent with their devices, for the per-device
    free room of accelerator slots (agents whose devices are known from registration).
    ``memo``: the agents of the last snapshot, kept for the next (``AgentMemo``)."""
    slot_types: dict[str, str] = {}
    for agent in agents:
        slot_types.update(agent.slot_types)
    builder = SnapshotBuilder(now, slot_types=slot_types, plugin_state=plugin_state, memo=memo)
    # Agents of one kind share their registration maps (``agents.alive``): work on each
    # distinct one once.
    image_names: dict[int, frozenset[str]] = {}  # (a frozenset is taken as it is)
    capacities: dict[tuple[int, int], dict[str, dict[str, Decimal]]] = {}
    for agent in agents:
        key = (id(agent.compute_plugins), id(agent.available_slots))
        capacity = capacities.get(key)
        if capacity is None:
            capacity = capacities[key] = device_capacity(agent)
        devices, units = (
            device_room(capacity, (holdings or {}).get(agent.id, ())) if capacity else ({}, {})
        )
        images = image_names.get(id(agent.images))
        if images is None:
            images = frozenset(with_tag(str(i.get("name", ""))) for i in agent.images)
            image_names[id(agent.images)] = images
        builder.agent(
            agent.id,
            capacity=agent.available_slots,
            occupied=booked.get(agent.id) or _NOTHING,
            resource_group=agent.resource_group,
            architecture=agent.architecture,
            schedulable=agent.schedulable,
            images=images,
            devices=devices or None,
            device_unit=units or None,
            metrics=metrics_of(agent.live_stat),
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


HOST_SLOTS = frozenset({"cpu", "mem"})
"""Slots an agent offers as a whole; every other slot is shared out device by device."""


def has_devices(agent: e.Agent) -> bool:
    """Whether the agent offers any per-device slot (an accelerator)."""
    return any(slot not in HOST_SLOTS for slot in agent.available_slots)


def device_capacity(agent: e.Agent) -> dict[str, dict[str, Decimal]]:
    """Per accelerator slot, each device's capacity, from what the agent registered
    (``compute_plugins[plugin]["devices"][i]["slots"]``); only slots the agent offers."""
    out: dict[str, dict[str, Decimal]] = {}
    for plugin in agent.compute_plugins.values():
        if not isinstance(plugin, Mapping):
            continue
        for device in plugin.get("devices") or ():
            device_id = str(device.get("device_id", ""))
            for slot, cap in (device.get("slots") or {}).items():
                if slot in HOST_SLOTS or slot not in agent.available_slots:
                    continue
                try:
                    amount = Decimal(str(cap))
                except InvalidOperation:
                    continue
                if amount.is_finite() and amount > 0:
                    out.setdefault(slot, {})[device_id] = amount
    return out


def device_room(
    capacity: Mapping[str, Mapping[str, Decimal]], holdings: Sequence[Holding]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The free room on each device (``{slot: {device: free}}``) and one device's capacity
    per slot (the largest): capacity less what the kernels hold there. A kernel's amount that
    its allocation does not place (recorded before devices were, or an agent that did not
    say) is taken where the agent's allocator would have put it: the best-fitting device."""
    devices: dict[str, dict[str, str]] = {}
    units: dict[str, str] = {}
    for slot, caps in capacity.items():
        free = dict(caps)
        unplaced: list[Decimal] = []
        for holding in holdings:
            want = holding.requested.get_or_zero(slot)
            placed = Decimal(0)
            for device_id, part in (holding.allocation.get(slot) or {}).items():
                amount = _decimal(part)
                if str(device_id) in free and amount > 0:
                    free[str(device_id)] -= amount * holding.count
                    placed += amount
            if want > placed:
                unplaced.extend([want - placed] * holding.count)
        for amount in sorted(unplaced, reverse=True):
            _take(free, amount)
        devices[slot] = {d: _plain(max(f, Decimal(0))) for d, f in free.items()}
        units[slot] = _plain(max(caps.values()))
    return devices, units


def _take(free: dict[str, Decimal], amount: Decimal) -> None:
    """Take ``amount`` from the best-fitting device, else from the fullest ones first."""
    fits = [d for d, f in free.items() if f >= amount]
    if fits:
        best = min(fits, key=lambda d: free[d])
        free[best] -= amount
        return
    for device_id in sorted(free, key=lambda d: free[d]):
        if amount <= 0:
            break
        part = min(max(free[device_id], Decimal(0)), amount)
        free[device_id] -= part
        amount -= part


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _usage_and_limits(
    builder: SnapshotBuilder, pending: Sequence[e.Session], inputs: SchedulingInputs
) -> None:
    sessions = inputs.live_sessions
    by_key: dict[str, ResourceSlot] = {}
    by_user: dict[uuid.UUID, ResourceSlot] = {}
    by_project: dict[uuid.UUID, ResourceSlot] = {}
    by_domain: dict[str, ResourceSlot] = {}
    for live in inputs.live:
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


_NOTHING = ResourceSlot()

# The metrics of each agent's live stats the last snapshot read, by the stats' identity (an
# agent whose row did not change is the same object, ``agents.alive``), kept with them.
_metrics_seen: dict[int, tuple[Mapping[str, Any], dict[str, float]]] = {}


def metrics_of(live_stat: Mapping[str, Any]) -> dict[str, float]:
    """``_metrics``, worked out again only for live stats not seen by the last call."""
    kept = _metrics_seen.get(id(live_stat))
    if kept is not None and kept[0] is live_stat:
        return kept[1]
    metrics = _metrics(live_stat)
    if len(_metrics_seen) > 100_000:
        _metrics_seen.clear()
    _metrics_seen[id(live_stat)] = (live_stat, metrics)
    return metrics


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
