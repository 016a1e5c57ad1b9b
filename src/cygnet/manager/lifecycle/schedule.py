"""PENDING -> SCHEDULED: place pending sessions on agents (FIFO) and book their resources.

Picks up: PENDING. Success: SCHEDULED (kernels get their agent). No room: stays PENDING with
the reason in ``status_data.scheduler``. Runs in one transaction, so what it books is exactly
what the kernels table says holds resources."""

from __future__ import annotations

import uuid

from cygnet.common.lifecycle import AgentStatus, KernelStatus, SessionStatus
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.placement import place_fifo
from cygnet.manager.store.repositories import agents as agents_repo
from cygnet.manager.store.repositories import sessions as repo


async def schedule(ctx: Context, limit: int = 1000) -> list[uuid.UUID]:
    """One placement pass; returns the ids of the sessions it scheduled."""
    events: list[e.SessionEvent] = []
    scheduled: list[uuid.UUID] = []
    async with ctx.db.read() as tx:  # most passes find nothing: no write lock for them
        if not await repo.ids_in(tx, [SessionStatus.PENDING], limit=1):
            return []
    async with ctx.db.transaction() as tx:
        pending = await repo.in_statuses(tx, [SessionStatus.PENDING], limit=limit)
        if not pending:
            return []
        live = set(ctx.agents.live_ids())
        agents = [
            a for a in await agents_repo.list_all(tx, statuses=[AgentStatus.ALIVE]) if a.id in live
        ]
        booked = await repo.occupancy(tx)
        now = ctx.clock.now()
        plan = place_fifo(pending, agents, booked, now)
        addresses = {a.id: a.address for a in agents}
        for session_id, assignment in plan.placed:
            change = await repo.change(tx, session_id)
            if change is None or change.status != SessionStatus.PENDING:
                continue
            for kernel_id, agent_id in assignment.items():
                change.kernel_to(
                    kernel_id,
                    KernelStatus.SCHEDULED,
                    now,
                    values={"agent_id": agent_id, "agent_addr": addresses[agent_id]},
                )
            change.to(SessionStatus.SCHEDULED, now, reason="scheduled")
            events.extend(change.events)
            scheduled.append(session_id)
        by_id = {s.id: s for s in pending}
        for session_id, why in plan.waiting.items():
            previous = by_id[session_id].status_data.get("scheduler", {})
            if previous.get("msg") == why:
                continue
            change = await repo.change(tx, session_id)
            if change is None:
                continue
            retries = int(previous.get("retries", 0)) + 1
            change.set(
                status_data={
                    **by_id[session_id].status_data,
                    "scheduler": {"retries": retries, "msg": why, "last_try": now.isoformat()},
                }
            )
    for event in events:
        ctx.bus.publish(event)
    return scheduled
