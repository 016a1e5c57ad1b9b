"""Hostile paths against every file operation, through both HTTP APIs (item 5 of issue 6).

Around the folder under attack there are sentinels: files and directories outside the
volume, a sibling folder on the same volume, and the volume's hidden area. The folder itself
holds symlinks that point at all of them. Every hostile path is tried against list, mkdir,
rename (source and new name), move (source and destination), delete, upload (token, and the
``dst_dir`` of a PATCH), download and archive. Each must get a clean 4xx, no response may
carry a sentinel's content, and afterwards the whole tree - outside, sibling, hidden area and
the folder itself - must be exactly as before (kinds, contents, link targets, modes).
A second test swaps a directory for a symlink to the outside over and over (an atomic
``renameat2(RENAME_EXCHANGE)``) while requests run, and checks the outside stays untouched.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cygnet.testing.storage_harness import Storage

MARKER = b"TOP-SECRET-" + uuid.uuid4().hex.encode()
TUS = {
    "Tus-Resumable": "1.0.0",
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": "0",
}

HOSTILE = [
    # traversal
    "..",
    "../",
    "../x",
    "../../../../outside/secret.txt",
    "../../../../outside",
    "ok/../../x",
    "ok/../..",
    "./../x",
    "ok/./../../../../../outside/secret.txt",
    "ok/..",
    # absolute
    "/",
    "/etc/passwd",
    "//etc/passwd",
    "/tmp",
    # other systems' separators
    "..\\..\\x",
    "ok\\..\\..\\x",
    "..\\",
    # NUL and control characters
    "\x00",
    "ok/file.txt\x00.png",
    "a\x00/../../x",
    "ok/\n../x",
    "\r\n",
    "\x1b[31mred",
    "a\x7f",
    # overlong
    "x" * 256,
    "ok/" + "y" * 300,
    "a/" * 2100,
    # unicode tricks: dot and slash lookalikes, bidi overrides, lone surrogates
    "\u2025",
    "\u2024\u2024/secret.txt",
    "\uff0e\uff0e/x",
    "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fx",
    "a\u2215..\u2215x",
    "\u202eexe.txt",
    "ok/\u2066x",
    "\udcff",
    # empty names
    "a//b",
    "ok//file.txt",
    # through symlinks that point outside (and at a sibling folder)
    "out_link/secret.txt",
    "out_link/dir/inner.txt",
    "out_link/dir",
    "out_link/new.txt",
    "rel_out/secret.txt",
    "sib/sentinel.txt",
    "abs_link/outside/secret.txt",
]
# symlinks named as the last component: renaming, moving or deleting them acts on the link
# (inside the folder) and is allowed; everything else must refuse them
FINAL_LINKS = ["secret_link", "out_link", "rel_out", "sib", "abs_link"]


def snapshot(top: Path) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(top))
            if p.is_symlink():
                found[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                found[rel] = ("dir", st.st_mode)
            else:
                found[rel] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return found


async def _setup(storage: Storage, tmp_path: Path) -> tuple[str, str]:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(MARKER)
    (outside / "dir" / "inner.txt").write_bytes(MARKER)
    sibling = await storage.new_folder()
    (storage.folder_path(sibling) / "sentinel.txt").write_bytes(MARKER)
    fid = await storage.new_folder()
    root = storage.folder_path(fid)
    (root / "ok").mkdir()
    (root / "ok" / "file.txt").write_text("fine")
    (root / "out_link").symlink_to(outside)
    (root / "secret_link").symlink_to(outside / "secret.txt")
    (root / "rel_out").symlink_to("../" * len(root.relative_to(tmp_path).parts) + "outside")
    (root / "sib").symlink_to(storage.folder_path(sibling))
    (root / "abs_link").symlink_to(tmp_path)
    (storage.volume_path / ".cygnet" / "staging" / "sentinel").write_bytes(MARKER)
    return fid, sibling


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> httpx.Response:
    """JSON with ASCII escapes, so that lone surrogates travel too."""
    content = json.dumps(body, ensure_ascii=True).encode()
    return await client.post(url, content=content, headers={"Content-Type": "application/json"})


def _q(text: str) -> str:
    return quote(text, safe="", errors="surrogateescape")


def _clean_4xx(r: httpx.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert MARKER not in r.content, what
    body = r.json()
    assert body.get("title") and body.get("type"), what


async def test_storage_hostile_paths_against_every_operation(
    storage: Storage, tmp_path: Path
) -> None:
    fid, _sibling = await _setup(storage, tmp_path)
    before = snapshot(tmp_path)
    m, c, url = storage.manager, storage.client, storage.url
    tried = 0
    good = (await storage.token(fid, "upload", path="ok/new.bin", size=3)).json()
    for path in HOSTILE + FINAL_LINKS:
        final_link = path in FINAL_LINKS
        label = repr(path)[:60]
        in_url = "\udcff" not in path
        if in_url:  # a lone surrogate cannot travel in a URL (it becomes U+FFFD)
            r = await m.get(f"{url(fid, '/files')}?path={_q(path)}")
            _clean_4xx(r, f"list {label}")
        for parents in (True, False):
            r = await _post(
                m, url(fid, "/mkdir"), {"path": [path], "parents": parents, "exist_ok": True}
            )
            assert r.status_code == 200 and MARKER not in r.content
            results = r.json()["results"]
            assert len(results["failed"]) == 1, f"mkdir {label}: {r.text[:300]}"
            assert results["success"] == [], f"mkdir {label}: {r.text[:300]}"
        if not final_link:  # a link's name is a fine new name: only hostile ones here
            r = await _post(m, url(fid, "/files/rename"), {"path": "ok/file.txt", "new_name": path})
            _clean_4xx(r, f"rename-to {label}")
        r = await _post(m, url(fid, "/files/move"), {"src": "ok/file.txt", "dst": path})
        _clean_4xx(r, f"move-to {label}")
        if not final_link:
            r = await _post(m, url(fid, "/files/rename"), {"path": path, "new_name": "z"})
            _clean_4xx(r, f"rename {label}")
            r = await _post(m, url(fid, "/files/move"), {"src": path, "dst": "ok"})
            _clean_4xx(r, f"move {label}")
            r = await _post(m, url(fid, "/files/delete"), {"paths": [path], "recursive": True})
            _clean_4xx(r, f"delete {label}")
        for size in (5, 0):
            r = await _post(m, url(fid, "/upload-token"), {"path": path, "size": size})
            _clean_4xx(r, f"upload ({size} bytes) {label}")
        if in_url:
            patch_url = f"{good['url']}?token={good['token']}&dst_dir={_q(path)}"
            r = await c.patch(patch_url, content=b"abc", headers=TUS)
            _clean_4xx(r, f"upload dst_dir {label}")
        r = await _post(m, url(fid, "/download-token"), {"path": path})
        _clean_4xx(r, f"download {label}")
        r = await _post(m, url(fid, "/archive-token"), {"paths": [path]})
        _clean_4xx(r, f"archive {label}")
        r = await _post(m, url(fid, "/archive-token"), {"paths": ["ok", path]})
        _clean_4xx(r, f"archive with {label}")
        tried += 1
    # percent-encoded forms reach the proxy decoded once: "../x" and friends, refused
    for raw in ("%2e%2e%2fx", "%2E%2E/%2E%2E/outside", "ok%2f..%2f..%2fx", "%2fetc%2fpasswd"):
        r = await m.get(f"{url(fid, '/files')}?path={raw}")
        _clean_4xx(r, f"list {raw}")
        tried += 1
    assert tried >= 30
    assert snapshot(tmp_path) == before
    # the links themselves can be deleted: only the links go, never what they point at
    r = await m.post(url(fid, "/files/delete"), json={"paths": FINAL_LINKS, "recursive": True})
    assert r.status_code == 204
    after = snapshot(tmp_path)
    folder = str(storage.folder_path(fid).relative_to(tmp_path))
    gone = {k for k in before if k not in after}
    assert gone == {f"{folder}/{name}" for name in FINAL_LINKS}


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two names (renameat2 RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


async def test_storage_symlink_swapped_in_during_operations(
    storage: Storage, tmp_path: Path
) -> None:
    fid, sibling = await _setup(storage, tmp_path)
    root = storage.folder_path(fid)
    (root / "swap").mkdir()
    (root / "swap" / "secret.txt").write_text("inside")
    (root / "swap_alt").symlink_to(tmp_path / "outside")
    outside_before = snapshot(tmp_path / "outside")
    sibling_before = snapshot(storage.folder_path(sibling))
    stop = threading.Event()
    swaps = [0]

    def swapper() -> None:
        while not stop.is_set():
            _exchange(root / "swap", root / "swap_alt")
            swaps[0] += 1

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    m, url = storage.manager, storage.url
    statuses: list[int] = []
    try:
        for i in range(60):
            responses = [
                await storage.download(fid, "swap/secret.txt"),
                await m.get(url(fid, "/files"), params={"path": "swap"}),
                await m.post(url(fid, "/mkdir"), json={"path": f"swap/d{i}"}),
                await storage.upload(fid, f"swap/new{i}.txt", b"payload"),
                await m.post(url(fid, "/files/delete"), json={"paths": [f"swap/new{i}.txt"]}),
                await m.post(url(fid, "/files/move"), json={"src": "ok/file.txt", "dst": "swap"}),
                await m.post(url(fid, "/files/move"), json={"src": "swap/file.txt", "dst": "ok"}),
            ]
            r = await storage.token(fid, "archive", paths=["swap"])
            if r.status_code == 200:
                b = r.json()
                responses.append(
                    await storage.client.get(storage.client_url(b["url"], token=b["token"]))
                )
            for resp in responses:
                statuses.append(resp.status_code)
                assert resp.status_code < 500, resp.text
                assert MARKER not in resp.content
            await asyncio.sleep(0)
    finally:
        stop.set()
        thread.join()
    assert swaps[0] > 10
    assert 200 in statuses or 204 in statuses  # the real directory was reached sometimes
    assert snapshot(tmp_path / "outside") == outside_before
    assert snapshot(storage.folder_path(sibling)) == sibling_before
