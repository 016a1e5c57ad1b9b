"""The client-facing HTTP/1.1 server (cygnet.storage.api.httpd) with small ASGI apps: framing,
keep-alive, pipelining, Expect, draining, malformed requests, and the two data extensions."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cygnet.storage.api import httpd
from cygnet.storage.api.httpd import BODY_TO_FD, ZEROCOPY_SEND, HTTPServer

App = Callable[[Any, Any, Any], Awaitable[None]]


async def _serve(app: App) -> tuple[HTTPServer, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = HTTPServer(app, io_threads=4)
    await server.start(sock)
    return server, sock.getsockname()[1]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[App], Awaitable[int]]]:
    servers: list[HTTPServer] = []

    async def start(app: App) -> int:
        server, port = await _serve(app)
        servers.append(server)
        return port

    yield start
    for server in servers:
        await server.stop(grace=1)


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
        status = int(lines[0].split()[1])
        if head_only:
            body = b""
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += data[:-2]
        else:
            body = b""
        return status, headers, body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _request(method: str, path: str = "/", body: bytes | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the method, path, query and the whole request body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"{scope['method']} {scope['path']} {scope['query_string'].decode()} ".encode()
    content = text + body
    headers = [(b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def test_keep_alive_pipelining_and_scope(serve: Any) -> None:
    port = await serve(echo)
    c = await Client.connect(port)
    await c.send(
        _request("POST", "/a%20b?x=1", b"hello")
        + _request("GET", "/c")
        + _request("HEAD", "/d", b"")
    )
    status, headers, body = await c.response()
    assert status == 200 and body == b"POST /a b x=1 hello" and "date" in headers
    assert "connection" not in headers
    assert (await c.response())[2] == b"GET /c  "
    status, headers, body = await c.response(head_only=True)  # HEAD: the length, no body
    assert status == 200 and headers["content-length"] == "9" and body == b""
    await c.send(b"GET /e HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    status, headers, _ = await c.response()
    assert headers["connection"] == "close" and await c.closed()
    await c.close()
    c = await Client.connect(port)  # HTTP/1.0: closed after the response
    await c.send(b"GET /f HTTP/1.0\r\n\r\n")
    assert (await c.response())[0] == 200 and await c.closed()
    await c.close()


async def test_chunked_request_and_response(serve: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert BODY_TO_FD not in scope["extensions"]  # only for Content-Length bodies
        parts = []
        while True:
            message = await receive()
            parts.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    port = await serve(app)
    c = await Client.connect(port)
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    await c.send(
        b"PUT / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body + _request("GET")
    )
    _status, headers, got = await c.response()
    assert headers["transfer-encoding"] == "chunked" and got == b"hello world"
    assert (await c.response())[0] == 200  # the next request on the same connection
    await c.close()


async def test_expect_continue_and_drained_bodies(serve: Any, monkeypatch: Any) -> None:
    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/read":
            await echo(scope, receive, send)
            return
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 409, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    port = await serve(refuse)
    c = await Client.connect(port)
    # 100 Continue only once the app reads the body
    await c.send(_request("PUT", "/read", None, Content_Length="3", Expect="100-continue"))
    assert await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 5) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    await c.send(b"abc")
    assert (await c.response())[2] == b"PUT /read  abc"
    # an unread body is discarded and the connection carries the next request
    await c.send(_request("PUT", "/refuse", os.urandom(300_000)) + _request("PUT", "/read", b"x"))
    assert (await c.response())[0] == 409
    assert (await c.response())[2] == b"PUT /read  x"
    # unread and never sent (Expect): the connection is closed instead
    await c.send(_request("PUT", "/refuse", None, Content_Length="9", Expect="100-continue"))
    status, headers, _ = await c.response()
    assert status == 409 and headers["connection"] == "close" and await c.closed()
    await c.close()
    # a body too large to drain closes the connection too
    monkeypatch.setattr(httpd, "DRAIN_LIMIT", 1000)
    c = await Client.connect(port)
    await c.send(_request("PUT", "/refuse", None, Content_Length="5000") + b"x" * 100)
    status, headers, _ = await c.response()
    assert status == 409 and headers["connection"] == "close"
    await c.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET \xff HTTP/1.1\r\n\r\n", 400),
    ],
)
async def test_malformed_requests(serve: Any, request_bytes: bytes, status: int) -> None:
    port = await serve(echo)
    c = await Client.connect(port)
    await c.send(request_bytes)
    got, headers, _ = await c.response()
    assert got == status and headers["connection"] == "close" and await c.closed()
    await c.close()


async def test_app_failures_close_the_connection(serve: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        headers = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"short"})

    port = await serve(app)
    c = await Client.connect(port)
    await c.send(_request("GET", "/boom"))
    status, _headers, _ = await c.response()
    assert status == 500 and await c.closed()
    await c.close()
    c = await Client.connect(port)
    await c.send(_request("GET", "/short"))
    assert b"short" not in await asyncio.wait_for(c.reader.read(), 5)  # closed, no response
    await c.close()


async def test_zerocopy_send(serve: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(3_000_000)
    path.write_bytes(data)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert ZEROCOPY_SEND in scope["extensions"]
        chunked = scope["path"] == "/chunked"
        headers = [] if chunked else [(b"content-length", b"2000000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with path.open("rb") as f:
            await send(
                {
                    "type": ZEROCOPY_SEND,
                    "file": f,
                    "offset": 1000,
                    "count": 1_000_000,
                    "more_body": True,
                }
            )
            await send({"type": ZEROCOPY_SEND, "file": f, "offset": 2_000_000, "count": 1_000_000})

    port = await serve(app)
    c = await Client.connect(port)
    expected = data[1000:1_001_000] + data[2_000_000:]
    for target in ("/", "/chunked"):
        await c.send(_request("GET", target))
        status, _headers, body = await c.response()
        assert status == 200 and body == expected
    await c.send(_request("HEAD", "/") + _request("GET", "/"))
    assert (await c.response(head_only=True))[1]["content-length"] == "2000000"
    assert (await c.response())[2] == expected
    await c.close()


async def test_body_to_fd(serve: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        length = int(dict(scope["headers"])[b"content-length"])
        fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            results.append(await scope["extensions"][BODY_TO_FD]["receive"](fd, 10, length))
        finally:
            os.close(fd)
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    port = await serve(app)
    data = os.urandom(5_000_000)
    c = await Client.connect(port)
    await c.send(_request("PATCH", "/", data) + _request("PATCH", "/", b"abc"))
    assert (await c.response())[0] == 204
    assert (await c.response())[0] == 204  # the connection is still good
    assert out.read_bytes() == b"\0" * 10 + b"abc" + data[3:]
    assert results == [len(data), 3]
    # the client goes away half-way: fewer bytes, the ones that came are written
    out.unlink()
    c2 = await Client.connect(port)
    await c2.send(_request("PATCH", "/", None, Content_Length=str(len(data))) + data[:1_000_000])
    await c2.close()
    for _ in range(100):
        if len(results) == 3:
            break
        await asyncio.sleep(0.05)
    assert results[2] == 1_000_000 and out.read_bytes()[10:] == data[:1_000_000]
    await c.close()


async def test_stop_ends_stalled_transfers(tmp_path: Path) -> None:
    started = asyncio.Event()
    out = tmp_path / "out"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            started.set()
            await scope["extensions"][BODY_TO_FD]["receive"](fd, 0, 1000)
        finally:
            os.close(fd)

    server, port = await _serve(app)
    c = await Client.connect(port)
    await c.send(_request("PATCH", "/", None, Content_Length="1000") + b"x" * 10)
    await asyncio.wait_for(started.wait(), 5)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await server.stop(grace=0.2)
    assert loop.time() - t0 < 5
    await c.close()


async def test_client_connections_get_the_send_buffer() -> None:
    wanted = (1 << 20) + 4096  # not a size the kernel picks by itself
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = HTTPServer(echo, io_threads=2, send_buffer=wanted)
    await server.start(sock)
    try:
        client = await Client.connect(sock.getsockname()[1])
        await client.send(_request("GET", "/"))
        assert (await client.response())[0] == 200
        [conn] = server._connections.values()
        assert conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * wanted
        client.writer.close()
        await client.writer.wait_closed()
    finally:
        await server.stop(grace=1)
