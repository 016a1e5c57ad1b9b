"""Cluster-wide settings kept in the store: the announcement banner."""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.common.clock import Clock
from cygnet.manager.entities import Caller
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import system as repo

ANNOUNCEMENT_KEY = "announcement"


@dataclass(frozen=True, slots=True)
class Announcement:
    enabled: bool
    message: str


class SystemService:
    """Reads are served from memory for ``cache_seconds``: another manager's change shows up
    within that time, this manager's own change at once."""

    def __init__(self, db: Database, clock: Clock, cache_seconds: float = 5.0) -> None:
        self._db = db
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cached: tuple[Announcement, float] | None = None

    def _remember(self, found: Announcement) -> Announcement:
        self._cached = (found, self._clock.monotonic() + self._cache_seconds)
        return found

    async def announcement(self) -> Announcement:
        if self._cached is not None and self._cached[1] > self._clock.monotonic():
            return self._cached[0]
        async with self._db.read() as session:
            value = await repo.get_value(session, ANNOUNCEMENT_KEY)
        if not isinstance(value, dict):
            return self._remember(Announcement(enabled=False, message=""))
        return self._remember(
            Announcement(enabled=bool(value.get("enabled")), message=str(value.get("message", "")))
        )

    async def set_announcement(self, caller: Caller, enabled: bool, message: str) -> Announcement:
        require_superadmin(caller)
        async with self._db.transaction() as session:
            await repo.set_value(
                session,
                ANNOUNCEMENT_KEY,
                {"enabled": enabled, "message": message},
                self._clock.now(),
            )
        return self._remember(Announcement(enabled=enabled, message=message))
