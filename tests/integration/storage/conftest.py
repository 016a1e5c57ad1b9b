"""A real storage proxy on 127.0.0.1 (both APIs over HTTP), with one ``local`` volume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cygnet.testing.storage_harness import Storage, running_storage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with running_storage(tmp_path / "volume") as running:
        yield running
