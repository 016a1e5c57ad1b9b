"""Memo: values kept for a while per key, one load for concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from cygnet.common.clock import FakeClock
from cygnet.common.memo import Memo


async def test_kept_until_the_ttl_then_loaded_again() -> None:
    clock = FakeClock()
    memo: Memo[str, int] = Memo(clock, ttl=2.0)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await memo.get("a", load) == (1, False)
    assert await memo.get("a", load) == (1, True)
    assert await memo.get("b", load) == (2, False)  # per key
    clock.advance(2.0)
    assert await memo.get("a", load) == (3, False)
    memo.forget()
    assert await memo.get("a", load) == (4, False)


async def test_concurrent_callers_share_one_load_and_its_failure() -> None:
    memo: Memo[str, int] = Memo(FakeClock(), ttl=10.0)
    started = asyncio.Event()
    release = asyncio.Event()
    loads = 0

    async def slow() -> int:
        nonlocal loads
        loads += 1
        started.set()
        await release.wait()
        return 7

    first = asyncio.create_task(memo.get("k", slow))
    await started.wait()
    second = asyncio.create_task(memo.get("k", slow))
    await asyncio.sleep(0)
    release.set()
    assert (await first)[0] == (await second)[0] == 7
    assert loads == 1

    async def broken() -> int:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        await memo.get("x", broken)
    assert await memo.get("x", slow) == (7, False)  # a failure is not kept
