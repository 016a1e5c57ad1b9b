"""``concentrated`` agent selection: fill the fullest agent first (bin packing), keeping
other agents empty for large sessions. Pools are searched fullest first; the feasible agents
found are scored by how full the requested slots become."""

from __future__ import annotations

from cygnet.manager.scheduler.framework import AgentScore, CycleState, Request
from cygnet.manager.scheduler.plugins._selection import Selector, arrange_by_use, fill_score


class Concentrated(Selector):
    name = "concentrated"

    def arrange(self, pool: list[int], state: CycleState) -> None:
        arrange_by_use(pool, state, fullest_first=True)

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        return fill_score(request, state)
