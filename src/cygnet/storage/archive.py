"""Archive downloads: several files and directories of a folder as one ZIP, streamed.

The archive is ``ZIP_STORED`` (no compression: models and data sets rarely compress, and the
disk or network is the limit), with data descriptors for the CRCs, UTF-8 names and ZIP64
records only where sizes or offsets need them. All sizes are known from ``stat`` before the
first byte is sent, so the exact archive size is computed up front and the response carries
``Content-Length`` like a plain download. Entries are planned with a descriptor walk that
never follows symlinks (they and special files are left out); each file is reopened safely
when its turn comes and exactly its planned size is sent (a file that shrank meanwhile is
padded with zeros, one that grew is cut), so the length stays true.
"""

from __future__ import annotations

import asyncio
import os
import stat
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cygnet.common.logging import get_logger
from cygnet.storage.errors import FileNotFoundInFolder
from cygnet.storage.paths import lstat_at, open_dir, open_regular, parent_of, split_path

log = get_logger(__name__)

CHUNK = 8 * 1024 * 1024
Z32 = 0xFFFFFFFF
FLAG_UTF8 = 0x0800
FLAG_DESCRIPTOR = 0x0008


@dataclass(slots=True)
class Entry:
    arcname: str
    relpath: str
    is_dir: bool
    size: int
    mtime: float
    mode: int
    offset: int = 0
    zip64: bool = False
    crc: int = 0
    header: bytes = field(default=b"", repr=False)


def _dos_time(mtime: float) -> tuple[int, int]:
    t = time.localtime(max(mtime, 315532800))
    year = min(max(t.tm_year, 1980), 2107)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), (
        ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    )


def plan_entries(root_fd: int, paths: list[str]) -> list[Entry]:
    """The archive's entries for ``paths`` (files, and directories with their contents)."""
    entries: list[Entry] = []
    seen: set[str] = set()

    def add(entry: Entry) -> None:
        if entry.arcname not in seen:
            seen.add(entry.arcname)
            entries.append(entry)

    for path in paths:
        names = split_path(path, allow_root=True)
        rel = "/".join(names)
        if not names:
            st = os.fstat(root_fd)
            dir_fd = os.dup(root_fd)
        else:
            with parent_of(root_fd, path) as (pfd, name):
                st = lstat_at(pfd, name, path)
                if stat.S_ISREG(st.st_mode):
                    add(Entry(rel, rel, False, st.st_size, st.st_mtime, st.st_mode))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise FileNotFoundInFolder(f"{path!r} is neither a file nor a directory")
                add(Entry(rel + "/", rel, True, 0, st.st_mtime, st.st_mode))
                # swapped for a symlink since the lstat: refused like any other symlink
                dir_fd = open_dir(pfd, [name], path=path)
        try:
            for top, dirs, files, dfd in os.fwalk(".", dir_fd=dir_fd, follow_symlinks=False):
                prefix = "/".join(p for p in [rel, top[2:] if top != "." else ""] if p)
                for name in sorted(dirs):
                    child = _lstat_or_none(dfd, name)
                    if child is not None and stat.S_ISDIR(child.st_mode):
                        arc = f"{prefix}/{name}" if prefix else name
                        add(Entry(arc + "/", arc, True, 0, child.st_mtime, child.st_mode))
                for name in sorted(files):
                    child = _lstat_or_none(dfd, name)
                    if child is not None and stat.S_ISREG(child.st_mode):
                        arc = f"{prefix}/{name}" if prefix else name
                        add(Entry(arc, arc, False, child.st_size, child.st_mtime, child.st_mode))
        finally:
            os.close(dir_fd)
    return entries


