"""Time limits: no session stays forever in one state.

* RUNNING batch sessions past ``batch_timeout``: FAILURE, ``session_failure`` with reason
  ``task-timeout``, then TERMINATING (``task-timeout``).
* RUNNING interactive sessions idle (no execution or file access) for longer than the owner's
  keypair policy ``idle_timeout``: TERMINATING (``idle-timeout``).
* RUNNING sessions older than the policy's ``max_session_lifetime``: TERMINATING
  (``max-lifetime-exceeded``).
* Sessions stuck starting (SCHEDULED..CREATING, with no start under way in this manager) for
  longer than ``start_timeout``: CANCELLED (``start-timeout``).
* Sessions stuck RESTARTING (e.g. the manager that was restarting them stopped) for longer
  than ``start_timeout``: TERMINATING (``restart-timeout``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from cygnet.common.lifecycle import (
    DEAD_KERNEL_STATUSES,
    KernelStatus,
    SessionStatus,
    SessionType,
)
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.kernel_events import finish_job
from cygnet.manager.lifecycle.start import STARTING
from cygnet.manager.store.repositories import sessions as repo
from cygnet.manager.store.repositories.session_changes import SessionChange
from cygnet.manager.store.repositories.sessions import RUNNING_STATUSES as RUNNING
from cygnet.manager.store.repositories.sessions import Deadlines


def expired(item: Deadlines, now: datetime, start_timeout: float) -> str | None:
    """The reason ``item`` must end now, if any (pure)."""
    if item.status in STARTING or item.status == SessionStatus.RESTARTING:
        age = (now - item.status_changed).total_seconds()
        if age <= start_timeout:
            return None
        return "restart-timeout" if item.status == SessionStatus.RESTARTING else "start-timeout"
    if item.status not in RUNNING or item.started_at is None:
        return None
    running_for = (now - item.started_at).total_seconds()
    if item.type == SessionType.BATCH and item.batch_timeout and running_for > item.batch_timeout:
        return "task-timeout"
    if item.max_session_lifetime and running_for > item.max_session_lifetime:
        return "max-lifetime-exceeded"
    if item.type == SessionType.INTERACTIVE and item.idle_timeout:
        last = max(item.started_at, item.last_activity or item.started_at)
        if (now - last).total_seconds() > item.idle_timeout:
            return "idle-timeout"
    return None


async def enforce(ctx: Context, busy: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """End what has expired; returns the sessions that now need the terminate handler."""
    async with ctx.db.read() as tx:
        items = await repo.deadlines(tx, [*STARTING, *RUNNING, SessionStatus.RESTARTING])
    now = ctx.clock.now()
    follow_up = []
    for item in items:
        if item.session_id in busy:
            continue
        reason = expired(item, now, ctx.settings.start_timeout)
        if reason is None:
            continue

        async def apply(change: SessionChange, reason: str = reason) -> bool:
            at = ctx.clock.now()
            if change.status in STARTING:
                for kernel in change.kernels:
                    if kernel.status not in DEAD_KERNEL_STATUSES:
                        if kernel.agent_id is None or kernel.status == KernelStatus.SCHEDULED:
                            change.kernel_to(kernel.id, KernelStatus.CANCELLED, at, reason=reason)
                        else:
                            change.kernel_to(kernel.id, KernelStatus.TERMINATING, at, reason=reason)
                if all(k.status in DEAD_KERNEL_STATUSES for k in change.kernels):
                    change.to(SessionStatus.CANCELLED, at, reason=reason)
                    return False
                change.to(SessionStatus.TERMINATING, at, reason=reason)
                return True
            if change.status == SessionStatus.RESTARTING:
                for kernel in change.kernels:
                    if kernel.status not in DEAD_KERNEL_STATUSES:
                        change.kernel_to(kernel.id, KernelStatus.TERMINATING, at, reason=reason)
                change.to(SessionStatus.TERMINATING, at, reason=reason)
                return True
            if change.status not in RUNNING:
                return False
            if reason == "task-timeout":
                finish_job(change, None, reason)
            change.to(SessionStatus.TERMINATING, at, reason=reason)
            return True

        if await ctx.change(item.session_id, apply):
            follow_up.append(item.session_id)
    return follow_up
