"""The manager's in-process event bus: components publish events, subscribers get them in
order. (Several managers will share events through Redis later; the interface stays.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from cygnet.common.logging import get_logger

log = get_logger(__name__)


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    async def get(self, timeout: float | None = None) -> Any:
        if not self.queue.empty():  # a busy manager's usual case: no timer to arm and disarm
            return self.queue.get_nowait()
        if timeout is None:
            return await self.queue.get()
        async with asyncio.timeout(timeout):
            return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        """A new subscription; use it as a context manager so it is closed."""
        sub = Subscription(self, maxsize)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: Any) -> None:
        for sub in list(self._subscribers):
            if sub.queue.full():
                sub.queue.get_nowait()
                log.warning("event subscriber is too slow; dropped its oldest event")
            sub.queue.put_nowait(event)
