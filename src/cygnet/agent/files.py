"""Safe file transfer into and out of a kernel's working directory, done on the agent's host.

Every kernel has a scratch directory on the host that it sees as ``/home/work``. Users name
files relative to it (``a/b``) or absolutely inside it (``/home/work/a/b``); the kernel itself
can put anything in that directory, including symlinks to anywhere and directories that it
swaps for symlinks while we work. These functions never read, write, create or delete anything
outside the scratch directory (the *root*), whatever the path and whatever the kernel does.

How a path is resolved (``PathOutsideWorkdir``, a 400 error, for anything refused):

1. The text is checked: a ``str`` without NUL bytes, not empty, encodable to the file system,
   at most 4096 bytes, every name at most 255 bytes. An absolute path must start with the
   names ``home``, ``work``. ``.`` and empty names (``a//b``) are dropped and ``..`` removes
   the previous name, lexically; a ``..`` above the root is refused. Every other name is a
   plain name, however it looks (``\\u2025``, fullwidth dots, ``%2e%2e``, ``..\\x``).
2. The names are walked from a descriptor of the root, one ``openat(O_DIRECTORY|O_NOFOLLOW)``
   per name, so every step happens inside a directory already reached through real
   directories: no path string is ever handed to the kernel of the host, and a directory
   swapped for a symlink between two steps is seen as a symlink, never followed by the OS.
3. **Symlink rule.** A symlink met in the directory part, or as the final name of a read
   (``archive``, ``list_files``), is resolved by hand the way the kernel sees it: a relative
   target from the directory holding the link, an absolute one in the kernel's namespace (it
   must start with ``/home/work``); ``..`` is applied lexically and may not climb above the
   root. The walk then restarts from the root descriptor with the new names, so the target is
   itself walked under the same rules (chains are followed link by link; more than 40 links
   is refused). A link that leads anywhere outside is refused - including absolute targets
   naming the root by its host path, since the kernel cannot see host paths. The final name
   of a *write* is never followed: a symlink there is refused even when it points inside.
   Symlinks *inside* an archived directory are stored as symlinks and never followed.
4. Only regular files are read or written; FIFOs and device nodes are opened neither for
   reading nor for writing (an archive records them as such, without content).

The functions are synchronous and touch only the file system; the agent runs them in a thread.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cygnet.common.errors import (
    AgentError,
    CygnetError,
    InvalidAPIParameters,
    PathOutsideWorkdir,
)
from cygnet.common.rpc import FileEntry, FileList

WORKDIR = "/home/work"
_WORKDIR_NAMES = ["home", "work"]
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
MAX_SYMLINKS = 40  # links followed (and race retries) per resolution, as Linux's ELOOP limit
MAX_ARCHIVE_DEPTH = 128  # directory levels below the archived path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_WRITE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_TRUNC
    | os.O_NOFOLLOW
    | os.O_CLOEXEC
    | os.O_NONBLOCK
    | os.O_NOCTTY
)
_DISPLAY_LIMIT = 200
_TAR_TRAILER = 2 * tarfile.BLOCKSIZE


# ---------------------------------------------------------------------------------------------
# Public API


def resolve_display(path: str) -> str:
    """``path`` normalised and relative to ``/home/work``, for messages; never raises.

    ``/home/work/a/./b/`` and ``a//b`` give ``a/b``; the root gives ``.``; a path outside keeps
    its normalised form (``../x``, ``/etc/passwd``). Non-printable characters are escaped and
    long paths shortened, so the result is safe to put in an error message or a log line.
    """
    if not isinstance(path, str):
        return repr(path)[:_DISPLAY_LIMIT]
    if path == "":
        return ""
    norm = posixpath.normpath(path)
    if norm == WORKDIR:
        norm = "."
    elif norm.startswith(WORKDIR + "/"):
        norm = norm[len(WORKDIR) + 1 :]
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in norm)
    if len(shown) > _DISPLAY_LIMIT:
        shown = shown[: _DISPLAY_LIMIT - 1] + "…"
    return shown


def write_file(root: Path, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` under ``root``, creating missing parent directories (0o755).

    The file is opened with ``O_CREAT|O_TRUNC|O_NOFOLLOW`` (mode 0o644 for a new file): an
    existing regular file is overwritten in place, a symlink as the final name is refused
    (``PathOutsideWorkdir``), a directory or special file is refused (``InvalidAPIParameters``).
    """
    parts, is_dir = _parse(path)
    if is_dir:
        raise InvalidAPIParameters(f"is a directory: {resolve_display(path)!r}")
    with _errors(path), _open_root(root) as root_fd:
        parent, _names, name = _resolve(root_fd, path, parts, create=True, follow_final=False)
        try:
            if name is None:  # cannot happen: parts is not empty and the final is not followed
                raise InvalidAPIParameters(f"is a directory: {resolve_display(path)!r}")
            try:
                fd = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=parent)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise _refuse(path, "the file is a symlink") from None
                if exc.errno == errno.ENXIO:  # a FIFO nobody reads (or a device)
                    raise InvalidAPIParameters(
                        f"not a regular file: {resolve_display(path)!r}"
                    ) from None
                raise
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise InvalidAPIParameters(f"not a regular file: {resolve_display(path)!r}")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        finally:
            os.close(parent)


