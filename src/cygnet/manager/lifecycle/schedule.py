"""PENDING -> SCHEDULED: run the scheduler over the queue and book what it places.

Picks up: PENDING. One transaction per pass, under the scheduling lock (an advisory lock on
PostgreSQL, so two managers never book the same room; SQLite serialises writers): read (and lock)
the queue, then agents, bookings, usage, limits and dependencies; build the snapshot; run one cycle
per resource group with the group's ``scheduler`` and ``scheduler_opts`` (the groups share the
snapshot, so quotas count across them); then carry the result out.

Success: SCHEDULED, each kernel on its agent (``kernel_scheduled``, ``session_scheduled``).
Given a ``start``, the pass also claims what it placed (on to CREATING, as ``start`` would,
in the same transaction) and hands the sessions to ``start`` once committed: a session is
then loaded and written once between PENDING and its kernels' creation, not twice.
Still waiting: stays PENDING, and ``status_data.scheduler`` says why (queue position, each
plugin's verdict, the agents' reasons grouped) — rewritten only when that changes. Cancelled by
the scheduler (a failed dependency, ``pending_timeout``): CANCELLED with that reason. What it
books is exactly what the kernels table says holds resources."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cygnet.common.lifecycle import KernelStatus, SessionStatus
from cygnet.common.logging import get_logger
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.snapshot import build_snapshot, has_devices
from cygnet.manager.lifecycle.start import claim
from cygnet.manager.scheduler import (
    CycleResult,
    Profile,
    Snapshot,
    apply_result,
    build_profile,
    run_cycle,
)
from cygnet.manager.store.repositories import agents as agents_repo
from cygnet.manager.store.repositories import scheduling
from cygnet.manager.store.repositories import session_changes as changes_repo
from cygnet.manager.store.repositories import sessions as repo

log = get_logger(__name__)

DEFAULT_SCHEDULER = "fifo"


def profile_for(group: e.ResourceGroup | None) -> Profile:
    """The group's profile; an unknown scheduler or bad options fall back to FIFO (logged),
    so that a typo in one group's settings does not stop scheduling."""
    if group is None:
        return _profile(DEFAULT_SCHEDULER, "{}")
    opts = json.dumps(group.scheduler_opts or {}, sort_keys=True, default=str)
    try:
        return _profile(group.scheduler or DEFAULT_SCHEDULER, opts)
    except (KeyError, ValueError, TypeError) as exc:
        log.error("resource group %s: bad scheduler settings (%s); using fifo", group.name, exc)
        return _profile(DEFAULT_SCHEDULER, "{}")


@functools.lru_cache(maxsize=256)
def _profile(scheduler: str, opts: str) -> Profile:
    """Profiles by scheduler and options (as sorted JSON): plugins keep no state of their own
    (a cycle's state lives in ``CycleState``), so one profile serves every pass."""
    return build_profile(scheduler, json.loads(opts))


def run_cycles(
    snapshot: Snapshot, profiles: dict[str, Profile]
) -> tuple[list[CycleResult], dict[str, Any]]:
    """One cycle per resource group (pure); each sees what the previous ones placed. Returns
    the results and the plugins' state after the last cycle."""
    by_group: dict[str, list[Any]] = defaultdict(list)
    for session in snapshot.pending:
        by_group[session.resource_group].append(session)
    results = []
    current = snapshot
    state = snapshot.plugin_state
    groups = sorted(by_group)
    for n, group in enumerate(groups):
        view = replace(current, pending=tuple(by_group[group]))
        result = run_cycle(view, profiles[group])
        results.append(result)
        state = result.next_state
        if n + 1 < len(groups):  # the next group's cycle sees what this one placed
            current = replace(apply_result(view, result), pending=current.pending)
    return results, dict(state)


