"""First-start seed: the default domain, project, resource group, policies and the superadmin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager.store import models as m

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class AdminSeed:
    email: str
    username: str
    password_hash: str
    access_key: str
    secret_key: str


async def is_seeded(session: AsyncSession) -> bool:
    return (await session.execute(select(m.DomainRow.name).limit(1))).first() is not None


async def seed_defaults(session: AsyncSession, admin: AdminSeed, now: datetime) -> None:
    session.add_all(
        [
            m.DomainRow(
                name=DEFAULT,
                description="The default domain",
                is_active=True,
                created_at=now,
                modified_at=now,
                total_resource_slots={},
                allowed_vfolder_hosts={},
                allowed_docker_registries=[],
            ),
            m.KeyPairResourcePolicyRow(
                name=DEFAULT,
                created_at=now,
                default_for_unspecified="UNLIMITED",
                total_resource_slots={},
                max_session_lifetime=0,
                max_concurrent_sessions=30,
                max_concurrent_sftp_sessions=10,
                max_containers_per_session=1,
                idle_timeout=3600,
                allowed_vfolder_hosts={},
            ),
            m.UserResourcePolicyRow(
                name=DEFAULT,
                created_at=now,
                max_vfolder_count=0,
                max_quota_scope_size=-1,
                max_session_count_per_model_session=10,
                max_customized_image_count=3,
            ),
            m.ProjectResourcePolicyRow(
                name=DEFAULT,
                created_at=now,
                max_vfolder_count=0,
                max_quota_scope_size=-1,
                max_network_count=3,
            ),
            m.ResourceGroupRow(
                name=DEFAULT,
                description="The default resource group",
                is_active=True,
                is_public=True,
                created_at=now,
                driver="static",
                driver_opts={},
                scheduler="fifo",
                scheduler_opts={},
                use_host_network=False,
            ),
        ]
    )
    await session.flush()
    project_id = uuid.uuid4()
    user_id = uuid.uuid4()
    session.add_all(
        [
            m.ProjectRow(
                id=project_id,
                name=DEFAULT,
                description="The default project",
                is_active=True,
                created_at=now,
                modified_at=now,
                domain_name=DEFAULT,
                total_resource_slots={},
                allowed_vfolder_hosts={},
                resource_policy=DEFAULT,
                type="general",
            ),
            m.ResourceGroupDomainRow(scaling_group=DEFAULT, domain=DEFAULT),
            m.UserRow(
                uuid=user_id,
                username=admin.username,
                email=admin.email,
                password=admin.password_hash,
                need_password_change=False,
                full_name="Cygnet Administrator",
                description="The superadmin created at first start",
                status="active",
                created_at=now,
                modified_at=now,
                domain_name=DEFAULT,
                role="superadmin",
                resource_policy=DEFAULT,
                main_access_key=admin.access_key,
            ),
        ]
    )
    await session.flush()
    session.add_all(
        [
            m.ResourceGroupProjectRow(scaling_group=DEFAULT, group=project_id),
            m.ProjectMemberRow(group_id=project_id, user_id=user_id),
            m.KeyPairRow(
                access_key=admin.access_key,
                secret_key=admin.secret_key,
                user_id=admin.email,
                user=user_id,
                is_active=True,
                is_admin=True,
                created_at=now,
                modified_at=now,
                rate_limit=1_000_000,
                num_queries=0,
                resource_policy=DEFAULT,
            ),
        ]
    )
    await session.flush()
