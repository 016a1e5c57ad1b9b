"""Generic row helpers the per-resource repositories share: get, insert, update, delete, page.

Integrity violations (duplicate keys, rows still referenced) become API errors here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import Conflict, InvalidAPIParameters
from cygnet.manager.store.models import Base
from cygnet.manager.store.querying import FieldSpec, filter_to_sql, parse_filter, parse_order

R = TypeVar("R", bound=Base)


async def get(session: AsyncSession, row_cls: type[R], key: Any) -> R | None:
    return await session.get(row_cls, key)


async def insert(session: AsyncSession, row: R, *, what: str) -> R:
    """Add ``row`` and flush; a duplicate key or name raises InvalidAPIParameters."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise InvalidAPIParameters(f"{what} already exists or refers to a missing object") from exc
    return row


async def update(session: AsyncSession, row: R, values: Mapping[str, Any], *, what: str) -> R:
    """Apply ``values`` to ``row`` and flush; integrity violations raise InvalidAPIParameters."""
    columns = set(inspect(type(row)).columns.keys())
    unknown = set(values) - columns
    if unknown:
        raise InvalidAPIParameters(f"unknown field(s) for {what}: {', '.join(sorted(unknown))}")
    try:
        async with session.begin_nested():
            for key, value in values.items():
                setattr(row, key, value)
            await session.flush()
    except IntegrityError as exc:
        raise InvalidAPIParameters(f"{what} conflicts with an existing object") from exc
    return row


async def delete_row(session: AsyncSession, row: Base, *, what: str) -> None:
    """Delete ``row``; if other rows still refer to it, raise Conflict and change nothing."""
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} is still in use and cannot be deleted") from exc


async def delete_where(session: AsyncSession, row_cls: type[Base], *conditions: Any) -> int:
    result = await session.execute(delete(row_cls).where(*conditions))
    return int(getattr(result, "rowcount", 0) or 0)


async def exists(session: AsyncSession, stmt: Select[Any]) -> bool:
    return (await session.execute(stmt.limit(1))).first() is not None


async def page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    fields: Mapping[str, FieldSpec],
    filter_text: str | None,
    order_text: str | None,
    default_order: Sequence[Any],
    limit: int | None,
    offset: int,
) -> tuple[list[Any], int]:
    """Rows of ``stmt`` narrowed by the filter mini-language, ordered, paginated, and the total."""
    if filter_text:
        stmt = stmt.where(filter_to_sql(parse_filter(filter_text), fields))
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    ordering = parse_order(order_text, fields) if order_text else list(default_order)
    stmt = stmt.order_by(*ordering).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = list((await session.execute(stmt)).scalars().all())
    return rows, int(total)
