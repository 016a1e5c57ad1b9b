"""Upload and download of one file through the storage proxy's client-facing API vs. ``cp``.

Starts a real storage proxy (what ``cygnet storage serve`` runs) in a subprocess with one
``local`` volume in a temporary directory on the disk under test, and from this process, over
HTTP on 127.0.0.1, for each of ``--rounds`` rounds, in this order:

* cp:       ``cp`` of the source file to a new file in the same directory (same disk);
* upload:   ``upload-token`` (manager API), then tus ``PATCH``es of 16 MiB on one kept-alive
  connection, each body sent from the source file with ``sendfile`` (what a native client,
  e.g. Go's net/http with an ``*os.File`` body, does);
* download: ``download-token``, then one ``GET`` whose body is read with ``recv_into`` into a
  4 MiB buffer and written to a new local file with ``os.write`` (what curl does);
* loopback: the same bytes with the same client-side calls through a bare TCP socket on
  127.0.0.1 to/from a thread that does what the proxy does (``splice`` into a file, resp.
  ``sendfile`` from it), with no HTTP and no proxy: the ceiling for the two above;
* aiohttp:  the official client's way (``backend.ai-client``: aiohttp, a new connection per
  16 MiB ``PATCH`` from an in-memory buffer; the download read in 16 MiB pieces), reported for
  information (``aiohttp_*``).

The three steps after the upload are rotated from round to round: on the 2-vCPU VM this was
written on, whichever step comes right after the upload is markedly slower (about half
speed; it is the one step that does not follow the deletion of a 1 GiB file), and the
download, which has to follow the upload, would otherwise always be that step. Before each
timed step the page cache is flushed with ``sync`` (not timed), so every step starts with no
dirty pages: otherwise writeback of the previous step's 1 GiB throttles the next one at
random. ``--warmup`` rounds (1) run first and are not counted. The source file is in the
page cache for all of them. Every copy is a new file, deleted right after; nothing is
fsynced (cp does not fsync either), so all of them mostly measure the page cache and the
data path. The VM is shared: expect +-50% from round to round; use more rounds.
Rates are medians over the rounds.

The last line printed is a JSON object with ``size_bytes``, ``upload_mib_s``,
``download_mib_s``, ``cp_mib_s``, ``upload_ratio`` and ``download_ratio`` (rate / cp rate;
target: both >= 0.5), ``loopback_upload_mib_s`` / ``loopback_download_mib_s`` (the ceilings)
and the ``aiohttp_*`` rates.

    python benchmarks/storage_io.py [--size 1G] [--rounds 5] [--warmup 1] [--dir DIR]
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
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import httpx

CHUNK = 16 * 1024 * 1024  # PATCH size (the official client's)
RECV = 4 * 1024 * 1024  # download read buffer
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


def timed(step: Callable[[], object]) -> float:
    os.sync()  # no dirty pages left over from the step before (not timed)
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


# -- a lean HTTP/1.1 client on a blocking socket ------------------------------------------


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname, parts.port or 80))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send_head(self, method: str, target: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    def read_body(self, length: int) -> bytes:
        while len(self.buf) < length:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data
        body, self.buf = self.buf[:length], self.buf[length:]
        return body


def sendfile_all(sock: socket.socket, fd: int, offset: int, count: int) -> None:
    end = offset + count
    while offset < end:
        offset += os.sendfile(sock.fileno(), fd, offset, end - offset)


def recv_to_file(sock: socket.socket, fd: int, count: int, first: bytes = b"") -> int:
    got = os.write(fd, first) if first else 0
    buf = memoryview(bytearray(RECV))
    while got < count:
        n = sock.recv_into(buf, min(RECV, count - got))
        if not n:
            break
        view = buf[:n]
        while view:
            view = view[os.write(fd, view) :]
        got += n
    return got


def upload(url: str, token: str, src: Path) -> None:
    size = os.stat(src).st_size
    parts = urlsplit(url)
    target = f"{parts.path}?token={token}"
    conn = Connection(url)
    fd = os.open(src, os.O_RDONLY)
    try:
        offset = 0
        while offset < size:
            n = min(CHUNK, size - offset)
            headers = {
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(n),
            }
            conn.send_head("PATCH", target, headers)
            sendfile_all(conn.sock, fd, offset, n)
            status, answer = conn.read_head()
            body = conn.read_body(int(answer.get("content-length", "0")))
            if status != 204:
                raise RuntimeError(f"PATCH answered {status}: {body!r}")
            offset = int(answer["upload-offset"])
    finally:
        os.close(fd)
        conn.close()


def download(url: str, token: str, dst: Path) -> None:
    parts = urlsplit(url)
    conn = Connection(url)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        conn.send_head("GET", f"{parts.path}?token={token}", {})
        status, headers = conn.read_head()
        if status != 200:
            raise RuntimeError(f"GET answered {status}")
        expected = int(headers["content-length"])
        first, conn.buf = conn.buf, b""
        got = recv_to_file(conn.sock, fd, expected, first)
    finally:
        os.close(fd)
        conn.close()
    if got != expected:
        raise RuntimeError(f"downloaded {got} of {expected} bytes")


# -- the ceiling: the same bytes through a bare loopback socket ----------------------------


def _splice_to_file(sock: socket.socket, fd: int, count: int) -> None:
    """What the proxy does with an upload body."""
    rpipe, wpipe = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(wpipe, fcntl.F_SETPIPE_SZ, MIB)
        done = 0
        while done < count:
            n = os.splice(sock.fileno(), wpipe, min(MIB, count - done))
            if not n:
                raise ConnectionError("the sender went away")
            while n:
                m = os.splice(rpipe, fd, n)
                done, n = done + m, n - m
    finally:
        os.close(rpipe)
        os.close(wpipe)


def loopback(src: Path, dst: Path, direction: str) -> float:
    """Seconds to copy ``src`` to ``dst`` through a TCP socket on 127.0.0.1: for "upload"
    sent with sendfile and received with splice, for "download" sent with sendfile and
    received with recv_into + write (each side as in the measured client and the proxy)."""
    size = os.stat(src).st_size
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            sock, _ = listener.accept()
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                if direction == "upload" and hasattr(os, "splice"):
                    _splice_to_file(sock, fd, size)
                elif recv_to_file(sock, fd, size) != size:
                    raise ConnectionError("short copy")
                sock.sendall(b"k")
            finally:
                os.close(fd)
                sock.close()
        except BaseException as exc:
            errors.append(exc)

    def copy() -> None:
        thread = threading.Thread(target=receive)
        thread.start()
        with socket.create_connection(listener.getsockname()) as sock:
            fd = os.open(src, os.O_RDONLY)
            try:
                sendfile_all(sock, fd, 0, size)
            finally:
                os.close(fd)
            sock.recv(1)
        thread.join()

    try:
        elapsed = timed(copy)
    finally:
        listener.close()
    if errors:
        raise errors[0]
    os.unlink(dst)
    return elapsed


# -- the official client's way (aiohttp) ----------------------------------------------------


async def aiohttp_upload(url: str, token: str, src: Path) -> None:
    size = os.stat(src).st_size
    loop = asyncio.get_running_loop()
    fd = os.open(src, os.O_RDONLY)
    try:
        offset = 0
        while offset < size:
            data = await loop.run_in_executor(None, os.pread, fd, CHUNK, offset)
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


async def aiohttp_download(url: str, token: str, dst: Path) -> None:
    got = 0
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, params={"token": token}) as r,
        ):
            r.raise_for_status()
            expected = int(r.headers["Content-Length"])
            async for piece in r.content.iter_chunked(CHUNK):
                os.write(fd, piece)
                got += len(piece)
    finally:
        os.close(fd)
    if got != expected:
        raise RuntimeError(f"downloaded {got} of {expected} bytes")


# -- the run --------------------------------------------------------------------------------


class Bench:
    def __init__(self, manager: str, fid: str) -> None:
        self.manager = httpx.Client(
            base_url=f"{manager}/volumes/bench/folders/{fid}",
            headers={"X-Cygnet-Storage-Secret": SECRET},
            timeout=60,
        )

    def token(self, kind: str, **body: object) -> tuple[str, str]:
        r = self.manager.post(f"/{kind}-token", json=body)
        r.raise_for_status()
        answer = r.json()
        return answer["url"], answer["token"]

    def delete(self, name: str) -> None:
        self.manager.post("/files/delete", json={"paths": [name]}).raise_for_status()


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, headers={"X-Cygnet-Storage-Secret": SECRET}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the storage proxy did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="file size, e.g. 64M or 1G [1G]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first, not counted")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (a temp dir)")
    parser.add_argument("--no-aiohttp", action="store_true", help="skip the aiohttp client")
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="cygnet-storage-bench-", dir=args.dir))
    proc: subprocess.Popen[bytes] | None = None
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
        proc = subprocess.Popen([cygnet, "storage", "serve", "--config", str(config)])
        manager = f"http://127.0.0.1:{mport}"
        wait_ready(manager + "/volumes")
        fid = str(uuid.uuid4())
        httpx.post(
            f"{manager}/volumes/bench/folders",
            json={"folder_id": fid},
            headers={"X-Cygnet-Storage-Secret": SECRET},
        ).raise_for_status()
        bench = Bench(manager, fid)
        times: dict[str, list[float]] = {}
        print(
            f"file size {size / MIB:.0f} MiB; work directory {work}; {args.rounds} rounds; "
            f"{os.cpu_count()} CPUs; sync before each step; medians"
        )

        def record(label: str, seconds: float) -> str:
            times.setdefault(label, []).append(seconds)
            return f"{label} {size / MIB / seconds:7.1f}"

        copy, dst = work / "cp-copy.bin", work / "download.bin"
        for i in range(-args.warmup, args.rounds):
            if i == 0:
                times.clear()  # the warm-up rounds (first touch of fresh memory) do not count
            name = f"upload-{i + args.warmup}.bin"
            line = [record("cp", timed(partial(run_cp, src, copy)))]
            os.unlink(copy)
            url, token = bench.token("upload", path=name, size=size)
            line.append(record("upload", timed(partial(upload, url, token, src))))

            def get(url: str, token: str, name: str) -> str:
                seconds = timed(partial(download, url, token, dst))
                os.unlink(dst)
                bench.delete(name)
                return record("download", seconds)

            url, token = bench.token("download", path=name)
            steps: list[Callable[[], str]] = [
                partial(get, url, token, name),
                lambda: record("loopback_upload", loopback(src, dst, "upload")),
                lambda: record("loopback_download", loopback(src, dst, "download")),
            ]
            rotate = i % len(steps)  # see "rotated" in the docstring
            line += [step() for step in steps[rotate:] + steps[:rotate]]
            if not args.no_aiohttp:
                url, token = bench.token("upload", path=name, size=size)
                step = partial(asyncio.run, aiohttp_upload(url, token, src))
                line.append(record("aiohttp_upload", timed(step)))
                url, token = bench.token("download", path=name)
                step = partial(asyncio.run, aiohttp_download(url, token, dst))
                line.append(record("aiohttp_download", timed(step)))
                os.unlink(dst)
                bench.delete(name)
            label = f"round {i + 1}" if i >= 0 else "warm-up"
            print(f"{label} (MiB/s): " + "  ".join(line), flush=True)
        rates = {k: size / MIB / statistics.median(v) for k, v in times.items()}
        print("median (MiB/s): " + "  ".join(f"{k} {v:.1f}" for k, v in rates.items()))
        result: dict[str, object] = {
            "benchmark": "storage_io",
            "size_bytes": size,
            "rounds": args.rounds,
            "upload_mib_s": round(rates["upload"], 1),
            "download_mib_s": round(rates["download"], 1),
            "cp_mib_s": round(rates["cp"], 1),
            "upload_ratio": round(rates["upload"] / rates["cp"], 3),
            "download_ratio": round(rates["download"] / rates["cp"], 3),
            "loopback_upload_mib_s": round(rates["loopback_upload"], 1),
            "loopback_download_mib_s": round(rates["loopback_download"], 1),
        }
        for key in ("aiohttp_upload", "aiohttp_download"):
            if key in rates:
                result[f"{key}_mib_s"] = round(rates[key], 1)
        print(json.dumps(result))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def run_cp(src: Path, dst: Path) -> None:
    subprocess.run(["cp", str(src), str(dst)], check=True)


if __name__ == "__main__":
    main()
