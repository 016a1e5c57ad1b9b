"""``/manager/*``: the announcement banner."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from cygnet.manager.api.auth import Authenticated, ServicesDep, SuperAdmin, model_response

router = APIRouter(prefix="/manager", tags=["manager"])


class AnnouncementModel(BaseModel):
    enabled: bool
    message: str


@router.get("/announcement", response_model=AnnouncementModel)
async def get_announcement(_caller: Authenticated, services: ServicesDep) -> Response:
    found = await services.system.announcement()
    return model_response(AnnouncementModel(enabled=found.enabled, message=found.message))


class AnnouncementUpdate(BaseModel):
    enabled: bool
    message: str = ""


@router.post("/announcement", response_model=AnnouncementModel)
async def set_announcement(
    body: AnnouncementUpdate, caller: SuperAdmin, services: ServicesDep
) -> Response:
    found = await services.system.set_announcement(caller, body.enabled, body.message)
    return model_response(AnnouncementModel(enabled=found.enabled, message=found.message))
