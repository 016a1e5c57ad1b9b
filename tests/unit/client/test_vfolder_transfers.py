"""Pure helpers of the vfolder SDK and CLI: upload plans, remote paths, tokens in URLs,
Content-Range, the transfer journal, SSE parsing, byte sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cygnet.client.cli.vfolder_files import human_bytes
from cygnet.client.sdk.sse import sse_events
from cygnet.client.sdk.vfolder_transfers import (
    Aggregate,
    TransferJournal,
    parse_content_range,
    part_path,
    plan_upload,
    remote_join,
    with_token,
)
from cygnet.client.sdk.vfolders import folder_path


def test_plan_upload_places_files_like_cp(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("abc")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "void").mkdir()
    (tree / "x").write_bytes(b"12345")
    (tree / "sub" / "empty").write_bytes(b"")
    plan = plan_upload([tmp_path / "f.txt", tree], "dest/", recursive=True)
    assert [(i.remote, i.size) for i in plan.files] == [
        ("dest/f.txt", 3),
        ("dest/tree/x", 5),
        ("dest/tree/sub/empty", 0),
    ]
    assert plan.dirs == ["dest/tree/void"] and plan.total_bytes == 8
    assert [i.remote for i in plan_upload([tmp_path / "f.txt"]).files] == ["f.txt"]


def test_plan_upload_refuses_directories_without_recursive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--recursive"):
        plan_upload([tmp_path])
    with pytest.raises(ValueError, match="does not exist"):
        plan_upload([tmp_path / "missing"])


def test_remote_paths_and_urls() -> None:
    assert remote_join("", ".", "/a/", "b") == "a/b"
    assert remote_join("", ".") == ""
    assert folder_path("my data", "files") == "/folders/my%20data/files"
    assert folder_path("a/b") == "/folders/a%2Fb"
    url = with_token("http://127.0.0.1:6022/upload?old=1", "t+k/=")
    assert url == "http://127.0.0.1:6022/upload?token=t%2Bk%2F%3D"
    assert part_path(Path("/x/y.bin")) == Path("/x/y.bin.part")


def test_content_range() -> None:
    assert parse_content_range("bytes 100-199/1000") == (100, 1000)
    assert parse_content_range("bytes 0-0/*") == (0, None)
    assert parse_content_range("items 1-2/3") is None
    assert parse_content_range(None) is None


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = TransferJournal(tmp_path / "j")
    key = TransferJournal.key("upload", "http://x", "f", 1)
    assert key != TransferJournal.key("upload", "http://x", "f", 2)
    assert journal.get(key) is None
    journal.put(key, {"url": "http://p/upload?token=t"})
    assert journal.get(key) == {"url": "http://p/upload?token=t"}
    assert (tmp_path / "j" / f"{key}.json").stat().st_mode & 0o077 == 0
    journal.drop(key)
    journal.drop(key)
    assert journal.get(key) is None


def test_aggregate_progress() -> None:
    seen: list[tuple[int, int]] = []
    total = Aggregate(30, lambda done, all_: seen.append((done, all_)))
    total.file(5, 10)
    total.finished(10, 10)
    total.file(4, 20)
    total.finished(20, 25)  # the file grew since it was listed
    assert seen == [(5, 30), (10, 30), (14, 30), (35, 35)]


async def test_sse_events() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [
            "retry: 1000",
            "event: bgtask_updated",
            'data: {"current_progress": 5, "total_progress": 10}',
            "",
            ": ping",
            "",
            "event: bgtask_done",
            'data: {"message": "ok"}',
            "",
        ]:
            yield line

    got = [e async for e in sse_events(lines())]
    assert got == [
        ("bgtask_updated", {"current_progress": 5, "total_progress": 10}),
        ("bgtask_done", {"message": "ok"}),
    ]


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * (1 << 20)) == "3.0 MiB"
    assert human_bytes(None) == "-"
