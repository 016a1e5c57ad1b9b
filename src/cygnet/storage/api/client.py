"""The client-facing API: uploads (tus 1.0 subset) and downloads, authorised only by the
signed token in the ``token`` query parameter (no auth headers; wire notes 2.2)."""

from __future__ import annotations

import asyncio
import os
import posixpath
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cygnet import __version__
from cygnet.common.errors import BadRequest, CygnetError
from cygnet.storage.api.errors import install_error_handlers, problem
from cygnet.storage.api.httpd import BODY_TO_FD, ZEROCOPY_SEND
from cygnet.storage.archive import ZipPlan, plan_entries, stream_zip
from cygnet.storage.downloads import (
    RangeNotSatisfiable,
    content_disposition,
    etag,
    file_chunks,
    if_range_matches,
    last_modified,
    parse_range,
)
from cygnet.storage.errors import FileNotFoundInFolder
from cygnet.storage.paths import open_regular
from cygnet.storage.service import StorageService
from cygnet.storage.tokens import TokenClaims

TUS_VERSION = "1.0.0"
TUS_HEADERS = {
    "Tus-Resumable": TUS_VERSION,
    "Tus-Version": TUS_VERSION,
    "Tus-Extension": "termination",
    "Cache-Control": "no-store",
}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

Token = Annotated[str | None, Query()]


def _service(request: Request) -> StorageService:
    service: StorageService = request.app.state.service
    return service


def _tus_errors(request: Request) -> None:
    request.state.problem_headers = {"Tus-Resumable": TUS_VERSION}


def _header_int(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a non-negative integer, not {value!r}") from None
    if number < 0:
        raise BadRequest(f"{name} must be a non-negative integer")
    return number


def create_client_app(service: StorageService) -> FastAPI:
    app = FastAPI(
        title="Cygnet storage proxy (client-facing)",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    install_error_handlers(app)

    @app.options("/upload")
    async def upload_options() -> Response:
        return Response(status_code=204, headers=TUS_HEADERS)

    @app.head("/upload")
    async def upload_head(request: Request, token: Token = None) -> Response:
        _tus_errors(request)
        claims = service.signer.verify(token, "upload")
        offset = await service.uploads.offset(claims)
        headers = dict(TUS_HEADERS)
        headers["Upload-Offset"] = str(offset)
        headers["Upload-Length"] = str(claims.size or 0)
        return Response(status_code=200, headers=headers)

    @app.patch("/upload")
    async def upload_patch(
        request: Request, token: Token = None, dst_dir: Annotated[str | None, Query()] = None
    ) -> Response:
        _tus_errors(request)
        claims = service.signer.verify(token, "upload")
        content_type = request.headers.get("content-type")
        if content_type is not None and content_type.split(";")[0].strip() != (OFFSET_CONTENT_TYPE):
            raise UnsupportedMediaType(f"Content-Type must be {OFFSET_CONTENT_TYPE}")
        offset = _header_int(request, "upload-offset")
        if offset is None:
            raise BadRequest("the Upload-Offset header is required")
        length = _header_int(request, "content-length")
        direct = (request.scope.get("extensions") or {}).get(BODY_TO_FD)
        new = await service.uploads.patch(
            claims,
            offset,
            length,
            request.stream(),
            dst_dir,
            body_to_fd=direct["receive"] if direct else None,
        )
        headers = {"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(new)}
        return Response(status_code=204, headers=headers)

    @app.delete("/upload")
    async def upload_delete(request: Request, token: Token = None) -> Response:
        _tus_errors(request)
        claims = service.signer.verify(token, "upload")
        await service.uploads.cancel(claims)
        return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})

    @app.get("/download")
    async def download(request: Request, token: Token = None) -> Response:
        claims = service.signer.verify(token, ("download", "archive"))
        if claims.op == "archive":
            return await _archive(service, claims)
        return await _download(service, claims, request)

    return app


class UnsupportedMediaType(CygnetError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type."
    error_code = "storage_upload_unsupported-media-type"


async def _download(service: StorageService, claims: TokenClaims, request: Request) -> Response:
    volume = service.volume(claims.volume)

    def open_file() -> tuple[int, os.stat_result]:
        with volume.folder_fd(claims.folder) as root:
            fd = open_regular(root, claims.relpath)
        return fd, os.fstat(fd)

    fd, st = await asyncio.to_thread(open_file)
    try:
        size = st.st_size
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": content_disposition(posixpath.basename(claims.relpath)),
            "Last-Modified": last_modified(st.st_mtime),
            "ETag": etag(st),
            "Accept-Ranges": "bytes",
        }
        status, start, length = 200, 0, size
        if if_range_matches(request.headers.get("if-range"), st):
            try:
                wanted = parse_range(request.headers.get("range"), size)
            except RangeNotSatisfiable:
                os.close(fd)
                headers["Content-Range"] = f"bytes */{size}"
                return problem(_RangeError(f"the file has {size} bytes"), headers)
            if wanted is not None:
                status, (start, length) = 206, wanted
                headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        headers["Content-Length"] = str(length)
    except BaseException:
        os.close(fd)
        raise
    return _FileRange(fd, start, length, status, headers)


class _FileRange(Response):
    """``length`` bytes of ``fd`` from ``start`` (``fd`` is closed when done): with
    ``sendfile`` where the server offers ``http.response.zerocopysend``, else read in chunks."""

    def __init__(
        self, fd: int, start: int, length: int, status_code: int, headers: dict[str, str]
    ) -> None:
        self.fd, self.start, self.length = fd, start, length
        self.status_code = status_code
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        if ZEROCOPY_SEND not in (scope.get("extensions") or {}):
            try:
                await send({**start, "headers": self.raw_headers})
            except BaseException:
                os.close(self.fd)
                raise
            chunks = file_chunks(self.fd, self.start, self.length)  # closes fd
            try:
                async for data in chunks:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                await chunks.aclose()
            return
        try:
            await send({**start, "headers": self.raw_headers})
            await send(
                {
                    "type": ZEROCOPY_SEND,
                    "file": _Descriptor(self.fd),
                    "offset": self.start,
                    "count": self.length,
                    "more_body": False,
                }
            )
        finally:
            os.close(self.fd)


class _Descriptor:
    """What ``http.response.zerocopysend`` wants: an object with ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


class _RangeError(CygnetError):
    status = 416
    slug = "range-not-satisfiable"
    title = "The requested range lies beyond the end of the file."
    error_code = "storage_download_range-not-satisfiable"


async def _archive(service: StorageService, claims: TokenClaims) -> Response:
    volume = service.volume(claims.volume)

    def plan() -> tuple[int, ZipPlan]:
        root = volume.open_folder(claims.folder)
        try:
            return root, ZipPlan(plan_entries(root, claims.paths or []))
        except BaseException:
            os.close(root)
            raise

    root, zplan = await asyncio.to_thread(plan)
    if not zplan.entries:
        os.close(root)
        raise FileNotFoundInFolder("nothing to archive")
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": content_disposition(claims.filename or "archive.zip"),
        "Content-Length": str(zplan.total_size),
    }
    return StreamingResponse(stream_zip(root, zplan), headers=headers)
