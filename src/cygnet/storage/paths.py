"""Safe path resolution inside a folder (item 5 of the storage issue).

Users name files relative to a folder's root (``a/b.txt``). Whatever the text and whatever
happens on disk meanwhile (a directory swapped for a symlink from inside a session), the
functions here never reach anything outside the root:

1. **The text is checked** (``split_path``): a ``str``; no NUL, no control characters
   (C0, DEL, C1); no backslash (``..\\x`` is a traversal on other systems); not absolute; no
   ``..``; no empty name (``a//b``), except that a single trailing ``/`` is allowed; ``.``
   names are dropped (``""`` and ``.`` name the root); at most 255 bytes (UTF-8) per name and
   4096 bytes in all. **Unicode**: names are *not* normalised - a name is its exact UTF-8
   bytes, as the kernel sees it, so one file never has two spellings. Because other tools
   (archivers, browsers, web frameworks) may apply NFKC, a name whose NFKC form is ``.``,
   ``..``, or contains ``/`` or ``\\`` (fullwidth dots, ``U+2024``, ``U+2025``, ``U+FF0F``,
   ``U+2215`` ...) is refused, and so are bidirectional controls (``U+202A``-``U+202E``,
   ``U+2066``-``U+2069``, ``U+200E``, ``U+200F``, ``U+061C``) that make a name display as
   another, and lone surrogates. Percent-encoded text (``%2e%2e``) is a literal name: the
   HTTP layer decodes once, never twice.
2. **The walk is descriptor-relative** (``walk``): from a descriptor of the folder root, one
   ``openat(O_DIRECTORY | O_NOFOLLOW)`` per name, so each step happens inside a directory
   already reached through real directories. A symlink met anywhere on the way is refused
   (``ELOOP``/``ENOTDIR`` from the kernel, never a race window).
3. **The final operation is relative to the parent's descriptor** (``dir_fd=``), with
   ``O_NOFOLLOW`` / ``follow_symlinks=False``: a symlink in the folder is listed (type
   ``SYMLINK``), renamed, moved or deleted as a link, and never followed - not even when it
   points inside the folder. Reading or archiving one is refused or skipped.

Everything here is synchronous; the API runs it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from cygnet.storage.errors import (
    FileNotFoundInFolder,
    InvalidPath,
    NotADirectoryInFolder,
)

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# separators that NFKC leaves alone but that look like '/' or '\\'
_SLASHES = frozenset("\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _check_name(name: str, path: str) -> None:
    for ch in name:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            raise InvalidPath(f"control character U+{code:04X} in path {path!r}")
        if ch in _BIDI:
            raise InvalidPath(f"bidirectional control U+{code:04X} in path {path!r}")
        if 0xD800 <= code <= 0xDFFF:
            raise InvalidPath(f"lone surrogate in path {path!r}")
        if ch == "\\" or ch in _SLASHES:
            raise InvalidPath(f"backslash or slash lookalike U+{code:04X} in path {path!r}")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidPath(f"a name in {path!r} is longer than {MAX_NAME_BYTES} bytes")
    folded = unicodedata.normalize("NFKC", name)
    if folded in (".", "..") or "/" in folded or "\\" in folded:
        raise InvalidPath(f"{name!r} looks like a dot name or a separator; refused")


def split_path(path: object, *, allow_root: bool = True) -> list[str]:
    """The names of ``path`` (``[]`` for the root), or ``InvalidPath``."""
    if not isinstance(path, str):
        raise InvalidPath("a path must be a string")
    if "\x00" in path:
        raise InvalidPath("NUL byte in path")
    try:
        size = len(path.encode())
    except UnicodeEncodeError:
        raise InvalidPath(f"path {path!r} is not valid Unicode") from None
    if size > MAX_PATH_BYTES:
        raise InvalidPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    if path.startswith("/"):
        raise InvalidPath(f"absolute path {path!r}; give a path relative to the folder")
    text = path[:-1] if path.endswith("/") else path
    names: list[str] = []
    if text not in ("", "."):
        for name in text.split("/"):
            if name == "":
                raise InvalidPath(f"empty name in path {path!r}")
            if name == ".":
                continue
            if name == "..":
                raise InvalidPath(f"'..' in path {path!r}")
            _check_name(name, path)
            names.append(name)
    if not names and not allow_root:
        raise InvalidPath(f"path {path!r} names the folder itself")
    return names


def check_name(name: object) -> str:
    """A single new name (``rename``): no separator, not ``.``/``..``."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        raise InvalidPath(f"invalid name {name!r}")
    if "/" in name or "\x00" in name:
        raise InvalidPath(f"a name may not contain '/' or NUL: {name!r}")
    _check_name(name, name)
    return name


def _os_error(exc: OSError, path: str) -> Exception:
    if exc.errno == errno.ENOENT:
        return FileNotFoundInFolder(f"no such file or directory: {path!r}")
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return InvalidPath(f"{path!r} goes through a symbolic link; refused")
    if exc.errno == errno.ENOTDIR:
        return NotADirectoryInFolder(f"{path!r}: a component is not a directory")
    return exc


def open_dir(root_fd: int, names: list[str], *, create: bool = False, path: str = "") -> int:
    """A new descriptor of the directory ``names`` below ``root_fd`` (the caller closes it).
    With ``create``, missing directories are made (mode 0755). Symlinks are refused."""
    fd = os.dup(root_fd)
    name = ""
    try:
        for name in names:
            try:
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and _is_symlink(fd, name):
            exc = OSError(errno.ELOOP, "symbolic link")
        os.close(fd)
        raise _os_error(exc, path or "/".join(names)) from None
    return fd


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


@contextmanager
def walk(root_fd: int, names: list[str], *, create: bool = False) -> Iterator[int]:
    """``open_dir`` as a context manager that closes the descriptor."""
    fd = open_dir(root_fd, names, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def parent_of(
    root_fd: int, path: str, *, create_parents: bool = False
) -> Iterator[tuple[int, str]]:
    """``(descriptor of the parent directory, final name)`` for a path that is not the root."""
    names = split_path(path, allow_root=False)
    with walk(root_fd, names[:-1], create=create_parents) as fd:
        yield fd, names[-1]


def lstat_at(dir_fd: int, name: str, path: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise _os_error(exc, path) from None


def open_regular(root_fd: int, path: str) -> int:
    """A read descriptor of the regular file at ``path`` (never through a symlink)."""
    with parent_of(root_fd, path) as (dir_fd, name):
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError as exc:
            raise _os_error(exc, path) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InvalidPath(f"{path!r} is not a regular file")
    os.set_blocking(fd, True)
    return fd
