"""Background tasks (vfolder clone, later commit/imagify): each runs as an asyncio task,
reports progress on the event bus as ``BackgroundTaskEvent``s, and keeps its last event so a
late subscriber of ``/events/background-task`` still learns how it ended (wire notes 2.1)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cygnet.common.errors import BackgroundTaskNotFound, CygnetError
from cygnet.common.logging import get_logger
from cygnet.manager.entities import BackgroundTaskEvent, Caller
from cygnet.manager.events import EventBus, Subscription

log = get_logger(__name__)
KEEP_FINISHED = 1000  # finished tasks whose last event is kept for replay


class Progress:
    """What a task body reports through: ``update(current, total, message)``."""

    def __init__(self, tasks: BackgroundTasks, task_id: uuid.UUID) -> None:
        self._tasks = tasks
        self.task_id = task_id

    def update(self, current: float, total: float, message: str | None = None) -> None:
        self._tasks._publish(
            BackgroundTaskEvent(
                self.task_id,
                "bgtask_updated",
                message,
                current_progress=current,
                total_progress=total,
            )
        )


TaskBody = Callable[[Progress], Awaitable[str | None]]


@dataclass
class _Task:
    owner: uuid.UUID
    last: BackgroundTaskEvent | None = None
    runner: asyncio.Task[None] | None = None


class BackgroundTasks:
    def __init__(self, events: EventBus) -> None:
        self._events = events
        self._tasks: OrderedDict[uuid.UUID, _Task] = OrderedDict()

    def start(self, owner: uuid.UUID, body: TaskBody, *, name: str = "bgtask") -> uuid.UUID:
        """Run ``body`` in the background; its return value is the ``bgtask_done`` message, an
        exception makes it ``bgtask_failed`` (cancellation ``bgtask_cancelled``)."""
        task_id = uuid.uuid4()
        record = _Task(owner)
        self._tasks[task_id] = record
        record.runner = asyncio.create_task(self._run(task_id, body), name=f"{name}-{task_id}")
        self._trim()
        return task_id

    async def _run(self, task_id: uuid.UUID, body: TaskBody) -> None:
        try:
            message = await body(Progress(self, task_id))
        except asyncio.CancelledError:
            self._publish(BackgroundTaskEvent(task_id, "bgtask_cancelled", "cancelled"))
            raise
        except CygnetError as exc:
            self._publish(BackgroundTaskEvent(task_id, "bgtask_failed", exc.msg or exc.title))
        except Exception as exc:
            log.exception("background task %s failed", task_id)
            self._publish(BackgroundTaskEvent(task_id, "bgtask_failed", f"{exc}"))
        else:
            self._publish(BackgroundTaskEvent(task_id, "bgtask_done", message))

    def _publish(self, event: BackgroundTaskEvent) -> None:
        record = self._tasks.get(event.task_id)
        if record is not None:
            record.last = event
        self._events.publish(event)

    def _trim(self) -> None:
        finished = [tid for tid, t in self._tasks.items() if t.runner and t.runner.done()]
        for tid in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._tasks[tid]

    def subscribe(
        self, caller: Caller, task_id: uuid.UUID
    ) -> tuple[Subscription, BackgroundTaskEvent | None]:
        """A subscription to the bus and the task's last event so far (404 for a task the
        caller did not start, unless a superadmin)."""
        record = self._tasks.get(task_id)
        if record is None or not (caller.is_superadmin or record.owner == caller.user_uuid):
            raise BackgroundTaskNotFound(f"No background task {task_id}.")
        subscription = self._events.subscribe()
        return subscription, record.last

    async def wait(self, task_id: uuid.UUID) -> BackgroundTaskEvent | None:
        """Wait for a task to end (tests, the CLI's in-process use); its last event."""
        record = self._tasks[task_id]
        if record.runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(record.runner)
        return record.last

    async def stop(self) -> None:
        runners = [t.runner for t in self._tasks.values() if t.runner and not t.runner.done()]
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
