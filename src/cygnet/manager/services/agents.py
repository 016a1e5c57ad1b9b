"""Agents as administrators see them: ``agent_list`` and ``agent`` (superadmins only, as in
Backend.AI). The agent registry writes the rows; this service only reads them."""

from __future__ import annotations

from cygnet.common.clock import Clock
from cygnet.common.errors import AgentNotFound, InvalidAPIParameters
from cygnet.common.lifecycle import AgentStatus
from cygnet.manager.entities import Agent, Caller, Page
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import agents as repo


def parse_statuses(text: str | None) -> list[str] | None:
    """``"ALIVE,LOST"`` -> ``["ALIVE", "LOST"]`` (names case-insensitive); None or blank: all."""
    if text is None or not text.strip():
        return None
    statuses: list[str] = []
    for part in text.split(","):
        name = part.strip().upper()
        if not name:
            continue
        try:
            statuses.append(AgentStatus(name).value)
        except ValueError:
            known = ", ".join(s.value for s in AgentStatus)
            raise InvalidAPIParameters(
                f"Unknown agent status {part.strip()!r}; expected one of {known}."
            ) from None
    return statuses or None


class AgentService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def list_agents(
        self,
        caller: Caller,
        *,
        status: str | None = None,
        resource_group: str | None = None,
        filter_text: str | None = None,
        order_text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[Agent]:
        """Agents with one of the comma-separated ``status`` names (all when None), in
        ``resource_group`` (all when None), narrowed by the filter mini-language."""
        require_superadmin(caller)
        statuses = parse_statuses(status)
        async with self._db.read() as session:
            return await repo.page(
                session,
                statuses=statuses,
                resource_group=resource_group,
                filter_text=filter_text,
                order_text=order_text,
                limit=limit,
                offset=offset,
            )

    async def get_agent(self, caller: Caller, agent_id: str) -> Agent:
        require_superadmin(caller)
        async with self._db.read() as session:
            found = await repo.get(session, agent_id)
        if found is None:
            raise AgentNotFound(f"Agent {agent_id!r} not found.")
        return found
