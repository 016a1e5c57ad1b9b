"""``local``: folders in a directory on a local file system; quotas by usage accounting.

A folder's usage is the sum of the apparent sizes of its files (symlinks count their own
size), found by walking it; it is cached for ``usage_cache_seconds`` (option, default 5) and
forgotten whenever the proxy itself changes the folder. Writes through the proxy that would
take a folder beyond its quota are refused (``FolderQuotaExceeded``, 413); writes made from
inside a session are not limited by this backend (use ``xfs`` for a hard limit). Quotas
live in ``<path>/.cygnet/quota/<folder hex>``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cygnet.storage import fileops
from cygnet.storage.errors import AlreadyExistsInStorage, FolderNotFound, FolderQuotaExceeded
from cygnet.storage.fileops import Usage
from cygnet.storage.paths import DIR_FLAGS
from cygnet.storage.volumes.base import Volume, folder_hex


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usage_cache_seconds: float = Field(default=5.0, ge=0)


class LocalVolume(Volume):
    backend = "local"

    def __init__(self, name: str, path: Path, options: dict[str, Any]) -> None:
        super().__init__(name, path, options)
        self.local_options = LocalOptions.model_validate(self._local_options(options))
        self.quota_path = self.meta_path / "quota"
        self._usage: dict[str, tuple[float, Usage]] = {}
        self._lock = threading.Lock()

    def _local_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def init(self) -> None:
        super().init()
        self.quota_path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def create_folder(self, folder_id: str, quota_bytes: int | None) -> None:
        self._make_folder_dir(folder_id)
        self.set_quota(folder_id, quota_bytes)

    def _make_folder_dir(self, folder_id: str) -> None:
        names = self._names(folder_id)
        parent = self.path / names[0] / names[1]
        parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(parent / names[2], 0o755)
        except FileExistsError:
            raise AlreadyExistsInStorage(
                f"folder {folder_id} already exists on volume {self.name!r}"
            ) from None

    def delete_folder(self, folder_id: str) -> None:
        names = self._names(folder_id)
        try:
            fd = os.open(self.path / names[0] / names[1], DIR_FLAGS)
        except OSError:
            raise FolderNotFound(f"no folder {folder_id} on volume {self.name!r}") from None
        try:
            try:
                os.stat(names[2], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                raise FolderNotFound(f"no folder {folder_id} on volume {self.name!r}") from None
            shutil.rmtree(names[2], dir_fd=fd)
        finally:
            os.close(fd)
        self._quota_file(folder_id).unlink(missing_ok=True)
        self.note_changed(folder_id)
        for empty in (self.path / names[0] / names[1], self.path / names[0]):
            try:
                empty.rmdir()
            except OSError:
                break

    def _quota_file(self, folder_id: str) -> Path:
        return self.quota_path / folder_hex(folder_id)

    def get_quota(self, folder_id: str) -> int | None:
        try:
            text = self._quota_file(folder_id).read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def set_quota(self, folder_id: str, quota_bytes: int | None) -> None:
        with self.folder_fd(folder_id):
            pass  # the folder must exist
        target = self._quota_file(folder_id)
        if quota_bytes is None:
            target.unlink(missing_ok=True)
            return
        tmp = target.with_suffix(".tmp")
        tmp.write_text(str(int(quota_bytes)))
        tmp.replace(target)

    def usage(self, folder_id: str) -> Usage:
        key = folder_hex(folder_id)
        now = time.monotonic()
        with self._lock:
            cached = self._usage.get(key)
        if cached is not None and now - cached[0] < self.local_options.usage_cache_seconds:
            return cached[1]
        with self.folder_fd(folder_id) as fd:
            found = fileops.usage(fd)
        with self._lock:
            self._usage[key] = (now, found)
        return found

    def note_changed(self, folder_id: str) -> None:
        with self._lock:
            self._usage.pop(folder_hex(folder_id), None)

    def check_quota(self, folder_id: str, extra_bytes: int) -> None:
        quota = self.get_quota(folder_id)
        if quota is None:
            return
        used = self.usage(folder_id).used_bytes
        if used + extra_bytes > quota:
            raise FolderQuotaExceeded(
                f"the folder uses {used} of its {quota} bytes; {extra_bytes} more do not fit",
                data={"used_bytes": used, "quota_bytes": quota, "requested_bytes": extra_bytes},
            )
