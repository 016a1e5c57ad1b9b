"""The client-facing API over HTTP: tus uploads (resume, offsets, quota, empty files),
downloads (Content-Length, ranges, If-Range), archives, and token checks."""

from __future__ import annotations

import io
import os
import time
import zipfile

import aiohttp
import httpx

from cygnet.storage.tokens import TokenClaims
from cygnet.testing.storage_harness import Storage

TUS = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}


async def _upload_url(storage: Storage, fid: str, path: str, size: int, **q: str) -> str:
    r = await storage.token(fid, "upload", path=path, size=size)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].startswith(storage.proxy.client_url)
    return storage.client_url(body["url"], token=body["token"], **q)


async def test_storage_tus_options_head_patch_and_resume(storage: Storage) -> None:
    fid = await storage.new_folder()
    c = storage.client
    r = await c.options(storage.proxy.client_url + "/upload")
    assert r.status_code == 204 and r.headers["Tus-Version"] == "1.0.0"
    assert r.headers["Tus-Resumable"] == "1.0.0" and "Tus-Extension" in r.headers
    data = os.urandom(300_000)
    url = await _upload_url(storage, fid, "deep/dir/file.bin", len(data))
    head = await c.head(url)
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "300000"
    r = await c.patch(url, content=data[:100_000], headers={**TUS, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "100000"
    # nothing appears in the folder before the upload completes
    assert not (storage.folder_path(fid) / "deep").exists()
    # a wrong offset is refused and changes nothing
    r = await c.patch(url, content=b"x", headers={**TUS, "Upload-Offset": "5"})
    assert r.status_code == 409
    # a chunk beyond the declared size is refused and changes nothing
    r = await c.patch(
        url, content=data[100_000:] + b"!", headers={**TUS, "Upload-Offset": "100000"}
    )
    assert r.status_code == 400
    # resume as a client would after an interruption: HEAD, then PATCH from there
    offset = int((await c.head(url)).headers["Upload-Offset"])
    assert offset == 100_000
    r = await c.patch(url, content=data[offset:], headers={**TUS, "Upload-Offset": str(offset)})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "300000"
    placed = storage.folder_path(fid) / "deep" / "dir" / "file.bin"
    assert placed.read_bytes() == data and (placed.stat().st_mode & 0o777) == 0o644
    assert list((storage.volume_path / ".cygnet" / "staging").iterdir()) == []
    r = await c.patch(url, content=b"", headers={**TUS, "Upload-Offset": "300000"})
    assert r.status_code == 204
    r = await c.patch(
        url, content=b"", headers={**TUS, "Content-Type": "text/plain", "Upload-Offset": "0"}
    )
    assert r.status_code == 415


async def test_storage_upload_interrupted_mid_body_resumes(storage: Storage) -> None:
    fid = await storage.new_folder()
    data = os.urandom(4 * 1024 * 1024)
    url = await _upload_url(storage, fid, "f.bin", len(data))

    async def partial() -> None:
        # announce the whole body, send half, then drop the connection
        reader_writer = await __import__("asyncio").open_connection(
            "127.0.0.1", int(storage.proxy.client_url.rsplit(":", 1)[1])
        )
        _reader, writer = reader_writer
        path = url.split(storage.proxy.client_url, 1)[1]
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data[: len(data) // 2])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    await partial()
    for _ in range(100):
        offset = int((await storage.client.head(url)).headers["Upload-Offset"])
        if offset == len(data) // 2:
            break
        await __import__("asyncio").sleep(0.05)
    assert 0 < offset <= len(data) // 2
    r = await storage.client.patch(
        url, content=data[offset:], headers={**TUS, "Upload-Offset": str(offset)}
    )
    assert r.status_code == 204
    assert (storage.folder_path(fid) / "f.bin").read_bytes() == data


async def test_storage_empty_files_dst_dir_and_overwrite(storage: Storage) -> None:
    fid = await storage.new_folder()
    root = storage.folder_path(fid)
    r = await storage.token(fid, "upload", path="sub/empty.txt", size=0)
    assert r.status_code == 200 and (root / "sub" / "empty.txt").read_bytes() == b""
    url = await _upload_url(storage, fid, "x.txt", 3, dst_dir="into/here")
    r = await storage.client.patch(url, content=b"abc", headers={**TUS, "Upload-Offset": "0"})
    assert r.status_code == 204 and (root / "into" / "here" / "x.txt").read_bytes() == b"abc"
    assert (await storage.upload(fid, "into/here/x.txt", b"new")).status_code == 204
    assert (root / "into" / "here" / "x.txt").read_bytes() == b"new"
    assert (await storage.token(fid, "upload", path="into", size=1)).status_code == 409
    assert (await storage.token(fid, "upload", path="sub/empty.txt/x", size=1)).status_code == 400


async def test_storage_upload_quota_is_enforced(storage: Storage) -> None:
    fid = await storage.new_folder(quota=1000)
    assert (await storage.token(fid, "upload", path="big", size=1001)).status_code == 413
    url_a = await _upload_url(storage, fid, "a", 600)
    url_b = await _upload_url(storage, fid, "b", 600)
    r = await storage.client.patch(url_a, content=b"a" * 600, headers={**TUS, "Upload-Offset": "0"})
    assert r.status_code == 204
    r = await storage.client.patch(url_b, content=b"b" * 600, headers={**TUS, "Upload-Offset": "0"})
    assert r.status_code == 413 and r.json()["error_code"] == "storage_vfolder_quota-exceeded"
    assert int((await storage.client.head(url_b)).headers["Upload-Offset"]) == 0
    assert sorted(os.listdir(storage.folder_path(fid))) == ["a"]


async def test_storage_download_ranges_and_headers(storage: Storage) -> None:
    fid = await storage.new_folder()
    data = os.urandom(1_000_000)
    assert (await storage.upload(fid, "데이터 1.bin", data)).status_code == 204
    r = await storage.download(fid, "데이터 1.bin")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Length"] == "1000000"
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert (
        "filename*=UTF-8''%EB%8D%B0%EC%9D%B4%ED%84%B0%201.bin" in r.headers["Content-Disposition"]
    )
    modified = r.headers["Last-Modified"]
    r = await storage.download(fid, "데이터 1.bin", Range="bytes=400000-", **{"If-Range": modified})
    assert r.status_code == 206 and r.content == data[400_000:]
    assert r.headers["Content-Range"] == "bytes 400000-999999/1000000"
    assert r.headers["Content-Length"] == "600000"
    r = await storage.download(fid, "데이터 1.bin", Range="bytes=10-19")
    assert r.status_code == 206 and r.content == data[10:20]
    stale = "Mon, 01 Jan 2001 00:00:00 GMT"
    r = await storage.download(fid, "데이터 1.bin", Range="bytes=10-", **{"If-Range": stale})
    assert r.status_code == 200 and r.content == data
    r = await storage.download(fid, "데이터 1.bin", Range="bytes=2000000-")
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */1000000"
    assert (await storage.token(fid, "download", path="missing")).status_code == 404
    # a file deleted after its token was issued: 404 problem+json
    good = (await storage.token(fid, "download", path="데이터 1.bin")).json()
    os.unlink(storage.folder_path(fid) / "데이터 1.bin")
    r = await storage.client.get(storage.client_url(good["url"], token=good["token"]))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"]


async def test_storage_archive_download(storage: Storage) -> None:
    fid = await storage.new_folder()
    root = storage.folder_path(fid)
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f.txt").write_text("f")
    (root / "g.txt").write_text("g")
    r = await storage.token(fid, "archive", paths=["d", "g.txt"], filename="out.zip")
    body = r.json()
    r = await storage.client.get(storage.client_url(body["url"], token=body["token"]))
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    assert 'filename="out.zip"' in r.headers["Content-Disposition"]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == ["d/", "d/e/", "d/e/f.txt", "g.txt"]
    assert z.read("d/e/f.txt") == b"f"
    bad = await storage.token(fid, "archive", paths=["missing"])
    assert bad.status_code == 404
    bad = await storage.token(fid, "archive", paths=["g.txt"], filename="../x.zip")
    assert bad.status_code == 400


async def test_storage_tokens_are_checked(storage: Storage) -> None:
    fid = await storage.new_folder()
    assert (await storage.upload(fid, "f", b"data")).status_code == 204
    c, base = storage.client, storage.proxy.client_url
    download = (await storage.token(fid, "download", path="f")).json()["token"]
    upload = (await storage.token(fid, "upload", path="g", size=1)).json()["token"]
    r = await c.get(f"{base}/download")
    assert r.status_code == 401 and r.json()["error_code"] == "storage_token_invalid"
    r = await c.get(f"{base}/download", params={"token": download[:-2] + "xx"})
    assert r.status_code == 401
    r = await c.get(f"{base}/download", params={"token": upload})
    assert r.status_code == 403 and r.json()["error_code"] == "storage_token_wrong-operation"
    r = await c.patch(
        f"{base}/upload",
        params={"token": download},
        content=b"x",
        headers={**TUS, "Upload-Offset": "0"},
    )
    assert r.status_code == 403
    signer = storage.proxy.service.signer
    expired = signer.issue(
        TokenClaims(op="download", volume="vol", folder=fid, relpath="f", exp=time.time() - 1)
    )
    r = await c.get(f"{base}/download", params={"token": expired})
    assert r.status_code == 401 and r.json()["error_code"] == "storage_token_expired"


async def test_storage_official_client_style_upload_and_download(storage: Storage) -> None:
    """What backend.ai-client does (aiohttp, a new connection per 16 MiB chunk, the query
    replaced by ``token=``), for a file of a little more than two chunks."""
    fid = await storage.new_folder()
    data = os.urandom(2 * 16 * 1024 * 1024 + 12345)
    r = await storage.token(fid, "upload", path="model.bin", size=len(data))
    body = r.json()
    url = storage.client_url(body["url"], token=body["token"])
    offset, chunk = 0, 16 * 1024 * 1024
    while offset < len(data):
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                url,
                data=io.BytesIO(data[offset : offset + chunk]),
                headers={**TUS, "Upload-Offset": str(offset)},
            ) as resp,
        ):
            assert resp.status == 204
            offset = int(resp.headers["Upload-Offset"])
    r = await storage.token(fid, "download", path="model.bin")
    body = r.json()
    async with (
        aiohttp.ClientSession() as session,
        session.get(body["url"], params={"token": body["token"]}) as resp,
    ):
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data)
        got = await resp.read()
    assert got == data
    assert isinstance(httpx.URL(url), httpx.URL)
