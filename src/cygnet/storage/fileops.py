"""File operations inside one folder, given a descriptor of its root (see ``paths`` for the
rules). Synchronous; the API runs them in worker threads."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cygnet.storage.errors import (
    AlreadyExistsInStorage,
    FileNotFoundInFolder,
    InvalidPath,
    NotADirectoryInFolder,
    VolumeFull,
)
from cygnet.storage.paths import (
    check_name,
    lstat_at,
    parent_of,
    split_path,
    walk,
)

FileType = Literal["FILE", "DIRECTORY", "SYMLINK"]
COPY_CHUNK = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Usage:
    file_count: int
    used_bytes: int


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _kind(mode: int) -> FileType:
    if stat.S_ISDIR(mode):
        return "DIRECTORY"
    if stat.S_ISLNK(mode):
        return "SYMLINK"
    return "FILE"


def printable(text: str) -> str:
    """``text`` if it is valid Unicode, else with its undecodable bytes as ``\\xNN`` (names
    that are not UTF-8 on disk, lone surrogates sent by a client): JSON can carry it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def _item(name: str, st: os.stat_result) -> dict[str, Any]:
    return {
        "name": printable(name),
        "type": _kind(st.st_mode),
        "size": st.st_size,
        "mode": stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode),
        "created": _iso(getattr(st, "st_birthtime", st.st_ctime)),
        "modified": _iso(st.st_mtime),
    }


def list_files(root_fd: int, path: str) -> list[dict[str, Any]]:
    """The entries of the directory at ``path`` (symlinks as ``SYMLINK``, not followed)."""
    names = split_path(path)
    items: list[dict[str, Any]] = []
    with walk(root_fd, names) as fd, os.scandir(fd) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            items.append(_item(entry.name, st))
    items.sort(key=lambda item: item["name"])
    return items


def mkdir(root_fd: int, path: str, *, parents: bool, exist_ok: bool) -> None:
    with parent_of(root_fd, path, create_parents=parents) as (fd, name):
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
        except FileExistsError:
            st = lstat_at(fd, name, path)
            if not (exist_ok and stat.S_ISDIR(st.st_mode)):
                raise AlreadyExistsInStorage(f"{path!r} already exists") from None
        except OSError as exc:
            raise _translate(exc, path) from None


