"""What every reconcile handler works with, and the one way they change a session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from cygnet.common.clock import Clock
from cygnet.manager.agents.registry import AgentRegistry
from cygnet.manager.events import EventBus
from cygnet.manager.scheduler import AgentMemo
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import session_changes as changes_repo
from cygnet.manager.store.repositories.session_changes import SessionChange

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    sweep_interval: float = 2.0  # the periodic reconcile pass, besides event hints
    start_timeout: float = 600.0  # SCHEDULED..CREATING longer than this -> CANCELLED
    terminate_timeout: float = 120.0  # TERMINATING on an unreachable agent -> TERMINATED
    agent_return_timeout: float = 600.0  # kernels of an agent gone this long (goodbye) end
    logs_limit: int = 1 << 20  # bytes of a kernel's logs kept once it ends


@dataclass(slots=True)
class SchedulerMemory:
    """What this manager's scheduling cycles carry from one to the next: the state of
    stateful plugins (a round-robin cursor …), the last cycle's outcome, for health, and the
    agents of the last snapshot, which the next one reuses where they are unchanged."""

    plugin_state: dict[str, Any] = field(default_factory=dict)
    last_run: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: AgentMemo = field(default_factory=AgentMemo)  # the last snapshot's agents

    def record(
        self, loop: str, at: datetime, started: float, *, ok: bool = True, **outcome: Any
    ) -> None:
        """Note a loop's run (``started``: its ``time.perf_counter()`` at the start), keeping
        how many runs and failures it has had."""
        previous = self.last_run.get(loop, {})
        self.last_run[loop] = {
            "at": at.isoformat(),
            "seconds": round(time.perf_counter() - started, 6),
            "ok": ok,
            **outcome,
            "runs": int(previous.get("runs", 0)) + 1,
            "failures": int(previous.get("failures", 0)) + (0 if ok else 1),
        }


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    clock: Clock
    agents: AgentRegistry
    bus: EventBus
    settings: LifecycleSettings
    scheduler: SchedulerMemory = field(default_factory=SchedulerMemory)

    async def change(
        self, session_id: uuid.UUID, apply: Callable[[SessionChange], Awaitable[T]]
    ) -> T | None:
        """Run ``apply`` on the locked session in one transaction, then publish the events
        it produced. None when the session does not exist."""
        async with self.db.transaction() as tx:
            change = await changes_repo.change(tx, session_id)
            if change is None:
                return None
            result = await apply(change)
            await changes_repo.save(tx, [change])
            events = list(change.events)
        for event in events:
            self.bus.publish(event)
        return result

    async def change_many(
        self,
        session_ids: Iterable[uuid.UUID],
        apply: Callable[[list[SessionChange]], Awaitable[T]],
    ) -> T:
        """``change`` for several sessions in one transaction (those that exist, locked in id
        order); ``apply`` gets them all. Events are published once it is committed."""
        async with self.db.transaction() as tx:
            changes = await changes_repo.change_many(tx, session_ids)
            result = await apply(changes)
            await changes_repo.save(tx, changes)
            events = [event for change in changes for event in change.events]
        for event in events:
            self.bus.publish(event)
        return result