def archive(root: Path, path: str, max_bytes: int) -> bytes:
    """A tar archive of the file or directory at ``path`` (recursively), as ``docker cp`` makes
    it: member names start with the basename of ``path`` (``work`` for the root itself).

    Symlinks inside a directory are stored as symlinks and never followed; hard links to a file
    already stored become hard-link members; FIFOs and devices are stored without content;
    sockets are skipped. Raises ``InvalidAPIParameters`` if the archive would exceed
    ``max_bytes`` (checked before each member is read, so nothing large is held in memory).
    """
    parts, _ = _parse(path)
    arcname = parts[-1] if parts else posixpath.basename(WORKDIR)
    with _errors(path), _open_root(root) as root_fd:
        fd, _names, name = _resolve(root_fd, path, parts, create=False, follow_final=True)
        try:
            writer = _TarWriter(path, max_bytes)
            if name is None:
                writer.add_directory(fd, os.fstat(fd), arcname, depth=0)
            else:
                writer.add_top(fd, name, arcname)
            return writer.finish()
        finally:
            os.close(fd)


def list_files(root: Path, path: str = ".") -> FileList:
    """The entries of the directory at ``path``, sorted by name, as ``ls -l`` describes them:
    mode as ``stat.filemode`` (``-rw-r--r--``, ``drwxr-xr-x``, ``lrwxrwxrwx``), size, ctime,
    mtime and atime of the entry itself (symlinks are not followed). ``abspath`` is ``path`` as
    given. A missing directory (or a file) is an ``InvalidAPIParameters``."""
    parts, _ = _parse(path)
    with _errors(path), _open_root(root) as root_fd:
        try:
            fd, _names, name = _resolve(root_fd, path, parts, create=False, follow_final=True)
        except FileNotFoundError:
            raise InvalidAPIParameters(f"no such directory: {resolve_display(path)!r}") from None
        try:
            if name is not None:
                try:
                    os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    raise InvalidAPIParameters(
                        f"no such directory: {resolve_display(path)!r}"
                    ) from None
                raise InvalidAPIParameters(f"not a directory: {resolve_display(path)!r}")
            entries: list[FileEntry] = []
            for entry in sorted(os.listdir(fd)):
                try:
                    st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we listed
                entries.append(
                    FileEntry(
                        filename=entry,
                        mode=stat.filemode(st.st_mode),
                        size=st.st_size,
                        ctime=st.st_ctime,
                        mtime=st.st_mtime,
                        atime=st.st_atime,
                    )
                )
            return FileList(abspath=path, files=entries)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------
# Parsing and resolution


def _refuse(path: str, why: str) -> PathOutsideWorkdir:
    return PathOutsideWorkdir(f"refused path {resolve_display(path)!r}: {why}")


def _normalise(names: list[str], base: list[str], path: str, what: str) -> list[str]:
    """Apply ``names`` to ``base`` lexically; ``..`` above the root is refused."""
    out = list(base)
    for name in names:
        if name in ("", "."):
            continue
        if name == "..":
            if not out:
                raise _refuse(path, f"{what} goes above {WORKDIR}")
            out.pop()
            continue
        if len(os.fsencode(name)) > MAX_NAME_BYTES:
            raise _refuse(path, f"a name is longer than {MAX_NAME_BYTES} bytes")
        out.append(name)
    return out


