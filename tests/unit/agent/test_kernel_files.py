"""File transfer into and out of a kernel's /home/work: hostile paths and the happy paths."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cygnet.agent import files
from cygnet.common.errors import InvalidAPIParameters, PathOutsideWorkdir
from cygnet.common.rpc import FileList

SECRET = b"TOP SECRET - must never leave or change"
MAX = 1 << 20
UMASK = os.umask(0)
os.umask(UMASK)


@dataclass
class Env:
    base: Path  # holds root and outside, nothing else
    root: Path  # the kernel's /home/work
    outside: Path  # a sentinel next to the root

    def snapshot(self) -> dict[str, Any]:
        """Everything outside the root: names, types, modes, contents and link targets."""
        seen: dict[str, Any] = {}
        for dirpath, dirnames, filenames in os.walk(self.base):
            rel = os.path.relpath(dirpath, self.base)
            if rel == "root" or rel.startswith("root/"):
                continue
            for name in dirnames + filenames:
                full = Path(dirpath, name)
                if full == self.root:
                    seen["root"] = "root"
                    continue
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    value: Any = ("link", os.readlink(full))
                elif stat.S_ISREG(st.st_mode):
                    value = ("file", st.st_mode, full.read_bytes(), st.st_mtime_ns)
                else:
                    value = ("other", st.st_mode, st.st_mtime_ns)
                seen[os.path.relpath(full, self.base)] = value
        return seen


ETC_PROBE = Path("/etc/cygnet-test-must-not-exist")


def _etc_digest() -> str:
    return hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "sub" / "inner.txt").write_bytes(SECRET + b"!")
    (outside / "x").write_bytes(b"outside x")
    root.mkdir()
    (root / "inner").mkdir()
    (root / "inner" / "ok.txt").write_bytes(b"ok")
    (root / "plain.txt").write_bytes(b"plain")
    links = {
        "link_out_abs": str(outside),  # absolute host path outside
        "link_out_rel": "../outside",  # relative, climbing out
        "link_etc": "/etc",  # the classic
        "pw": str(outside / "secret.txt"),  # a file symlink pointing out
        "secret_link": "../outside/secret.txt",
        "chain1": "chain2",  # a chain: inside, inside, then out
        "chain2": "inner/../chain3",
        "chain3": "../outside",
        "up": "..",  # a symlink to ..
        "kabs": "/home/work/../outside",  # kernel-absolute, escaping
        "host_abs": str(root / "inner"),  # the root by its host path: not the kernel's view
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dangling_out": "../outside/new-file",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    os.symlink("../../outside", root / "inner" / "deep_up")
    etc_before = _etc_digest()
    yield Env(base=tmp_path, root=root, outside=outside)
    probe_written = ETC_PROBE.exists() or ETC_PROBE.is_symlink()
    ETC_PROBE.unlink(missing_ok=True)
    assert not probe_written, "a write escaped to /etc"
    assert _etc_digest() == etc_before


HOSTILE = [
    "../x",
    "..",
    "../",
    "a/../../x",
    "a/b/c/../../../../x",
    "/etc/passwd",
    "/etc",
    "/",
    "/home",
    "/home/work/../x",
    "/home/work/..",
    "/home/work/../../etc/passwd",
    "/home/workx/a",
    "/home/work2",
    "/home/work/../workx/a",
    "a\x00b",
    "\x00",
    "",
    "a" * 300,
    "x/" + "b" * 256 + "/y",
    "./" * 3000,
    "\ud800",  # a lone surrogate: cannot name a file
    "../outside/secret.txt",
    "../outside",
    "inner/../../outside/secret.txt",
    "link_out_abs/secret.txt",
    "link_out_abs",
    "link_out_abs/sub",
    "/home/work/link_out_abs/secret.txt",
    "link_out_rel/secret.txt",
    "link_out_rel/sub/inner.txt",
    "link_etc/cygnet-test-must-not-exist",
    "link_etc",
    "pw",
    "secret_link",
    "dangling_out",
    "chain1/secret.txt",
    "chain1",
    "up/outside/secret.txt",
    "up",
    "kabs/secret.txt",
    "host_abs/ok.txt",
    "loop1/x",
    "self",
    "inner/deep_up/secret.txt",
    "inner/deep_up",
]

Op = Callable[[Path, str], object]
OPS: dict[str, Op] = {
    # writes aim at a probe name instead of /etc/passwd: a broken build run as root must not
    # be able to damage the host, only to leave the probe (which the fixture removes and flags)
    "write": lambda root, path: files.write_file(
        root, path.replace("passwd", ETC_PROBE.name), b"PWNED"
    ),
    "archive": lambda root, path: files.archive(root, path, MAX),
    "list": lambda root, path: files.list_files(root, path),
}


def _root_listing(root: Path) -> set[str]:
    """Every name below the root (symlinks listed, not followed)."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        found.update(os.path.relpath(Path(dirpath, n), root) for n in dirnames + filenames)
    return found


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: ascii(p)[:40])
def test_hostile_paths_are_refused_and_nothing_outside_changes(
    env: Env, op: str, path: str
) -> None:
    assert len(HOSTILE) >= 30
    before = env.snapshot()
    inside_before = _root_listing(env.root)
    with pytest.raises(PathOutsideWorkdir) as info:
        OPS[op](env.root, path)
    assert info.value.status == 400
    assert info.value.msg is not None and "refused path" in info.value.msg
    assert env.snapshot() == before
    assert sorted(p.name for p in env.base.iterdir()) == ["outside", "root"]
    assert _root_listing(env.root) == inside_before  # a refused write creates nothing at all


