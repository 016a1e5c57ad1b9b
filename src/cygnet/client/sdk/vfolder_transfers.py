"""Moving bytes to and from a storage proxy's client-facing API (no auth headers: the token in
the URL authorises one transfer): tus uploads read piece by piece from the local file, and
streamed downloads into a ``.part`` file. Neither holds a whole file in memory.

What an interrupted transfer needs to resume is kept by a ``TransferJournal``; ``VFolders``
(in ``vfolders.py``) asks the manager for the tokens and drives these functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import posixpath
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from cygnet.client.sdk.errors import APIError, ClientError, NotFound

ProgressFn = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as a transfer or a clone advances."""

PATCH_BYTES = 64 << 20  # one tus PATCH request at most
PIECE_BYTES = 1 << 20  # read from / written to a file (and reported) at a time
RETRIES = 3  # reconnections per file after a broken connection or an offset mismatch
TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
PART_SUFFIX = ".part"


class TransferIncomplete(ClientError):
    """A transfer stopped before its end; running it again resumes it."""


# --- pure helpers ------------------------------------------------------------------------------


def with_token(url: str, token: str, **extra: str) -> str:
    """The proxy's ``url`` with its query replaced by ``token=`` (and ``extra``)."""
    parts = urlsplit(url)
    query = urlencode({"token": token, **extra})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def remote_join(*parts: str) -> str:
    """A folder-relative path from pieces (``""`` and ``.`` are the root; no leading ``/``)."""
    cleaned = [p.strip("/") for p in parts if p and p.strip("/") not in ("", ".")]
    return posixpath.join(*cleaned) if cleaned else ""


def part_path(target: Path) -> Path:
    """Where a download into ``target`` is written until it is complete."""
    return target.with_name(target.name + PART_SUFFIX)


def parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes 100-199/1000`` as ``(100, 1000)`` (``None`` total for ``*``); None if unusable."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    first, _, _last = span.partition("-")
    try:
        return int(first), None if total.strip() == "*" else int(total)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class UploadItem:
    local: Path
    remote: str
    size: int


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """The files to upload (``remote`` relative to the folder root) and the directories to make
    for empty local directories."""

    files: list[UploadItem]
    dirs: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.files)


def plan_upload(paths: Sequence[Path], dest: str = "", *, recursive: bool = False) -> UploadPlan:
    """What uploading ``paths`` into the folder directory ``dest`` sends, placed as ``cp``
    would: a file as ``dest/<name>``, a directory (with ``recursive``) as ``dest/<name>/...``.

    ``ValueError`` for a missing path or a directory without ``recursive``.
    """
    files: list[UploadItem] = []
    dirs: list[str] = []
    for path in paths:
        if path.is_dir():
            if not recursive:
                raise ValueError(
                    f"{str(path)!r} is a directory; add --recursive (-r) to upload it and "
                    "everything in it."
                )
            base = remote_join(dest, path.resolve().name)
            for root, subdirs, names in os.walk(path):
                subdirs.sort()
                here = remote_join(base, Path(root).relative_to(path).as_posix())
                if not names and not subdirs:
                    dirs.append(here)
                for name in sorted(names):
                    local = Path(root) / name
                    if local.is_file():
                        files.append(
                            UploadItem(local, remote_join(here, name), local.stat().st_size)
                        )
        elif path.is_file():
            files.append(UploadItem(path, remote_join(dest, path.name), path.stat().st_size))
        else:
            raise ValueError(f"{str(path)!r} does not exist or is not a regular file.")
    if not files and not dirs:
        raise ValueError("Nothing to upload.")
    return UploadPlan(files, dirs)


class TransferJournal:
    """What interrupted transfers need to resume, one small JSON file per transfer in
    ``directory`` (the CLI uses ``<config dir>/transfers``): an upload's tus URL with its token,
    a download's ``ETag``. A record is dropped when its transfer completes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:40]

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self._file(key).read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._file(key)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds tokens
        with os.fdopen(fd, "w") as f:
            json.dump(dict(record), f)
        os.replace(tmp, target)

    def drop(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class TransferResult:
    """One file moved: where, how big, and the offset it resumed from (0: from the start)."""

    remote: str
    local: str
    size: int
    resumed_from: int = 0


class Aggregate:
    """Turns per-file progress into (done, total) over a whole transfer."""

    def __init__(self, total: int, progress: ProgressFn | None) -> None:
        self.total = total
        self.base = 0
        self._progress = progress

    def file(self, done: int, _size: int) -> None:
        if self._progress is not None:
            self._progress(self.base + done, self.total)

    def finished(self, planned: int, actual: int) -> None:
        self.total += actual - planned  # the file may have changed since it was listed
        self.base += actual
        self.file(0, 0)


def storage_error(response: httpx.Response) -> APIError:
    """A storage proxy's problem+json answer as an ``APIError`` (``NotFound`` for 404)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = APIError.from_body(response.status_code, body, response.reason_phrase)
    if response.status_code == 404:
        return NotFound(404, error.error_code, error.title, error.msg, error.data, type=error.type)
    return error


def transport_error(url: str, exc: httpx.HTTPError) -> ClientError:
    host = urlsplit(url).netloc
    return TransferIncomplete(
        f"The transfer with the storage proxy at {host} broke ({exc or type(exc).__name__}). "
        "Run the same command again to resume it.",
        host,
    )


# --- uploads -----------------------------------------------------------------------------------


async def tus_offset(http: httpx.AsyncClient, url: str) -> tuple[int, int] | None:
    """``HEAD`` an upload: (offset, declared length), or None if it is gone or expired."""
    try:
        r = await http.head(url, headers={"Tus-Resumable": TUS_VERSION})
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    try:
        return int(r.headers["Upload-Offset"]), int(r.headers["Upload-Length"])
    except (KeyError, ValueError):
        return None


