"""What agents report about kernels, applied to sessions.

* ``kernel_terminated`` for a RUNNING kernel (it ended on its own): a batch session's job is
  over — result SUCCESS on exit code 0 (``session_success``), else FAILURE
  (``session_failure``, reason ``task-failed``) — and the session goes TERMINATING with reason
  ``task-finished`` / ``task-failed``; an interactive session goes TERMINATING with reason
  ``self-terminated``. Reports about kernels being destroyed on purpose change nothing.
* ``kernel_failed`` for a kernel still starting: the session is CANCELLED (``failed-to-start``).
* ``agent_lost``: the kernels on that agent end (reason ``agent-lost``) and release what they
  held; their sessions end too (the others of their kernels are destroyed).
* an agent that said goodbye and has not come back within ``agent_return_timeout``: the same,
  with reason ``agent-terminated`` (checked by the sweep).
* ``agent_started``: kernels the agent still runs that the manager considers ended are
  destroyed (orphans of a lost agent that came back).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from cygnet.common.errors import CygnetError
from cygnet.common.events import AgentLost, AgentStarted, KernelFailed, KernelTerminated
from cygnet.common.lifecycle import (
    DEAD_KERNEL_STATUSES,
    AgentStatus,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
    ended_before_start,
)
from cygnet.common.logging import get_logger
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.store.repositories import agents as agents_repo
from cygnet.manager.store.repositories import sessions as repo
from cygnet.manager.store.repositories.session_changes import SessionChange

log = get_logger(__name__)


def finish_job(change: SessionChange, exit_code: int | None, reason: str | None = None) -> None:
    """Record a batch job's outcome (result, success/failure event) and start terminating."""
    success = exit_code == 0
    reason = reason or ("task-finished" if success else "task-failed")
    change.set(result=SessionResult.SUCCESS if success else SessionResult.FAILURE)
    change.emit("session_success" if success else "session_failure", reason)


def kernel_ended(
    change: SessionChange, kernel: e.Kernel, exit_code: int | None, reason: str, now: datetime
) -> bool:
    """A RUNNING session's kernel ended on its own: end the session (a batch session's job is
    over). Returns whether the session is now TERMINATING."""
    if change.status not in (SessionStatus.RUNNING, SessionStatus.RUNNING_DEGRADED):
        return change.status == SessionStatus.TERMINATING
    data = {"kernel": {"exit_code": exit_code}}
    if change.session_type == SessionType.BATCH and kernel.is_main:
        finish_job(change, exit_code)
        reason = "task-finished" if exit_code == 0 else "task-failed"
    change.to(SessionStatus.TERMINATING, now, reason=reason, status_data=data)
    return True


async def on_kernel_terminated(ctx: Context, event: KernelTerminated) -> bool:
    """Returns whether the session needs the terminate handler."""

    async def apply(change: SessionChange) -> bool:
        kernel = next((k for k in change.kernels if k.id == event.kernel_id), None)
        if kernel is None:
            return False
        if kernel.status in (KernelStatus.PREPARING, KernelStatus.CREATING):
            # It ended before the start handler saw it run: the start handler applies this
            # once the kernel is RUNNING.
            change.set_kernel(
                kernel.id,
                exit_code=event.exit_code,
                status_data={"early_exit": {"reason": event.reason, "exit_code": event.exit_code}},
            )
            return False
        if kernel.status != KernelStatus.RUNNING:
            return False
        change.set_kernel(kernel.id, exit_code=event.exit_code)
        return kernel_ended(change, kernel, event.exit_code, event.reason, ctx.clock.now())

    return bool(await ctx.change(event.session_id, apply))


async def on_kernel_failed(ctx: Context, event: KernelFailed) -> None:
    async def apply(change: SessionChange) -> None:
        if not ended_before_start(change.status):
            return
        now = ctx.clock.now()
        for kernel in change.kernels:
            if kernel.status not in DEAD_KERNEL_STATUSES:
                change.kernel_to(kernel.id, KernelStatus.CANCELLED, now, reason=event.reason)
        change.to(
            SessionStatus.CANCELLED,
            now,
            reason=event.reason,
            status_data={"error": {"src": "agent", "repr": event.msg, "agent_id": event.agent_id}},
        )

    await ctx.change(event.session_id, apply)


