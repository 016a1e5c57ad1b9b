"""Resumable uploads (the tus 1.0 subset the official client speaks; wire notes 2.2).

An upload is named by the ``upload_id`` in its token. Its bytes are staged in the volume's
hidden area (``<volume>/.cygnet/staging/<upload_id>``), outside every folder, so a folder never
shows a half-written file; the staged file's size is the upload's offset, so an interrupted
upload resumes with ``HEAD`` (offset) and ``PATCH`` from there, also after a proxy restart.
When the offset reaches the declared size the staged file is renamed into place (same file
system: atomic), replacing a file of that name, with missing parent directories created.

Data path: where the HTTP server offers it (``BodyToFd``: the client-facing server moves a
``Content-Length`` body from the socket into the staged file with ``splice`` in a worker
thread), the body never enters Python; otherwise it is gathered into ~8 MiB batches that are
written with one ``pwritev`` in a worker thread while the next batch arrives. Nothing is
fsynced per chunk (``fsync_uploads`` fsyncs a completed file once). A chunk that would
exceed the declared size or the folder's quota is refused and the staged file is cut back to
where it was: nothing changes. Bytes received before a client disconnects are kept (that is
what resuming is for).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect

from cygnet.common.errors import BadRequest
from cygnet.common.logging import get_logger
from cygnet.storage import fileops
from cygnet.storage.errors import InvalidPath, UploadOffsetMismatch, VolumeNotFound
from cygnet.storage.paths import split_path
from cygnet.storage.tokens import TokenClaims
from cygnet.storage.volumes.base import Volume, folder_hex

log = get_logger(__name__)

BATCH_BYTES = 8 * 1024 * 1024
IOV_MAX = 512

BodyToFd = Callable[[int, int, int], Awaitable[int]]
"""``(fd, offset, count) -> written``: write the next ``count`` bytes of the request body to
``fd`` at ``offset``; fewer than ``count`` means the client went away."""


@dataclass(slots=True)
class _Active:
    volume: str
    folder: str
    offset: int
    touched: float


def _pwritev_all(fd: int, bufs: list[bytes], pos: int) -> None:
    views = [memoryview(b) for b in bufs]
    while views:
        n = os.pwritev(fd, views[:IOV_MAX], pos)
        pos += n
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def target_path(claims: TokenClaims, dst_dir: str | None) -> str:
    names = split_path(dst_dir or "") + split_path(claims.relpath, allow_root=False)
    return "/".join(names)


class Uploads:
    def __init__(self, volumes: dict[str, Volume], *, fsync: bool = False) -> None:
        self._volumes = volumes
        self._fsync = fsync
        self._locks: dict[str, asyncio.Lock] = {}
        self._active: dict[str, _Active] = {}
        self._done: dict[str, tuple[int, float]] = {}

    def _volume(self, claims: TokenClaims) -> Volume:
        try:
            return self._volumes[claims.volume]
        except KeyError:
            raise VolumeNotFound(f"no volume {claims.volume!r}") from None

    @staticmethod
    def _upload_id(claims: TokenClaims) -> str:
        try:
            return uuid.UUID(claims.upload_id or "").hex
        except ValueError:
            raise InvalidPath("the token names no upload") from None

    def staged_bytes(self, volume: str, folder: str, *, exclude: str | None = None) -> int:
        """Bytes staged for unfinished uploads into a folder (they count against its quota)."""
        key = folder_hex(folder)
        return sum(
            a.offset
            for uid, a in self._active.items()
            if a.volume == volume and a.folder == key and uid != exclude
        )

    def _staged_size(self, volume: Volume, upload_id: str) -> int:
        staging = volume.open_staging()
        try:
            return os.stat(upload_id, dir_fd=staging, follow_symlinks=False).st_size
        except FileNotFoundError:
            return 0
        finally:
            os.close(staging)

    async def offset(self, claims: TokenClaims) -> int:
        upload_id = self._upload_id(claims)
        if upload_id in self._done:
            return self._done[upload_id][0]
        return await asyncio.to_thread(self._staged_size, self._volume(claims), upload_id)

    async def cancel(self, claims: TokenClaims) -> None:
        upload_id = self._upload_id(claims)
        volume = self._volume(claims)
        async with self._locks.setdefault(upload_id, asyncio.Lock()):
            staging = volume.open_staging()
            try:
                os.unlink(upload_id, dir_fd=staging)
            except FileNotFoundError:
                pass
            finally:
                os.close(staging)
            self._active.pop(upload_id, None)

    async def patch(
        self,
        claims: TokenClaims,
        offset: int,
        content_length: int | None,
        body: AsyncIterator[bytes],
        dst_dir: str | None,
        body_to_fd: BodyToFd | None = None,
    ) -> int:
        """Append ``body`` at ``offset``; the new offset (the upload is placed when complete).
        ``body_to_fd``, if given, receives a ``Content-Length`` body instead of ``body``."""
        upload_id = self._upload_id(claims)
        size = claims.size or 0
        volume = self._volume(claims)
        path = target_path(claims, dst_dir)
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            done = self._done.get(upload_id)
            if done is not None:
                if offset == done[0] and not content_length:
                    return done[0]
                raise UploadOffsetMismatch(data={"offset": done[0]})
            if content_length is not None and body_to_fd is not None:
                body = _direct(body_to_fd, content_length)
            return await self._append(
                claims, volume, upload_id, size, offset, content_length, body, path
            )

    async def _append(
        self,
        claims: TokenClaims,
        volume: Volume,
        upload_id: str,
        size: int,
        offset: int,
        content_length: int | None,
        body: AsyncIterator[bytes],
        path: str,
    ) -> int:
        staging = volume.open_staging()
        fd = -1
        current = -1
        try:
            fd = os.open(
                upload_id,
                os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=staging,
            )
            current = os.fstat(fd).st_size
            if offset != current:
                raise UploadOffsetMismatch(
                    f"Upload-Offset is {offset} but the upload is at {current}",
                    data={"offset": current},
                )
            if content_length is not None and current + content_length > size:
                raise BadRequest(
                    f"the chunk ({content_length} bytes at {current}) goes beyond the "
                    f"upload's declared size ({size} bytes)"
                )
            others = self.staged_bytes(claims.volume, claims.folder, exclude=upload_id)
            wanted = current + (content_length if content_length is not None else 0)
            await asyncio.to_thread(volume.check_quota, claims.folder, others + wanted)
            received = await self._receive(
                claims, volume, fd, current, size, content_length, body, others
            )
            new = current + received
            self._active[upload_id] = _Active(
                claims.volume, folder_hex(claims.folder), new, time.monotonic()
            )
            if new == size:
                try:
                    await asyncio.to_thread(
                        self._finish, volume, claims, fd, staging, upload_id, path
                    )
                except BaseException:
                    os.ftruncate(fd, current)
                    self._active[upload_id].offset = current
                    raise
                self._active.pop(upload_id, None)
                self._done[upload_id] = (size, time.monotonic())
                self._locks.pop(upload_id, None)
            return new
        except BaseException:
            if current == 0 and os.fstat(fd).st_size == 0:  # leave no empty staged file
                self._active.pop(upload_id, None)
                try:
                    os.unlink(upload_id, dir_fd=staging)
                except FileNotFoundError:
                    pass
            raise
        finally:
            if fd >= 0:
                os.close(fd)
            os.close(staging)

    async def _receive(
        self,
        claims: TokenClaims,
        volume: Volume,
        fd: int,
        start: int,
        size: int,
        content_length: int | None,
        body: AsyncIterator[bytes],
        others: int,
    ) -> int:
        if isinstance(body, _direct):
            return await self._receive_direct(fd, start, body)
        loop = asyncio.get_running_loop()
        pos = start
        batch: list[bytes] = []
        batched = 0
        pending: asyncio.Future[None] | None = None
        try:
            async for chunk in body:
                if not chunk:
                    continue
                if pos + batched + len(chunk) > size:
                    raise BadRequest(f"the body goes beyond the upload's declared size ({size})")
                batch.append(chunk)
                batched += len(chunk)
                if batched >= BATCH_BYTES:
                    if pending is not None:
                        await pending
                    if content_length is None:
                        await asyncio.to_thread(
                            volume.check_quota, claims.folder, others + pos + batched
                        )
                    pending = loop.run_in_executor(None, _pwritev_all, fd, batch, pos)
                    pos += batched
                    batch, batched = [], 0
            if pending is not None:
                await pending
                pending = None
            if batch:
                if content_length is None:
                    await asyncio.to_thread(
                        volume.check_quota, claims.folder, others + pos + batched
                    )
                await asyncio.to_thread(_pwritev_all, fd, batch, pos)
                pos += batched
        except ClientDisconnect:
            # keep what arrived before the client went away: the upload resumes from there
            if pending is not None:
                await asyncio.wait([pending])
            if batch:
                await asyncio.to_thread(_pwritev_all, fd, batch, pos)
            raise
        except BaseException:
            # refused (size, quota) or failed: the staged file goes back to where it was
            if pending is not None:
                await asyncio.wait([pending])
            os.ftruncate(fd, start)
            raise
        return pos - start

    @staticmethod
    async def _receive_direct(fd: int, start: int, body: _direct) -> int:
        try:
            got = await body.to_fd(fd, start, body.length)
        except BaseException:
            os.ftruncate(fd, start)  # failed (disk full...): back to where it was
            raise
        if got < body.length:
            raise ClientDisconnect()  # keep what arrived: the upload resumes from there
        return got

    def _finish(
        self,
        volume: Volume,
        claims: TokenClaims,
        fd: int,
        staging: int,
        upload_id: str,
        path: str,
    ) -> None:
        os.fchmod(fd, 0o644)
        if self._fsync:
            os.fsync(fd)
        with volume.folder_fd(claims.folder) as root:
            fileops.place(staging, upload_id, root, path)
        volume.note_changed(claims.folder)

    def forget_finished(self, max_age: float) -> None:
        now = time.monotonic()
        for uid, (_, at) in list(self._done.items()):
            if now - at > max_age:
                del self._done[uid]
        for uid, active in list(self._active.items()):
            if now - active.touched > max_age:
                del self._active[uid]


class _direct(AsyncIterator[bytes]):
    """A body that ``Uploads`` hands to a ``BodyToFd`` instead of iterating it."""

    def __init__(self, to_fd: BodyToFd, length: int) -> None:
        self.to_fd = to_fd
        self.length = length

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


def sweep_staging(volume: Volume, max_age: float) -> int:
    """Remove staged uploads untouched for ``max_age`` seconds; how many were removed."""
    removed = 0
    now = time.time()
    staging = volume.open_staging()
    try:
        for name in os.listdir(staging):
            try:
                st = os.stat(name, dir_fd=staging, follow_symlinks=False)
                if now - st.st_mtime > max_age:
                    os.unlink(name, dir_fd=staging)
                    removed += 1
            except OSError:
                continue
    finally:
        os.close(staging)
    return removed
