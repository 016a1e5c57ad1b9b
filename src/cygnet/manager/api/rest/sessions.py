"""``/session``: compute sessions (wire notes 2.1). Thin handlers: parse the wire format with
``session_wire``, call the session service, render its answer.

The streaming channels (WebSocket execute, SSE events) live in ``session_streams``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cygnet.common.errors import InvalidParameters
from cygnet.manager.api.auth import authenticated, json_body
from cygnet.manager.api.rest import session_wire as wire

router = APIRouter(prefix="/session", tags=["sessions"])

# Uploads are at most 20 parts under 1 MiB each; leave room for the multipart framing.
_MAX_UPLOAD_BODY = wire.MAX_UPLOAD_PARTS * wire.MAX_UPLOAD_PART_SIZE + (256 << 10)


def _owner(request: Request, body: dict[str, Any] | None = None) -> str | None:
    """``owner_access_key`` from the query string, else from the JSON body."""
    found = wire.query_param(request.query_params, "owner_access_key", "ownerAccessKey")
    if found is None and body:
        value = body.get("owner_access_key", body.get("ownerAccessKey"))
        if value is not None and not isinstance(value, str):
            raise InvalidParameters("owner_access_key must be a string.")
        found = value or None
    return found


def _flag(request: Request, body: dict[str, Any], key: str) -> bool:
    value = request.query_params.get(key, body.get(key))
    return False if value is None else wire.to_bool(value, key)


@router.post("", status_code=201, summary="Create a session (or reuse one of the same name)")
@router.post("/_/create", status_code=201, summary="Create a session (alias)")
async def create(request: Request) -> Response:
    call = await authenticated(request)
    spec = wire.parse_create(await json_body(request), request.query_params)
    created = await call.services.sessions.create(call.caller, spec)
    return JSONResponse(wire.render_create(created), status_code=201)


@router.get("/{ref}", summary="Session information")
async def info(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    found = await call.services.sessions.get(
        call.caller, ref, owner_access_key=_owner(request, body)
    )
    return JSONResponse(wire.render_info(found, datetime.now(UTC)))


@router.delete("/{ref}", summary="Terminate a session (cancel it while pending)")
async def destroy(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    status = await call.services.sessions.destroy(
        call.caller,
        ref,
        forced=_flag(request, body, "forced"),
        recursive=_flag(request, body, "recursive"),
        owner_access_key=_owner(request, body),
    )
    return JSONResponse({"stats": {"status": status} if status else {}})


@router.patch("/{ref}", status_code=204, summary="Restart a session's kernels")
async def restart(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    await call.services.sessions.restart(call.caller, ref, owner_access_key=_owner(request, body))
    return Response(status_code=204)


@router.post("/{ref}", summary="Execute code (one step; REST)")
async def execute(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    mode, code, run_id, options = wire.parse_execute(body)
    result = await call.services.sessions.execute(
        call.caller,
        ref,
        mode=mode,
        code=code,
        run_id=run_id,
        options=options,
        owner_access_key=_owner(request, body),
    )
    return JSONResponse(wire.render_execute(result))


@router.post("/{ref}/interrupt", status_code=204, summary="Interrupt the running code")
async def interrupt(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    await call.services.sessions.interrupt(call.caller, ref, owner_access_key=_owner(request))
    return Response(status_code=204)


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidParameters("The upload is too large (at most 20 files under 1 MiB each).")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidParameters("The upload is too large (at most 20 files under 1 MiB each).")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/{ref}/upload", status_code=204, summary="Upload small files (multipart)")
async def upload(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    raw = await _read_capped(request, _MAX_UPLOAD_BODY)
    files = wire.parse_upload(request.headers.get("content-type"), raw)
    await call.services.sessions.upload(call.caller, ref, files, owner_access_key=_owner(request))
    return Response(status_code=204)


@router.post("/{ref}/download", summary="Download files (multipart/mixed of tar archives)")
async def download(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    paths = wire.parse_download_paths(request.query_params.getlist("files"), body)
    archives = await call.services.sessions.download(
        call.caller, ref, paths, owner_access_key=_owner(request, body)
    )
    content, content_type = wire.render_multipart_mixed(data for _path, data in archives)
    return Response(content, media_type=content_type)


@router.post("/{ref}/download_single", summary="Download one file's raw bytes")
async def download_single(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    path = wire.query_param(request.query_params, "file")
    if path is None:
        value = body.get("file")
        if not isinstance(value, str) or not value:
            raise InvalidParameters("file: give the path of the file to download.")
        path = value
    archives = await call.services.sessions.download(
        call.caller, ref, [path], owner_access_key=_owner(request, body)
    )
    if not archives:
        raise InvalidParameters(f"{path} could not be downloaded.")
    content = wire.extract_single_file(archives[0][1], path)
    return Response(content, media_type="application/octet-stream")


@router.get("/{ref}/files", summary="List files in a directory of the session")
async def list_files(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    path = wire.parse_list_files_path(body, request.query_params)
    listing = await call.services.sessions.list_files(
        call.caller, ref, path, owner_access_key=_owner(request, body)
    )
    return JSONResponse(wire.render_files(listing))


@router.get("/{ref}/logs", summary="The main (or a given) kernel's container logs")
async def logs(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    raw_kernel = wire.query_param(request.query_params, "kernel_id", "kernelId")
    kernel_id: uuid.UUID | None = None
    if raw_kernel is not None:
        kernel_id = wire.parse_uuid(raw_kernel, "kernel_id")
    text = await call.services.sessions.logs(
        call.caller, ref, kernel_id=kernel_id, owner_access_key=_owner(request)
    )
    return JSONResponse({"result": {"logs": text}})


@router.post("/{ref}/rename", status_code=204, summary="Rename a session")
async def rename(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    body = await json_body(request, required=False)
    new_name = wire.parse_rename(request.query_params, body)
    await call.services.sessions.rename(
        call.caller, ref, new_name, owner_access_key=_owner(request, body)
    )
    return Response(status_code=204)


@router.get("/{ref}/scheduling", summary="Why the session is pending: the scheduler's latest try")
async def scheduling(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    info = await call.services.sessions.scheduling(
        call.caller, ref, owner_access_key=_owner(request)
    )
    return JSONResponse(info)


@router.get("/{ref}/dependency-graph", summary="The sessions this one depends on, recursively")
async def dependency_graph(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    graph = await call.services.sessions.dependency_graph(
        call.caller, ref, owner_access_key=_owner(request)
    )
    return JSONResponse(graph)


@router.get("/{ref}/status-history", summary="When the session reached each status")
async def status_history(request: Request, ref: str) -> Response:
    call = await authenticated(request)
    history = await call.services.sessions.status_history(
        call.caller, ref, owner_access_key=_owner(request)
    )
    return JSONResponse(wire.render_status_history(history))
