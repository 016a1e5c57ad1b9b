"""Small helpers every service uses: authorisation checks, name validation, and write
transactions that drop cached identities."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import InsufficientPrivilege, InvalidAPIParameters
from cygnet.manager.entities import Caller
from cygnet.manager.store.db import Database

_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.\-]{0,63}$")


def require_superadmin(caller: Caller) -> None:
    if not caller.is_superadmin:
        raise InsufficientPrivilege("This operation needs superadmin privileges.")


def require_domain_admin(caller: Caller, domain_name: str) -> None:
    """Superadmins pass everywhere; admins only in their own domain."""
    if not caller.can_admin_domain(domain_name):
        raise InsufficientPrivilege("This operation needs admin privileges in the domain.")


def require_admin(caller: Caller) -> None:
    if not (caller.is_superadmin or caller.is_domain_admin):
        raise InsufficientPrivilege("This operation needs admin privileges.")


def check_name(value: str, what: str) -> str:
    """Names of domains, projects, policies, resource groups: 1-64 word characters, '.' or '-'."""
    if not _NAME_RE.match(value):
        raise InvalidAPIParameters(
            f"Invalid {what} name {value!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
    return value


@asynccontextmanager
async def identity_write(
    db: Database, invalidate: Callable[[], None] | None
) -> AsyncIterator[AsyncSession]:
    """``db.transaction()`` for a change to who may do what (policies, projects,
    resource-group links): cached identities are dropped once it ends (``invalidate``, the
    auth service's, which tells the other caches)."""
    try:
        async with db.transaction() as session:
            yield session
    finally:
        if invalidate is not None:
            invalidate()