PLAIN_NAMES = [
    "\u2025",  # two-dot leader, not ..
    "\uff0e\uff0e",  # fullwidth dots
    "%2e%2e",
    "..\\x",
    "...",
    " ..",
    ".. ",
    "~",
    "a..b",
    "\u2024\u2024",  # one-dot leaders
]


@pytest.mark.parametrize("name", PLAIN_NAMES, ids=ascii)
def test_lookalike_dots_are_plain_names_inside(env: Env, name: str) -> None:
    before = env.snapshot()
    files.write_file(env.root, f"{name}/x", b"data")
    assert (env.root / name / "x").read_bytes() == b"data"
    listing = files.list_files(env.root, name)
    assert [e.filename for e in listing.files] == ["x"]
    with tarfile.open(fileobj=io.BytesIO(files.archive(env.root, name, MAX))) as tar:
        assert tar.getnames() == [name, f"{name}/x"]
    assert env.snapshot() == before


# ---------------------------------------------------------------------------------------------
# Races: a directory swapped for a symlink while we walk


def _swap_for_link(directory: Path, target: Path) -> Path:
    moved = directory.with_name(directory.name + "_moved")
    directory.rename(moved)
    os.symlink(target, directory)
    return moved


@pytest.mark.parametrize("op", list(OPS))
def test_directory_swapped_for_symlink_just_before_it_is_opened(
    env: Env, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env.root / "d" / "sub").mkdir(parents=True)
    (env.root / "d" / "sub" / "f").write_bytes(b"inside")
    real_open = os.open
    swapped: list[Path] = []

    def racing_open(name: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if name == "sub" and dir_fd is not None and not swapped:
            swapped.append(_swap_for_link(env.root / "d" / "sub", env.outside))
        return real_open(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", racing_open)
    before = env.snapshot()
    path = "d/sub/secret.txt" if op == "write" else "d/sub"
    with pytest.raises(PathOutsideWorkdir):
        OPS[op](env.root, path)
    monkeypatch.undo()
    assert swapped, "the swap never happened: the walk did not open 'sub' by itself"
    assert env.snapshot() == before


@pytest.mark.parametrize("op", list(OPS))
def test_directory_swapped_after_it_was_opened_keeps_working_inside(
    env: Env, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env.root / "d" / "sub").mkdir(parents=True)
    (env.root / "d" / "sub" / "f").write_bytes(b"inside")
    real_open = os.open
    swapped: list[Path] = []

    def racing_open(name: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_open(name, flags, mode, dir_fd=dir_fd)
        if name == "sub" and dir_fd is not None and not swapped:
            swapped.append(_swap_for_link(env.root / "d" / "sub", env.outside))
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    before = env.snapshot()
    path = "d/sub/new.txt" if op == "write" else "d/sub"
    result = OPS[op](env.root, path)
    monkeypatch.undo()
    assert swapped
    moved = swapped[0]
    if op == "write":
        assert (moved / "new.txt").read_bytes() == b"PWNED"  # the directory we had opened
    elif op == "archive":
        assert isinstance(result, bytes)
        with tarfile.open(fileobj=io.BytesIO(result)) as tar:
            assert tar.getnames() == ["sub", "sub/f"]
    else:
        assert isinstance(result, FileList)
        assert [e.filename for e in result.files] == ["f"]
    assert env.snapshot() == before


def test_file_swapped_for_symlink_inside_an_archived_tree_is_not_followed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env.root / "d").mkdir()
    (env.root / "d" / "f").write_bytes(b"inside")
    real_open = os.open
    swapped: list[bool] = []

    def racing_open(name: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if name == "f" and dir_fd is not None and not swapped:
            swapped.append(True)
            os.unlink(env.root / "d" / "f")
            os.symlink(env.outside / "secret.txt", env.root / "d" / "f")
        return real_open(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", racing_open)
    data = files.archive(env.root, "d", MAX)
    monkeypatch.undo()
    assert swapped
    assert SECRET not in data
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["d"]  # the file was replaced mid-walk: skipped


def test_racing_renames_never_reach_outside(env: Env) -> None:
    """A thread keeps swapping a directory and a symlink to the sentinel; every operation either
    works inside the root or is refused, and the sentinel never changes."""
    (env.root / "d").mkdir()
    (env.root / "d" / "f").write_bytes(b"inside")
    os.symlink(env.outside, env.root / "d_link")
    before = env.snapshot()
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for src, dst in (("d", "d_real"), ("d_link", "d"), ("d", "d_link"), ("d_real", "d")):
                try:
                    os.rename(env.root / src, env.root / dst)
                except OSError:
                    pass

    thread = threading.Thread(target=swapper)
    thread.start()
    outcomes: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for op, path in (("write", "d/secret.txt"), ("archive", "d"), ("list", "d")):
                try:
                    OPS[op](env.root, path)
                    key = "ok"
                except PathOutsideWorkdir:
                    key = "refused"
                except InvalidAPIParameters:
                    key = "missing"  # caught between two renames
                outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        stop.set()
        thread.join()
    assert sum(outcomes.values()) > 0
    assert env.snapshot() == before
    assert sorted(p.name for p in env.base.iterdir()) == ["outside", "root"]


# ---------------------------------------------------------------------------------------------
# Writes


def test_nested_write_creates_parents(env: Env) -> None:
    files.write_file(env.root, "a/b/c/data.bin", b"\x00\x01payload")
    target = env.root / "a" / "b" / "c" / "data.bin"
    assert target.read_bytes() == b"\x00\x01payload"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~UMASK
    for d in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((env.root / d).stat().st_mode) == 0o755 & ~UMASK


def test_absolute_write_and_overwrite_truncates(env: Env) -> None:
    files.write_file(env.root, "/home/work/x/./y//z.txt", b"a long first version")
    files.write_file(env.root, "x/y/z.txt", b"short")
    assert (env.root / "x" / "y" / "z.txt").read_bytes() == b"short"
    files.write_file(env.root, "x/../top.txt", b"top")
    assert (env.root / "top.txt").read_bytes() == b"top"
    files.write_file(env.root, "empty", b"")
    assert (env.root / "empty").read_bytes() == b""


def test_write_through_symlinked_directory_inside(env: Env) -> None:
    os.symlink("inner", env.root / "alias")
    os.symlink("/home/work/inner", env.root / "kalias")
    files.write_file(env.root, "alias/one.txt", b"1")
    files.write_file(env.root, "kalias/two.txt", b"2")
    assert (env.root / "inner" / "one.txt").read_bytes() == b"1"
    assert (env.root / "inner" / "two.txt").read_bytes() == b"2"


def test_write_to_final_symlink_is_refused_even_inside(env: Env) -> None:
    os.symlink("plain.txt", env.root / "plain_link")
    with pytest.raises(PathOutsideWorkdir):
        files.write_file(env.root, "plain_link", b"changed")
    assert (env.root / "plain.txt").read_bytes() == b"plain"


@pytest.mark.parametrize("path", ["inner", "inner/", ".", "/home/work", "inner/..", "a/."])
def test_write_to_a_directory_is_invalid(env: Env, path: str) -> None:
    with pytest.raises(InvalidAPIParameters) as info:
        files.write_file(env.root, path, b"x")
    assert not isinstance(info.value, PathOutsideWorkdir)


def test_write_below_a_file_and_to_a_fifo_are_invalid(env: Env) -> None:
    with pytest.raises(InvalidAPIParameters, match="not a directory"):
        files.write_file(env.root, "plain.txt/x", b"x")
    os.mkfifo(env.root / "pipe")
    with pytest.raises(InvalidAPIParameters, match="not a regular file"):
        files.write_file(env.root, "pipe", b"x")  # must not block waiting for a reader


# ---------------------------------------------------------------------------------------------
# Archives


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_tar_round_trip_of_a_directory_with_symlinks(env: Env, tmp_path: Path) -> None:
    src = env.root / "proj"
    (src / "pkg" / "empty").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("print('hi')\n")
    (src / "README").write_bytes(b"read me")
    (src / "run.sh").write_bytes(b"#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    os.symlink("../README", src / "pkg" / "readme_link")
    os.symlink("/etc/passwd", src / "abs_link")
    os.symlink(str(env.outside / "secret.txt"), src / "out_link")
    os.link(src / "README", src / "README.hard")

    data = files.archive(env.root, "proj", MAX)
    assert SECRET not in data  # symlinks inside are stored, never followed
    assert len(data) % 512 == 0 and data.endswith(b"\x00" * 1024)
    members = _members(data)
    assert set(members) == {
        "proj",
        "proj/README",
        "proj/README.hard",
        "proj/abs_link",
        "proj/out_link",
        "proj/pkg",
        "proj/pkg/empty",
        "proj/pkg/mod.py",
        "proj/pkg/readme_link",
        "proj/run.sh",
    }
    assert members["proj/abs_link"].issym() and members["proj/abs_link"].linkname == "/etc/passwd"
    assert members["proj/README.hard"].islnk()
    assert members["proj/README.hard"].linkname == "proj/README"
    assert members["proj/run.sh"].mode == 0o755
    assert members["proj/pkg"].isdir()

    dest = tmp_path / "dest"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="tar")
    out = dest / "proj"
    assert (out / "pkg" / "mod.py").read_text() == "print('hi')\n"
    assert (out / "README").read_bytes() == b"read me"
    assert (out / "README.hard").read_bytes() == b"read me"
    assert os.readlink(out / "pkg" / "readme_link") == "../README"
    assert (out / "pkg" / "readme_link").read_bytes() == b"read me"
    assert (out / "pkg" / "empty").is_dir()


def test_archive_of_a_file_the_root_and_a_symlink_inside(env: Env) -> None:
    assert list(_members(files.archive(env.root, "/home/work/inner/ok.txt", MAX))) == ["ok.txt"]
    with tarfile.open(fileobj=io.BytesIO(files.archive(env.root, "inner/ok.txt", MAX))) as tar:
        member = tar.extractfile("ok.txt")
        assert member is not None and member.read() == b"ok"
    root_names = _members(files.archive(env.root, ".", MAX))
    assert "work" in root_names and "work/inner/ok.txt" in root_names
    assert _members(files.archive(env.root, "inner/..", MAX)).keys() == root_names.keys()
    os.symlink("inner/ok.txt", env.root / "ok_link")
    os.symlink("inner", env.root / "dir_link")
    assert list(_members(files.archive(env.root, "ok_link", MAX))) == ["ok_link"]
    assert list(_members(files.archive(env.root, "dir_link", MAX))) == [
        "dir_link",
        "dir_link/deep_up",
        "dir_link/ok.txt",
    ]


def test_archive_size_limit(env: Env) -> None:
    (env.root / "big").mkdir()
    (env.root / "big" / "blob").write_bytes(b"x" * 100_000)
    full = files.archive(env.root, "big", MAX)
    assert len(files.archive(env.root, "big", len(full))) == len(full)
    with pytest.raises(InvalidAPIParameters, match="exceed") as info:
        files.archive(env.root, "big", len(full) - 1)
    assert not isinstance(info.value, PathOutsideWorkdir)


def test_archive_of_missing_path_and_special_files(env: Env) -> None:
    with pytest.raises(InvalidAPIParameters, match="no such file"):
        files.archive(env.root, "nope", MAX)
    with pytest.raises(InvalidAPIParameters, match="no such file"):
        files.archive(env.root, "nope/deeper", MAX)
    (env.root / "sp").mkdir()
    os.mkfifo(env.root / "sp" / "pipe")
    members = _members(files.archive(env.root, "sp", MAX))  # must not block on the FIFO
    assert members["sp/pipe"].isfifo()


def test_archive_refuses_trees_nested_too_deep(env: Env) -> None:
    fd = os.open(env.root, os.O_RDONLY)
    try:
        for _ in range(files.MAX_ARCHIVE_DEPTH + 2):
            os.mkdir("n", dir_fd=fd)
            child = os.open("n", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    with pytest.raises(InvalidAPIParameters, match="nested deeper"):
        files.archive(env.root, "n", 1 << 24)


# ---------------------------------------------------------------------------------------------
# Listings


def test_list_format(env: Env) -> None:
    d = env.root / "ls"
    d.mkdir()
    (d / "b.txt").write_bytes(b"12345")
    (d / "b.txt").chmod(0o644)
    (d / "a_dir").mkdir()
    (d / "a_dir").chmod(0o755)
    os.symlink("b.txt", d / "c_link")
    os.symlink(str(env.outside), d / "d_out")  # listed, not followed
    result = files.list_files(env.root, "/home/work/ls")
    assert result.abspath == "/home/work/ls"
    assert result.errors == ""
    assert [e.filename for e in result.files] == ["a_dir", "b.txt", "c_link", "d_out"]
    by_name = {e.filename: e for e in result.files}
    assert by_name["b.txt"].mode == "-rw-r--r--"
    assert by_name["b.txt"].size == 5
    assert by_name["a_dir"].mode == "drwxr-xr-x"
    assert by_name["c_link"].mode == "lrwxrwxrwx"
    st = os.stat(d / "b.txt")
    assert (by_name["b.txt"].mtime, by_name["b.txt"].ctime, by_name["b.txt"].atime) == (
        st.st_mtime,
        st.st_ctime,
        st.st_atime,
    )
    # the wire shape: JSON text the client json.loads
    wire = json.loads(json.dumps([e.model_dump(exclude={"kind"}) for e in result.files]))
    assert set(wire[0]) == {"filename", "mode", "size", "ctime", "mtime", "atime"}
    assert [e.filename for e in files.list_files(env.root, "ls/").files] == list(by_name)


def test_list_default_root_and_symlinked_directory_inside(env: Env) -> None:
    names = [e.filename for e in files.list_files(env.root).files]
    assert names == sorted(names) and "inner" in names and "plain.txt" in names
    os.symlink("inner", env.root / "alias")
    assert [e.filename for e in files.list_files(env.root, "alias").files] == [
        "deep_up",
        "ok.txt",
    ]
    assert files.list_files(env.root, "alias").abspath == "alias"


def test_list_missing_directory_and_file(env: Env) -> None:
    for path in ("nope", "nope/deeper", "/home/work/nope"):
        with pytest.raises(InvalidAPIParameters, match="no such directory") as info:
            files.list_files(env.root, path)
        assert not isinstance(info.value, PathOutsideWorkdir)
    with pytest.raises(InvalidAPIParameters, match="not a directory"):
        files.list_files(env.root, "plain.txt")


def test_unicode_file_names(env: Env, tmp_path: Path) -> None:
    path = "데이터/파일 ü €.txt"
    files.write_file(env.root, path, "내용".encode())
    assert (env.root / path).read_text() == "내용"
    assert [e.filename for e in files.list_files(env.root, "데이터").files] == ["파일 ü €.txt"]
    data = files.archive(env.root, "데이터", MAX)
    assert set(_members(data)) == {"데이터", path}
    dest = tmp_path / "unicode-dest"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    assert (dest / path).read_text() == "내용"


# ---------------------------------------------------------------------------------------------
# Messages


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("a/./b/", "a/b"),
        ("/home/work/a//b", "a/b"),
        ("/home/work", "."),
        ("/home/work/", "."),
        (".", "."),
        ("a/../../x", "../x"),
        ("/etc/passwd", "/etc/passwd"),
        ("/home/work/../x", "/home/x"),
        ("a\x00b", "a\\x00b"),
        ("", ""),
    ],
)
def test_resolve_display(path: str, shown: str) -> None:
    assert files.resolve_display(path) == shown


def test_refusal_message_names_the_path_and_is_bounded(env: Env) -> None:
    with pytest.raises(PathOutsideWorkdir, match=r"'\.\./etc/x'"):
        files.write_file(env.root, "a/../../etc/x", b"")
    with pytest.raises(PathOutsideWorkdir) as info:
        files.list_files(env.root, "../" + "z" * 5000)
    assert info.value.msg is not None and len(info.value.msg) < 400
