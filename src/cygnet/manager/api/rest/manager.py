"""``/manager/*``: the announcement banner."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cygnet.manager.api.auth import Authenticated, ServicesDep, SuperAdmin

router = APIRouter(prefix="/manager", tags=["manager"])


class AnnouncementModel(BaseModel):
    enabled: bool
    message: str


@router.get("/announcement", response_model=AnnouncementModel)
async def get_announcement(_caller: Authenticated, services: ServicesDep) -> AnnouncementModel:
    found = await services.system.announcement()
    return AnnouncementModel(enabled=found.enabled, message=found.message)


class AnnouncementUpdate(BaseModel):
    enabled: bool
    message: str = ""


@router.post("/announcement", response_model=AnnouncementModel)
async def set_announcement(
    body: AnnouncementUpdate, caller: SuperAdmin, services: ServicesDep
) -> AnnouncementModel:
    found = await services.system.set_announcement(caller, body.enabled, body.message)
    return AnnouncementModel(enabled=found.enabled, message=found.message)
