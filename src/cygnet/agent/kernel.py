"""What an agent keeps per kernel, on disk, so that it survives its own restart.

One JSON file per kernel under ``<data_dir>/kernels/``, replaced atomically on every change:
the request that created it, its allocation, and the runtime's opaque state blob. After a
``kill -9`` the agent reloads these files and asks the runtime about each kernel.

The files are not fsynced: what they guard against is the agent process dying, and the page
cache outlives the process. A crash of the host itself takes its kernels with it, and a file
cut short by one is skipped on load. (An fsync per state change cost an agent more time than
the rest of starting a simulated kernel.)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cygnet.common.lifecycle import KernelRunState
from cygnet.common.logging import get_logger

log = get_logger(__name__)


class KernelRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kernel_id: uuid.UUID
    session_id: uuid.UUID
    owner: str
    image: str
    runtime_type: str = ""
    runtime_path: str | None = None
    state: KernelRunState
    allocation: dict[str, dict[str, str]] = Field(default_factory=dict)
    runtime_state: dict[str, Any] = Field(default_factory=dict)
    scratch_dir: str  # a path (a string: a pathlib path costs a Python call to write out)
    created_at: datetime
    exit_code: int | None = None
    termination_reason: str | None = None


class KernelStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # Paths as strings: ``save`` runs twice per kernel start, and a string is cheaper to
        # build than a pathlib path (each a few microseconds).
        self._prefix = os.path.join(directory, "")

    def _path(self, kernel_id: uuid.UUID, suffix: str = ".json") -> str:
        return f"{self._prefix}{kernel_id}{suffix}"

    def save(self, record: KernelRecord) -> None:
        path = self._path(record.kernel_id)
        tmp = self._path(record.kernel_id, ".tmp")
        data = record.model_dump_json(indent=1).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def delete(self, kernel_id: uuid.UUID) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(kernel_id))

    def load_all(self) -> list[KernelRecord]:
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(KernelRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValueError):
                log.exception("ignoring unreadable kernel record %s", path)
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        return records
