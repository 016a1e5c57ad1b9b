"""Failure throttling for password logins: too many failures for one account or from one
address within a window answer 429 until the window has passed."""

from __future__ import annotations

from collections import deque

from cygnet.common.clock import Clock
from cygnet.common.errors import RateLimitExceeded

_MAX_KEYS = 100_000


class FailureThrottle:
    def __init__(self, clock: Clock, *, limit: int = 10, window_seconds: float = 300.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, *keys: str) -> None:
        """Raise RateLimitExceeded if any key has failed ``limit`` times within the window."""
        now = self._clock.monotonic()
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._limit:
                retry = int(times[0] + self._window - now) + 1
                raise RateLimitExceeded(
                    f"Too many failed logins; try again in {retry} s.",
                    data={"Retry-After": str(retry)},
                )

    def failed(self, *keys: str) -> None:
        now = self._clock.monotonic()
        if len(self._failures) >= _MAX_KEYS:
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
