"""``roundrobin`` agent selection: agents in turn, by agent id. A cursor per (resource group,
architecture) remembers the last agent used and is handed to the next cycle in
``next_state["roundrobin"]`` (``{"<group>/<arch>": agent_id}``); each session takes the
first agent after the cursor that can hold it."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from cygnet.manager.scheduler.framework import SUCCESS, CycleState, Reservation, Status
from cygnet.manager.scheduler.plugins._selection import Selector


class RoundRobin(Selector):
    name = "roundrobin"
    default_sample_size = 1

    def __init__(self, opts: Mapping[str, Any] | None = None) -> None:
        super().__init__(opts)
        self.sample_size = 1

    def arrange(self, pool: list[int], state: CycleState) -> None:
        agents = state.agents
        pool.sort(key=lambda a: agents[a].id)

    def _cursors(self, state: CycleState) -> dict[str, str]:
        cursors: dict[str, str] | None = state.data.get(self.name)
        if cursors is None:
            cursors = dict(state.carry.get(self.name) or {})
            state.data[self.name] = cursors
        return cursors

    def start(self, pool_key: tuple[str, str], items: Sequence[int], state: CycleState) -> int:
        # the candidates are sorted by agent id: start at the first one after the cursor
        last = self._cursors(state).get("/".join(pool_key))
        if last is None:
            return 0
        agents = state.agents
        return bisect.bisect_right(items, last, key=lambda a: agents[a].id) % len(items)

    def reserve(self, reservation: Reservation, state: CycleState) -> Status:
        if reservation.agents:
            session = reservation.session
            agent = state.agents[reservation.agents[-1]]
            cursors = self._cursors(state)
            key = f"{session.resource_group}/{session.architecture}"
            undo: dict[object, str | None] = state.data.setdefault("roundrobin:undo", {})
            undo[session.id] = cursors.get(key)
            cursors[key] = agent.id
            state.next_state[self.name] = dict(cursors)
        return SUCCESS

    def unreserve(self, reservation: Reservation, state: CycleState) -> None:
        undo: dict[object, str | None] = state.data.get("roundrobin:undo", {})
        session = reservation.session
        if session.id not in undo:
            return
        previous = undo.pop(session.id)
        cursors = self._cursors(state)
        key = f"{session.resource_group}/{session.architecture}"
        if previous is None:
            cursors.pop(key, None)
        else:
            cursors[key] = previous
        state.next_state[self.name] = dict(cursors)
