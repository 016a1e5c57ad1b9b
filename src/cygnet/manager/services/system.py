"""Cluster-wide settings kept in the store: the announcement banner."""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.common.clock import Clock
from cygnet.common.errors import InsufficientPrivilege
from cygnet.manager.entities import Caller
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import system as repo

ANNOUNCEMENT_KEY = "announcement"


@dataclass(frozen=True, slots=True)
class Announcement:
    enabled: bool
    message: str


class SystemService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def announcement(self) -> Announcement:
        async with self._db.read() as session:
            value = await repo.get_value(session, ANNOUNCEMENT_KEY)
        if not isinstance(value, dict):
            return Announcement(enabled=False, message="")
        return Announcement(
            enabled=bool(value.get("enabled")), message=str(value.get("message", ""))
        )

    async def set_announcement(self, caller: Caller, enabled: bool, message: str) -> Announcement:
        if not caller.is_superadmin:
            raise InsufficientPrivilege("Only superadmins can change the announcement.")
        async with self._db.transaction() as session:
            await repo.set_value(
                session,
                ANNOUNCEMENT_KEY,
                {"enabled": enabled, "message": message},
                self._clock.now(),
            )
        return Announcement(enabled=enabled, message=message)
