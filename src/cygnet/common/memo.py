"""Values loaded asynchronously and kept for a short while, per key: for what every request
would otherwise read again although it rarely changes (the image catalogue, slot types)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cygnet.common.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    def __init__(self, clock: Clock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """The value for ``key`` and whether it came from the memo (False: just loaded).
        Concurrent callers of a missing key share one load."""
        now = self._clock.monotonic()
        kept = self._values.get(key)
        if kept is not None and now - kept[0] < self._ttl:
            return kept[1], True
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._loading.pop(key, None)
        self._values[key] = (now, value)
        future.set_result(value)
        return value, False

    def forget(self) -> None:
        self._values.clear()
