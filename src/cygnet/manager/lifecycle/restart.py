"""RUNNING -> RESTARTING -> RUNNING: recreate a session's kernels in place (same ids, same
agents, same booked resources), e.g. after the user's program wedged its kernel.

If recreating fails, the session goes TERMINATING with reason ``restart-failed``."""

from __future__ import annotations

import asyncio
import uuid

from cygnet.common.errors import CygnetError, InvalidAPIParameters, KernelNotFound
from cygnet.common.lifecycle import KernelStatus, SessionStatus
from cygnet.common.logging import get_logger
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.start import kernel_request
from cygnet.manager.store.repositories.session_changes import SessionChange

log = get_logger(__name__)


async def restart(ctx: Context, session_id: uuid.UUID) -> bool:
    """Returns False if it failed (the session is then TERMINATING)."""

    async def begin(change: SessionChange) -> e.Session:
        if change.status != SessionStatus.RUNNING:
            raise InvalidAPIParameters(
                f"Only a RUNNING session can be restarted (this one is {change.status})."
            )
        now = ctx.clock.now()
        for kernel in change.kernels:
            change.kernel_to(kernel.id, KernelStatus.RESTARTING, now, reason="user-requested")
        change.to(SessionStatus.RESTARTING, now, reason="user-requested")
        return await change.entity()

    session = await ctx.change(session_id, begin)
    if session is None:
        return False

    async def recreate(kernel: e.Kernel) -> None:
        assert kernel.agent_id is not None
        client = await ctx.agents.client(kernel.agent_id)
        try:
            await client.destroy_kernel(kernel.id, "restarting")
        except KernelNotFound:
            pass
        await client.create_kernel(kernel_request(session, kernel))

    results = await asyncio.gather(*(recreate(k) for k in session.kernels), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, CygnetError | OSError):
            raise error

    async def finish(change: SessionChange) -> None:
        if change.status != SessionStatus.RESTARTING:
            return
        now = ctx.clock.now()
        if errors:
            log.warning("session %s could not restart: %s", session_id, errors[0])
            change.to(
                SessionStatus.TERMINATING,
                now,
                reason="restart-failed",
                status_data={"error": {"src": "agent", "repr": str(errors[0])}},
            )
            return
        for kernel in change.kernels:
            change.kernel_to(kernel.id, KernelStatus.RUNNING, now)
        change.to(SessionStatus.RUNNING, now, reason="restarted", values={"last_activity": now})

    await ctx.change(session_id, finish)
    return not errors
