"""The client-facing API on its own HTTP server (api.httpd): chunked and 100-continue
uploads, refused bodies on a kept-alive connection, aborted downloads, and no leaked
descriptors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from cygnet.testing.storage_harness import Storage

TUS = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}


async def _token(storage: Storage, fid: str, kind: str, **body: object) -> tuple[str, str]:
    r = await storage.token(fid, kind, **body)
    assert r.status_code == 200, r.text
    answer = r.json()
    path = answer["url"].split(storage.proxy.client_url, 1)[1]
    return path, answer["token"]


async def _connect(storage: Storage) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1", int(storage.proxy.client_url.rsplit(":", 1)[1])
    )


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_storage_chunked_upload_and_quota(storage: Storage) -> None:
    """A body without Content-Length (chunked) takes the streamed path, quota included."""
    fid = await storage.new_folder(quota=3_000_000)
    data = os.urandom(2_500_000)

    async def pieces(blob: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 700_000):
            yield blob[i : i + 700_000]

    r = await storage.token(fid, "upload", path="c.bin", size=len(data))
    body = r.json()
    url = storage.client_url(body["url"], token=body["token"])
    r = await storage.client.patch(url, content=pieces(data), headers={**TUS, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert (storage.folder_path(fid) / "c.bin").read_bytes() == data
    # a second upload that would go over the quota is refused part-way and cut back
    r = await storage.token(fid, "upload", path="d.bin", size=400_000)
    body = r.json()
    url = storage.client_url(body["url"], token=body["token"])
    r = await storage.client.patch(
        url, content=pieces(os.urandom(400_000)), headers={**TUS, "Upload-Offset": "0"}
    )
    assert r.status_code == 204  # 2.9 MB: still fits
    r = await storage.token(fid, "upload", path="e.bin", size=200_000)
    assert r.status_code == 413


async def test_storage_expect_continue_and_refused_body_keep_alive(storage: Storage) -> None:
    fid = await storage.new_folder()
    data = os.urandom(3_000_000)
    path, token = await _token(storage, fid, "upload", path="x.bin", size=len(data))
    target = f"{path}?token={token}"
    before = _open_fds()
    reader, writer = await _connect(storage)

    def patch(offset: int, length: int, *extra: str) -> bytes:
        lines = [
            f"PATCH {target} HTTP/1.1",
            "Host: t",
            "Tus-Resumable: 1.0.0",
            "Content-Type: application/offset+octet-stream",
            f"Upload-Offset: {offset}",
            f"Content-Length: {length}",
            *extra,
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # curl's way: Expect: 100-continue, the body only after the interim answer
    writer.write(patch(0, 1_000_000, "Expect: 100-continue"))
    await writer.drain()
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(data[:1_000_000])
    status, headers, _ = await _response(reader)
    assert status == 204 and headers["upload-offset"] == "1000000"
    # a refused chunk (wrong offset) with its 2 MB body: 409, and the connection goes on
    writer.write(patch(5, 2_000_000) + data[1_000_000:])
    status, headers, _body = await _response(reader)
    assert status == 409 and headers["content-type"] == "application/problem+json"
    writer.write(patch(1_000_000, 2_000_000) + data[1_000_000:])
    status, headers, _ = await _response(reader)
    assert status == 204 and headers["upload-offset"] == str(len(data))
    writer.close()
    await writer.wait_closed()
    assert (storage.folder_path(fid) / "x.bin").read_bytes() == data
    await asyncio.sleep(0.1)
    assert _open_fds() <= before


async def test_storage_download_aborted_and_resumed(storage: Storage) -> None:
    fid = await storage.new_folder()
    data = os.urandom(32 * 1024 * 1024)
    assert (await storage.upload(fid, "big.bin", data)).status_code == 204
    path, token = await _token(storage, fid, "download", path="big.bin")
    before = _open_fds()
    for _ in range(3):  # read a little, then go away mid-body
        reader, writer = await _connect(storage)
        writer.write(f"GET {path}?token={token} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(100_000)
        writer.close()
        await writer.wait_closed()
    for _ in range(100):
        if _open_fds() <= before:
            break
        await asyncio.sleep(0.05)
    assert _open_fds() <= before  # the file and the connections are closed
    r = await storage.download(fid, "big.bin", Range="bytes=30000000-")
    assert r.status_code == 206 and r.content == data[30_000_000:]
    r = await storage.download(fid, "big.bin")
    assert r.status_code == 200 and r.content == data
