"""``agent-pool`` filter: the agent is schedulable, in the session's resource group and of its
architecture.

The runner indexes agents by (resource group, architecture) and leaves unschedulable ones out,
so in the search this filter has nothing left to reject (``compile`` returns ``None``); it
speaks when a failure is explained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.manager.scheduler.framework import AgentPredicate, CycleState, Rejection, Request


class AgentPool:
    name = "agent-pool"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def compile(self, request: Request, state: CycleState) -> AgentPredicate | None:
        return None

    def explain(self, request: Request, agent: int, state: CycleState) -> Rejection | None:
        info = state.agents[agent]
        if info.resource_group != request.resource_group:
            return Rejection(
                self.name,
                f"in resource group {info.resource_group}, not {request.resource_group}",
                permanent=True,
            )
        if info.architecture != request.architecture:
            return Rejection(
                self.name,
                f"architecture {info.architecture}, not {request.architecture}",
                permanent=True,
            )
        if not info.schedulable:
            return Rejection(self.name, "not schedulable")
        return None
