"""Upload and download of one file through the storage proxy's client-facing API vs. ``cp``.

Starts a real storage proxy (what ``cygnet storage serve`` runs) in a subprocess with one
``local`` volume in a temporary directory, and from this process, over HTTP on 127.0.0.1:

* upload:   ``request upload token`` (manager API), then tus ``PATCH``es of 16 MiB read from
  the source file, each on a new connection, as the official client (aiohttp) sends them;
* download: ``request download token``, then one ``GET`` streamed into a new local file;
* cp:       ``cp`` of the same source file to a new file in the same directory (same disk).

Each is run ``--rounds`` times, alternating (cp, upload, download, cp, ...), and the median
rate is reported. Every copy is a new file and is deleted right after; no fsync anywhere (cp
does none either), so all three mostly measure the page cache and the data path. The last
line printed is a JSON object with ``size_bytes``, ``upload_mib_s``, ``download_mib_s``,
``cp_mib_s``, ``upload_ratio`` and ``download_ratio`` (rate / cp rate). Target: both >= 0.5.

    python benchmarks/storage_io.py [--size 1G] [--rounds 3] [--dir /path/on/the/disk]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

CHUNK = 16 * 1024 * 1024
SECRET = "benchmark-secret"
MIB = 1024 * 1024


def parse_size(text: str) -> int:
    units = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1] if text and text[-1] in units else ""
    return int(float(text[: len(text) - len(unit)]) * units[unit])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_source(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, CHUNK)])
            left -= CHUNK


def run_cp(src: Path, dst: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    elapsed = time.perf_counter() - start
    os.unlink(dst)
    return elapsed


async def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url, headers={"X-Cygnet-Storage-Secret": SECRET}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the storage proxy did not start")
            await asyncio.sleep(0.1)


async def upload(manager: str, fid: str, src: Path, name: str) -> float:
    size = os.stat(src).st_size
    async with (
        aiohttp.ClientSession(headers={"X-Cygnet-Storage-Secret": SECRET}) as m,
        m.post(
            f"{manager}/volumes/bench/folders/{fid}/upload-token",
            json={"path": name, "size": size},
        ) as r,
    ):
        r.raise_for_status()
        body = await r.json()
    url, token = body["url"], body["token"]
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    fd = os.open(src, os.O_RDONLY)
    try:
        offset = 0
        while offset < size:
            data = await loop.run_in_executor(None, os.pread, fd, CHUNK, offset)
            # a new connection per chunk, like the official client's tus uploader
            async with (
                aiohttp.ClientSession() as session,
                session.patch(
                    url,
                    params={"token": token},
                    data=io.BytesIO(data),
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                ) as r,
            ):
                if r.status != 204:
                    raise RuntimeError(f"PATCH answered {r.status}: {await r.text()}")
                offset = int(r.headers["Upload-Offset"])
    finally:
        os.close(fd)
    return time.perf_counter() - start


async def download(manager: str, fid: str, name: str, dst: Path) -> float:
    async with (
        aiohttp.ClientSession(headers={"X-Cygnet-Storage-Secret": SECRET}) as m,
        m.post(f"{manager}/volumes/bench/folders/{fid}/download-token", json={"path": name}) as r,
    ):
        r.raise_for_status()
        body = await r.json()
    start = time.perf_counter()
    got = 0
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(body["url"], params={"token": body["token"]}) as r,
        ):
            r.raise_for_status()
            expected = int(r.headers["Content-Length"])
            async for piece in r.content.iter_chunked(CHUNK):
                os.write(fd, piece)
                got += len(piece)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    if got != expected:
        raise RuntimeError(f"downloaded {got} of {expected} bytes")
    os.unlink(dst)
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="file size, e.g. 64M or 1G [1G]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (a temp dir)")
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="cygnet-storage-bench-", dir=args.dir))
    proc: asyncio.subprocess.Process | None = None
    try:
        src = work / "source.bin"
        make_source(src, size)
        mport, cport = free_port(), free_port()
        config = work / "storage.toml"
        config.write_text(
            f'host = "127.0.0.1"\nmanager_port = {mport}\nclient_port = {cport}\n'
            f'secret = "{SECRET}"\nlog_level = "WARNING"\n\n'
            f'[volumes.bench]\nbackend = "local"\npath = "{work / "volume"}"\n'
        )
        cygnet = shutil.which("cygnet") or str(Path(sys.executable).parent / "cygnet")
        proc = await asyncio.create_subprocess_exec(
            cygnet, "storage", "serve", "--config", str(config)
        )
        manager = f"http://127.0.0.1:{mport}"
        await wait_ready(manager + "/volumes")
        fid = str(uuid.uuid4())
        async with (
            aiohttp.ClientSession(headers={"X-Cygnet-Storage-Secret": SECRET}) as m,
            m.post(f"{manager}/volumes/bench/folders", json={"folder_id": fid}) as r,
        ):
            r.raise_for_status()
        cp_t: list[float] = []
        up_t: list[float] = []
        down_t: list[float] = []
        print(f"file size {size / MIB:.0f} MiB; work directory {work}; {args.rounds} rounds")
        for i in range(args.rounds):
            cp_t.append(run_cp(src, work / "cp-copy.bin"))
            name = f"upload-{i}.bin"
            up_t.append(await upload(manager, fid, src, name))
            down_t.append(await download(manager, fid, name, work / "download.bin"))
            async with (
                aiohttp.ClientSession(headers={"X-Cygnet-Storage-Secret": SECRET}) as m,
                m.post(
                    f"{manager}/volumes/bench/folders/{fid}/files/delete",
                    json={"paths": [name]},
                ) as r,
            ):
                r.raise_for_status()
            print(
                f"round {i + 1}: cp {size / MIB / cp_t[-1]:8.1f} MiB/s   "
                f"upload {size / MIB / up_t[-1]:8.1f} MiB/s   "
                f"download {size / MIB / down_t[-1]:8.1f} MiB/s"
            )
        cp_rate = size / MIB / statistics.median(cp_t)
        up_rate = size / MIB / statistics.median(up_t)
        down_rate = size / MIB / statistics.median(down_t)
        print(f"median: cp {cp_rate:.1f} MiB/s, upload {up_rate:.1f}, download {down_rate:.1f}")
        result = {
            "benchmark": "storage_io",
            "size_bytes": size,
            "rounds": args.rounds,
            "upload_mib_s": round(up_rate, 1),
            "download_mib_s": round(down_rate, 1),
            "cp_mib_s": round(cp_rate, 1),
            "upload_ratio": round(up_rate / cp_rate, 3),
            "download_ratio": round(down_rate / cp_rate, 3),
        }
        print(json.dumps(result))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
