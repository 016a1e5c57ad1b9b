"""``metric`` agent selection (an example of a pluggable selector): prefer the agent with the
lowest (or highest) value of an agent-reported metric, e.g. power draw or temperature, as
Backend.AI's agent selectors can.

Options (in ``scheduler_opts``): ``metric`` (required, a key of the agents' ``metrics``, e.g.
``"power_w"``), ``metric_order`` (``"asc"``: lowest first, the default; ``"desc"``). Agents
that do not report the metric come last. Pools are arranged by the metric and searched from
the front; the feasible agents found score 100 (best) to 0 (worst in the group).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import AgentScore, CycleState, Request
from cygnet.manager.scheduler.plugins._selection import Selector


class Metric(Selector):
    name = "metric"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        super().__init__(opts)
        opts = opts or {}
        metric = opts.get("metric")
        if not isinstance(metric, str) or not metric:
            raise ValueError("the metric selector needs scheduler_opts 'metric' (e.g. 'power_w')")
        order = opts.get("metric_order", "asc")
        if order not in ("asc", "desc"):
            raise ValueError("scheduler_opts 'metric_order' must be 'asc' or 'desc'")
        self.metric = metric
        self.sign = 1.0 if order == "asc" else -1.0

    def _values(self, state: CycleState) -> tuple[list[float | None], float, float]:
        key = f"{self.name}:{self.metric}"
        found: tuple[list[float | None], float, float] | None = state.data.get(key)
        if found is None:
            values: list[float | None] = [
                (self.sign * float(v)) if (v := a.metrics.get(self.metric)) is not None else None
                for a in state.agents
            ]
            known = [v for v in values if v is not None]
            found = (values, min(known, default=0.0), max(known, default=0.0))
            state.data[key] = found
        return found

    def arrange(self, pool: list[int], state: CycleState) -> None:
        values, _, _ = self._values(state)
        pool.sort(key=lambda a: (values[a] is None, values[a] or 0.0))

    def compile_score(self, request: Request, state: CycleState) -> AgentScore | None:
        values, low, high = self._values(state)
        span = high - low

        def score(agent: int) -> float:
            v = values[agent]
            if v is None:
                return 0.0
            return 100.0 if span <= 0 else 100.0 * (high - v) / span

        return score
