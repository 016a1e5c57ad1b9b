"""Stopping background tasks reliably, and waiting for a stop signal."""

from __future__ import annotations

import asyncio
import signal
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


async def until_signalled(signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Wait until the process receives one of ``signals`` (a server's foreground wait)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    wanted = list(signals)
    for sig in wanted:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in wanted:
            loop.remove_signal_handler(sig)
