"""``priority`` queue policy: session priority (0-100) highest first, then oldest first."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cygnet.manager.scheduler.framework import CycleState
from cygnet.manager.scheduler.snapshot import PendingSession


class Priority:
    name = "priority"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def order(
        self, sessions: Sequence[PendingSession], state: CycleState
    ) -> Iterator[PendingSession]:
        return iter(sorted(sessions, key=lambda s: (-s.priority, s.created_ts)))
