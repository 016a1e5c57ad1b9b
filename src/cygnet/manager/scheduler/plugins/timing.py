"""``timing`` pre-filter: the start time of batch sessions and the pending timeout.

* ``starts_at`` in the future -> WAIT ("starts at …").
* the wait deadline passed -> CANCEL with reason ``pending-timeout``. The deadline is the
  session's own (``maxWaitSeconds`` at creation) or, when the resource group's
  ``scheduler_opts`` has ``pending_timeout`` (seconds, > 0, as in Backend.AI), ``created_at``
  plus that, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Status, cancel, wait
from cygnet.manager.scheduler.snapshot import PendingSession

PENDING_TIMEOUT = "pending-timeout"


class Timing:
    name = "timing"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        seconds = float((opts or {}).get("pending_timeout") or 0)
        self.pending_timeout = timedelta(seconds=seconds) if seconds > 0 else None

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        deadline = session.wait_deadline
        if self.pending_timeout is not None:
            by_group = session.created_at + self.pending_timeout
            deadline = by_group if deadline is None else min(deadline, by_group)
        if deadline is not None and state.now >= deadline:
            return cancel(self.name, PENDING_TIMEOUT)
        if session.starts_at is not None and session.starts_at > state.now:
            return wait(self.name, f"starts at {session.starts_at.isoformat()}")
        return SUCCESS
