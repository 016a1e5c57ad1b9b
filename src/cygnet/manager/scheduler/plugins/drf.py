"""``drf`` queue policy: dominant resource fairness across users.

The next session comes from the user whose dominant share is smallest: the largest, over the
slots, of what the user occupies divided by the capacity of the session's resource group.
Sessions placed earlier in the cycle count (the runner adds them to ``state.user_slots``), so
users take turns. Within a user, oldest first; ties between users go to the older session.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cygnet.manager.scheduler.framework import CycleState
from cygnet.manager.scheduler.snapshot import PendingSession


class DRF:
    name = "drf"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    @staticmethod
    def share(state: CycleState, user: uuid.UUID, resource_group: str) -> float:
        used = state.user_slots.get(user)
        if used is None:
            return 0.0
        capacity = state.group_capacity(resource_group)
        return max((u / c for u, c in zip(used, capacity, strict=True) if c > 0), default=0.0)

    def order(
        self, sessions: Sequence[PendingSession], state: CycleState
    ) -> Iterator[PendingSession]:
        queues: dict[uuid.UUID, deque[PendingSession]] = {}
        for s in sorted(sessions, key=lambda s: s.created_ts):
            queues.setdefault(s.user, deque()).append(s)
        heap: list[tuple[float, float, int, uuid.UUID]] = []
        for n, (user, queue) in enumerate(queues.items()):
            head = queue[0]
            share = self.share(state, user, head.resource_group)
            heap.append((share, head.created_ts, n, user))
        heapq.heapify(heap)
        while heap:
            share, created, n, user = heapq.heappop(heap)
            queue = queues[user]
            current = self.share(state, user, queue[0].resource_group)
            if current > share:  # the user got more since this entry was pushed
                heapq.heappush(heap, (current, created, n, user))
                continue
            yield queue.popleft()
            if queue:
                head = queue[0]
                share = self.share(state, user, head.resource_group)
                heapq.heappush(heap, (share, head.created_ts, n, user))
