"""The manager's in-process event bus: every subscriber gets every event, in order."""

from __future__ import annotations

import asyncio

import pytest

from cygnet.manager.events import EventBus


async def test_queued_events_come_at_once_and_in_order() -> None:
    bus = EventBus()
    with bus.subscribe() as first, bus.subscribe() as second:
        for n in range(3):
            bus.publish(n)
        assert [await first.get() for _ in range(3)] == [0, 1, 2]
        assert [await second.get(timeout=0) for _ in range(3)] == [0, 1, 2]


async def test_get_waits_for_the_next_event_or_times_out() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.01)
        waiting = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        bus.publish("hello")
        assert await waiting == "hello"
        asyncio.get_running_loop().call_later(0.01, bus.publish, "late")
        assert await sub.get(timeout=5) == "late"


async def test_a_closed_subscription_gets_nothing_more() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    sub.close()
    bus.publish("lost")
    assert sub.queue.empty()