async def on_agent_lost(ctx: Context, event: AgentLost) -> list[uuid.UUID]:
    """End the kernels on a LOST agent; returns sessions that need the terminate handler."""
    return await end_kernels_on(ctx, event.agent_id, "agent-lost")


async def end_kernels_of_departed_agents(ctx: Context) -> list[uuid.UUID]:
    """Agents that said goodbye keep their kernels (containers outlive an agent restart, and
    the agent re-attaches to them). One that has not come back within
    ``agent_return_timeout`` is not coming back: its kernels end (``agent-terminated``).
    Returns the sessions that need the terminate handler."""
    cutoff = ctx.clock.now() - timedelta(seconds=ctx.settings.agent_return_timeout)
    async with ctx.db.read() as tx:
        departed = [
            a.id
            for a in await agents_repo.list_all(tx, statuses=[AgentStatus.TERMINATED])
            if a.status_changed is not None and a.status_changed < cutoff
        ]
        kernels = await repo.live_kernels_on(tx, departed) if departed else []
    follow_up: list[uuid.UUID] = []
    for agent_id in sorted({k.agent_id for k in kernels if k.agent_id is not None}):
        if ctx.agents.status_of(agent_id) == AgentStatus.ALIVE:
            continue  # it came back meanwhile
        log.warning("agent %s left and did not come back: ending its kernels", agent_id)
        follow_up += await end_kernels_on(ctx, agent_id, "agent-terminated")
    return follow_up


async def end_kernels_on(ctx: Context, agent_id: str, reason: str) -> list[uuid.UUID]:
    """End the kernels on an agent that is gone; returns sessions that need the terminate
    handler."""
    async with ctx.db.read() as tx:
        kernels = await repo.live_kernels_on(tx, [agent_id])
    sessions = sorted({k.session_id for k in kernels})
    follow_up: list[uuid.UUID] = []
    for session_id in sessions:

        async def apply(change: SessionChange) -> bool:
            now = ctx.clock.now()
            for kernel in change.kernels:
                if kernel.agent_id != agent_id or kernel.status in DEAD_KERNEL_STATUSES:
                    continue
                target = (
                    KernelStatus.TERMINATED
                    if kernel.status
                    in (KernelStatus.RUNNING, KernelStatus.TERMINATING, KernelStatus.ERROR)
                    else KernelStatus.CANCELLED
                )
                change.kernel_to(kernel.id, target, now, reason=reason)
            status = change.status
            if status in (SessionStatus.TERMINATED, SessionStatus.CANCELLED):
                return False
            remaining = [k for k in change.kernels if k.status not in DEAD_KERNEL_STATUSES]
            if ended_before_start(status):
                if not remaining:
                    change.to(SessionStatus.CANCELLED, now, reason=reason)
                    return False
                change.to(SessionStatus.TERMINATING, now, reason=reason)
                return True
            if status != SessionStatus.TERMINATING:
                if change.session_type == SessionType.BATCH:
                    finish_job(change, None, reason)
                change.to(SessionStatus.TERMINATING, now, reason=reason)
            return True

        try:
            if await ctx.change(session_id, apply):
                follow_up.append(session_id)
        except CygnetError:
            log.exception("could not end session %s (%s)", session_id, reason)
    return follow_up


async def on_agent_started(ctx: Context, event: AgentStarted) -> None:
    """Destroy the kernels an agent still runs that the manager has written off (ended while
    the agent was away). Kernels the store does not know at all are left alone and logged:
    they are not this manager's to judge."""
    try:
        client = await ctx.agents.client(event.agent_id)
        reported = await client.list_kernels()
    except CygnetError as exc:
        log.warning("could not list the kernels of agent %s: %s", event.agent_id, exc)
        return
    if not reported:
        return
    async with ctx.db.read() as tx:
        known = await repo.kernel_statuses(tx, [k.kernel_id for k in reported])
    for summary in reported:
        status = known.get(summary.kernel_id)
        if status is None:
            log.warning(
                "agent %s runs kernel %s, which no session of this manager owns",
                event.agent_id,
                summary.kernel_id,
            )
            continue
        if status not in DEAD_KERNEL_STATUSES:
            continue
        log.warning(
            "agent %s runs kernel %s, which ended as %s: destroying it",
            event.agent_id,
            summary.kernel_id,
            status,
        )
        try:
            await client.destroy_kernel(summary.kernel_id, "orphaned")
        except CygnetError as exc:
            log.warning("could not destroy orphan kernel %s: %s", summary.kernel_id, exc)
