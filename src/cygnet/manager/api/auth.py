"""Route-level authentication. A route states what it needs in its first line:
``call = await authenticated(request)`` (any signed-in keypair) or ``await superadmin(request)``.

They are plain awaits rather than FastAPI dependencies: this is the hottest path of the API,
and a dependency costs more than the whole signature check (see benchmarks/api_auth.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response, WebSocket
from pydantic import BaseModel
from starlette.types import Scope

from cygnet.common.errors import MalformedBody
from cygnet.manager.entities import Caller
from cygnet.manager.services.auth import SignedRequest
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.services.container import Services


def _signed_request(scope: Scope) -> SignedRequest:
    """What the signature covers, read straight from the ASGI scope (on every signed request)."""
    headers: dict[bytes, bytes] = dict(scope["headers"])

    def header(name: bytes) -> str | None:
        value = headers.get(name)
        return None if value is None else value.decode("latin-1")

    rel_url = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if scope.get("query_string"):
        rel_url += "?" + scope["query_string"].decode("latin-1")
    content_type = header(b"content-type")
    mime = (
        content_type.split(";", 1)[0].strip().lower()
        if content_type
        else "application/octet-stream"
    )
    version, version_header = header(b"x-backendai-version"), "x-backendai-version"
    if version is None and b"x-sorna-version" in headers:
        version, version_header = header(b"x-sorna-version"), "x-sorna-version"
    date = header(b"date") or header(b"x-backendai-date") or header(b"x-sorna-date")
    client = scope.get("client")
    return SignedRequest(
        method=scope["method"],
        rel_url=rel_url,
        host=header(b"host") or "",
        content_type=mime,
        date=date,
        version=version,
        version_header=version_header,
        authorization=header(b"authorization"),
        client_ip=client[0] if client else None,
    )


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated request: who calls, and the services to serve it with."""

    caller: Caller
    services: Services


async def authenticated(request: Request) -> Call:
    """Verify the request's signature and keypair; answer who calls (or raise 4xx)."""
    services: Services = request.app.state.services
    caller, rate = await services.auth.authenticate(_signed_request(request.scope))
    request.scope["state"]["rate_limit"] = rate  # RateLimitHeaders adds them to the response
    return Call(caller, services)


async def authenticated_websocket(websocket: WebSocket) -> Call:
    """As ``authenticated``, for a WebSocket upgrade (a signed GET)."""
    services: Services = websocket.app.state.services
    caller, _rate = await services.auth.authenticate(
        _signed_request({**websocket.scope, "method": "GET"})
    )
    return Call(caller, services)


async def superadmin(request: Request) -> Call:
    """As ``authenticated``, and the caller must be a superadmin (else 403)."""
    call = await authenticated(request)
    require_superadmin(call.caller)
    return call


def services_of(request: Request) -> Services:
    """The services, for the few routes that need no authentication."""
    services: Services = request.app.state.services
    return services


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
