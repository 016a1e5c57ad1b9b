"""The driver of the session lifecycle: runs the reconcile handlers on an event hint (a new
session, a destroy, an agent event) and on a periodic sweep. A session is handled by at most
one handler at a time in this manager."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cygnet.common.events import AgentLost, AgentStarted, KernelFailed, KernelTerminated
from cygnet.common.lifecycle import SessionStatus
from cygnet.common.logging import get_logger
from cygnet.common.tasks import cancel_and_wait
from cygnet.manager import entities as e
from cygnet.manager.lifecycle import kernel_events, timeouts
from cygnet.manager.lifecycle.context import Context
from cygnet.manager.lifecycle.schedule import schedule
from cygnet.manager.lifecycle.start import STARTING, start_claimed, start_many
from cygnet.manager.lifecycle.terminate import terminate
from cygnet.manager.store.repositories import sessions as repo

log = get_logger(__name__)

START_BATCH = 500  # sessions one start task takes on at most


class SessionController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._busy: set[uuid.UUID] = set()
        self._work: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def busy(self) -> frozenset[uuid.UUID]:
        return frozenset(self._busy)

    def hint(self) -> None:
        """Something changed: run a pass soon."""
        self._wake.set()

    def terminate_soon(self, session_id: uuid.UUID) -> None:
        """A session was marked TERMINATING: destroy its kernels now rather than on the next
        pass (if another handler holds it, the pass after that handler picks it up)."""
        self._spawn(session_id, terminate)
        self.hint()

    async def start(self) -> None:
        subscription = self.ctx.bus.subscribe()
        self._loops = [
            asyncio.create_task(self._run(), name="session-reconcile"),
            asyncio.create_task(self._sweeps(), name="session-sweep"),
            asyncio.create_task(self._events(subscription), name="session-agent-events"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._loops)
        self._loops = []
        await cancel_and_wait(list(self._work))
        self._work.clear()
        self._busy.clear()

    # -- loops ----------------------------------------------------------------------------

    async def _run(self) -> None:
        interval = self.ctx.settings.sweep_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("session reconcile pass failed")

    async def _sweeps(self) -> None:
        """The time-limit sweep, once per sweep interval, in a loop of its own: it reads every
        session with a deadline, which takes a while with thousands of them, and scheduling
        passes go on meanwhile."""
        while True:
            await asyncio.sleep(self.ctx.settings.sweep_interval)
            try:
                await self.sweep_once()
            except Exception:
                log.exception("session sweep failed")

    async def run_once(self) -> None:
        """One pass: schedule (and start what it placed), start what else is starting,
        terminate what is ending."""
        await schedule(self.ctx, start=self._start_claimed)
        async with self.ctx.db.read() as tx:
            starting = await repo.ids_in(tx, STARTING)
            ending = await repo.ids_in(tx, [SessionStatus.TERMINATING])
        idle = [session_id for session_id in starting if session_id not in self._busy]
        for first in range(0, len(idle), START_BATCH):
            self._spawn_batch(idle[first : first + START_BATCH], start_many)
        for session_id in ending:
            self._spawn(session_id, terminate)

    async def sweep_once(self) -> None:
        """Enforce time limits, and end the kernels of agents that left for good."""
        started = time.perf_counter()
        expired = await timeouts.enforce(self.ctx, self._busy)
        departed = await kernel_events.end_kernels_of_departed_agents(self.ctx)
        for session_id in [*expired, *departed]:
            self._spawn(session_id, terminate)
        self.ctx.scheduler.record(
            "sweep", self.ctx.clock.now(), started, expired=len(expired), departed=len(departed)
        )
        if expired or departed:
            self.hint()

    async def trigger(self, timeout: float = 10.0) -> dict[str, Any]:
        """Run a scheduling pass now and return what it did (its ``last_run`` entry)."""
        before = self.ctx.scheduler.last_run.get("schedule", {}).get("runs", 0)
        self.hint()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.ctx.scheduler.last_run.get("schedule", {})
            if last.get("runs", 0) > before:
                return dict(last)
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no scheduling pass ended within {timeout} s")

    def _start_claimed(self, sessions: Sequence[e.Session]) -> None:
        """Start what a scheduling pass placed and claimed, in batches."""
        for first in range(0, len(sessions), START_BATCH):
            batch = sessions[first : first + START_BATCH]
            work = functools.partial(start_claimed, self.ctx, batch)
            self._run_handler([s.id for s in batch], "start", work)

    def _spawn(
        self, session_id: uuid.UUID, handler: Callable[[Context, uuid.UUID], Awaitable[None]]
    ) -> None:
        if session_id in self._busy:
            return
        self._run_handler(
            [session_id], handler.__name__, lambda: handler(self.ctx, session_id), str(session_id)
        )

    def _spawn_batch(
        self,
        session_ids: list[uuid.UUID],
        handler: Callable[[Context, Sequence[uuid.UUID]], Awaitable[None]],
    ) -> None:
        """One task for several sessions (that no other handler holds)."""
        if session_ids:
            name = handler.__name__.removesuffix("_many")
            self._run_handler(session_ids, name, lambda: handler(self.ctx, session_ids))

    def _run_handler(
        self,
        session_ids: list[uuid.UUID],
        name: str,
        work: Callable[[], Awaitable[None]],
        session: str | None = None,
    ) -> None:
        """Hold ``session_ids`` while ``work`` runs in a task; then note the outcome and look
        for the next stage without waiting for the sweep."""
        self._busy.update(session_ids)

        async def run() -> None:
            started = time.perf_counter()
            ok = True
            try:
                await work()
            except Exception:
                ok = False
                log.exception("%s failed for %s", name, session or f"{len(session_ids)} sessions")
            finally:
                self._busy.difference_update(session_ids)
                outcome = {"session": session} if session else {"sessions": len(session_ids)}
                self.ctx.scheduler.record(name, self.ctx.clock.now(), started, ok=ok, **outcome)
            self.hint()

        task = asyncio.create_task(run())
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _events(self, subscription: Any) -> None:
        with subscription:
            while True:
                event = await subscription.get()
                try:
                    await self._on_event(event)
                except Exception:
                    log.exception("could not apply %s", type(event).__name__)

    async def _on_event(self, event: object) -> None:
        match event:
            case KernelTerminated():
                if await kernel_events.on_kernel_terminated(self.ctx, event):
                    self._spawn(event.session_id, terminate)
            case KernelFailed():
                await kernel_events.on_kernel_failed(self.ctx, event)
            case AgentLost():
                for session_id in await kernel_events.on_agent_lost(self.ctx, event):
                    self._spawn(session_id, terminate)
                self.hint()
            case AgentStarted():
                await kernel_events.on_agent_started(self.ctx, event)
                self.hint()
