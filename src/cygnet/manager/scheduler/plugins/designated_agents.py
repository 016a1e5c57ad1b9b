"""``designated-agents`` pre-filter: a session that names agents (``agentList``) is placed only
on those; the search looks at nothing else. None of them known -> UNRESOLVABLE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Status, unresolvable
from cygnet.manager.scheduler.snapshot import PendingSession


class DesignatedAgents:
    name = "designated-agents"

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        pass

    def pre_filter(self, session: PendingSession, state: CycleState) -> Status:
        if not session.designated_agents:
            return SUCCESS
        if any(a in state.agent_index for a in session.designated_agents):
            return SUCCESS
        return unresolvable(
            self.name, f"designated agents not found: {', '.join(session.designated_agents)}"
        )

    def candidates(self, session: PendingSession, state: CycleState) -> Sequence[int] | None:
        if not session.designated_agents:
            return None
        index = state.agent_index
        return [index[a] for a in dict.fromkeys(session.designated_agents) if a in index]
