"""Virtual folders (``/folders``, wire notes 2.2): folders, their files, sharing, clone, and
resumable transfers to and from the storage proxy.

``session.vfolders`` (an ``AsyncAPISession``'s, or the blocking ``APISession``'s twin)::

    folder = await s.vfolders.create("data")
    await s.vfolders.upload("data", [Path("train.csv")], progress=lambda done, total: ...)
    await s.vfolders.download("data", ["train.csv"], Path("out"))

A folder is named by its id (32 hex digits or a dashed UUID) or by its name. Uploads are tus
PATCHes of the local file read piece by piece; downloads stream into ``<name>.part``, renamed
when complete. Neither ever holds a whole file in memory. Given a ``TransferJournal``, an
interrupted transfer resumes where it stopped: an upload asks the proxy its offset (``HEAD``)
and continues; a download continues its ``.part`` file with ``Range`` (and ``If-Range``, so a
file changed on the server meanwhile is fetched again from the start).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import posixpath
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.errors import APIError, ClientError, NotFound, SDKError
from cygnet.client.sdk.models import (
    MkdirResults,
    VFolder,
    VFolderClone,
    VFolderFile,
    VFolderHosts,
    VFolderInfo,
    VFolderInvitation,
)
from cygnet.client.sdk.sse import sse_events
from cygnet.client.sdk.vfolder_transfers import (
    Aggregate,
    ProgressFn,
    TransferIncomplete,
    TransferJournal,
    TransferResult,
    UploadItem,
    UploadPlan,
    fetch,
    finish_download,
    part_path,
    plan_upload,
    remote_join,
    storage_error,
    tus_offset,
    tus_upload,
    with_token,
)

FolderRef = uuid.UUID | str
"""A folder's id (hex or dashed) or its name."""


class BackgroundTaskFailed(SDKError):
    """A background task (a clone) ended with ``bgtask_failed`` or ``bgtask_cancelled``."""

    def __init__(self, event: str, message: str | None) -> None:
        self.event = event
        self.msg = message
        what = "was cancelled" if event == "bgtask_cancelled" else "failed"
        super().__init__(f"The background task {what}: {message or 'no details'}")


class VFolderSession(Protocol):
    """What ``VFolders`` needs from a session (``AsyncAPISession`` has it)."""

    config: APIConfig

    @property
    def http(self) -> httpx.AsyncClient: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any: ...

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> AbstractAsyncContextManager[httpx.Response]: ...


# --- pure helpers ------------------------------------------------------------------------------


def folder_path(folder: FolderRef, *rest: str) -> str:
    """``/folders/<ref>[/rest]`` with the reference percent-encoded (names may hold spaces)."""
    ref = folder.hex if isinstance(folder, uuid.UUID) else str(folder)
    if not ref:
        raise ValueError("A folder name or id is required.")
    return "/".join(["/folders", quote(ref, safe=""), *rest])


def _strip(value: Any, key: str) -> list[Any]:
    if isinstance(value, dict):
        items = value.get(key)
        return list(items) if isinstance(items, list) else []
    return list(value) if isinstance(value, list) else []


# --- the API -----------------------------------------------------------------------------------


