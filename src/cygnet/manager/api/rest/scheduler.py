"""``/admin/scheduler/*``: the health of this manager's scheduling loops, and a manual pass
(superadmins)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cygnet.manager.api.auth import authenticated

router = APIRouter(prefix="/admin/scheduler", tags=["scheduler"])


@router.get("/status", summary="When each reconcile loop last ran, and what it did")
async def status(request: Request) -> Response:
    call = await authenticated(request)
    return JSONResponse(await call.services.sessions.scheduler_status(call.caller))


@router.post("/trigger", summary="Run a scheduling pass now")
async def trigger(request: Request) -> Response:
    call = await authenticated(request)
    return JSONResponse(await call.services.sessions.trigger_scheduler(call.caller))
