"""The manager-facing API: JSON over HTTP, every request carrying the shared secret in
``X-Cygnet-Storage-Secret`` (401 otherwise). See ``docs/storage.md`` for the reference."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from cygnet import __version__
from cygnet.common.errors import CygnetError, InternalError
from cygnet.common.logging import get_logger
from cygnet.storage import fileops
from cygnet.storage.api.errors import install_error_handlers
from cygnet.storage.archive import plan_entries
from cygnet.storage.errors import FolderQuotaExceeded, InvalidPath, StorageAuthFailed
from cygnet.storage.paths import open_regular, split_path
from cygnet.storage.service import StorageService
from cygnet.storage.tokens import TokenClaims
from cygnet.storage.volumes.base import Volume, folder_hex

log = get_logger(__name__)
SECRET_HEADER = "X-Cygnet-Storage-Secret"
PROGRESS_INTERVAL = 0.5


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateFolder(_Body):
    folder_id: uuid.UUID
    quota_bytes: int | None = Field(default=None, ge=0)


class SetQuota(_Body):
    quota_bytes: int | None = Field(default=None, ge=0)


class CloneFolder(_Body):
    target_folder_id: uuid.UUID
    target_volume: str | None = None
    quota_bytes: int | None = Field(default=None, ge=0)


class Mkdir(_Body):
    path: str | list[str]
    parents: bool = False
    exist_ok: bool = False


class RenameFile(_Body):
    path: str
    new_name: str


class MoveFile(_Body):
    src: str
    dst: str


class DeleteFiles(_Body):
    paths: list[str] = Field(min_length=1)
    recursive: bool = False


class UploadToken(_Body):
    path: str
    size: int = Field(ge=0)


class DownloadToken(_Body):
    path: str


class ArchiveToken(_Body):
    paths: list[str] = Field(min_length=1)
    filename: str | None = Field(default=None, max_length=255)


def _service(request: Request) -> StorageService:
    service: StorageService = request.app.state.service
    return service


def check_secret(request: Request) -> None:
    given = request.headers.get(SECRET_HEADER, "")
    expected = _service(request).secret
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise StorageAuthFailed(f"missing or wrong {SECRET_HEADER} header")


Service = Annotated[StorageService, Depends(_service)]
router = APIRouter(dependencies=[Depends(check_secret)])
FOLDER = "/volumes/{volume}/folders/{folder_id}"


def _folder(service: StorageService, volume: str, folder_id: str) -> tuple[Volume, str]:
    return service.volume(volume), str(uuid.UUID(folder_hex(folder_id)))


@router.get("/")
async def hello() -> dict[str, Any]:
    return {"service": "cygnet-storage", "version": __version__}


@router.get("/volumes")
async def list_volumes(service: Service) -> dict[str, Any]:
    items = await asyncio.to_thread(lambda: [v.describe() for v in service.volumes.values()])
    return {"volumes": items}


@router.get("/volumes/{volume}")
async def get_volume(service: Service, volume: str) -> dict[str, Any]:
    return await asyncio.to_thread(service.volume(volume).describe)


@router.post("/volumes/{volume}/folders", status_code=201)
async def create_folder(service: Service, volume: str, body: CreateFolder) -> dict[str, Any]:
    vol = service.volume(volume)
    fid = str(body.folder_id)
    await asyncio.to_thread(vol.create_folder, fid, body.quota_bytes)
    return {
        "volume": volume,
        "folder_id": fid,
        "mount_path": str(vol.mount_path(fid)),
        "quota_bytes": body.quota_bytes,
    }


@router.delete(FOLDER, status_code=204)
async def delete_folder(service: Service, volume: str, folder_id: str) -> Response:
    vol, fid = _folder(service, volume, folder_id)
    await asyncio.to_thread(vol.delete_folder, fid)
    return Response(status_code=204)


@router.get(FOLDER + "/usage")
async def folder_usage(service: Service, volume: str, folder_id: str) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    vol.note_changed(fid)
    usage = await asyncio.to_thread(vol.usage, fid)
    return {"file_count": usage.file_count, "used_bytes": usage.used_bytes}


@router.get(FOLDER + "/quota")
async def get_quota(service: Service, volume: str, folder_id: str) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)

    def read() -> int | None:
        with vol.folder_fd(fid):
            return vol.get_quota(fid)

    return {"quota_bytes": await asyncio.to_thread(read)}


@router.put(FOLDER + "/quota")
async def set_quota(
    service: Service, volume: str, folder_id: str, body: SetQuota
) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    await asyncio.to_thread(vol.set_quota, fid, body.quota_bytes)
    return {"quota_bytes": body.quota_bytes}


@router.get(FOLDER + "/mount")
async def mount_path(service: Service, volume: str, folder_id: str) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)

    def check() -> str:
        with vol.folder_fd(fid):
            return str(vol.mount_path(fid))

    return {"path": await asyncio.to_thread(check)}


class _CloneCancelled(Exception):
    pass


@router.post(FOLDER + "/clone")
async def clone_folder(
    service: Service, volume: str, folder_id: str, body: CloneFolder
) -> StreamingResponse:
    src, fid = _folder(service, volume, folder_id)
    dst = service.volume(body.target_volume or volume)
    tid = str(body.target_folder_id)
    src.note_changed(fid)
    total = (await asyncio.to_thread(src.usage, fid)).used_bytes
    if body.quota_bytes is not None and total > body.quota_bytes:
        raise FolderQuotaExceeded(
            f"the folder holds {total} bytes, more than the clone's quota ({body.quota_bytes})"
        )
    await asyncio.to_thread(dst.create_folder, tid, body.quota_bytes)
    copied = [0]
    cancelled = threading.Event()

    def progress(n: int) -> None:
        if cancelled.is_set():
            raise _CloneCancelled
        copied[0] += n

    def copy() -> None:
        try:
            src.clone_folder(fid, dst, tid, progress)
        except BaseException:
            try:
                dst.delete_folder(tid)
            except CygnetError:
                pass
            raise

    async def lines() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(asyncio.to_thread(copy))
        try:
            while not task.done():
                yield _line({"copied_bytes": copied[0], "total_bytes": total})
                await asyncio.wait([task], timeout=PROGRESS_INTERVAL)
            try:
                task.result()
            except CygnetError as exc:
                yield _line({"error": exc.body()})
                return
            except Exception as exc:
                log.exception("clone of %s failed", fid)
                yield _line({"error": InternalError(f"{type(exc).__name__}: {exc}").body()})
                return
            usage = await asyncio.to_thread(dst.usage, tid)
            yield _line(
                {
                    "done": True,
                    "copied_bytes": copied[0],
                    "total_bytes": total,
                    "file_count": usage.file_count,
                    "folder_id": tid,
                }
            )
        finally:
            if not task.done():
                cancelled.set()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


@router.post(FOLDER + "/mkdir")
async def mkdir(service: Service, volume: str, folder_id: str, body: Mkdir) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    paths = [body.path] if isinstance(body.path, str) else body.path

    def run() -> dict[str, list[dict[str, str]]]:
        success: list[dict[str, str]] = []
        failed: list[dict[str, str]] = []
        with vol.folder_fd(fid) as root:
            for path in paths:
                try:
                    fileops.mkdir(root, path, parents=body.parents, exist_ok=body.exist_ok)
                except CygnetError as exc:
                    failed.append({"item": fileops.printable(path), "msg": exc.msg or exc.title})
                else:
                    success.append({"item": path, "msg": ""})
        return {"success": success, "failed": failed}

    return {"results": await asyncio.to_thread(run)}


@router.get(FOLDER + "/files")
async def list_files(
    service: Service, volume: str, folder_id: str, path: Annotated[str, Query()] = ""
) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)

    def run() -> list[dict[str, Any]]:
        with vol.folder_fd(fid) as root:
            return fileops.list_files(root, path)

    return {"items": await asyncio.to_thread(run)}


@router.post(FOLDER + "/files/rename", status_code=204)
async def rename_file(service: Service, volume: str, folder_id: str, body: RenameFile) -> Response:
    vol, fid = _folder(service, volume, folder_id)

    def run() -> None:
        with vol.folder_fd(fid) as root:
            fileops.rename(root, body.path, body.new_name)

    await asyncio.to_thread(run)
    return Response(status_code=204)


@router.post(FOLDER + "/files/move", status_code=204)
async def move_file(service: Service, volume: str, folder_id: str, body: MoveFile) -> Response:
    vol, fid = _folder(service, volume, folder_id)

    def run() -> None:
        with vol.folder_fd(fid) as root:
            fileops.move(root, body.src, body.dst)

    await asyncio.to_thread(run)
    return Response(status_code=204)


@router.post(FOLDER + "/files/delete", status_code=204)
async def delete_files(
    service: Service, volume: str, folder_id: str, body: DeleteFiles
) -> Response:
    vol, fid = _folder(service, volume, folder_id)
    for path in body.paths:  # refuse a bad path before deleting anything
        split_path(path, allow_root=False)

    def run() -> None:
        try:
            with vol.folder_fd(fid) as root:
                for path in body.paths:
                    fileops.delete(root, path, recursive=body.recursive)
        finally:
            vol.note_changed(fid)

    await asyncio.to_thread(run)
    return Response(status_code=204)


def _url(service: StorageService, path: str) -> str:
    return service.client_url.rstrip("/") + path


@router.post(FOLDER + "/upload-token")
async def upload_token(
    service: Service, volume: str, folder_id: str, body: UploadToken
) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    relpath = "/".join(split_path(body.path, allow_root=False))
    staged = service.uploads.staged_bytes(volume, fid)

    def check() -> None:
        with vol.folder_fd(fid) as root:
            fileops.check_upload_target(root, relpath)
            vol.check_quota(fid, staged + body.size)
            if body.size == 0:  # the official client never PATCHes an empty file
                fileops.create_empty(root, relpath)
                vol.note_changed(fid)

    await asyncio.to_thread(check)
    upload_id = uuid.uuid4().hex
    claims = TokenClaims(
        op="upload",
        volume=volume,
        folder=fid,
        relpath=relpath,
        size=body.size,
        upload_id=upload_id,
        exp=time.time() + service.settings.upload_token_ttl,
    )
    return {"token": service.signer.issue(claims), "url": _url(service, "/upload")}


@router.post(FOLDER + "/download-token")
async def download_token(
    service: Service, volume: str, folder_id: str, body: DownloadToken
) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    relpath = "/".join(split_path(body.path, allow_root=False))

    def check() -> None:
        with vol.folder_fd(fid) as root:
            os.close(open_regular(root, relpath))

    await asyncio.to_thread(check)
    claims = TokenClaims(
        op="download",
        volume=volume,
        folder=fid,
        relpath=relpath,
        exp=time.time() + service.settings.token_ttl,
    )
    return {"token": service.signer.issue(claims), "url": _url(service, "/download")}


@router.post(FOLDER + "/archive-token")
async def archive_token(
    service: Service, volume: str, folder_id: str, body: ArchiveToken
) -> dict[str, Any]:
    vol, fid = _folder(service, volume, folder_id)
    paths = ["/".join(split_path(p)) for p in body.paths]
    filename = body.filename or "archive.zip"
    if "/" in filename or "\x00" in filename or filename in (".", ".."):
        raise InvalidPath(f"invalid archive file name {filename!r}")

    def check() -> None:
        with vol.folder_fd(fid) as root:
            plan_entries(root, paths)

    await asyncio.to_thread(check)
    claims = TokenClaims(
        op="archive",
        volume=volume,
        folder=fid,
        paths=paths,
        filename=filename,
        exp=time.time() + service.settings.token_ttl,
    )
    return {"token": service.signer.issue(claims), "url": _url(service, "/download")}


def create_manager_app(service: StorageService) -> FastAPI:
    app = FastAPI(
        title="Cygnet storage proxy (manager-facing)",
        version=__version__,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)
    return app
