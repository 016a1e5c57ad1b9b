"""Fixtures for the scheduler tests (the world builder lives in ``sched_world``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sched_world import World

from cygnet.common.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(clock)


@pytest.fixture
def make_world(clock: FakeClock) -> Callable[[], World]:
    return lambda: World(clock)