class _OffsetMismatch(Exception):
    """The proxy's offset is not the one a PATCH was sent for (409): ask it again."""


async def tus_upload(
    http: httpx.AsyncClient,
    url: str,
    local: Path,
    offset: int,
    size: int,
    progress: ProgressFn | None = None,
) -> None:
    """PATCH ``local`` from ``offset`` to ``size``; after a broken connection or an offset
    mismatch, ask the proxy where it stands and go on from there (``RETRIES`` times)."""
    failures = 0
    if progress is not None:
        progress(offset, size)
    while offset < size:
        try:
            offset = await _patch(http, url, local, offset, size, progress)
        except (httpx.TransportError, _OffsetMismatch) as exc:
            failures += 1
            found = await tus_offset(http, url) if failures <= RETRIES else None
            if found is None:
                if isinstance(exc, httpx.HTTPError):
                    raise transport_error(url, exc) from exc
                raise TransferIncomplete(
                    f"Uploading {local} stopped at byte {offset} of {size}; run the same "
                    "command again to resume it."
                ) from None
            offset = found[0]
            if progress is not None:
                progress(offset, size)


async def _patch(
    http: httpx.AsyncClient,
    url: str,
    local: Path,
    offset: int,
    size: int,
    progress: ProgressFn | None,
) -> int:
    """One PATCH of up to ``PATCH_BYTES`` from ``offset``; the proxy's new offset."""
    length = min(PATCH_BYTES, size - offset)

    async def body() -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(_open_at, local, offset)
        try:
            sent = 0
            while sent < length:
                piece = await asyncio.to_thread(f.read, min(PIECE_BYTES, length - sent))
                if not piece:
                    raise TransferIncomplete(f"{local} shrank while it was being uploaded.")
                sent += len(piece)
                yield piece
                if progress is not None:
                    progress(offset + sent, size)
        finally:
            f.close()

    r = await http.patch(
        url,
        content=body(),
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(offset),
            "Content-Type": OFFSET_CONTENT_TYPE,
            "Content-Length": str(length),
        },
    )
    if r.status_code == 409:
        raise _OffsetMismatch
    if r.status_code != 204:
        raise storage_error(r)
    return int(r.headers.get("Upload-Offset", offset + length))


def _open_at(path: Path, offset: int) -> BinaryIO:
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    f.seek(offset)
    return f


# --- downloads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """A completed GET into a ``.part`` file: the file's size, where this GET started."""

    size: int
    start: int
    etag: str | None
    last_modified: str | None


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    part: Path,
    *,
    if_range: str | None = None,
    on_start: Callable[[httpx.Response], None] | None = None,
    progress: ProgressFn | None = None,
) -> Fetched:
    """GET ``url`` into ``part``, continuing what ``part`` holds with ``Range`` (``If-Range``:
    a validator of the version ``part`` came from; the server answers with the whole file when
    it no longer matches). ``on_start`` sees the answer's headers before any byte is written;
    ``TransferIncomplete`` when the stream stops early (``part`` keeps what arrived)."""
    start = await asyncio.to_thread(_size_or_zero, part)
    for _attempt in range(2):
        headers = {}
        if start > 0:
            headers["Range"] = f"bytes={start}-"
            if if_range:
                headers["If-Range"] = if_range
        try:
            async with http.stream("GET", url, headers=headers) as r:
                if r.status_code == 416 and start > 0:
                    start = 0  # the .part is longer than the file: start over
                    continue
                if r.status_code not in (200, 206):
                    await r.aread()
                    raise storage_error(r)
                size, start = _span(r, start)
                if on_start is not None:
                    on_start(r)
                done = await _write(r, part, start, size, progress)
        except httpx.HTTPError as exc:
            raise transport_error(url, exc) from exc
        if done != size:
            raise TransferIncomplete(
                f"The download stopped at byte {done} of {size}; run the same command again to "
                "resume it."
            )
        return Fetched(size, start, r.headers.get("ETag"), r.headers.get("Last-Modified"))
    raise TransferIncomplete("The storage proxy refused the range twice; try again.")


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _span(r: httpx.Response, start: int) -> tuple[int, int]:
    """(the file's size, where this answer starts) for a 200 or 206 answer."""
    if r.status_code == 206:
        span = parse_content_range(r.headers.get("Content-Range"))
        if span is None or span[0] != start or span[1] is None:
            raise APIError(206, title="Unusable Content-Range from the storage proxy")
        return span[1], start
    return int(r.headers.get("Content-Length", 0)), 0


async def _write(
    r: httpx.Response, part: Path, start: int, size: int, progress: ProgressFn | None
) -> int:
    f = await asyncio.to_thread(_open_part, part, start)
    try:
        done = start
        if progress is not None:
            progress(done, size)
        async for chunk in r.aiter_bytes(PIECE_BYTES):
            await asyncio.to_thread(f.write, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, size)
    finally:
        await asyncio.to_thread(f.close)
    return done


def _open_part(part: Path, start: int) -> BinaryIO:
    f = open(part, "r+b" if start and part.exists() else "wb")  # noqa: SIM115 - closed by caller
    f.truncate(start)
    f.seek(start)
    return f


def finish_download(part: Path, target: Path, last_modified: str | None) -> None:
    """Rename a complete ``.part`` into place with the server's modification time."""
    os.replace(part, target)
    if not last_modified:
        return
    try:
        when = parsedate_to_datetime(last_modified).timestamp()
        os.utime(target, (when, when))
    except (TypeError, ValueError, OSError):
        return
