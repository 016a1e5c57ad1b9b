"""``/manager/*``: the announcement banner."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from cygnet.manager.api.auth import authenticated, model_response, superadmin
from cygnet.manager.services.system import Announcement

router = APIRouter(prefix="/manager", tags=["manager"])


class AnnouncementModel(BaseModel):
    enabled: bool
    message: str


@router.get("/announcement", response_model=AnnouncementModel)
async def get_announcement(request: Request) -> Response:
    call = await authenticated(request)
    found = await call.services.system.announcement()
    return Response(_announcement_json(found), media_type="application/json")


@functools.lru_cache(maxsize=8)
def _announcement_json(found: Announcement) -> bytes:
    """Every client polls the same banner: serialise each version of it once."""
    return (
        AnnouncementModel(enabled=found.enabled, message=found.message).model_dump_json().encode()
    )


class AnnouncementUpdate(BaseModel):
    enabled: bool
    message: str = ""


@router.post("/announcement", response_model=AnnouncementModel)
async def set_announcement(request: Request, body: AnnouncementUpdate) -> Response:
    call = await superadmin(request)
    found = await call.services.system.set_announcement(call.caller, body.enabled, body.message)
    return model_response(AnnouncementModel(enabled=found.enabled, message=found.message))
