"""``POST /rpc/agent``: agents register, heartbeat and push events here (RPC signed with the
shared agent secret, not with user keypairs)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cygnet.common.transport import serve_http
from cygnet.manager.agents.registry import MANAGER_REQUEST
from cygnet.manager.api.auth import services_of

PATH = "/rpc/agent"

router = APIRouter(tags=["internal"], include_in_schema=False)


@router.post(PATH)
async def agent_rpc(request: Request) -> Response:
    registry = services_of(request).agents
    status, body = await serve_http(
        MANAGER_REQUEST,
        registry.handle,
        registry.settings.secret,
        PATH,
        request.headers,
        await request.body(),
    )
    return Response(body, status_code=status, media_type="application/json")
