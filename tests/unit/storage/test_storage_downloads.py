"""Range parsing, validators and the download headers (cygnet.storage.downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cygnet.storage.downloads import (
    RangeNotSatisfiable,
    content_disposition,
    etag,
    if_range_matches,
    last_modified,
    parse_range,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 100)),
        ("bytes=10-", (10, 90)),
        ("bytes=10-19", (10, 10)),
        ("bytes=90-200", (90, 10)),
        ("bytes=-5", (95, 5)),
        ("bytes=-500", (0, 100)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=x-", None),
        ("bytes=5-2", None),
    ],
)
def test_storage_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_storage_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_storage_if_range(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    st = os.stat(f)
    assert if_range_matches(None, st)
    assert if_range_matches(last_modified(st.st_mtime), st)
    assert if_range_matches(etag(st), st)
    assert not if_range_matches('"other"', st)
    assert not if_range_matches("Mon, 01 Jan 2001 00:00:00 GMT", st)
    assert not if_range_matches("not a date", st)


def test_storage_content_disposition() -> None:
    assert content_disposition("a.txt") == "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"
    value = content_disposition('데이터 "x".bin')
    assert "filename*=UTF-8''%EB%8D%B0%EC%9D%B4%ED%84%B0%20%22x%22.bin" in value
    assert 'filename="___ _x_.bin"' in value
