"""``fifo`` queue policy: oldest first (ties keep the order the snapshot gives)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any

from cygnet.manager.scheduler.framework import CycleState
from cygnet.manager.scheduler.snapshot import PendingSession


class FIFO:
    name = "fifo"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def order(
        self, sessions: Sequence[PendingSession], state: CycleState
    ) -> Iterator[PendingSession]:
        return iter(sorted(sessions, key=attrgetter("created_ts")))