def _lstat_or_none(dir_fd: int, name: str) -> os.stat_result | None:
    """A directory entry's own status; None if it vanished meanwhile (it is left out)."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


class ZipPlan:
    """The byte layout of the archive: local headers now, the central directory at the end."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        offset = 0
        for e in entries:
            e.offset = offset
            e.zip64 = e.size >= Z32 or offset >= Z32
            e.header = self._local_header(e)
            offset += len(e.header) + e.size + self._descriptor_len(e)
        self.cd_offset = offset
        self.cd_size = sum(46 + len(e.arcname.encode()) + (28 if e.zip64 else 0) for e in entries)
        self.zip64_end = len(entries) >= 0xFFFF or self.cd_offset >= Z32 or self.cd_size >= Z32
        self.total_size = self.cd_offset + self.cd_size + (76 if self.zip64_end else 0) + 22

    @staticmethod
    def _descriptor_len(e: Entry) -> int:
        if e.is_dir:
            return 0
        return 24 if e.zip64 else 16

    @staticmethod
    def _flags(e: Entry) -> int:
        return FLAG_UTF8 | (0 if e.is_dir else FLAG_DESCRIPTOR)

    def _local_header(self, e: Entry) -> bytes:
        name = e.arcname.encode()
        dtime, ddate = _dos_time(e.mtime)
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if e.zip64 else b""
        sizes = Z32 if e.zip64 else 0
        version = 45 if e.zip64 else 20
        return (
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                version,
                self._flags(e),
                0,
                dtime,
                ddate,
                0,
                sizes,
                sizes,
                len(name),
                len(extra),
            )
            + name
            + extra
        )

    @staticmethod
    def descriptor(e: Entry) -> bytes:
        if e.is_dir:
            return b""
        if e.zip64:
            return struct.pack("<IIQQ", 0x08074B50, e.crc, e.size, e.size)
        return struct.pack("<IIII", 0x08074B50, e.crc, e.size, e.size)

    def central_directory(self) -> bytes:
        parts: list[bytes] = []
        for e in self.entries:
            name = e.arcname.encode()
            dtime, ddate = _dos_time(e.mtime)
            if e.zip64:
                extra = struct.pack("<HHQQQ", 1, 24, e.size, e.size, e.offset)
                size = offset = Z32
            else:
                extra, size, offset = b"", e.size, e.offset
            attrs = (stat.S_IMODE(e.mode) | stat.S_IFMT(e.mode)) << 16 | (0x10 if e.is_dir else 0)
            parts.append(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    (3 << 8) | 45,
                    45 if e.zip64 else 20,
                    self._flags(e),
                    0,
                    dtime,
                    ddate,
                    e.crc,
                    size,
                    size,
                    len(name),
                    len(extra),
                    0,
                    0,
                    0,
                    attrs,
                    offset,
                )
                + name
                + extra
            )
        count = len(self.entries)
        if self.zip64_end:
            end64 = self.cd_offset + self.cd_size
            parts.append(
                struct.pack(
                    "<IQHHIIQQQQ",
                    0x06064B50,
                    44,
                    (3 << 8) | 45,
                    45,
                    0,
                    0,
                    count,
                    count,
                    self.cd_size,
                    self.cd_offset,
                )
            )
            parts.append(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
        parts.append(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(count, 0xFFFF),
                min(count, 0xFFFF),
                min(self.cd_size, Z32),
                min(self.cd_offset, Z32),
                0,
            )
        )
        return b"".join(parts)


def _read_crc(fd: int, n: int, pos: int, crc: int) -> tuple[bytes, int]:
    data = os.pread(fd, n, pos) if fd >= 0 else b""
    return data, zlib.crc32(data, crc)


async def stream_zip(root_fd: int, plan: ZipPlan) -> AsyncIterator[bytes]:
    """The archive's bytes; closes ``root_fd`` at the end."""
    try:
        for e in plan.entries:
            yield e.header
            if e.is_dir:
                continue
            try:
                fd = await asyncio.to_thread(open_regular, root_fd, e.relpath)
            except Exception as exc:
                log.warning("archive: %s vanished or changed (%s); sending zeros", e.relpath, exc)
                fd = -1
            try:
                pos = 0
                crc = 0
                while pos < e.size:
                    want = min(CHUNK, e.size - pos)
                    data, crc = await asyncio.to_thread(_read_crc, fd, want, pos, crc)
                    if len(data) < want:  # shrank: pad so that the planned length holds
                        pad = bytes(want - len(data))
                        crc = zlib.crc32(pad, crc)
                        data += pad
                    pos += len(data)
                    yield data
                e.crc = crc
            finally:
                if fd >= 0:
                    os.close(fd)
            yield plan.descriptor(e)
        yield plan.central_directory()
    finally:
        os.close(root_fd)