def _strip_workdir(names: list[str], path: str, what: str) -> list[str]:
    """The names after ``/home/work`` of an absolute path (in the kernel's namespace)."""
    kept = [name for name in names if name not in ("", ".")]
    if kept[:2] != _WORKDIR_NAMES:
        raise _refuse(path, f"{what} is outside {WORKDIR}")
    return kept[2:]


def _parse(path: str) -> tuple[list[str], bool]:
    """The names of ``path`` below the root, and whether it can only name a directory."""
    if not isinstance(path, str):
        raise PathOutsideWorkdir("a path must be a string")
    if path == "":
        raise _refuse(path, "the path is empty")
    if "\x00" in path:
        raise _refuse(path, "the path contains a NUL byte")
    try:
        encoded = os.fsencode(path)
    except UnicodeError:
        raise _refuse(path, "the path cannot be encoded") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise _refuse(path, f"the path is longer than {MAX_PATH_BYTES} bytes")
    raw = path.split("/")
    if path.startswith("/"):
        raw = _strip_workdir(raw, path, "the path")
    parts = _normalise(raw, [], path, "the path")
    is_dir = not parts or path.endswith("/") or path.rsplit("/", 1)[-1] in (".", "..")
    return parts, is_dir


@contextmanager
def _open_root(root: Path) -> Iterator[int]:
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise AgentError(f"the kernel's working directory is unusable: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _errors(path: str) -> Iterator[None]:
    """Turn what the file system says into the API's errors."""
    shown = resolve_display(path)
    try:
        yield
    except CygnetError:
        raise
    except FileNotFoundError:
        raise InvalidAPIParameters(f"no such file or directory: {shown!r}") from None
    except NotADirectoryError:
        raise InvalidAPIParameters(f"not a directory: {shown!r}") from None
    except IsADirectoryError:
        raise InvalidAPIParameters(f"is a directory: {shown!r}") from None
    except PermissionError:
        raise InvalidAPIParameters(f"permission denied: {shown!r}") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENAMETOOLONG):
            raise _refuse(path, exc.strerror or "invalid path") from None
        raise AgentError(f"file operation on {shown!r} failed: {exc.strerror}") from None


def _resolve(
    root_fd: int, path: str, parts: list[str], *, create: bool, follow_final: bool
) -> tuple[int, list[str], str | None]:
    """Walk ``parts`` from ``root_fd`` under the symlink rule (module docstring).

    Returns ``(fd, names, final)``, the caller owning ``fd``: ``final`` is None when the path is
    a directory (``fd`` is that directory, ``names`` its names below the root); otherwise ``fd``
    is the directory holding ``final`` - which is not followed when ``follow_final`` is false,
    and is otherwise a non-directory that is not a symlink, or missing. Missing directories on
    the way are created (0o755) when ``create`` is true; otherwise ``FileNotFoundError``.
    """
    fd = os.dup(root_fd)
    names: list[str] = []
    pending = list(reversed(parts))  # a stack: the next name is last
    hops = 0

    def count_hop() -> None:
        nonlocal hops
        hops += 1
        if hops > MAX_SYMLINKS:
            raise _refuse(path, "too many levels of symbolic links (or the path keeps changing)")

    try:
        while pending:
            name = pending.pop()
            last = not pending
            if last and not follow_final:
                return fd, names, name
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if last:
                    return fd, names, name
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    count_hop()  # someone else made it (perhaps a symlink): look again
                pending.append(name)
                continue
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None  # changed under us: look again
                if st is None or stat.S_ISDIR(st.st_mode):
                    count_hop()
                    pending.append(name)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    count_hop()
                    try:
                        target = os.readlink(name, dir_fd=fd)
                    except OSError:
                        pending.append(name)  # changed under us: look again
                        continue
                    pending.extend(reversed(_link_target(names, target, path)))
                    os.close(fd)
                    fd = -1
                    fd = os.dup(root_fd)
                    names = []
                    continue
                if last:
                    return fd, names, name
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name) from None
            os.close(fd)
            fd = child
            names.append(name)
        return fd, names, None
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def _link_target(names: list[str], target: str, path: str) -> list[str]:
    """The names below the root that a symlink in directory ``names`` leads to."""
    raw = target.split("/")
    if target.startswith("/"):
        return _normalise(_strip_workdir(raw, path, "a symlink on the path"), [], path, "a symlink")
    return _normalise(raw, names, path, "a symlink on the path")


