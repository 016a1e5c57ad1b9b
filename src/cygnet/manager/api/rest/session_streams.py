"""The compute sessions' streaming channels (wire notes 1.7 and 2.1):

* ``GET /stream/session/{ref}/execute`` — a WebSocket run loop (what ``backend.ai run`` uses);
* ``GET /events/session`` — the session and kernel lifecycle events, as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from cygnet.common.errors import CygnetError, InvalidParameters
from cygnet.common.logging import get_logger
from cygnet.common.rpc import ExecutionResult
from cygnet.manager.api.auth import Call, authenticated, authenticated_websocket
from cygnet.manager.api.errors import PROBLEM_JSON
from cygnet.manager.api.rest import session_wire as wire
from cygnet.manager.entities import SessionEvent

log = get_logger(__name__)
router = APIRouter(tags=["sessions"])

# WebSocket execute: keep accumulating a run's output while it keeps coming back "continued"
# and send an intermediate frame only once this much wall time has passed since the last
# frame, so a short program's whole run goes out as a single "finished" frame.
WS_FLUSH_SECONDS = 1.0
_WS_FINAL = frozenset({"finished", "exec-timeout"})
_WS_POLICY_VIOLATION = 1008

SSE_RETRY_SECONDS = 5  # the official client sleeps this many *seconds* before reconnecting
SSE_PING_SECONDS = 15.0
_SCOPES = frozenset({"session", "kernel"})


# ---------------------------------------------------------------------------------------------
# WebSocket execute


async def _authenticate_ws(websocket: WebSocket) -> Call | None:
    """Check the signed upgrade request (a GET); refuse the handshake on failure."""
    try:
        return await authenticated_websocket(websocket)
    except CygnetError as exc:
        await _deny(websocket, exc)
        return None


async def _deny(websocket: WebSocket, error: CygnetError) -> None:
    """Answer the handshake with the problem+json error (HTTP status kept) where the server
    supports WebSocket denial responses; otherwise close before accepting (HTTP 403)."""
    response = JSONResponse(error.body(), status_code=error.status, media_type=PROBLEM_JSON)
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:
        await websocket.close(code=_WS_POLICY_VIOLATION, reason=error.title[:120])


def _error_frame(error: Exception) -> dict[str, Any]:
    if isinstance(error, CygnetError):
        return {"status": "error", "msg": error.msg or error.title}
    return {"status": "error", "msg": "Internal error while executing the code."}


@router.websocket("/stream/session/{ref}/execute")
async def stream_execute(websocket: WebSocket, ref: str) -> None:
    call = await _authenticate_ws(websocket)
    if call is None:
        return
    owner = wire.query_param(websocket.query_params, "owner_access_key", "ownerAccessKey")
    service = call.services.sessions
    try:
        await service.get(call.caller, ref, owner_access_key=owner)
    except CygnetError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    try:
        mode, code, options = wire.parse_ws_execute(await websocket.receive_text())

        async def step(mode: str, code: str, run_id: str | None) -> ExecutionResult:
            result: ExecutionResult = await service.execute(
                call.caller,
                ref,
                mode=mode,
                code=code,
                run_id=run_id,
                options=options if mode in ("query", "batch") else {},
                owner_access_key=owner,
            )
            return result

        await _run_loop(websocket, step, mode, code)
    except WebSocketDisconnect:
        return
    except Exception as exc:
        if not isinstance(exc, CygnetError):
            log.exception("stream execute on %s failed", ref)
        try:
            await websocket.send_json(_error_frame(exc))
        except (WebSocketDisconnect, RuntimeError):
            return
    try:
        await websocket.close()
    except RuntimeError:
        pass  # the client closed first


async def _run_loop(
    websocket: WebSocket,
    step: Callable[[str, str, str | None], Any],
    mode: str,
    code: str,
) -> None:
    """Drive one run: call ``step`` again while it answers "continued", relay input on
    "waiting-input", and send accumulated output as few frames as possible."""
    loop = asyncio.get_running_loop()
    console: list[Any] = []
    last_sent = loop.time()
    result: ExecutionResult = await step(mode, code, None)
    while True:
        console.extend(result.console)
        status = result.status
        if status in _WS_FINAL:
            await websocket.send_json(
                wire.render_ws_frame(
                    status,
                    console,
                    exit_code=result.exit_code,
                    options=result.options,
                    files=result.files,
                )
            )
            return
        if status == "waiting-input":
            await websocket.send_json(
                wire.render_ws_frame(status, console, options=result.options, files=result.files)
            )
            console = []
            line = await websocket.receive_text()
            result = await step("input", line, result.run_id)
            last_sent = loop.time()
            continue
        if status != "continued" or (console and loop.time() - last_sent >= WS_FLUSH_SECONDS):
            # build-finished / clean-finished are worth a frame of their own (batch mode).
            await websocket.send_json(wire.render_ws_frame(status, console, files=result.files))
            console = []
            last_sent = loop.time()
        result = await step("continue", "", result.run_id)


# ---------------------------------------------------------------------------------------------
# Session events (SSE)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a ``GET /events/session`` subscriber wants (wire notes 2.1, 6 rows 8-9).

    Matching is lazy (by id, or by name and owner access key), so a subscriber may connect
    before the session exists; an unknown name is never an error."""

    session_name: str = "*"
    session_id: uuid.UUID | None = None
    owner_access_key: str | None = None  # None: any owner (visibility still applies)
    group: str = "*"
    scopes: frozenset[str] = _SCOPES

    @classmethod
    def from_query(cls, query: Mapping[str, Any], caller_access_key: str) -> EventFilter:
        name = wire.query_param(query, "sessionName", "session_name", "name") or "*"
        raw_id = wire.query_param(query, "sessionId", "session_id")
        owner = wire.query_param(query, "ownerAccessKey", "owner_access_key")
        scope_text = (wire.query_param(query, "scope") or "*").strip()
        if scope_text == "*":
            scopes = _SCOPES
        else:
            scopes = frozenset(s.strip().lower() for s in scope_text.split(",") if s.strip())
            if not scopes or not scopes <= _SCOPES:
                raise InvalidParameters(
                    f'scope: expected "*" or a comma list of session, kernel; got {scope_text!r}'
                )
        if owner is None and name != "*":
            owner = caller_access_key  # names are per owner: the caller's own by default
        return cls(
            session_name=name,
            session_id=None if raw_id is None else wire.parse_uuid(raw_id, "sessionId"),
            owner_access_key=owner,
            group=wire.query_param(query, "groupName", "group_name") or "*",
            scopes=scopes,
        )

    def matches(self, event: SessionEvent) -> bool:
        """Whether the event is one this subscriber asked for (visibility is checked apart)."""
        if event.scope not in self.scopes:
            return False
        if self.session_id is not None:
            return event.session_id == self.session_id
        if self.owner_access_key is not None and event.access_key != self.owner_access_key:
            return False
        # Events carry the project id; a project name is accepted and not filtered on.
        group_id = _as_uuid(self.group)
        if group_id is not None and group_id != event.project_id:
            return False
        name_id = _as_uuid(self.session_name)
        return self.session_name in ("*", event.session_name) or name_id == event.session_id


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def render_sse_event(event: SessionEvent, *, retry: int | None = None) -> str:
    """One SSE message: ``event: <name>`` and a one-line JSON ``data:`` (wire notes 2.1)."""
    data: dict[str, Any] = {
        "reason": event.reason or "",
        "sessionName": event.session_name,
        "ownerAccessKey": event.access_key,
        "sessionId": str(event.session_id),
        "exitCode": event.exit_code,
    }
    if event.kernel_id is not None:
        data["kernelId"] = str(event.kernel_id)
        data["clusterRole"] = event.cluster_role
        data["clusterIdx"] = event.cluster_idx
    head = f"retry: {retry}\n" if retry is not None else ""
    return f"{head}event: {event.name}\ndata: {json.dumps(data)}\n\n"


class _EventStream(StreamingResponse):
    """A never-ending SSE response that watches for the client's disconnect whatever the
    server's ASGI version, and always runs ``on_close`` (closing the subscription)."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._content = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client went away mid-write
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            self._on_close()
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


@router.get("/events/session", summary="Session and kernel lifecycle events (SSE)")
async def session_events(request: Request) -> StreamingResponse:
    call = await authenticated(request)
    wanted = EventFilter.from_query(request.query_params, call.caller.access_key)
    service = call.services.sessions
    subscription = service.subscribe()  # before answering, so nothing after this is missed

    async def messages() -> AsyncIterator[str]:
        retry: int | None = SSE_RETRY_SECONDS
        while True:
            try:
                event = await subscription.get(SSE_PING_SECONDS)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if not isinstance(event, SessionEvent) or not wanted.matches(event):
                continue
            if not service.may_see(call.caller, event):
                continue
            # The first message carries the reconnection delay (a bare "retry:" block would
            # reach the client as an event with empty data).
            yield render_sse_event(event, retry=retry)
            retry = None

    return _EventStream(messages(), subscription.close)
