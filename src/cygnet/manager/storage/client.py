"""A typed client of one storage proxy's manager-facing API (docs/storage.md).

Every request carries the shared secret in ``X-Cygnet-Storage-Secret``. The proxy's
problem+json errors become the manager's own errors: 400 -> invalid parameters, 404 -> no such
file, 409 -> the target exists, 413/507 -> quota exceeded; anything else (a wrong secret, a
proxy that does not answer) -> ``StorageProxyError`` (503).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from cygnet.common.errors import (
    CygnetError,
    InvalidAPIParameters,
    StorageProxyError,
    VFolderConflict,
    VFolderFileNotFound,
    VFolderQuotaExceeded,
)

SECRET_HEADER = "X-Cygnet-Storage-Secret"
_BY_STATUS: dict[int, type[CygnetError]] = {
    400: InvalidAPIParameters,
    404: VFolderFileNotFound,
    409: VFolderConflict,
    413: VFolderQuotaExceeded,
    507: VFolderQuotaExceeded,
}


def _error(response: httpx.Response) -> CygnetError:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    msg = body.get("msg") or body.get("title") if isinstance(body, dict) else None
    cls = _BY_STATUS.get(response.status_code, StorageProxyError)
    if cls is StorageProxyError:
        msg = f"storage proxy answered {response.status_code}: {msg or response.text[:200]}"
    return cls(msg)


class StorageProxyClient:
    def __init__(self, name: str, manager_url: str, secret: str, *, timeout: float = 30.0) -> None:
        self.name = name
        self.manager_url = manager_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.manager_url,
            headers={SECRET_HEADER: secret},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, json_body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            response = await self._http.request(method, path, json=json_body, params=params)
        except httpx.HTTPError as exc:
            raise StorageProxyError(
                f"storage proxy {self.name} ({self.manager_url}) did not answer: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @staticmethod
    def _folder(volume: str, folder_id: uuid.UUID) -> str:
        return f"/volumes/{volume}/folders/{folder_id.hex}"

    # -- volumes and folders -------------------------------------------------------------------

    async def volumes(self) -> list[dict[str, Any]]:
        found = await self._call("GET", "/volumes")
        return list(found["volumes"])

    async def create_folder(
        self, volume: str, folder_id: uuid.UUID, quota_bytes: int | None = None
    ) -> None:
        await self._call(
            "POST",
            f"/volumes/{volume}/folders",
            json_body={"folder_id": str(folder_id), "quota_bytes": quota_bytes},
        )

    async def delete_folder(self, volume: str, folder_id: uuid.UUID) -> None:
        """Delete a folder and everything in it (already gone is fine)."""
        try:
            await self._call("DELETE", self._folder(volume, folder_id))
        except VFolderFileNotFound:
            pass

    async def usage(self, volume: str, folder_id: uuid.UUID) -> dict[str, int]:
        found: dict[str, int] = await self._call("GET", self._folder(volume, folder_id) + "/usage")
        return found

    async def quota(self, volume: str, folder_id: uuid.UUID) -> int | None:
        found = await self._call("GET", self._folder(volume, folder_id) + "/quota")
        return None if found["quota_bytes"] is None else int(found["quota_bytes"])

    async def set_quota(self, volume: str, folder_id: uuid.UUID, quota_bytes: int | None) -> None:
        await self._call(
            "PUT",
            self._folder(volume, folder_id) + "/quota",
            json_body={"quota_bytes": quota_bytes},
        )

    async def mount_path(self, volume: str, folder_id: uuid.UUID) -> str:
        found = await self._call("GET", self._folder(volume, folder_id) + "/mount")
        return str(found["path"])

    async def clone(
        self,
        volume: str,
        folder_id: uuid.UUID,
        target_id: uuid.UUID,
        *,
        target_volume: str | None = None,
        quota_bytes: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Copy a folder into a new one; yields the proxy's NDJSON progress lines. The last is
        ``{"done": true, ...}``; an ``{"error": problem}`` line is raised as an error."""
        body = {
            "target_folder_id": str(target_id),
            "target_volume": target_volume,
            "quota_bytes": quota_bytes,
        }
        path = self._folder(volume, folder_id) + "/clone"
        try:
            async with self._http.stream(
                "POST", path, json=body, timeout=httpx.Timeout(None, connect=10.0)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error(response)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    if "error" in item:
                        problem = item["error"] or {}
                        raise StorageProxyError(
                            f"clone failed: {problem.get('msg') or problem.get('title')}"
                        )
                    yield item
        except httpx.HTTPError as exc:
            raise StorageProxyError(f"storage proxy {self.name} did not answer: {exc}") from exc

    # -- files ---------------------------------------------------------------------------------

    async def mkdir(
        self,
        volume: str,
        folder_id: uuid.UUID,
        paths: str | list[str],
        *,
        parents: bool = False,
        exist_ok: bool = False,
    ) -> dict[str, list[dict[str, str]]]:
        found = await self._call(
            "POST",
            self._folder(volume, folder_id) + "/mkdir",
            json_body={"path": paths, "parents": parents, "exist_ok": exist_ok},
        )
        results: dict[str, list[dict[str, str]]] = found["results"]
        return results

    async def list_files(
        self, volume: str, folder_id: uuid.UUID, path: str
    ) -> list[dict[str, Any]]:
        found = await self._call(
            "GET", self._folder(volume, folder_id) + "/files", params={"path": path}
        )
        return list(found["items"])

    async def rename_file(
        self, volume: str, folder_id: uuid.UUID, path: str, new_name: str
    ) -> None:
        await self._call(
            "POST",
            self._folder(volume, folder_id) + "/files/rename",
            json_body={"path": path, "new_name": new_name},
        )

    async def move_file(self, volume: str, folder_id: uuid.UUID, src: str, dst: str) -> None:
        await self._call(
            "POST",
            self._folder(volume, folder_id) + "/files/move",
            json_body={"src": src, "dst": dst},
        )

    async def delete_files(
        self, volume: str, folder_id: uuid.UUID, paths: list[str], *, recursive: bool = False
    ) -> None:
        await self._call(
            "POST",
            self._folder(volume, folder_id) + "/files/delete",
            json_body={"paths": paths, "recursive": recursive},
        )

    async def upload_token(
        self, volume: str, folder_id: uuid.UUID, path: str, size: int
    ) -> dict[str, str]:
        found: dict[str, str] = await self._call(
            "POST",
            self._folder(volume, folder_id) + "/upload-token",
            json_body={"path": path, "size": size},
        )
        return found

    async def download_token(self, volume: str, folder_id: uuid.UUID, path: str) -> dict[str, str]:
        found: dict[str, str] = await self._call(
            "POST", self._folder(volume, folder_id) + "/download-token", json_body={"path": path}
        )
        return found

    async def archive_token(
        self, volume: str, folder_id: uuid.UUID, paths: list[str], filename: str | None = None
    ) -> dict[str, str]:
        found: dict[str, str] = await self._call(
            "POST",
            self._folder(volume, folder_id) + "/archive-token",
            json_body={"paths": paths, "filename": filename},
        )
        return found
