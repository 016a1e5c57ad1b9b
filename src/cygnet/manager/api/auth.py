"""Route-level authentication: declare ``caller: Authenticated`` (or ``SuperAdmin``) on a route."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from cygnet.common.errors import MalformedBody
from cygnet.manager.entities import Caller
from cygnet.manager.services.auth import SignedRequest
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.services.container import Services


async def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _signed_request(request: Request) -> SignedRequest:
    headers = request.headers
    scope = request.scope
    rel_url = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    if scope.get("query_string"):
        rel_url += "?" + scope["query_string"].decode("latin-1")
    content_type = headers.get("content-type")
    mime = (
        content_type.split(";", 1)[0].strip().lower()
        if content_type
        else "application/octet-stream"
    )
    version = headers.get("x-backendai-version")
    version_header = "x-backendai-version"
    if version is None and "x-sorna-version" in headers:
        version, version_header = headers["x-sorna-version"], "x-sorna-version"
    date = headers.get("date") or headers.get("x-backendai-date") or headers.get("x-sorna-date")
    client = request.client
    return SignedRequest(
        method=request.method,
        rel_url=rel_url,
        host=headers.get("host", ""),
        content_type=mime,
        date=date,
        version=version,
        version_header=version_header,
        authorization=headers.get("authorization"),
        client_ip=client.host if client else None,
    )


async def authenticated(request: Request) -> Caller:
    services: Services = request.app.state.services
    caller, rate = await services.auth.authenticate(_signed_request(request))
    request.state.rate_limit = rate  # RateLimitHeaders adds the headers to the response
    return caller


async def superadmin(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    require_superadmin(caller)
    return caller


Authenticated = Annotated[Caller, Depends(authenticated)]
SuperAdmin = Annotated[Caller, Depends(superadmin)]
ServicesDep = Annotated[Services, Depends(services_of)]


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a pydantic model straight to JSON (declare it as the route's response_model
    for the OpenAPI document; this skips FastAPI's second validation pass)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON object in the body (also on GET and DELETE); empty -> {} unless required."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise MalformedBody("The request body is empty; a JSON object is required.")
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedBody("The request body must be a JSON object.")
    return value
