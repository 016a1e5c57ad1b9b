"""``POST /auth/authorize``: trade an email and password for the user's main keypair.

Unauthenticated by design (it is how a client gets its keys); the check lives in
``UserService.authorize``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from cygnet.common.errors import InvalidParameters
from cygnet.manager.api.auth import json_body, services_of

router = APIRouter(prefix="/auth", tags=["auth"])


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["keypair"] = "keypair"
    domain: str | None = None
    username: str
    password: str


class AuthorizeData(BaseModel):
    access_key: str
    secret_key: str
    role: str
    status: str
    user_id: str
    type: Literal["keypair"] = "keypair"
    response_type: Literal["success"] = "success"


class AuthorizeResponse(BaseModel):
    data: AuthorizeData


@router.post("/authorize", summary="Log in with email and password")
async def authorize(request: Request) -> AuthorizeResponse:
    services = services_of(request)
    body: dict[str, Any] = await json_body(request)
    try:
        params = AuthorizeRequest.model_validate(body)
    except ValidationError as exc:
        details = [{"loc": list(err["loc"]), "msg": err["msg"]} for err in exc.errors()]
        raise InvalidParameters(data=details) from exc
    client_ip = request.client.host if request.client else None
    found = await services.users.authorize(
        params.domain, params.username, params.password, client_ip
    )
    return AuthorizeResponse(
        data=AuthorizeData(
            access_key=found.access_key,
            secret_key=found.secret_key,
            role=found.role.value,
            status=found.status.value,
            user_id=str(found.user_id),
        )
    )
