"""The streamed ZIP: exact size known up front, readable by zipfile (cygnet.storage.archive)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from cygnet.storage.archive import Entry, ZipPlan, plan_entries, stream_zip


async def _build(root: Path, paths: list[str]) -> tuple[ZipPlan, bytes]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    plan = ZipPlan(plan_entries(fd, paths))
    data = b"".join([chunk async for chunk in stream_zip(fd, plan)])
    return plan, data


async def test_storage_zip_matches_planned_size_and_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "a.txt").write_text("hello")
    (root / "d" / "e" / "데이터.bin").write_bytes(os.urandom(100_000))
    (root / "top.txt").write_text("")
    (root / "d" / "link").symlink_to(tmp_path)  # symlinks are left out
    os.mkfifo(root / "d" / "fifo")  # and so are special files
    plan, data = await _build(root, ["d", "top.txt", "d/a.txt"])
    assert len(data) == plan.total_size
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "d/",
        "d/a.txt",
        "d/e/",
        "d/e/데이터.bin",
        "top.txt",
    ]
    assert archive.read("d/a.txt") == b"hello"
    assert archive.read("d/e/데이터.bin") == (root / "d" / "e" / "데이터.bin").read_bytes()


async def test_storage_zip_keeps_its_length_when_a_file_shrinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"x" * 1000)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    plan = ZipPlan(plan_entries(fd, ["f"]))
    (root / "f").write_bytes(b"y" * 10)
    data = b"".join([chunk async for chunk in stream_zip(fd, plan)])
    assert len(data) == plan.total_size
    assert zipfile.ZipFile(io.BytesIO(data)).read("f") == b"y" * 10 + bytes(990)


def test_storage_zip64_layout_arithmetic() -> None:
    big = Entry("big", "big", False, 5 * 2**30, 0.0, 0o100644)
    small = Entry("small", "small", False, 10, 0.0, 0o100644)
    plan = ZipPlan([big, small])
    assert big.zip64 and small.zip64  # the second starts beyond 4 GiB
    assert plan.total_size == (
        (30 + 3 + 20)
        + big.size
        + 24
        + (30 + 5 + 20)
        + small.size
        + 24
        + (46 + 3 + 28)
        + (46 + 5 + 28)
        + 56
        + 20
        + 22
    )
    central = plan.central_directory()
    assert len(central) == plan.total_size - plan.cd_offset
