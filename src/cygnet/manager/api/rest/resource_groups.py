"""``GET /scaling-groups?group=PROJECT``: the resource groups the caller may use in a project."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from cygnet.manager.api.auth import authenticated, model_response

router = APIRouter(prefix="/scaling-groups", tags=["resource groups"])


class AvailableGroup(BaseModel):
    name: str


class AvailableGroups(BaseModel):
    scaling_groups: list[AvailableGroup]


@router.get("", response_model=AvailableGroups, summary="Resource groups usable in a project")
async def list_available(
    request: Request,
    group: str = Query(description="The project's name (in your domain) or id."),
) -> Response:
    call = await authenticated(request)
    found = await call.services.resource_groups.list_available(call.caller, group)
    return model_response(
        AvailableGroups(scaling_groups=[AvailableGroup(name=g.name) for g in found])
    )
