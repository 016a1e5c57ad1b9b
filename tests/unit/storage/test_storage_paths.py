"""Path text checks and descriptor-relative walking (cygnet.storage.paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cygnet.storage.errors import FileNotFoundInFolder, InvalidPath, NotADirectoryInFolder
from cygnet.storage.paths import check_name, open_dir, open_regular, split_path


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("", []),
        (".", []),
        ("./", []),
        ("a", ["a"]),
        ("a/b/c.txt", ["a", "b", "c.txt"]),
        ("a/./b", ["a", "b"]),
        ("dir/", ["dir"]),
        ("...", ["..."]),
        ("..a", ["..a"]),
        ("%2e%2e", ["%2e%2e"]),
        ("한글/파일.txt", ["한글", "파일.txt"]),
        ("e\u0301", ["e\u0301"]),  # NFD stays as given: no normalisation
        ("emoji 👩‍💻", ["emoji 👩‍💻"]),
    ],
)
def test_storage_split_path_accepts(path: str, names: list[str]) -> None:
    assert split_path(path) == names


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "/etc/passwd",
        "//x",
        "a//b",
        "a\x00b",
        "a\\..\\b",
        "..\\x",
        "a\nb",
        "a\x7fb",
        "a\x85b",
        "\u202eevil",
        "x\u2066y",
        "\u2025",  # two dot leader: NFKC ".."
        "\uff0e\uff0e",  # fullwidth dots
        "\uff0e",
        "a\u2215b",  # division slash
        "a\uff0fb",  # fullwidth solidus
        "a\ufe68b",  # small reverse solidus
        "x" * 256,
        "/".join(["d" * 200] * 21),
        "a\udcffb",
    ],
)
def test_storage_split_path_refuses(path: str) -> None:
    with pytest.raises(InvalidPath):
        split_path(path)


def test_storage_split_path_refuses_non_strings_and_root_when_asked() -> None:
    with pytest.raises(InvalidPath):
        split_path(b"a")
    with pytest.raises(InvalidPath):
        split_path(".", allow_root=False)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\x00", "\u2025", "x" * 256])
def test_storage_check_name_refuses(name: str) -> None:
    with pytest.raises(InvalidPath):
        check_name(name)


def test_storage_open_dir_refuses_symlinks_and_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "file").write_text("x")
    (root / "link").symlink_to(root / "real")
    (root / "out").symlink_to(tmp_path)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.close(open_dir(fd, ["real"]))
        for names in (["link"], ["out"], ["out", "root"]):
            with pytest.raises(InvalidPath):
                open_dir(fd, names)
        with pytest.raises(NotADirectoryInFolder):
            open_dir(fd, ["file"])
        with pytest.raises(FileNotFoundInFolder):
            open_dir(fd, ["missing"])
        made = open_dir(fd, ["new", "deep"], create=True)
        os.close(made)
        assert (root / "new" / "deep").is_dir()
    finally:
        os.close(fd)


def test_storage_open_regular_never_follows(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok").write_text("ok")
    (root / "link").symlink_to(tmp_path / "secret")
    (root / "inner").symlink_to("ok")
    os.mkfifo(root / "fifo")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ok = open_regular(fd, "ok")
        assert os.read(ok, 10) == b"ok"
        os.close(ok)
        for path in ("link", "inner", "fifo", "."):
            with pytest.raises(InvalidPath):
                open_regular(fd, path)
    finally:
        os.close(fd)
