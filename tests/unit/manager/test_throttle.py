"""Login failure throttling, on a fake clock."""

from __future__ import annotations

import pytest

from cygnet.common.clock import FakeClock
from cygnet.common.errors import RateLimitExceeded
from cygnet.manager.services.throttle import FailureThrottle


def test_locks_after_limit_and_unlocks_after_window() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(clock, limit=3, window_seconds=60)
    for _ in range(3):
        throttle.check("a")
        throttle.failed("a")
    with pytest.raises(RateLimitExceeded) as caught:
        throttle.check("a")
    assert caught.value.data == {"Retry-After": "61"}
    throttle.check("b")  # other keys are unaffected
    clock.advance(30)
    with pytest.raises(RateLimitExceeded):
        throttle.check("a")
    clock.advance(31)
    throttle.check("a")  # the failures have aged out


def test_success_clears_the_count() -> None:
    throttle = FailureThrottle(FakeClock(), limit=2, window_seconds=60)
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    throttle.check("a")