class VFolders:
    """``/folders`` on a session: ``session.vfolders.<verb>(...)``."""

    def __init__(self, session: VFolderSession) -> None:
        self._s = session

    # -- folders --

    async def create(
        self,
        name: str,
        host: str | None = None,
        *,
        usage_mode: str = "general",
        permission: str = "rw",
        cloneable: bool = False,
        group: str | None = None,
    ) -> VFolder:
        """``POST /folders``: a user folder, or a project folder with ``group`` (admins)."""
        body: dict[str, Any] = {
            "name": name,
            "usage_mode": usage_mode,
            "permission": permission,
            "cloneable": cloneable,
        }
        if host:
            body["host"] = host
        if group:
            body["group"] = group
        return VFolder.model_validate(await self._s.request("POST", "/folders", json=body))

    async def list(
        self, *, all: bool = False, group: str | None = None, owner_email: str | None = None
    ) -> builtins.list[VFolder]:
        """``GET /folders``: the caller's folders (``all``: every folder an admin manages)."""
        params: dict[str, str] = {}
        if all:
            params["all"] = "true"
        if group:
            params["group_id"] = group
        if owner_email:
            params["owner_user_email"] = owner_email
        answer = await self._s.request("GET", "/folders", params=params or None)
        return [VFolder.model_validate(item) for item in _strip(answer, "items")]

    async def info(self, folder: FolderRef) -> VFolderInfo:
        """``GET /folders/{vf}``: the folder with its file count, usage and your permission."""
        return VFolderInfo.model_validate(await self._s.request("GET", folder_path(folder)))

    async def rename(self, folder: FolderRef, new_name: str) -> None:
        await self._s.request("POST", folder_path(folder, "rename"), json={"new_name": new_name})

    async def update_options(
        self, folder: FolderRef, *, permission: str | None = None, cloneable: bool | None = None
    ) -> None:
        body: dict[str, Any] = {}
        if permission is not None:
            body["permission"] = permission
        if cloneable is not None:
            body["cloneable"] = cloneable
        if not body:
            raise ValueError("Nothing to update: give a permission or cloneable.")
        await self._s.request("POST", folder_path(folder, "update-options"), json=body)

    async def delete(self, folder: FolderRef) -> None:
        """Move a folder to the trash (``delete-pending``); its files are kept."""
        await self._s.request("DELETE", folder_path(folder))

    async def restore(self, folder: FolderRef) -> None:
        """Bring a folder back from the trash."""
        await self._s.request("POST", "/folders/restore-from-trash-bin", json={"id": _id(folder)})

    async def delete_from_trash(self, folder: FolderRef) -> None:
        """Delete a trashed folder and its files for good (its owner, or an admin)."""
        await self._s.request("POST", "/folders/delete-from-trash-bin", json={"id": _id(folder)})

    async def purge(self, folder: FolderRef) -> None:
        """Delete a trashed folder for good (``POST /folders/purge``: admins)."""
        await self._s.request("POST", "/folders/purge", json={"id": _id(folder)})

    async def delete_forever(self, folder: FolderRef) -> None:
        """Delete a folder and its files for good, without the trash."""
        await self._s.request("DELETE", folder_path(folder, "force"))

    async def hosts(self, group: str | None = None) -> VFolderHosts:
        params = {"group_id": group} if group else None
        answer = await self._s.request("GET", "/folders/_/hosts", params=params)
        return VFolderHosts.model_validate(answer)

    async def all_hosts(self) -> VFolderHosts:
        """Every host (superadmins)."""
        return VFolderHosts.model_validate(await self._s.request("GET", "/folders/_/all_hosts"))

    async def allowed_types(self) -> builtins.list[str]:
        return [
            str(t) for t in _strip(await self._s.request("GET", "/folders/_/allowed_types"), "")
        ]

    # -- files --

    async def mkdir(
        self,
        folder: FolderRef,
        paths: str | Sequence[str],
        *,
        parents: bool = False,
        exist_ok: bool = False,
    ) -> MkdirResults:
        """Make directories; the results when some (207) or all (200) were made, ``APIError``
        naming the failures when none could be (422)."""
        body = {
            "path": paths if isinstance(paths, str) else list(paths),
            "parents": parents,
            "exist_ok": exist_ok,
        }
        async with self._s.stream(
            "POST", folder_path(folder, "mkdir"), json=body, check=False
        ) as r:
            await r.aread()
            answer: Any = r.json() if r.content else {}
            results = answer.get("results") if isinstance(answer, dict) else None
            if r.status_code == 422 and isinstance(results, dict):
                failed = results.get("failed") or []
                why = "; ".join(f"{f.get('item')}: {f.get('msg')}" for f in failed)
                raise APIError(422, "vfolder_mkdir_failed", "No directory was made", why)
            if not r.is_success:
                raise storage_error(r)
        return MkdirResults.model_validate(results or {})

    async def list_files(self, folder: FolderRef, path: str = "") -> builtins.list[VFolderFile]:
        """The entries of a directory of the folder (``""``: its root)."""
        answer = await self._s.request("GET", folder_path(folder, "files"), params={"path": path})
        return [VFolderFile.model_validate(item) for item in _strip(answer, "items")]

    async def walk(
        self, folder: FolderRef, path: str = ""
    ) -> builtins.list[tuple[str, VFolderFile]]:
        """Every entry under ``path``, depth first: (path relative to ``path``, entry)."""
        found: builtins.list[tuple[str, VFolderFile]] = []
        for entry in sorted(await self.list_files(folder, path), key=lambda e: e.name):
            found.append((entry.name, entry))
            if entry.is_dir:
                for rel, sub in await self.walk(folder, remote_join(path, entry.name)):
                    found.append((f"{entry.name}/{rel}", sub))
        return found

    async def stat(self, folder: FolderRef, path: str) -> VFolderFile | None:
        """The entry at ``path`` (None when there is none); the root is a directory."""
        path = remote_join(path)
        if not path:
            return VFolderFile(name="", type="DIRECTORY")
        parent, name = posixpath.split(path)
        for entry in await self.list_files(folder, parent):
            if entry.name == name:
                return entry
        return None

    async def rename_file(self, folder: FolderRef, path: str, new_name: str) -> None:
        await self._s.request(
            "POST",
            folder_path(folder, "rename-file"),
            json={"target_path": path, "new_name": new_name},
        )

    async def move_file(self, folder: FolderRef, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (an existing directory ``dst`` receives it)."""
        await self._s.request(
            "POST", folder_path(folder, "move-file"), json={"src": src, "dst": dst}
        )

    async def delete_files(
        self, folder: FolderRef, paths: Sequence[str], *, recursive: bool = False
    ) -> None:
        await self._s.request(
            "DELETE",
            folder_path(folder, "delete-files"),
            json={"files": list(paths), "recursive": recursive},
        )

    # -- transfer tokens --

    async def request_upload(self, folder: FolderRef, path: str, size: int) -> str:
        """A tus upload URL (token included) for one file of ``size`` bytes; an empty file
        exists as soon as it is requested."""
        answer = await self._s.request(
            "POST", folder_path(folder, "request-upload"), json={"path": path, "size": size}
        )
        return with_token(str(answer["url"]), str(answer["token"]))

    async def request_download(self, folder: FolderRef, path: str) -> str:
        answer = await self._s.request(
            "POST", folder_path(folder, "request-download"), json={"path": path}
        )
        return with_token(str(answer["url"]), str(answer["token"]))

    async def request_download_archive(
        self, folder: FolderRef, paths: Sequence[str], filename: str | None = None
    ) -> str:
        body: dict[str, Any] = {"files": list(paths)}
        if filename:
            body["filename"] = filename
        answer = await self._s.request(
            "POST", folder_path(folder, "request-download-archive"), json=body
        )
        return with_token(str(answer["url"]), str(answer["token"]))

    # -- uploads --

    async def upload(
        self,
        folder: FolderRef,
        paths: Sequence[Path],
        *,
        dest: str = "",
        recursive: bool = False,
        progress: ProgressFn | None = None,
        on_file: Callable[[UploadItem], None] | None = None,
        journal: TransferJournal | None = None,
    ) -> builtins.list[TransferResult]:
        """Upload files (and, with ``recursive``, directories) into the directory ``dest``;
        ``progress`` gets (bytes done, bytes in all) over every file."""
        plan = plan_upload(paths, dest, recursive=recursive)
        if plan.dirs:
            await self.mkdir(folder, plan.dirs, parents=True, exist_ok=True)
        total = Aggregate(plan.total_bytes, progress)
        results = []
        for item in plan.files:
            if on_file is not None:
                on_file(item)
            results.append(
                await self.upload_file(
                    folder, item.local, item.remote, progress=total.file, journal=journal
                )
            )
            total.finished(item.size, item.size)
        return results

    async def upload_file(
        self,
        folder: FolderRef,
        local: Path,
        remote: str,
        *,
        progress: ProgressFn | None = None,
        journal: TransferJournal | None = None,
    ) -> TransferResult:
        """Upload one file with tus PATCHes. With a ``journal``, an interrupted upload of the
        same (unchanged) file to the same path continues from the proxy's offset."""
        where, size, mtime_ns = await asyncio.to_thread(_identity, local)
        key = TransferJournal.key(
            "upload", self._s.config.endpoint, folder, remote, where, size, mtime_ns
        )
        url, offset = None, 0
        record = journal.get(key) if journal is not None else None
        if journal is not None and record is not None:
            found = await tus_offset(self._s.http, str(record.get("url")))
            if found is not None and found[1] == size:
                url, offset = str(record["url"]), found[0]
            else:
                journal.drop(key)  # expired, finished or gone: start over
        if url is None:
            url = await self.request_upload(folder, remote, size)
            if journal is not None and size > 0:
                journal.put(key, {"url": url, "remote": remote, "local": str(local)})
        await tus_upload(self._s.http, url, local, offset, size, progress)
        if journal is not None:
            journal.drop(key)
        return TransferResult(remote, str(local), size, offset)

    # -- downloads --

    async def download(
        self,
        folder: FolderRef,
        paths: Sequence[str],
        dest: Path,
        *,
        recursive: bool = False,
        progress: ProgressFn | None = None,
        on_file: Callable[[str], None] | None = None,
        journal: TransferJournal | None = None,
    ) -> builtins.list[TransferResult]:
        """Download files (and, with ``recursive``, directories) into the local directory
        ``dest``, as ``dest/<name>`` (``dest/<name>/...``); ``progress`` gets (bytes done,
        bytes in all) over every file."""
        todo: builtins.list[tuple[str, Path, int]] = []
        for path in paths:
            entry = await self.stat(folder, path)
            if entry is None:
                raise NotFound(
                    404,
                    "vfolder_file_not-found",
                    msg=f"No such file or directory in the folder: {path!r}.",
                )
            name = posixpath.basename(remote_join(path))
            if not entry.is_dir:
                todo.append((remote_join(path), dest / name, entry.size))
                continue
            if not recursive:
                raise ValueError(
                    f"{path!r} is a directory; add --recursive (-r) to download it, or "
                    "--archive FILE.zip to get it as one ZIP file."
                )
            base = dest / name if name else dest
            await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
            for rel, sub in await self.walk(folder, path):
                if sub.is_dir:
                    await asyncio.to_thread((base / rel).mkdir, parents=True, exist_ok=True)
                elif sub.type == "FILE":
                    todo.append((remote_join(path, rel), base / rel, sub.size))
        total = Aggregate(sum(size for _, _, size in todo), progress)
        results = []
        for remote, local, size in todo:
            if on_file is not None:
                on_file(remote)
            result = await self.download_file(
                folder, remote, local, progress=total.file, journal=journal
            )
            results.append(result)
            total.finished(size, result.size)
        return results

    async def download_file(
        self,
        folder: FolderRef,
        remote: str,
        local: Path,
        *,
        progress: ProgressFn | None = None,
        journal: TransferJournal | None = None,
    ) -> TransferResult:
        """Stream one file into ``<local>.part`` and rename it to ``local`` when complete. An
        existing ``.part`` is continued with ``Range``; with a ``journal`` that saw where it
        came from, also ``If-Range`` (a file changed on the server meanwhile starts over)."""
        part = part_path(local)
        await asyncio.to_thread(local.parent.mkdir, parents=True, exist_ok=True)
        key = TransferJournal.key("download", await asyncio.to_thread(os.path.abspath, part))
        record = journal.get(key) if journal is not None else None
        origin = {"endpoint": self._s.config.endpoint, "folder": str(folder), "remote": remote}
        if_range = None
        if record is not None and all(record.get(k) == v for k, v in origin.items()):
            if_range = record.get("etag")
        url = await self.request_download(folder, remote)

        def started(r: httpx.Response) -> None:
            if journal is not None:
                journal.put(key, {**origin, "etag": r.headers.get("ETag")})

        got = await fetch(
            self._s.http, url, part, if_range=if_range, on_start=started, progress=progress
        )
        await asyncio.to_thread(finish_download, part, local, got.last_modified)
        if journal is not None:
            journal.drop(key)
        return TransferResult(remote, str(local), got.size, got.start)

    async def download_archive(
        self,
        folder: FolderRef,
        paths: Sequence[str],
        local: Path,
        *,
        progress: ProgressFn | None = None,
    ) -> TransferResult:
        """Several files and directories as one ZIP file (streamed into ``<local>.part``; an
        archive is made afresh each time, so it starts over rather than resuming)."""
        url = await self.request_download_archive(folder, paths, local.name)
        part = part_path(local)
        await asyncio.to_thread(part.unlink, missing_ok=True)
        got = await fetch(self._s.http, url, part, progress=progress)
        await asyncio.to_thread(finish_download, part, local, None)
        return TransferResult(",".join(paths), str(local), got.size)

    # -- sharing --

    async def invite(
        self, folder: FolderRef, emails: Iterable[str], permission: str = "rw"
    ) -> builtins.list[str]:
        """Invite users (by email) to a user folder; the emails actually invited."""
        answer = await self._s.request(
            "POST",
            folder_path(folder, "invite"),
            json={"perm": permission, "user_ids": list(emails)},
        )
        return [str(e) for e in _strip(answer, "invited_ids")]

    async def invitations(self) -> builtins.list[VFolderInvitation]:
        """Invitations waiting for the caller."""
        answer = await self._s.request("GET", "/folders/invitations/list")
        return [VFolderInvitation.model_validate(i) for i in _strip(answer, "invitations")]

    async def sent_invitations(self) -> builtins.list[VFolderInvitation]:
        answer = await self._s.request("GET", "/folders/invitations/list-sent")
        return [VFolderInvitation.model_validate(i) for i in _strip(answer, "invitations")]

    async def accept_invitation(self, invitation_id: str) -> None:
        await self._s.request("POST", "/folders/invitations/accept", json={"inv_id": invitation_id})

    async def reject_invitation(self, invitation_id: str) -> None:
        """Reject an invitation (the inviter's call cancels it)."""
        await self._s.request(
            "DELETE", "/folders/invitations/delete", json={"inv_id": invitation_id}
        )

    async def share(
        self, folder: FolderRef, emails: Iterable[str], permission: str = "rw"
    ) -> builtins.list[str]:
        """Give members of a project folder's project a permission (admins)."""
        answer = await self._s.request(
            "POST",
            folder_path(folder, "share"),
            json={"permission": permission, "emails": list(emails)},
        )
        return [str(e) for e in _strip(answer, "shared_emails")]

    async def unshare(self, folder: FolderRef, emails: Iterable[str]) -> builtins.list[str]:
        answer = await self._s.request(
            "DELETE", folder_path(folder, "unshare"), json={"emails": list(emails)}
        )
        return [str(e) for e in _strip(answer, "unshared_emails")]

    async def shared(self, folder: FolderRef | None = None) -> builtins.list[dict[str, Any]]:
        """Who project folders are shared with (one folder, or every one you manage)."""
        params = {"vfolder_id": str(folder)} if folder else None
        answer = await self._s.request("GET", "/folders/_/shared", params=params)
        return [dict(s) for s in _strip(answer, "shared")]

    async def leave(self, folder: FolderRef, shared_user_uuid: str | None = None) -> None:
        """Drop your access to a folder shared with you (owners: ``shared_user_uuid``'s)."""
        body = {"shared_user_uuid": shared_user_uuid} if shared_user_uuid else {}
        await self._s.request("POST", folder_path(folder, "leave"), json=body)

    # -- clone --

    async def clone(
        self,
        folder: FolderRef,
        target_name: str,
        *,
        target_host: str | None = None,
        usage_mode: str | None = None,
        permission: str = "rw",
        cloneable: bool = False,
    ) -> VFolderClone:
        """Start copying a folder into a new one of yours; follow ``bgtask_id`` with
        ``follow_task`` (the new folder is ``cloning`` until then)."""
        body: dict[str, Any] = {
            "target_name": target_name,
            "permission": permission,
            "cloneable": cloneable,
        }
        if target_host:
            body["target_host"] = target_host
        if usage_mode:
            body["usage_mode"] = usage_mode
        answer = await self._s.request("POST", folder_path(folder, "clone"), json=body)
        return VFolderClone.model_validate(answer)

    async def follow_task(self, task_id: str, progress: ProgressFn | None = None) -> str | None:
        """Follow ``/events/background-task`` to the end: ``progress`` gets (current, total)
        of each ``bgtask_updated``; the ``bgtask_done`` message is returned, a failure or a
        cancellation raises ``BackgroundTaskFailed``."""
        async with self._s.stream(
            "GET",
            "/events/background-task",
            params={"task_id": task_id},
            headers={"Accept": "text/event-stream"},
        ) as r:
            try:
                async for event, data in sse_events(r.aiter_lines()):
                    if event == "bgtask_updated" and progress is not None:
                        current = int(float(data.get("current_progress") or 0))
                        total = int(float(data.get("total_progress") or 0))
                        progress(current, total)
                    elif event == "bgtask_done":
                        message = data.get("message")
                        return None if message is None else str(message)
                    elif event in ("bgtask_failed", "bgtask_cancelled"):
                        raise BackgroundTaskFailed(event, data.get("message"))
            except httpx.HTTPError as exc:
                raise ClientError(
                    f"The progress stream of background task {task_id} broke ({exc}). The task "
                    "goes on; check the folder with `cygnet vfolder info`.",
                    self._s.config.endpoint,
                ) from exc
        raise ClientError(
            f"The progress stream of background task {task_id} ended without an outcome.",
            self._s.config.endpoint,
        )


def _identity(path: Path) -> tuple[str, int, int]:
    """What tells an unchanged local file: its absolute path, size and modification time."""
    st = path.stat()
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def _id(folder: FolderRef) -> str:
    return folder.hex if isinstance(folder, uuid.UUID) else str(folder)


__all__ = [
    "BackgroundTaskFailed",
    "FolderRef",
    "ProgressFn",
    "TransferIncomplete",
    "TransferJournal",
    "TransferResult",
    "UploadItem",
    "UploadPlan",
    "VFolders",
    "part_path",
    "plan_upload",
    "remote_join",
    "with_token",
]