async def schedule(
    ctx: Context,
    limit: int = 10_000,
    *,
    start: Callable[[Sequence[e.Session]], None] | None = None,
) -> list[uuid.UUID]:
    """One scheduling pass; returns the ids of the sessions it scheduled. With ``start``, it
    claims them too and calls ``start`` with them once committed."""
    started = time.perf_counter()
    async with ctx.db.read() as tx:  # most passes find nothing: no write lock for them
        if not await repo.ids_in(tx, [SessionStatus.PENDING], limit=1):
            ctx.scheduler.record("schedule", ctx.clock.now(), started, pending=0, scheduled=0)
            return []
    events: list[e.SessionEvent] = []
    scheduled: list[uuid.UUID] = []
    claimed: list[e.Session] = []
    async with ctx.db.transaction() as tx:
        await scheduling.lock(tx)
        queued = await changes_repo.pending(tx, limit)  # locked: the pass decides on them
        if not queued:
            return []
        pending = await changes_repo.entities(queued)
        changes = {c.id: c for c in queued}
        # ALIVE in the store and to this manager's registry, which learns agents registered
        # with other managers from these rows: every manager schedules onto every agent.
        agents = ctx.agents.schedulable(await agents_repo.alive(tx))
        # per-device room only where there are devices (slots besides cpu and memory)
        with_devices = [a.id for a in agents if has_devices(a)]
        booked = await scheduling.bookings(tx, devices_on=with_devices)
        inputs = await scheduling.inputs(tx, pending)
        now = ctx.clock.now()
        snapshot = build_snapshot(
            now,
            pending,
            agents,
            booked.slots,
            inputs,
            ctx.scheduler.plugin_state,
            holdings=booked.holdings,
            memo=ctx.scheduler.agents,
        )
        profiles = {
            name: profile_for(inputs.resource_groups.get(name))
            for name in {s.resource_group for s in pending}
        }
        results, ctx.scheduler.plugin_state = run_cycles(snapshot, profiles)
        addresses = {a.id: a.address for a in agents}
        by_id = {s.id: s for s in pending}
        explanations: dict[uuid.UUID, dict[str, Any]] = {}
        for result in results:
            for placement in result.placed:
                change = changes.get(placement.session_id)
                if change is None or change.status != SessionStatus.PENDING:
                    continue
                for kp in placement.kernels:
                    change.kernel_to(
                        kp.kernel_id,
                        KernelStatus.SCHEDULED,
                        now,
                        values={
                            "agent_id": kp.agent_id,
                            "agent_addr": addresses[kp.agent_id],
                            # the devices booked, sent to the agent when the kernel starts
                            "allocation": {slot: dict(parts) for slot, parts in kp.devices.items()},
                        },
                    )
                change.to(SessionStatus.SCHEDULED, now, reason="scheduled")
                if start is not None:
                    claim(change, now)
                events.extend(change.events)
                scheduled.append(placement.session_id)
            for session_id, why in result.cancelled.items():
                change = changes.get(session_id)
                if change is None or change.status != SessionStatus.PENDING:
                    continue
                reason = why.split(":", 1)[0].strip()
                for kernel in change.kernels:
                    change.kernel_to(kernel.id, KernelStatus.CANCELLED, now, reason=reason)
                change.to(
                    SessionStatus.CANCELLED,
                    now,
                    reason=reason,
                    status_data={"scheduler": {"msg": why, "last_try": now.isoformat()}},
                )
                events.extend(change.events)
            for session_id, explanation in result.pending.items():
                session = by_id[session_id]
                previous = dict(session.status_data.get("scheduler") or {})
                info = explanation.to_json()
                retries = int(previous.get("retries", 0))
                if {k: v for k, v in previous.items() if k not in ("retries", "last_try")} == info:
                    continue  # nothing new to say: no write
                info["retries"] = retries + 1
                info["last_try"] = now.isoformat()
                explanations[session_id] = {**session.status_data, "scheduler": info}
        if start is not None:
            ids = set(scheduled)
            claimed = await changes_repo.entities([c for c in changes.values() if c.id in ids])
        await changes_repo.save(tx, changes.values())
        await scheduling.record_explanations(tx, explanations)
    for event in events:
        ctx.bus.publish(event)
    if claimed:
        assert start is not None
        start(claimed)
    ctx.scheduler.record(
        "schedule",
        ctx.clock.now(),
        started,
        pending=len(pending),
        scheduled=len(scheduled),
        cancelled=sum(len(r.cancelled) for r in results),
        waiting=sum(len(r.pending) for r in results),
    )
    return scheduled
