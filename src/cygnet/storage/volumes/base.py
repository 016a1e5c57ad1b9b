"""The volume ABC: what the storage proxy needs from a storage backend.

A volume is a directory tree on this host that holds folders, one directory per folder at
``<path>/<hex[0:2]>/<hex[2:4]>/<hex[4:]>`` (``mount_path``, the path a runtime bind-mounts),
plus a hidden area ``<path>/.cygnet/`` (staged uploads, backend metadata) that no folder
path can reach. Backends implement the folder lifecycle and quotas (7 abstract methods); the
file operations are shared (``cygnet.storage.fileops``, descriptor-relative and symlink-safe)
and reached through ``folder_fd``. Methods are synchronous: the API calls them in threads.
Backends are found by name through the ``cygnet.volumes`` entry points.
"""

from __future__ import annotations

import abc
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cygnet.storage import fileops
from cygnet.storage.errors import FolderNotFound, InvalidPath
from cygnet.storage.fileops import Usage
from cygnet.storage.paths import DIR_FLAGS

META_DIR = ".cygnet"


@dataclass(frozen=True, slots=True)
class Capacity:
    capacity_bytes: int
    used_bytes: int


def folder_hex(folder_id: str | uuid.UUID) -> str:
    """The folder id as 32 hex digits; ``InvalidPath`` unless it is a UUID."""
    try:
        return (folder_id if isinstance(folder_id, uuid.UUID) else uuid.UUID(folder_id)).hex
    except (ValueError, AttributeError, TypeError):
        raise InvalidPath(f"folder id {folder_id!r} is not a UUID") from None


class Volume(abc.ABC):
    backend: ClassVar[str]
    capabilities: ClassVar[tuple[str, ...]] = ("vfolder", "quota")

    def __init__(self, name: str, path: Path, options: dict[str, Any]) -> None:
        self.name = name
        self.path = Path(path).absolute()
        self.options = options
        self.meta_path = self.path / META_DIR
        self.staging_path = self.meta_path / "staging"

    # -- lifecycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Check the backend can work here and create the hidden area (raise
        ``VolumeUnsupported`` or ``OSError`` with a clear message otherwise)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.staging_path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release what ``init`` acquired."""

    # -- folders ------------------------------------------------------------------------
    @abc.abstractmethod
    def create_folder(self, folder_id: str, quota_bytes: int | None) -> None:
        """Create an empty folder (``AlreadyExistsInStorage`` if it exists)."""

    @abc.abstractmethod
    def delete_folder(self, folder_id: str) -> None:
        """Delete a folder and everything in it (``FolderNotFound`` if missing)."""

    @abc.abstractmethod
    def get_quota(self, folder_id: str) -> int | None:
        """The folder's quota in bytes, ``None`` for unlimited."""

    @abc.abstractmethod
    def set_quota(self, folder_id: str, quota_bytes: int | None) -> None:
        """Set (``None``: remove) the folder's quota."""

    @abc.abstractmethod
    def usage(self, folder_id: str) -> Usage:
        """Files and bytes used by the folder."""

    @abc.abstractmethod
    def check_quota(self, folder_id: str, extra_bytes: int) -> None:
        """Raise ``FolderQuotaExceeded`` if the folder cannot take ``extra_bytes`` more."""

    @abc.abstractmethod
    def note_changed(self, folder_id: str) -> None:
        """The folder's contents changed through the proxy (forget cached usage)."""

    # -- shared helpers -----------------------------------------------------------------
    def capacity(self) -> Capacity:
        st = os.statvfs(self.path)
        total = st.f_blocks * st.f_frsize
        return Capacity(total, total - st.f_bfree * st.f_frsize)

    def mount_path(self, folder_id: str) -> Path:
        h = folder_hex(folder_id)
        return self.path / h[0:2] / h[2:4] / h[4:]

    def _names(self, folder_id: str) -> list[str]:
        h = folder_hex(folder_id)
        return [h[0:2], h[2:4], h[4:]]

    def open_folder(self, folder_id: str) -> int:
        """A descriptor of the folder's root (``FolderNotFound`` if there is none)."""
        fd = os.open(self.path, DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            for name in self._names(folder_id):
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except OSError:
            os.close(fd)
            raise FolderNotFound(f"no folder {folder_id} on volume {self.name!r}") from None
        return fd

    @contextmanager
    def folder_fd(self, folder_id: str) -> Iterator[int]:
        fd = self.open_folder(folder_id)
        try:
            yield fd
        finally:
            os.close(fd)

    def open_staging(self) -> int:
        return os.open(self.staging_path, DIR_FLAGS)

    def clone_folder(
        self, folder_id: str, target: Volume, target_id: str, progress: Callable[[int], None]
    ) -> None:
        """Copy this folder's contents into ``target``'s (existing, empty) folder."""
        with self.folder_fd(folder_id) as src, target.folder_fd(target_id) as dst:
            fileops.copy_tree(src, dst, progress)
        target.note_changed(target_id)

    def describe(self) -> dict[str, Any]:
        cap = self.capacity()
        return {
            "name": self.name,
            "backend": self.backend,
            "path": str(self.path),
            "capabilities": list(self.capabilities),
            "capacity_bytes": cap.capacity_bytes,
            "used_bytes": cap.used_bytes,
        }