# ---------------------------------------------------------------------------------------------
# Archives


def _padded(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


class _TarWriter:
    """Builds the archive member by member, refusing to grow past ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self._path = path
        self._max = max_bytes
        self._buf = io.BytesIO()
        self._tar = tarfile.TarFile(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)
        self._links: dict[tuple[int, int], str] = {}  # (dev, inode) -> first member name

    def finish(self) -> bytes:
        end = self._tar.offset
        self._tar.close()
        # tarfile pads the end to a 10 KiB record; docker (Go's archive/tar) does not.
        return self._buf.getvalue()[: end + _TAR_TRAILER]

    def _info(self, arcname: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(arcname)
        info.type = kind
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid = st.st_uid
        info.gid = st.st_gid
        info.mtime = int(st.st_mtime)
        return info

    def _check(self, info: tarfile.TarInfo) -> None:
        header = info.tobuf(self._tar.format, self._tar.encoding, self._tar.errors)
        if self._tar.offset + len(header) + _padded(info.size) + _TAR_TRAILER > self._max:
            raise InvalidAPIParameters(
                f"the archive of {resolve_display(self._path)!r} would exceed {self._max} bytes"
            )

    def _add(self, info: tarfile.TarInfo, data: bytes = b"") -> None:
        self._check(info)
        self._tar.addfile(info, io.BytesIO(data) if info.size else None)

    def add_top(self, parent: int, name: str, arcname: str) -> None:
        """The archived path itself when it is not a directory (``_resolve`` followed links)."""
        if not self.add_entry(parent, name, arcname, depth=0, top=True):
            raise _refuse(self._path, "the path changed during the operation")

    def add_entry(self, parent: int, name: str, arcname: str, *, depth: int, top: bool) -> bool:
        """Add ``name`` in directory ``parent``; False if it changed under us (skipped)."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            if top:
                raise
            return False
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            if top:
                return False
            try:
                target = os.readlink(name, dir_fd=parent)
            except OSError:
                return False
            info = self._info(arcname, st, tarfile.SYMTYPE)
            info.linkname = target
            self._add(info)
        elif stat.S_ISDIR(mode) or stat.S_ISREG(mode):
            flags = _DIR_FLAGS if stat.S_ISDIR(mode) else _READ_FLAGS
            try:
                fd = os.open(name, flags, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EISDIR):
                    return False  # replaced between stat and open
                raise
            try:
                st = os.fstat(fd)
                if stat.S_IFMT(st.st_mode) != stat.S_IFMT(mode):
                    return False
                if stat.S_ISDIR(mode):
                    self.add_directory(fd, st, arcname, depth=depth)
                else:
                    self._add_file(fd, st, arcname)
            finally:
                os.close(fd)
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = (
                tarfile.FIFOTYPE
                if stat.S_ISFIFO(mode)
                else tarfile.CHRTYPE
                if stat.S_ISCHR(mode)
                else tarfile.BLKTYPE
            )
            info = self._info(arcname, st, kind)
            if not stat.S_ISFIFO(mode):
                info.devmajor = os.major(st.st_rdev)
                info.devminor = os.minor(st.st_rdev)
            self._add(info)
        return True  # sockets cannot be archived: skipped

    def add_directory(self, fd: int, st: os.stat_result, arcname: str, *, depth: int) -> None:
        if depth > MAX_ARCHIVE_DEPTH:
            raise InvalidAPIParameters(
                f"{resolve_display(self._path)!r} is nested deeper than "
                f"{MAX_ARCHIVE_DEPTH} directories"
            )
        self._add(self._info(arcname, st, tarfile.DIRTYPE))
        for name in sorted(os.listdir(fd)):
            self.add_entry(fd, name, f"{arcname}/{name}", depth=depth + 1, top=False)

    def _add_file(self, fd: int, st: os.stat_result, arcname: str) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self._links:
            info = self._info(arcname, st, tarfile.LNKTYPE)
            info.linkname = self._links[key]
            self._add(info)
            return
        info = self._info(arcname, st, tarfile.REGTYPE)
        info.size = st.st_size
        self._check(info)  # before reading anything
        chunks: list[bytes] = []
        remaining = st.st_size
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break  # the file shrank while we read it
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        info.size = len(data)
        self._add(info, data)
        if st.st_nlink > 1:
            self._links[key] = arcname
