"""``/admin/scheduler``: the health of the manager's scheduling loops, and a manual pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RESTSession(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any: ...


class Scheduler:
    def __init__(self, session: RESTSession) -> None:
        self._s = session

    async def status(self) -> dict[str, Any]:
        """``GET /admin/scheduler/status``: ``loops`` (schedule, start, terminate, sweep: when
        each last ran, how long, what it did, runs and failures), ``sessions`` by status."""
        answer = await self._s.request("GET", "/admin/scheduler/status")
        return dict(answer) if isinstance(answer, dict) else {}

    async def trigger(self) -> dict[str, Any]:
        """``POST /admin/scheduler/trigger``: run a scheduling pass now; what it did."""
        answer = await self._s.request("POST", "/admin/scheduler/trigger")
        return dict(answer) if isinstance(answer, dict) else {}
