"""Key/value cluster settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager.store import models as m


async def get_value(session: AsyncSession, key: str) -> Any:
    row = await session.get(m.SystemConfigRow, key)
    return None if row is None else row.value


async def set_value(session: AsyncSession, key: str, value: Any, now: datetime) -> None:
    row = await session.get(m.SystemConfigRow, key)
    if row is None:
        session.add(m.SystemConfigRow(key=key, value=value, modified_at=now))
    else:
        row.value = value
        row.modified_at = now
    await session.flush()