def _translate(exc: OSError, path: str) -> Exception:
    if exc.errno == errno.ENOENT:
        return FileNotFoundInFolder(f"no such file or directory: {path!r}")
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return AlreadyExistsInStorage(f"{path!r}: the destination already exists")
    if exc.errno == errno.ENOTDIR:
        return NotADirectoryInFolder(f"{path!r}: not a directory")
    if exc.errno == errno.EISDIR:
        return AlreadyExistsInStorage(f"{path!r} is a directory")
    if exc.errno == errno.EINVAL:
        return InvalidPath(f"{path!r}: cannot move a directory into itself")
    if exc.errno in (errno.ELOOP,):
        return InvalidPath(f"{path!r} goes through a symbolic link; refused")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return VolumeFull(str(exc))
    return exc


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def rename(root_fd: int, path: str, new_name: str) -> None:
    """Rename the entry at ``path`` within its directory; never replaces an existing entry."""
    check_name(new_name)
    with parent_of(root_fd, path) as (fd, name):
        lstat_at(fd, name, path)
        if name == new_name:
            return
        if _exists(fd, new_name):
            raise AlreadyExistsInStorage(f"{new_name!r} already exists next to {path!r}")
        try:
            os.rename(name, new_name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError as exc:
            raise _translate(exc, path) from None


def move(root_fd: int, src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; an existing directory ``dst`` receives it (``dst/<name>``).
    Never replaces an existing entry."""
    src_names = split_path(src, allow_root=False)
    dst_names = split_path(dst)
    with parent_of(root_fd, src) as (sfd, sname):
        lstat_at(sfd, sname, src)
        with walk(root_fd, dst_names[:-1] if dst_names else []) as dfd:
            target_fd = -1
            try:
                if dst_names:
                    dname = dst_names[-1]
                    try:
                        st = os.stat(dname, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        st = None
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        target_fd = os.open(
                            dname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd
                        )
                        fd, name = target_fd, src_names[-1]
                    elif st is not None:
                        raise AlreadyExistsInStorage(f"{dst!r} already exists")
                    else:
                        fd, name = dfd, dname
                else:
                    fd, name = dfd, src_names[-1]
                if dst_names[: len(src_names)] == src_names:
                    raise InvalidPath(f"cannot move {src!r} into itself")
                if _exists(fd, name):
                    raise AlreadyExistsInStorage(f"{name!r} already exists in {dst!r}")
                os.rename(sname, name, src_dir_fd=sfd, dst_dir_fd=fd)
            except OSError as exc:
                raise _translate(exc, src) from None
            finally:
                if target_fd >= 0:
                    os.close(target_fd)


def delete(root_fd: int, path: str, *, recursive: bool) -> None:
    """Delete a file or symlink, or a directory (non-empty ones only with ``recursive``)."""
    with parent_of(root_fd, path) as (fd, name):
        st = lstat_at(fd, name, path)
        try:
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=fd)
            elif recursive:
                # fd-based and symlink-attack safe (shutil.rmtree.avoids_symlink_attacks)
                shutil.rmtree(name, dir_fd=fd)
            else:
                os.rmdir(name, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY:
                raise InvalidPath(
                    f"{path!r} is a non-empty directory; delete it with recursive=true"
                ) from None
            raise _translate(exc, path) from None


def usage(root_fd: int) -> Usage:
    """Files (anything not a directory) and their apparent sizes in bytes."""
    count = size = 0
    for _top, dirs, files, dfd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
        for name in files + [d for d in dirs if _is_link(dfd, d)]:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            count += 1
            size += st.st_size
    return Usage(count, size)


def _is_link(dfd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def create_empty(root_fd: int, path: str) -> None:
    """Create (or truncate) the regular file at ``path``, making its parent directories."""
    with parent_of(root_fd, path, create_parents=True) as (fd, name):
        try:
            out = os.open(
                name,
                os.O_WRONLY
                | os.O_CREAT
                | os.O_TRUNC
                | os.O_NOFOLLOW
                | os.O_CLOEXEC
                | os.O_NONBLOCK,
                0o644,
                dir_fd=fd,
            )
        except OSError as exc:
            raise _translate(exc, path) from None
        try:
            if not stat.S_ISREG(os.fstat(out).st_mode):
                raise InvalidPath(f"{path!r} is not a regular file")
        finally:
            os.close(out)


def check_upload_target(root_fd: int, path: str) -> None:
    """Refuse early an upload whose target is a directory or lies below a file."""
    names = split_path(path, allow_root=False)
    fd = root_fd
    opened: list[int] = []
    try:
        for name in names[:-1]:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                return  # parents will be created
            except OSError as exc:
                raise _translate(exc, path) from None
            opened.append(fd)
        try:
            st = os.stat(names[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise AlreadyExistsInStorage(f"{path!r} is a directory")
        if stat.S_ISLNK(st.st_mode):
            raise InvalidPath(f"{path!r} is a symbolic link; refused")
    finally:
        for opened_fd in opened:
            os.close(opened_fd)


def place(staging_fd: int, staged: str, root_fd: int, path: str) -> None:
    """Move a completed upload from the staging area to ``path`` (replacing a file there)."""
    with parent_of(root_fd, path, create_parents=True) as (fd, name):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise AlreadyExistsInStorage(f"{path!r} is a directory")
        try:
            os.rename(staged, name, src_dir_fd=staging_fd, dst_dir_fd=fd)
        except OSError as exc:
            raise _translate(exc, path) from None


def copy_tree(
    src_fd: int, dst_fd: int, progress: Callable[[int], None], chunk: int = COPY_CHUNK
) -> None:
    """Copy the contents of one folder into another (empty) one: directories, regular files
    (``copy_file_range``), symlinks as symlinks (never followed); other kinds are skipped.
    ``progress(n)`` is called with the bytes copied since the last call."""
    for top, dirs, files, sfd in os.fwalk(".", dir_fd=src_fd, follow_symlinks=False):
        rel = [] if top == "." else top[2:].split("/")
        with walk(dst_fd, rel) as dfd:
            for name in dirs:
                st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
                else:
                    os.mkdir(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=dfd)
            for name in files:
                st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
                elif stat.S_ISREG(st.st_mode):
                    _copy_file(sfd, dfd, name, st, progress, chunk)


def _copy_file(
    sfd: int,
    dfd: int,
    name: str,
    st: os.stat_result,
    progress: Callable[[int], None],
    chunk: int,
) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    src = os.open(name, flags, dir_fd=sfd)
    try:
        mode = stat.S_IMODE(st.st_mode)
        dst = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode,
            dir_fd=dfd,
        )
        try:
            while True:
                try:
                    n = os.copy_file_range(src, dst, chunk)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL):
                        raise
                    n = os.sendfile(dst, src, None, chunk)
                if n == 0:
                    break
                progress(n)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(dst)
    finally:
        os.close(src)
