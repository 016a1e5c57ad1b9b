"""Images: what the live agents report having (read from their rows; nothing is written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.lifecycle import AgentStatus
from cygnet.manager.store import models as m


@dataclass(frozen=True, slots=True)
class AgentImages:
    """One ALIVE agent and the images (``ImageInfo`` dicts) it reported when it registered."""

    agent_id: str
    architecture: str
    resource_group: str
    images: tuple[dict[str, Any], ...]


async def alive_agent_images(
    session: AsyncSession, *, resource_group: str | None = None
) -> list[AgentImages]:
    """The images of every ALIVE agent (of ``resource_group`` when given), by agent id."""
    stmt = (
        select(m.AgentRow.id, m.AgentRow.architecture, m.AgentRow.scaling_group, m.AgentRow.images)
        .where(m.AgentRow.status == AgentStatus.ALIVE)
        .order_by(m.AgentRow.id)
    )
    if resource_group is not None:
        stmt = stmt.where(m.AgentRow.scaling_group == resource_group)
    return [
        AgentImages(
            agent_id=agent_id,
            architecture=architecture,
            resource_group=group,
            images=tuple(dict(image) for image in images or () if isinstance(image, dict)),
        )
        for agent_id, architecture, group, images in (await session.execute(stmt)).all()
    ]
