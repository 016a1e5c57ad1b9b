"""Conventions shared by the resolver modules.

* Mutations answer ``{ok, msg}`` (plus ``error_code`` when ok is false, an addition the official
  client ignores): a ``CygnetError`` from a service becomes ``ok: false``; only an authorisation
  failure propagates as a GraphQL error (which the client turns into HTTP 400).
* Single-object queries (``domain(name:)``…) answer null when nothing is found.
* Inputs use ``strawberry.UNSET`` defaults; ``set_fields`` keeps only what the caller sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from cygnet.common.errors import CygnetError, Forbidden, InvalidAPIParameters, ObjectNotFound

T = TypeVar("T")


def set_fields(value: Any) -> dict[str, Any]:
    """The fields of a strawberry input the caller actually sent (UNSET ones dropped)."""
    return {
        key: item
        for key, item in vars(value).items()
        if item is not strawberry.UNSET and not key.startswith("_")
    }


async def attempt(
    action: Callable[[], Awaitable[T]],
    raising: tuple[type[CygnetError], ...] = (),
) -> tuple[bool, str, str | None, T | None]:
    """Run a service call for a mutation: (ok, msg, error_code, value). Denials, and the
    errors in ``raising``, stay errors."""
    kept: tuple[type[CygnetError], ...] = (Forbidden, *raising)
    try:
        value = await action()
    except kept:
        raise
    except CygnetError as exc:
        return False, str(exc), exc.error_code, None
    return True, "success", None, value


async def found_or_none(lookup: Awaitable[T]) -> T | None:
    """Single-object queries answer null for an object that does not exist (or that the caller
    may not see), as Backend.AI does, instead of an error."""
    try:
        return await lookup
    except ObjectNotFound:
        return None


def page_args(limit: int, offset: int) -> tuple[int, int]:
    """Clamp pagination as the official client expects (page size 1-100)."""
    if limit < 1 or limit > 100:
        raise InvalidAPIParameters("limit must be between 1 and 100")
    if offset < 0:
        raise InvalidAPIParameters("offset must not be negative")
    return limit, offset
