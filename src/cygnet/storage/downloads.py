"""Streamed downloads: ranges, validators and a read-ahead chunk reader.

The body is read with ``pread`` in a worker thread, 8 MiB at a time, one chunk ahead of the
one being sent, so the disk and the socket work at the same time. Every response carries
``Content-Length`` (the official client reads it unconditionally), ``Last-Modified`` and an
``ETag``; ``Range: bytes=N-`` / ``N-M`` / ``-N`` gives 206 with ``Content-Range``, and an
``If-Range`` that no longer matches (the file changed) gives the whole file (200)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

READ_CHUNK = 8 * 1024 * 1024


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` of a single byte range, ``None`` for the whole file (no header,
    multiple ranges, or another unit); ``RangeNotSatisfiable`` if it lies beyond the end."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable
            start = max(0, size - suffix)
            end = size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
            if start >= size >= 0 and (not last or end >= start):
                raise RangeNotSatisfiable
            if start < 0 or end < start:
                return None
            end = min(end, size - 1)
    except ValueError:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, end - start + 1


def last_modified(mtime: float) -> str:
    return formatdate(int(mtime), usegmt=True)


def etag(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


def if_range_matches(value: str | None, st: os.stat_result) -> bool:
    """Whether an ``If-Range`` validator still describes the file (absent: yes)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag(st)
    if value == last_modified(st.st_mtime):
        return True
    try:
        return int(parsedate_to_datetime(value).timestamp()) == int(st.st_mtime)
    except (TypeError, ValueError):
        return False


def content_disposition(filename: str) -> str:
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def file_chunks(
    fd: int, start: int, length: int, chunk: int = READ_CHUNK
) -> AsyncGenerator[bytes, None]:
    """Read ``length`` bytes from ``fd`` at ``start``, one chunk ahead; closes ``fd`` when
    done (also when the consumer stops early). Raises ``OSError`` if the file shrank."""
    loop = asyncio.get_running_loop()
    pos, end = start, start + length
    nxt: asyncio.Future[bytes] | None = None
    try:
        if pos < end:
            nxt = loop.run_in_executor(None, os.pread, fd, min(chunk, end - pos), pos)
        while nxt is not None:
            data = await nxt
            nxt = None
            if not data:
                raise OSError(f"the file shrank while it was being sent (at {pos} of {end})")
            pos += len(data)
            if pos < end:
                nxt = loop.run_in_executor(None, os.pread, fd, min(chunk, end - pos), pos)
            yield data
    finally:
        if nxt is not None and not nxt.done():
            nxt.add_done_callback(lambda _: os.close(fd))
        else:
            os.close(fd)
