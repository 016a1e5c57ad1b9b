"""TERMINATING -> TERMINATED: destroy the kernels on their agents and release what they held.

Picks up: TERMINATING. Each kernel is destroyed and the logs its agent read just before
stopping it are kept; a kernel its agent no longer knows counts as gone. Success: kernels
TERMINATED (with exit codes), the session TERMINATED with the reason it was terminated for. An
agent that does not answer: retried on the next pass; once it is no longer ALIVE and
``terminate_timeout`` has passed, the kernel is recorded TERMINATED anyway
(``status_data.error``), so nothing hangs. Resources are released by the status change itself:
only kernels in holding statuses count as booked."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from cygnet.common.errors import CygnetError, KernelNotFound
from cygnet.common.lifecycle import AgentStatus, KernelStatus, SessionStatus
from cygnet.common.logging import get_logger
from cygnet.manager import entities as e
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.store.repositories.session_changes import SessionChange

log = get_logger(__name__)

_ENDED = (KernelStatus.TERMINATED, KernelStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class _Outcome:
    done: bool
    exit_code: int | None = None
    logs: str | None = None
    error: str | None = None


async def _destroy(ctx: Context, kernel: e.Kernel, reason: str) -> _Outcome:
    if kernel.agent_id is None:
        return _Outcome(done=True)
    try:
        client = await ctx.agents.client(kernel.agent_id)
        reply = await client.destroy_kernel(kernel.id, reason)
        logs = None if reply.logs is None else reply.logs[-ctx.settings.logs_limit :]
        return _Outcome(done=True, exit_code=reply.exit_code, logs=logs)
    except KernelNotFound:
        return _Outcome(done=True)
    except (CygnetError, OSError) as exc:
        age = (ctx.clock.now() - kernel.status_changed).total_seconds()
        alive = ctx.agents.status_of(kernel.agent_id) == AgentStatus.ALIVE
        if not alive and age > ctx.settings.terminate_timeout:
            return _Outcome(done=True, error=f"agent {kernel.agent_id} did not confirm: {exc}")
        log.warning("could not destroy kernel %s (will retry): %s", kernel.id, exc)
        return _Outcome(done=False)


async def terminate(ctx: Context, session_id: uuid.UUID) -> None:
    async def begin(change: SessionChange) -> tuple[str, list[e.Kernel]] | None:
        if change.status != SessionStatus.TERMINATING:
            return None
        now = ctx.clock.now()
        reason = change.status_info or "user-requested"
        for kernel in change.kernels:
            if kernel.status in _ENDED or kernel.status == KernelStatus.TERMINATING:
                continue
            if kernel.agent_id is None or kernel.status in (
                KernelStatus.PENDING,
                KernelStatus.SCHEDULED,
            ):
                change.kernel_to(kernel.id, KernelStatus.CANCELLED, now, reason=reason)
            else:
                change.kernel_to(kernel.id, KernelStatus.TERMINATING, now, reason=reason)
        return reason, [k for k in change.kernels if k.status == KernelStatus.TERMINATING]

    started = await ctx.change(session_id, begin)
    if started is None:
        return
    reason, kernels = started
    outcomes = await asyncio.gather(*(_destroy(ctx, k, reason) for k in kernels))

    async def finish(change: SessionChange) -> None:
        if change.status != SessionStatus.TERMINATING:
            return
        now = ctx.clock.now()
        for kernel, outcome in zip(kernels, outcomes, strict=True):
            if not outcome.done:
                continue
            values: dict[str, object] = {}
            if outcome.exit_code is not None:
                values["exit_code"] = outcome.exit_code
            if outcome.logs is not None:
                values["logs"] = outcome.logs
            if outcome.error is not None:
                values["status_data"] = {"error": {"src": "other", "repr": outcome.error}}
            change.kernel_to(kernel.id, KernelStatus.TERMINATED, now, reason=reason, values=values)
        if all(k.status in _ENDED for k in change.kernels):
            main = [k for k in change.kernels if k.is_main]
            data = {}
            if main and main[0].exit_code is not None:
                data = {"kernel": {"exit_code": main[0].exit_code}}
            change.to(SessionStatus.TERMINATED, now, reason=reason, status_data=data)

    await ctx.change(session_id, finish)
