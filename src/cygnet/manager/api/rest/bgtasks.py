"""``GET /events/background-task?task_id=``: a background task's progress as server-sent
events (wire notes 2.1): ``bgtask_updated`` while it runs, then one of ``bgtask_done``,
``bgtask_failed``, ``bgtask_cancelled``, then ``server_close`` and the end of the stream. The
last event is replayed to a subscriber that comes late."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from cygnet.common.errors import InvalidParameters
from cygnet.manager.api.auth import authenticated
from cygnet.manager.api.rest import session_wire as wire
from cygnet.manager.api.rest.session_streams import (
    SSE_PING_SECONDS,
    SSE_RETRY_SECONDS,
    _EventStream,
)
from cygnet.manager.entities import BackgroundTaskEvent

router = APIRouter(tags=["background tasks"])


def render_bgtask_event(event: BackgroundTaskEvent, *, retry: int | None = None) -> str:
    data: dict[str, Any] = {"task_id": str(event.task_id), "message": event.message}
    if event.name == "bgtask_updated":
        data["current_progress"] = event.current_progress
        data["total_progress"] = event.total_progress
    if event.errors:
        data["errors"] = event.errors
    head = f"retry: {retry}\n" if retry is not None else ""
    return f"{head}event: {event.name}\ndata: {json.dumps(data)}\n\n"


@router.get("/events/background-task", summary="A background task's progress (SSE)")
async def bgtask_events(request: Request) -> StreamingResponse:
    call = await authenticated(request)
    raw = wire.query_param(request.query_params, "task_id", "taskId")
    if raw is None:
        raise InvalidParameters("task_id is required.")
    task_id = wire.parse_uuid(raw, "task_id")
    subscription, last = call.services.bgtasks.subscribe(call.caller, task_id)

    async def messages() -> AsyncIterator[str]:
        retry: int | None = SSE_RETRY_SECONDS
        event = last
        while event is None or not event.final:
            if event is not None:
                yield render_bgtask_event(event, retry=retry)
                retry = None
            try:
                got = await subscription.get(SSE_PING_SECONDS)
            except TimeoutError:
                yield ": ping\n\n"
                event = None
                continue
            event = got if isinstance(got, BackgroundTaskEvent) and got.task_id == task_id else None
        yield render_bgtask_event(event, retry=retry)
        yield "event: server_close\ndata: {}\n\n"

    return _EventStream(messages(), subscription.close)
