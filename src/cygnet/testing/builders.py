"""Builders that put rows straight into a test manager's store (for arranging a test quickly)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from cygnet.common.clock import RealClock
from cygnet.common.ids import new_access_key, new_secret_key
from cygnet.manager.services.passwords import hash_password
from cygnet.manager.store import models as m
from cygnet.testing.cluster import LocalManager


@dataclass(frozen=True, slots=True)
class SeededUser:
    uuid: uuid.UUID
    email: str
    password: str
    access_key: str
    secret_key: str


async def add_user(
    local: LocalManager,
    *,
    email: str | None = None,
    role: str = "user",
    status: str = "active",
    domain: str = "default",
    password: str = "test-password-1",
    allowed_client_ip: list[str] | None = None,
    rate_limit: int = 30_000,
    project: str | None = None,
) -> SeededUser:
    """A user with one active keypair, written directly to the store; with ``project``, a
    member of the domain's project of that name."""
    now = RealClock().now()
    user_id = uuid.uuid4()
    email = email or f"user-{user_id.hex[:8]}@example.com"
    access_key, secret_key = new_access_key(), new_secret_key()
    async with local.manager.db.transaction() as session:
        session.add(
            m.UserRow(
                uuid=user_id,
                username=email.split("@")[0] + "-" + user_id.hex[:4],
                email=email,
                password=hash_password(password),
                need_password_change=False,
                status=status,
                created_at=now,
                modified_at=now,
                domain_name=domain,
                role=role,
                allowed_client_ip=allowed_client_ip,
                resource_policy="default",
                main_access_key=access_key,
            )
        )
        await session.flush()
        session.add(
            m.KeyPairRow(
                access_key=access_key,
                secret_key=secret_key,
                user_id=email,
                user=user_id,
                is_active=True,
                is_admin=role in ("admin", "superadmin"),
                created_at=now,
                modified_at=now,
                rate_limit=rate_limit,
                num_queries=0,
                resource_policy="default",
            )
        )
        if project is not None:
            found = await session.scalar(
                select(m.ProjectRow.id).where(
                    m.ProjectRow.name == project, m.ProjectRow.domain_name == domain
                )
            )
            assert found is not None, f"no project {project!r} in domain {domain!r}"
            session.add(m.ProjectMemberRow(group_id=found, user_id=user_id))
    local.manager.services.auth.invalidate()
    return SeededUser(user_id, email, password, access_key, secret_key)
