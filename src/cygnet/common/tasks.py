"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], nudge_every: float = 1.0) -> None:
    """Cancel ``tasks`` and wait until all have ended. A task that swallowed its cancellation
    (library code sometimes does) is cancelled again every ``nudge_every`` seconds."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _done, pending = await asyncio.wait(pending, timeout=nudge_every)
        for task in pending:
            task.cancel()
