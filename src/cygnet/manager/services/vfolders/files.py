"""Files inside a vfolder: mkdir, list, rename, move, delete, and the tokens for uploads and
downloads through the storage proxy's client-facing API. Reading needs ``ro``, changing
``rw``; the proxy resolves every path inside the folder (path safety is its job), this
service refuses obviously bad input early."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cygnet.common.clock import Clock
from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager.entities import Caller, VFolderAccess, VFolderPermission
from cygnet.manager.services.vfolders.access import FolderAccess, check_path, check_paths
from cygnet.manager.storage import StorageProxies, StorageProxyClient
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import vfolders as repo

RO = VFolderPermission.READ_ONLY
RW = VFolderPermission.READ_WRITE


@dataclass(frozen=True, slots=True)
class Transfer:
    """A signed, short-lived authorisation for one upload or download on the proxy."""

    token: str
    url: str


class VFolderFileService:
    def __init__(self, db: Database, clock: Clock, storage: StorageProxies) -> None:
        self._db = db
        self._clock = clock
        self._storage = storage
        self._access = FolderAccess(db)

    async def _open(
        self, caller: Caller, ref: str, need: VFolderPermission
    ) -> tuple[VFolderAccess, StorageProxyClient, str]:
        access = await self._access.resolve(caller, ref, need=need, usable=True)
        client, volume = self._storage.client_for(access.folder.host)
        return access, client, volume

    async def _touch(self, folder_id: uuid.UUID) -> None:
        async with self._db.transaction() as session:
            await repo.update_one(session, folder_id, {"last_used": self._clock.now()})

    async def mkdir(
        self, caller: Caller, ref: str, paths: Any, *, parents: bool, exist_ok: bool
    ) -> dict[str, list[dict[str, str]]]:
        """Results per path: ``{"success": [...], "failed": [...]}``."""
        checked = check_paths(paths, "path")
        _access, client, volume = await self._open(caller, ref, RW)
        return await client.mkdir(
            volume,
            _access.folder.id,
            checked if isinstance(paths, list) else checked[0],
            parents=parents,
            exist_ok=exist_ok,
        )

    async def list_files(self, caller: Caller, ref: str, path: str) -> list[dict[str, Any]]:
        check_path(path, allow_root=True)
        access, client, volume = await self._open(caller, ref, RO)
        return await client.list_files(volume, access.folder.id, path)

    async def rename_file(self, caller: Caller, ref: str, target_path: str, new_name: str) -> None:
        check_path(target_path, "target_path")
        check_path(new_name, "new_name")
        if "/" in new_name.strip("/"):
            raise InvalidAPIParameters("new_name must be a name, not a path.")
        access, client, volume = await self._open(caller, ref, RW)
        await client.rename_file(volume, access.folder.id, target_path, new_name.strip("/"))

    async def move_file(self, caller: Caller, ref: str, src: str, dst: str) -> None:
        check_path(src, "src")
        check_path(dst, "dst")
        access, client, volume = await self._open(caller, ref, RW)
        await client.move_file(volume, access.folder.id, src, dst)

    async def delete_files(self, caller: Caller, ref: str, files: Any, *, recursive: bool) -> None:
        paths = check_paths(files, "files")
        access, client, volume = await self._open(caller, ref, RW)
        await client.delete_files(volume, access.folder.id, paths, recursive=recursive)

    async def request_upload(self, caller: Caller, ref: str, path: str, size: Any) -> Transfer:
        check_path(path)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidAPIParameters("size must be a non-negative integer.")
        access, client, volume = await self._open(caller, ref, RW)
        found = await client.upload_token(volume, access.folder.id, path, size)
        await self._touch(access.folder.id)
        return Transfer(found["token"], found["url"])

    async def request_download(self, caller: Caller, ref: str, path: str) -> Transfer:
        check_path(path)
        access, client, volume = await self._open(caller, ref, RO)
        found = await client.download_token(volume, access.folder.id, path)
        await self._touch(access.folder.id)
        return Transfer(found["token"], found["url"])

    async def request_download_archive(
        self, caller: Caller, ref: str, files: Any, filename: str | None
    ) -> Transfer:
        paths = check_paths(files, "files")
        if filename is not None:
            check_path(filename, "filename")
        access, client, volume = await self._open(caller, ref, RO)
        found = await client.archive_token(volume, access.folder.id, paths, filename)
        return Transfer(found["token"], found["url"])
