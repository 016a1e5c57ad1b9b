"""Reads and writes on the request-authentication path: keypair + owner lookup, usage counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert


@dataclass(frozen=True, slots=True)
class Credentials:
    keypair: e.KeyPair
    user: e.User


async def get_credentials(session: AsyncSession, access_key: str) -> Credentials | None:
    stmt = (
        select(m.KeyPairRow, m.UserRow)
        .join(m.UserRow, m.UserRow.uuid == m.KeyPairRow.user)
        .where(m.KeyPairRow.access_key == access_key)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    keypair_row, user_row = row
    return Credentials(keypair=convert.keypair(keypair_row), user=convert.user(user_row))


async def record_usage(session: AsyncSession, usage: Mapping[str, tuple[int, datetime]]) -> None:
    """Add request counts and set ``last_used`` for several keypairs at once."""
    for access_key, (count, last_used) in usage.items():
        await session.execute(
            update(m.KeyPairRow)
            .where(m.KeyPairRow.access_key == access_key)
            .values(num_queries=m.KeyPairRow.num_queries + count, last_used=last_used)
        )
