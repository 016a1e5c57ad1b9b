"""``dispersed`` agent selection: spread sessions, preferring the emptiest agent. Pools are
arranged emptiest first and searched from a rotating offset, so consecutive sessions land on
different agents; among the feasible agents found, the emptiest wins."""

from __future__ import annotations

from collections.abc import Sequence

from cygnet.manager.scheduler.framework import AgentScore, CycleState, Request
from cygnet.manager.scheduler.plugins._selection import Selector, arrange_by_use, fill_score


class Dispersed(Selector):
    name = "dispersed"

    def arrange(self, pool: list[int], state: CycleState) -> None:
        arrange_by_use(pool, state, fullest_first=False)

    def start(self, pool_key: tuple[str, str], items: Sequence[int], state: CycleState) -> int:
        offsets: dict[tuple[str, str], int] = state.data.setdefault(self.name, {})
        offset = offsets.get(pool_key, 0)
        offsets[pool_key] = offset + 1
        return offset % len(items)

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        fill = fill_score(request, state)
        if fill is None:
            return None
        return lambda agent: 100.0 - fill(agent)
